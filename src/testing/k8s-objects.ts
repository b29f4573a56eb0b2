/**
 * Small helpers shared by the manifest validators: object identity, JSON paths, the apiserver's
 * name and label syntax, pod templates and label selectors. Written from the Kubernetes API
 * conventions, independent of src/.
 */

export function isPlainObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `Deployment mlops/fraud-detector`, for the start of every problem message. */
export function describeObject(obj: any): string {
  const kind = isPlainObject(obj) && typeof obj.kind === 'string' ? obj.kind : '<no kind>';
  const meta = isPlainObject(obj) && isPlainObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '<no name>';
  return typeof meta.namespace === 'string' ? `${kind} ${meta.namespace}/${name}` : `${kind} ${name}`;
}

/** Joins path segments the way kubectl prints them: `spec.containers[0].image`. */
export function joinPath(base: string, segment: string | number): string {
  if (typeof segment === 'number') return `${base}[${segment}]`;
  if (!/^[A-Za-z_$][\w$-]*$/.test(segment)) return `${base}[${JSON.stringify(segment)}]`;
  return base ? `${base}.${segment}` : segment;
}

/** Turns a JSON pointer (`/spec/ports/0/name`, as ajv reports it) into `spec.ports[0].name`. */
export function pointerToPath(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<string>((acc, s) => joinPath(acc, /^\d+$/.test(s) ? Number(s) : s), '');
}

export function apiGroup(apiVersion: unknown): string {
  if (typeof apiVersion !== 'string') return '';
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** The candidate nearest to a misspelt `word`, if one is close enough to suggest. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 4)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

// --- Name and label syntax (k8s.io/apimachinery/pkg/util/validation) -----------------------

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Returns why `value` is not a DNS-1123 label, or undefined when it is one. */
export function dns1123LabelError(value: string): string | undefined {
  if (value.length > 63) return `must be no more than 63 characters (is ${value.length})`;
  if (!DNS1123_LABEL.test(value)) return 'must be a DNS-1123 label: lowercase alphanumerics and "-", starting and ending with an alphanumeric';
  return undefined;
}

export function dns1123SubdomainError(value: string): string | undefined {
  if (value.length > 253) return `must be no more than 253 characters (is ${value.length})`;
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return 'must be a DNS-1123 subdomain: lowercase alphanumerics, "-" and ".", starting and ending with an alphanumeric';
  }
  return undefined;
}

export function dns1035LabelError(value: string): string | undefined {
  if (value.length > 63) return `must be no more than 63 characters (is ${value.length})`;
  if (!DNS1035_LABEL.test(value)) return 'must be a DNS-1035 label: lowercase alphanumerics and "-", starting with a letter and ending with an alphanumeric';
  return undefined;
}

/** Label and annotation keys: `[prefix/]name`, prefix a DNS-1123 subdomain, name up to 63 chars. */
export function qualifiedNameError(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'must be a qualified name: an optional DNS subdomain prefix and "/", then a name';
  const name = parts[parts.length - 1];
  if (parts.length === 2) {
    if (!parts[0]) return 'has an empty prefix before "/"';
    const prefixError = dns1123SubdomainError(parts[0]);
    if (prefixError) return `prefix ${prefixError}`;
  }
  if (!name) return 'has an empty name part';
  if (name.length > 63) return `name part must be no more than 63 characters (is ${name.length})`;
  if (!QUALIFIED_NAME_PART.test(name)) {
    return 'name part must be alphanumerics, "-", "_" or ".", starting and ending with an alphanumeric';
  }
  return undefined;
}

export function labelValueError(value: string): string | undefined {
  if (value.length > 63) return `must be no more than 63 characters (is ${value.length})`;
  if (!LABEL_VALUE.test(value)) return 'must be empty or alphanumerics, "-", "_" or ".", starting and ending with an alphanumeric';
  return undefined;
}

/** IANA_SVC_NAME, the syntax of container port names and of named Service targetPorts. */
export function portNameError(value: string): string | undefined {
  if (value.length > 15) return `must be no more than 15 characters (is ${value.length})`;
  if (!/^[-a-z0-9]+$/.test(value)) return 'must contain only lowercase alphanumerics and "-"';
  if (!/[a-z]/.test(value)) return 'must contain at least one letter';
  if (value.includes('--')) return 'must not contain consecutive hyphens';
  if (value.startsWith('-') || value.endsWith('-')) return 'must not begin or end with a hyphen';
  return undefined;
}

// --- Pod templates -------------------------------------------------------------------------

export interface PodTemplateRef {
  /** Path of the pod template's `spec` within the object, e.g. `spec.template.spec`. */
  readonly specPath: string;
  /** Path of the pod template's `metadata`. */
  readonly metadataPath: string;
  readonly spec: Record<string, any>;
  readonly metadata: Record<string, any>;
}

const TEMPLATE_LOCATIONS: Record<string, string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  PodTemplate: ['template'],
};

/** Kinds whose objects run pods (so carry a pod template, or are a Pod). */
export const POD_KINDS = new Set([...Object.keys(TEMPLATE_LOCATIONS), 'Pod']);

/** The pod (template) an object runs, or undefined when it has none. */
export function podTemplateOf(obj: any): PodTemplateRef | undefined {
  if (!isPlainObject(obj) || typeof obj.kind !== 'string') return undefined;
  if (obj.kind === 'Pod') {
    return {
      specPath: 'spec',
      metadataPath: 'metadata',
      spec: isPlainObject(obj.spec) ? obj.spec : {},
      metadata: isPlainObject(obj.metadata) ? obj.metadata : {},
    };
  }
  const location = TEMPLATE_LOCATIONS[obj.kind];
  if (!location) return undefined;
  let node: any = obj;
  for (const key of location) node = isPlainObject(node) ? node[key] : undefined;
  const base = location.join('.');
  return {
    specPath: `${base}.spec`,
    metadataPath: `${base}.metadata`,
    spec: isPlainObject(node) && isPlainObject(node.spec) ? node.spec : {},
    metadata: isPlainObject(node) && isPlainObject(node.metadata) ? node.metadata : {},
  };
}

export interface ContainerRef {
  readonly container: Record<string, any>;
  readonly name: string;
  /** e.g. `spec.template.spec.initContainers[0]`. */
  readonly path: string;
}

/** Every container of a pod spec, in the order the pod security admission visits them. */
export function containersOf(spec: Record<string, any>, specPath: string): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    const items = spec[list];
    if (!Array.isArray(items)) continue;
    items.forEach((c, i) => {
      if (!isPlainObject(c)) return;
      out.push({ container: c, name: typeof c.name === 'string' ? c.name : `#${i}`, path: `${specPath}.${list}[${i}]` });
    });
  }
  return out;
}

export function podLabels(obj: any): Record<string, string> {
  const template = podTemplateOf(obj);
  return template && isPlainObject(template.metadata.labels) ? template.metadata.labels : {};
}

// --- Label selectors -----------------------------------------------------------------------

/** A Service's `spec.selector` (plain map): every pair must be present in `labels`. */
export function mapSelectorMatches(selector: Record<string, unknown>, labels: Record<string, unknown>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A metav1.LabelSelector (matchLabels + matchExpressions). An empty selector selects everything. */
export function labelSelectorMatches(selector: unknown, labels: Record<string, unknown>): boolean {
  if (!isPlainObject(selector)) return false;
  if (isPlainObject(selector.matchLabels) && !mapSelectorMatches(selector.matchLabels, labels)) return false;
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  return expressions.every((e: any) => {
    if (!isPlainObject(e) || typeof e.key !== 'string') return false;
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values: unknown[] = Array.isArray(e.values) ? e.values : [];
    switch (e.operator) {
      case 'In':
        return has && values.includes(labels[e.key]);
      case 'NotIn':
        return !has || !values.includes(labels[e.key]);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}

export function isEmptyLabelSelector(selector: unknown): boolean {
  if (!isPlainObject(selector)) return false;
  const matchLabels = isPlainObject(selector.matchLabels) ? Object.keys(selector.matchLabels) : [];
  const matchExpressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  return matchLabels.length === 0 && matchExpressions.length === 0;
}
