import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
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

/** Generates a spec's sample and fails loudly if it is not the oracle's. */
export function sample(spec: SampleSpec): Float64Array {
  const values = generate(spec);
  // repr() round-trips, so the checksum parses to exactly the oracle's double.
  const check = fsum(values.subarray(0, 16));
  if (check !== Number(spec.check)) throw new Error(`generator mismatch for ${JSON.stringify(spec)}: checksum ${check}`);
  return values;
}

/** What a finished run of the bundled checker printed. */
export interface DriftRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the bundled checker (`node assets/mlops-drift.js ...`) with `env` (plus PATH) to completion. */
export function runDrift(program: string, args: readonly string[], env: Record<string, string> = {}, timeoutMs = 50_000): Promise<DriftRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [program, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mlops-drift ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-drift-test-'));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
