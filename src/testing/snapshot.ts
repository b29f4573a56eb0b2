import { createHash } from 'crypto';
import { existsSync, readdirSync, readFileSync } from 'fs';
import * as path from 'path';
import { App, Chart, Yaml } from 'cdk8s';

/** A synthesized Kubernetes object. */
export interface KubernetesManifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string; readonly [field: string]: any };
  readonly [field: string]: any;
}

/**
 * The objects of a chart, or of every chart of an app, as `cdk8s synth` writes them: validations
 * run first (a PrometheusAlerts that needs a missing metric throws here), objects in dependency
 * order.
 */
export function synthObjects(scope: Chart | App): KubernetesManifest[] {
  // Chart.isChart rather than instanceof: a test may load another copy of cdk8s.
  const charts = Chart.isChart(scope) ? [scope] : scope.charts;
  return charts.flatMap((chart) => chart.toJson() as KubernetesManifest[]);
}

/** The objects of a chart or app as one multi-document YAML string, the text `cdk8s synth` writes. */
export function synthYaml(scope: Chart | App): string {
  return Yaml.stringify(...synthObjects(scope));
}

// The runtime programs of this package (metrics proxy, drift checker), bundled into assets/ by
// `npm run bundle` and shipped in ConfigMaps: the same location the constructs read them from.
const ASSETS = path.join(__dirname, '..', '..', 'assets');

interface Bundle {
  readonly fileName: string;
  readonly source: string;
  readonly sha256: string;
}

let bundles: Bundle[] | undefined;

function shippedBundles(): Bundle[] {
  if (bundles) return bundles;
  bundles = existsSync(ASSETS)
    ? readdirSync(ASSETS).filter((f) => f.endsWith('.js')).sort().map((fileName) => {
      const source = readFileSync(path.join(ASSETS, fileName), 'utf8');
      return { fileName, source, sha256: createHash('sha256').update(source).digest('hex') };
    })
    : [];
  return bundles;
}

/**
 * A copy of the objects with this package's bundled runtime programs replaced by placeholders:
 * ConfigMap data that is exactly a shipped bundle becomes `<bundled metrics-proxy.js>`, and any
 * annotation whose value is that bundle's SHA-256 (the pod annotation that rolls pods on a new
 * bundle) becomes `<sha256 of metrics-proxy.js>`. A library upgrade then leaves snapshots alone
 * unless the manifests changed; everything else, including user data, stays as synthesized.
 */
export function redactGenerated<T>(objects: readonly T[]): T[] {
  const known = shippedBundles();
  const bySource = new Map(known.map((b) => [b.source, b]));
  const byHash = new Map(known.map((b) => [b.sha256, b]));
  const visit = (value: unknown, key: string | undefined, parentKey: string | undefined): unknown => {
    if (typeof value === 'string') {
      if (parentKey === 'data' || parentKey === 'binaryData') {
        const bundle = bySource.get(value);
        if (bundle) return `<bundled ${bundle.fileName}>`;
      }
      if (parentKey === 'annotations') {
        const bundle = byHash.get(value);
        if (bundle) return `<sha256 of ${bundle.fileName}>`;
      }
      return value;
    }
    if (Array.isArray(value)) return value.map((item) => visit(item, undefined, key));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = visit(v, k, key);
      return out;
    }
    return value;
  };
  return objects.map((o) => visit(o, undefined, undefined) as T);
}

function isManifest(value: unknown): value is KubernetesManifest {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const o = value as Record<string, unknown>;
  return typeof o.apiVersion === 'string' && typeof o.kind === 'string' && o.metadata !== null && typeof o.metadata === 'object';
}

/** The parts of jest's (pretty-format's) snapshot serializer plugin this package uses. */
export interface SnapshotSerializer {
  test(value: unknown): boolean;
  serialize(value: unknown, config: { readonly indent?: string }, indentation: string, depth?: number): string;
}

/** Options of createManifestSerializer. */
export interface ManifestSerializerOptions {
  /** Replace shipped bundles and their hashes by placeholders (redactGenerated). @default true */
  readonly redact?: boolean;
}

/**
 * A jest snapshot serializer for Kubernetes objects and arrays of them: prints them as the
 * YAML `cdk8s synth` writes (one document per object), with bundled runtime programs redacted,
 * so a snapshot reads like a manifest and changes only when the manifests do.
 */
export function createManifestSerializer(options: ManifestSerializerOptions = {}): SnapshotSerializer {
  const redact = options.redact ?? true;
  return {
    test: (value) => isManifest(value) || (Array.isArray(value) && value.length > 0 && value.every(isManifest)),
    serialize: (value, config, indentation, depth = 0) => {
      const objects = Array.isArray(value) ? value : [value];
      const lines = Yaml.stringify(...(redact ? redactGenerated(objects) : objects)).trimEnd().split('\n');
      if (depth === 0) return lines.join('\n');
      // Nested (e.g. { objects: [...] }): the YAML starts on its own line, one level deeper.
      const indent = `${indentation}${config.indent ?? '  '}`;
      return lines.map((line) => `\n${indent}${line}`).join('');
    },
  };
}

/** The default manifest serializer: `expect.addSnapshotSerializer(manifestSerializer)`. */
export const manifestSerializer: SnapshotSerializer = createManifestSerializer();
