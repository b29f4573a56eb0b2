import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where python/oracle/make_drift_fixtures.py writes its results. */
export const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'drift');

export function readFixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
}

/** A sample described by the oracle script instead of stored: see its `generate`. */
export interface SampleSpec {
  readonly seed: number;
  readonly n: number;
  readonly dist: 'uniform' | 'normal' | 'square' | 'grid' | 'int';
  readonly loc?: number;
  readonly scale?: number;
  readonly levels?: number;
  /** repr() of the exact sum of the first 16 values: proves the two generators agree. */
  readonly check: string;
}

// A local alias: jest's global object is a proxy, slow to consult in a loop of millions.
const { imul, floor } = Math;

/** n uniforms in [0, 1): mulberry32's output function applied to seed + i * 0x6D2B79F5. */
export function uniforms(seed: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = (seed + imul(i + 1, 0x6d2b79f5)) | 0;
    let t = imul(a ^ (a >>> 15), a | 1);
    t = (t + imul(t ^ (t >>> 7), t | 61)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return out;
}

/** The sample a spec describes, with the oracle's arithmetic operation for operation. */
export function generate(spec: SampleSpec): Float64Array {
  const loc = spec.loc ?? 0;
  const scale = spec.scale ?? 1;
  const n = spec.n;
  switch (spec.dist) {
    case 'uniform':
      return uniforms(spec.seed, n).map((u) => u * scale + loc);
    case 'normal': {
      const u = uniforms(spec.seed, 4 * n);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = ((((u[4 * i] + u[4 * i + 1]) + u[4 * i + 2]) + u[4 * i + 3]) - 2.0) * scale + loc;
      return out;
    }
    case 'square':
      return uniforms(spec.seed, n).map((u) => u * u * scale + loc);
    case 'grid': {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = ((i + 0.5) / n) * scale + loc;
      return out;
    }
    case 'int':
      return uniforms(spec.seed, n).map((u) => floor(u * spec.levels!) + loc);
  }
}

/** Exact sum (Shewchuk's partials, as Python's math.fsum) for the generator checksum. */
export function fsum(values: ArrayLike<number>): number {
  const partials: number[] = [];
  for (let k = 0; k < values.length; k++) {
    let x = values[k];
    let i = 0;
    for (const p of partials) {
      let y = p;
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  // Python's final rounding: sum from the top, then fix a half-way case.
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n];
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n];
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/** Python's repr of a float, for comparing checksums written by the oracle. */
export function pythonRepr(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  const s = String(x);
  // JavaScript writes 1e-7 where Python writes 1e-07.
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Generates a spec's sample and fails loudly if it is not the oracle's. */
export function sample(spec: SampleSpec): Float64Array {
  const values = generate(spec);
  const check = pythonRepr(fsum(values.subarray(0, 16)));
  if (check !== spec.check) throw new Error(`generator mismatch for ${JSON.stringify(spec)}: checksum ${check}`);
  return values;
}
