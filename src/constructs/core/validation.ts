import { Chart } from 'cdk8s';
import { Construct } from 'constructs';

/**
 * Formats a synth-time validation error: construct kind and path, the field, the bad value
 * and the fix, e.g. `ModelService mlops/fraud-detector: replicas (5) is above maxReplicas (2);
 * lower replicas or raise maxReplicas`.
 */
export function invalidProp(
  kind: string,
  scope: Construct,
  field: string,
  value: unknown,
  problem: string,
  fix: string,
): Error {
  return new Error(`${kind} ${scope.node.path}: ${field} (${describe(value)}) ${problem}; ${fix}`);
}

/** A short, single-line rendering of a prop value for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'unset';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'object' && typeof (value as { toQuantity?: unknown }).toQuantity === 'function') {
    return (value as { toQuantity(): string }).toQuantity();
  }
  try {
    const json = JSON.stringify(value);
    if (json === undefined) return String(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return String(value);
  }
}

/** True for an http(s) URL. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** True for an RFC 1123 label: what Kubernetes requires of Service and namespace names. */
export function isDnsLabel(value: unknown, maxLength = 63): value is string {
  return typeof value === 'string' && value.length <= maxLength && DNS1123_LABEL.test(value);
}

/** True for an RFC 1123 subdomain (ConfigMap, Secret and ServiceAccount names, hostnames). */
export function isDnsSubdomain(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

/** Throws unless `value` is an integer in [min, max]. */
export function requireInteger(
  kind: string,
  scope: Construct,
  field: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidProp(kind, scope, field, value, `is not an integer between ${min} and ${max}`,
      `set ${field} to a whole number in that range`);
  }
  return value;
}

/** Throws unless `value` is a DNS-1123 label of at most `maxLength` characters. */
export function requireDnsLabel(kind: string, scope: Construct, field: string, value: unknown, maxLength = 63): string {
  if (!isDnsLabel(value, maxLength)) {
    throw invalidProp(kind, scope, field, value,
      `is not a DNS-1123 label of at most ${maxLength} characters`,
      'use lowercase letters, digits and "-", starting and ending with a letter or digit');
  }
  return value;
}

/** Throws unless `value` is a DNS-1123 subdomain (names of Secrets, ConfigMaps, hosts). */
export function requireDnsSubdomain(kind: string, scope: Construct, field: string, value: unknown): string {
  if (!isDnsSubdomain(value)) {
    throw invalidProp(kind, scope, field, value, 'is not a DNS-1123 subdomain',
      'use lowercase letters, digits, "-" and "."');
  }
  return value;
}

const LABEL_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Throws unless every key and value is a valid Kubernetes label. */
export function requireLabels(kind: string, scope: Construct, field: string, labels: unknown): Record<string, string> {
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw invalidProp(kind, scope, field, labels, 'is not a map of label names to values', 'pass an object such as { release: "prometheus" }');
  }
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(key) || key.split('/').slice(-1)[0].length > 63) {
      throw invalidProp(kind, scope, `${field} key`, key, 'is not a valid label name', 'use an optional DNS prefix and "/", then at most 63 of [A-Za-z0-9-_.]');
    }
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
      throw invalidProp(kind, scope, `${field}["${key}"]`, value, 'is not a valid label value', 'use at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric');
    }
  }
  return labels as Record<string, string>;
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** Throws unless `name` is a valid container environment variable name. */
export function requireEnvName(kind: string, scope: Construct, field: string, name: string): string {
  if (!ENV_NAME.test(name)) {
    throw invalidProp(kind, scope, field, name, 'is not a valid environment variable name', 'use letters, digits, "_", "-" and ".", not starting with a digit');
  }
  return name;
}

/** Throws unless `image` names a registry image pinned to a version tag or a digest. */
export function requirePinnedImage(kind: string, scope: Construct, field: string, image: unknown): string {
  if (typeof image !== 'string' || image.length === 0 || /\s/.test(image)) {
    throw invalidProp(kind, scope, field, image, 'is not a container image reference', 'pass e.g. "registry.example.com/team/model:1.4.2"');
  }
  if (/@sha256:[a-f0-9]{64}$/.test(image)) return image;
  const lastSegment = image.split('/').slice(-1)[0];
  const colon = lastSegment.lastIndexOf(':');
  const tag = colon >= 0 ? lastSegment.slice(colon + 1) : '';
  if (tag === '' || tag === 'latest') {
    throw invalidProp(kind, scope, field, image, 'is not pinned to a version',
      'add a version tag (":1.4.2") or a digest ("@sha256:..."); "latest" and untagged images change under a running Deployment');
  }
  return image;
}

/**
 * The namespace a construct's objects go to: the explicit prop, else its Chart's. Throws when
 * neither is set (explicit namespaces keep DNS names and metric labels stable) or when it is
 * not a DNS-1123 label. `why` ends the fix, e.g. "the tracking URI is built from it".
 */
export function resolveNamespace(kind: string, scope: Construct, explicit: unknown, why?: string): string {
  const namespace = explicit ?? Chart.of(scope).namespace;
  if (namespace === undefined) {
    throw invalidProp(kind, scope, 'namespace', undefined, `is not set on the ${kind} or its Chart`, `pass namespace: "mlops"${why ? ` (${why})` : ''}`);
  }
  return requireDnsLabel(kind, scope, 'namespace', namespace);
}

/** S3 bucket naming rules (AWS and MinIO): 3..63 lowercase letters, digits, "." and "-", no "..". */
export function isS3BucketName(value: unknown): value is string {
  return typeof value === 'string' && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value) && !value.includes('..');
}

/** The fix for a bad bucket name, the same wherever a bucket is taken. */
export const S3_BUCKET_FIX = 'use 3 to 63 lowercase letters, digits, "." and "-", e.g. "mlflow-artifacts"';
