/**
 * Field type maps of the Kubernetes API, as generated into @kubernetes/client-node.
 *
 * The package is ESM-only and jest (CommonJS via ts-jest) cannot load it, so the maps are read
 * once per process by a child Node process that imports the generated models and prints every
 * class's static getAttributeTypeMap() as JSON.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';

/** One field of a generated model: its JSON name and its type in ObjectSerializer's notation. */
export interface K8sField {
  /** Name in JSON manifests (ObjectSerializer's `baseName`). */
  readonly name: string;
  /** e.g. `string`, `Array<V1Container>`, `{ [key: string]: string; }`, `IntOrString`, `Date`, `any`. */
  readonly type: string;
}

export interface K8sTypeMaps {
  /** Version of @kubernetes/client-node the maps came from. */
  readonly clientVersion: string;
  /** Kubernetes OpenAPI version the models were generated from, e.g. `v1.34.0`. */
  readonly apiVersion: string;
  /** Model class name (`V1Deployment`) to its fields. */
  readonly models: ReadonlyMap<string, ReadonlyMap<string, K8sField>>;
}

let cached: K8sTypeMaps | undefined;

function clientNodeDir(): string {
  // The package has no "exports" map, so its package.json resolves with CommonJS rules.
  return path.dirname(require.resolve('@kubernetes/client-node/package.json'));
}

const DUMP_SCRIPT = `
const models = await import(process.argv[1]);
const out = {};
for (const [name, value] of Object.entries(models)) {
  if (typeof value === 'function' && typeof value.getAttributeTypeMap === 'function') {
    out[name] = value.getAttributeTypeMap().map((a) => [a.baseName, a.type]);
  }
}
process.stdout.write(JSON.stringify(out));
`;

export function loadK8sTypeMaps(): K8sTypeMaps {
  if (cached) return cached;
  const dir = clientNodeDir();
  const modelsFile = path.join(dir, 'dist', 'gen', 'models', 'all.js');
  if (!fs.existsSync(modelsFile)) {
    throw new Error(`@kubernetes/client-node layout changed: ${modelsFile} is missing; the unknown-field check needs its generated models`);
  }
  const json = execFileSync(process.execPath, ['--input-type=module', '-e', DUMP_SCRIPT, pathToFileURL(modelsFile).href], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const raw = JSON.parse(json) as Record<string, Array<[string, string]>>;
  const models = new Map<string, Map<string, K8sField>>();
  for (const [name, fields] of Object.entries(raw)) {
    models.set(name, new Map(fields.map(([fieldName, type]) => [fieldName, { name: fieldName, type }])));
  }
  if (!models.has('V1Deployment') || !models.has('V1ObjectMeta')) {
    throw new Error(`no Kubernetes models found in ${modelsFile}`);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string };
  const header = fs.readFileSync(path.join(dir, 'dist', 'gen', 'models', 'V1Deployment.js'), 'utf8');
  const specVersion = /OpenAPI spec version:\s*(\S+)/.exec(header)?.[1] ?? 'unknown';
  cached = { clientVersion: pkg.version, apiVersion: specVersion, models };
  return cached;
}
