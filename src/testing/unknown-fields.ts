/**
 * Strict unknown-field detection for built-in kinds, like `kubectl apply --validate=strict`:
 * walks an object along the field type maps of @kubernetes/client-node's generated models and
 * reports every field name the model does not have.
 */
import { closest, isPlainObject, joinPath } from './k8s-objects';
import { loadK8sTypeMaps } from './k8s-type-maps';

/**
 * Types whose values have no fields to check: ObjectSerializer's primitives (`any` is free-form,
 * as for RawExtension and JSON), `Date` and `V1MicroTime` (timestamps, strings in JSON),
 * `IntOrString`; Quantity is already `string` in the generated models.
 */
const LEAF_TYPES = new Set(['string', 'boolean', 'double', 'integer', 'long', 'float', 'number', 'any', 'object', 'date', 'v1microtime', 'intorstring']);
const ARRAY_PREFIX = 'Array<';
const MAP_PREFIX = '{ [key: string]: ';
const MAP_SUFFIX = '; }';

/**
 * Reports every field that the client-node model for `type` does not have, recursively. Types
 * follow ObjectSerializer's notation; LEAF_TYPES end the walk. Wrong value types are left to the
 * OpenAPI validator.
 */
export function unknownFields(value: unknown, type: string, path: string, report: (path: string, message: string) => void): void {
  if (value === null || value === undefined) return;
  const t = type.replace(/ \| (null|undefined)$/, '');
  if (t.startsWith(ARRAY_PREFIX) && t.endsWith('>')) {
    const item = t.slice(ARRAY_PREFIX.length, -1);
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, item, joinPath(path, i), report));
    return;
  }
  if (t.startsWith(MAP_PREFIX) && t.endsWith(MAP_SUFFIX)) {
    const item = t.slice(MAP_PREFIX.length, -MAP_SUFFIX.length);
    if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) unknownFields(v, item, joinPath(path, k), report);
    return;
  }
  if (LEAF_TYPES.has(t.toLowerCase())) return;
  const maps = loadK8sTypeMaps();
  const fields = maps.models.get(t);
  if (!fields) {
    throw new Error(`the unknown-field check met type ${JSON.stringify(type)} at ${path || '(root)'}, which is neither a model of @kubernetes/client-node ${maps.clientVersion} nor a known primitive; add it to LEAF_TYPES in src/testing/unknown-fields.ts if it has no fields`);
  }
  if (!isPlainObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const field = fields.get(key);
    if (!field) {
      const guess = closest(key, [...fields.keys()]);
      report(joinPath(path, key), `unknown field "${key}" (${t} has no such field${guess ? `; did you mean "${guess}"?` : ''})`);
      continue;
    }
    unknownFields(child, field.type, joinPath(path, key), report);
  }
}

/** The item type of ObjectSerializer's `Array<T>` / `{ [key: string]: T; }`, recursively. */
function elementType(type: string): string {
  const t = type.replace(/ \| (null|undefined)$/, '');
  if (t.startsWith(ARRAY_PREFIX) && t.endsWith('>')) return elementType(t.slice(ARRAY_PREFIX.length, -1));
  if (t.startsWith(MAP_PREFIX) && t.endsWith(MAP_SUFFIX)) return elementType(t.slice(MAP_PREFIX.length, -MAP_SUFFIX.length));
  return t;
}

/** Field types in the loaded models that the walk would not understand (empty when all are). */
export function unresolvedFieldTypes(): string[] {
  const maps = loadK8sTypeMaps();
  const unresolved = new Set<string>();
  for (const fields of maps.models.values()) {
    for (const field of fields.values()) {
      const t = elementType(field.type);
      if (!LEAF_TYPES.has(t.toLowerCase()) && !maps.models.has(t)) unresolved.add(t);
    }
  }
  return [...unresolved].sort();
}
