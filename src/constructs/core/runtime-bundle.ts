import { createHash } from 'crypto';
import { existsSync, readFileSync } from 'fs';
import * as path from 'path';

/** ConfigMaps hold at most 1 MiB; a bundle must leave room for metadata. */
export const MAX_BUNDLE_BYTES = 1024 * 1024 - 16 * 1024;

/** A runtime program bundled to one file by `npm run bundle`, shipped in a ConfigMap. */
export interface RuntimeBundle {
  /** File name inside the ConfigMap and the mount directory, e.g. `metrics-proxy.js`. */
  readonly fileName: string;
  /** The bundled JavaScript. */
  readonly source: string;
  /** Hex SHA-256 of the source; a pod annotation, so a new bundle rolls the pods. */
  readonly sha256: string;
}

const cache = new Map<string, RuntimeBundle>();

/**
 * Loads a bundled runtime program from the package's `assets/` folder (the same relative
 * location from src/ under ts-node and from lib/ once built).
 */
export function loadRuntimeBundle(fileName: string): RuntimeBundle {
  const cached = cache.get(fileName);
  if (cached) return cached;
  const file = path.join(__dirname, '..', '..', '..', 'assets', fileName);
  if (!existsSync(file)) {
    throw new Error(`runtime bundle ${file} is missing; run "npm run bundle" (or "npm run build") in the mlops-constructs package`);
  }
  const source = readFileSync(file, 'utf8');
  if (Buffer.byteLength(source) > MAX_BUNDLE_BYTES) {
    throw new Error(`runtime bundle ${file} is ${Buffer.byteLength(source)} bytes, above the ${MAX_BUNDLE_BYTES} that fit in a ConfigMap; trim its dependencies`);
  }
  const bundle = { fileName, source, sha256: createHash('sha256').update(source).digest('hex') };
  cache.set(fileName, bundle);
  return bundle;
}
