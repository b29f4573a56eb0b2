/**
 * Validation of custom resources against the upstream CRDs in a CRD directory, the
 * way the apiserver does it with `kubectl apply --validate=strict`:
 * - the version's `openAPIV3Schema`, compiled with ajv;
 * - unknown fields are errors wherever the apiserver would prune them (a node with
 *   `properties`, or a bare `type: object`, with neither `additionalProperties` nor
 *   `x-kubernetes-preserve-unknown-fields: true`);
 * - `x-kubernetes-int-or-string` allows an integer or a string; `x-kubernetes-list-type: set`
 *   and `map` reject duplicate items / keys; defaults are applied before `required` is checked,
 *   so a defaulted field does not count as missing;
 * - CEL rules (`x-kubernetes-validations`) are not JSON Schema: each rule found must be in
 *   CEL_RULES below (implemented by hand), or loading the CRD fails.
 * Metadata is checked by the caller (validate-manifests.ts), as for built-in kinds.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type * as JsYaml from 'js-yaml';
import { closest, isPlainObject, joinPath, pointerToPath } from './k8s-objects';
import { loadPeer } from './peers';

export const CRDS_DIR_ENV = 'MLOPS_CRDS_DIR';

/** One served version of a CRD. */
export interface CrdVersion {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** The CRD file it was read from. */
  readonly file: string;
  readonly schema: Record<string, any>;
}

interface CelCheck {
  /** Property names from the root; `*` steps into every array item or map value. */
  readonly path: string[];
  readonly rule: string;
  readonly message: string;
  readonly check: (self: any) => string | undefined;
}

interface CompiledCrd {
  readonly crd: CrdVersion;
  readonly validate: ValidateFunction;
  readonly celChecks: CelCheck[];
}

/**
 * CEL rules implemented by hand, keyed by the rule text with whitespace collapsed. Each returns
 * a detail for the message when the rule is violated, undefined when it holds.
 */
const CEL_RULES: Record<string, (self: any) => string | undefined> = {
  // keda.sh ScaledObject .spec (KEDA v2.20): maxReplicaCount defaults to 100.
  '!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)': (self) => {
    if (!isPlainObject(self) || typeof self.minReplicaCount !== 'number') return undefined;
    const max = typeof self.maxReplicaCount === 'number' ? self.maxReplicaCount : 100;
    if (self.minReplicaCount <= max) return undefined;
    const maxText = self.maxReplicaCount === undefined ? 'the default maxReplicaCount (100)' : `maxReplicaCount (${max})`;
    return `minReplicaCount (${self.minReplicaCount}) is above ${maxText}`;
  },
};

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Where this repository's setup (scripts/setup-kubernetes.sh) puts the upstream CRDs it fetches
 * with `go mod download`: prometheus-operator's example/prometheus-operator-crd/ and KEDA's
 * config/crd/bases/, each at the release the stack is built for.
 */
export function cachedCrdDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.MLOPS_CACHE || path.join(os.homedir(), '.cache', 'mlops-constructs');
  return path.join(cache, 'crds');
}

/**
 * The directory holding the CRD YAML files, in this order: `explicit` (the crdsDir option),
 * $MLOPS_CRDS_DIR, or, in a source checkout of mlops-constructs (not an installed package),
 * the CRDs its setup fetched (cachedCrdDirectory). The package ships no CRDs: the schemas a
 * stack must satisfy are those of the operator versions in the user's cluster.
 */
export function findCrdDirectory(explicit?: string, from: string = __dirname): string {
  if (explicit !== undefined) {
    const resolved = path.resolve(explicit);
    if (!isDirectory(resolved)) {
      throw new Error(`crdsDir ${explicit} is not a directory (resolved to ${resolved}); pass the folder holding the CRD YAML files`);
    }
    return resolved;
  }
  const fromEnv = process.env[CRDS_DIR_ENV];
  if (fromEnv) {
    const resolved = path.resolve(fromEnv);
    if (!isDirectory(resolved)) {
      throw new Error(`${CRDS_DIR_ENV}=${fromEnv} is not a directory (resolved to ${resolved}); point ${CRDS_DIR_ENV} at the folder holding the CRD YAML files`);
    }
    return resolved;
  }
  // An installed package must not pick up whatever a source checkout's setup left on this machine.
  const installed = from.split(path.sep).includes('node_modules');
  const cached = cachedCrdDirectory();
  if (!installed && isDirectory(cached)) return cached;
  throw new Error(
    'CRD schema directory not found: custom resources (ServiceMonitor, PrometheusRule, ScaledObject, ...) are validated against ' +
      'the CustomResourceDefinitions of the operators in your cluster, which mlops-constructs does not ship; ' +
      `pass validateManifests(objects, { crdsDir: "<folder of CRD YAML files>" }) or set ${CRDS_DIR_ENV} ` +
      '(e.g. prometheus-operator\'s example/prometheus-operator-crd/ and KEDA\'s config/crd/bases/ at your versions, ' +
      'or `kubectl get crd servicemonitors.monitoring.coreos.com -o yaml > crds/servicemonitors.yaml`)' +
      (installed ? '' : `; in a checkout of mlops-constructs, scripts/setup-kubernetes.sh fetches them into ${cached}`),
  );
}

function yamlFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...yamlFilesUnder(full));
    else if (/\.ya?ml$/.test(entry.name)) out.push(full);
  }
  return out;
}

/** Go's RE2 allows leading inline flags (`^(?i)...`), which JavaScript does not. */
const re2Compatible = Object.assign(
  (pattern: string, u: string) => {
    const inline = /^(\^?)\(\?([a-zA-Z]+)\)/.exec(pattern);
    if (!inline) return new RegExp(pattern, u);
    if (/[^is]/.test(inline[2])) throw new Error(`unsupported RE2 inline flags (?${inline[2]}) in pattern ${pattern}`);
    return new RegExp(inline[1] + pattern.slice(inline[0].length), u + inline[2]);
  },
  { code: 're2Compatible' },
);

export class CrdRegistry {
  readonly dir: string;
  private readonly versions = new Map<string, CrdVersion>();
  private readonly compiled = new Map<string, CompiledCrd>();
  private readonly ajv: Ajv;

  constructor(dir: string) {
    this.dir = dir;
    for (const file of yamlFilesUnder(dir)) {
      let docs: unknown[];
      try {
        docs = loadPeer<typeof JsYaml>('js-yaml').loadAll(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        throw new Error(`${file}: not valid YAML: ${(e as Error).message}`);
      }
      for (const doc of docs) {
        if (!isPlainObject(doc) || doc.kind !== 'CustomResourceDefinition') continue;
        if (doc.apiVersion !== 'apiextensions.k8s.io/v1') {
          throw new Error(`${file}: CustomResourceDefinition ${doc.metadata?.name} is ${doc.apiVersion}; only apiextensions.k8s.io/v1 is supported`);
        }
        const spec = doc.spec ?? {};
        for (const v of spec.versions ?? []) {
          if (!v.served) continue;
          const key = CrdRegistry.key(`${spec.group}/${v.name}`, spec.names?.kind);
          const schema = v.schema?.openAPIV3Schema;
          if (!isPlainObject(schema)) throw new Error(`${file}: ${key} has no schema.openAPIV3Schema`);
          const existing = this.versions.get(key);
          if (existing) throw new Error(`${key} is defined twice: in ${existing.file} and in ${file}`);
          this.versions.set(key, {
            group: spec.group,
            version: v.name,
            kind: spec.names.kind,
            namespaced: spec.scope !== 'Cluster',
            file,
            schema,
          });
        }
      }
    }
    if (this.versions.size === 0) {
      throw new Error(`no CustomResourceDefinitions found in ${dir}; set ${CRDS_DIR_ENV} to the directory holding the CRD YAML files`);
    }
    const AjvClass = loadPeer<{ default: typeof Ajv }>('ajv').default;
    this.ajv = new AjvClass({
      allErrors: true,
      verbose: true,
      strict: true,
      // The CRD schemas are structural OpenAPI, not written for ajv's stricter type hints.
      strictTypes: false,
      strictTuples: false,
      strictRequired: false,
      code: { regExp: re2Compatible },
      formats: {
        'int32': { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 },
        'int64': { type: 'number', validate: (n: number) => Number.isInteger(n) },
        'date-time': /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/,
      },
    });
    this.ajv.addKeyword({
      keyword: 'k8sListMapKeys',
      type: 'array',
      schemaType: 'array',
      errors: true,
      validate: function listMapKeys(keys: string[], data: unknown[]): boolean {
        const seen = new Map<string, number>();
        const errors: Array<Partial<ErrorObject>> = [];
        data.forEach((item, i) => {
          if (!isPlainObject(item)) return;
          const id = JSON.stringify(keys.map((k) => item[k]));
          const first = seen.get(id);
          if (first === undefined) seen.set(id, i);
          else errors.push({ keyword: 'k8sListMapKeys', params: { keys }, message: `items ${first} and ${i} have the same ${keys.map((k) => `${k}=${JSON.stringify(item[k])}`).join(', ')}; list-map keys must be unique` });
        });
        (listMapKeys as any).errors = errors;
        return errors.length === 0;
      },
    });
  }

  static key(apiVersion: string, kind: string): string {
    return `${apiVersion} ${kind}`;
  }

  /** The served CRD version for an apiVersion/kind, or undefined. */
  find(apiVersion: string, kind: string): CrdVersion | undefined {
    return this.versions.get(CrdRegistry.key(apiVersion, kind));
  }

  /** Every apiVersion/kind the directory defines, e.g. `keda.sh/v1alpha1 ScaledObject`. */
  kinds(): string[] {
    return [...this.versions.keys()].sort();
  }

  /** Problems of one custom resource against its CRD (without metadata), as `path: message`. */
  validate(obj: Record<string, any>): Array<{ path: string; message: string }> {
    const key = CrdRegistry.key(obj.apiVersion, obj.kind);
    let compiled = this.compiled.get(key);
    if (!compiled) {
      const crd = this.versions.get(key);
      if (!crd) throw new Error(`no CRD for ${key} in ${this.dir}`);
      compiled = this.compile(crd);
      this.compiled.set(key, compiled);
    }
    const problems: Array<{ path: string; message: string }> = [];
    if (!compiled.validate(obj)) problems.push(...formatAjvErrors(compiled.validate.errors ?? []));
    for (const cel of compiled.celChecks) {
      for (const { value, at } of valuesAt(obj, cel.path, '')) {
        const detail = cel.check(value);
        if (detail) problems.push({ path: at || '(root)', message: `${cel.message}: ${detail}` });
      }
    }
    return problems;
  }

  private compile(crd: CrdVersion): CompiledCrd {
    const celChecks: CelCheck[] = [];
    const schema = strictSchema(crd.schema, [], true, celChecks, crd);
    // ObjectMeta is validated like a built-in object's metadata, not by the CRD.
    schema.properties = { ...(schema.properties ?? {}), metadata: {} };
    try {
      return { crd, validate: this.ajv.compile(schema), celChecks };
    } catch (e) {
      throw new Error(`${crd.file}: cannot compile the schema of ${crd.group}/${crd.version} ${crd.kind}: ${(e as Error).message}`);
    }
  }
}

/**
 * A copy of a structural schema node with the apiserver's behaviour made explicit for ajv.
 * `structural` is false inside anyOf/allOf/oneOf/not, where nodes only add value constraints.
 */
function strictSchema(node: any, at: string[], structural: boolean, cel: CelCheck[], crd: CrdVersion): any {
  if (!isPlainObject(node)) return node;
  const out: Record<string, any> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-')) continue;
    switch (k) {
      case 'properties':
        out.properties = Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, strictSchema(s, [...at, p], structural, cel, crd)]));
        break;
      case 'items':
        out.items = strictSchema(v, [...at, '*'], structural, cel, crd);
        break;
      case 'additionalProperties':
        out.additionalProperties = typeof v === 'boolean' ? v : strictSchema(v, [...at, '*'], structural, cel, crd);
        break;
      case 'anyOf':
      case 'allOf':
      case 'oneOf':
        out[k] = (v as unknown[]).map((s) => strictSchema(s, at, false, cel, crd));
        break;
      case 'not':
        out.not = strictSchema(v, at, false, cel, crd);
        break;
      case 'required': {
        // Structural defaulting runs before validation, so a defaulted field is never missing.
        const props = isPlainObject(node.properties) ? node.properties : {};
        out.required = (v as string[]).filter((p) => !(isPlainObject(props[p]) && props[p].default !== undefined));
        break;
      }
      case 'example':
      case 'externalDocs':
        break;
      default:
        out[k] = v;
    }
  }
  if (node['x-kubernetes-int-or-string'] === true && !out.anyOf && out.type === undefined) {
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (node['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  if (node['x-kubernetes-list-type'] === 'map' && Array.isArray(node['x-kubernetes-list-map-keys'])) {
    out.k8sListMapKeys = node['x-kubernetes-list-map-keys'];
  }
  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  const objectLike = isPlainObject(node.properties) || node.type === 'object';
  if (structural && objectLike && !preserveUnknown && node.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  for (const rule of node['x-kubernetes-validations'] ?? []) {
    const text = String(rule.rule).replace(/\s+/g, ' ').trim();
    const check = CEL_RULES[text];
    if (!check) {
      throw new Error(
        `${crd.file}: ${crd.kind} has a CEL rule at ${at.join('.') || '(root)'} that the validator does not implement: ${text}; ` +
          'implement it in CEL_RULES in src/testing/crd-schemas.ts',
      );
    }
    cel.push({ path: at, rule: text, message: rule.message ?? `failed rule: ${text}`, check });
  }
  return out;
}

function valuesAt(value: any, steps: string[], at: string): Array<{ value: any; at: string }> {
  if (steps.length === 0) return value === undefined ? [] : [{ value, at }];
  const [step, ...rest] = steps;
  if (step === '*') {
    if (Array.isArray(value)) return value.flatMap((v, i) => valuesAt(v, rest, joinPath(at, i)));
    if (isPlainObject(value)) return Object.entries(value).flatMap(([k, v]) => valuesAt(v, rest, joinPath(at, k)));
    return [];
  }
  return isPlainObject(value) ? valuesAt(value[step], rest, joinPath(at, step)) : [];
}

/** ajv errors (also kubernetes-models', which uses ajv) as `path: message`, one per problem. */
export function formatAjvErrors(errors: ErrorObject[]): Array<{ path: string; message: string }> {
  // An anyOf/oneOf of types fails with one error per branch plus its own; say it once.
  const combinatorAt = new Set(errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.instancePath));
  const typesAt = new Map<string, string[]>();
  for (const e of errors) {
    if (e.keyword !== 'type' || !combinatorAt.has(e.instancePath)) continue;
    typesAt.set(e.instancePath, [...(typesAt.get(e.instancePath) ?? []), ...[e.params.type as string | string[]].flat()]);
  }
  const out: Array<{ path: string; message: string }> = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'type' && combinatorAt.has(e.instancePath)) continue;
    let p = pointerToPath(e.instancePath);
    let message: string;
    switch (e.keyword) {
      case 'required':
        p = joinPath(p, String(e.params.missingProperty));
        message = 'required field is missing';
        break;
      case 'additionalProperties': {
        const field = String(e.params.additionalProperty);
        p = joinPath(p, field);
        const known = isPlainObject(e.parentSchema) && isPlainObject(e.parentSchema.properties) ? Object.keys(e.parentSchema.properties) : [];
        const guess = closest(field, known);
        message = `unknown field "${field}"${guess ? ` (did you mean "${guess}"?)` : ''}`;
        break;
      }
      case 'enum':
        message = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      case 'anyOf':
      case 'oneOf': {
        const types = [...new Set(typesAt.get(e.instancePath) ?? [])].sort();
        if (types.join(',') === 'integer,string') message = 'must be an integer or a string';
        else if (types.length > 0) message = `must be ${types.join(' or ')}`;
        else message = e.message ?? `must match ${e.keyword}`;
        break;
      }
      default:
        message = e.message ?? e.keyword;
    }
    const line = `${p}|${message}`;
    if (seen.has(line)) continue;
    seen.add(line);
    out.push({ path: p || '(root)', message });
  }
  return out;
}

const registries = new Map<string, CrdRegistry>();

/** The CRDs of a directory (see findCrdDirectory), loaded once per directory. */
export function crdRegistry(crdsDir?: string): CrdRegistry {
  const dir = findCrdDirectory(crdsDir);
  let registry = registries.get(dir);
  if (!registry) {
    registry = new CrdRegistry(dir);
    registries.set(dir, registry);
  }
  return registry;
}
