/**
 * What the drift checker costs next to the Python it replaces, measured in one run on the
 * same data:
 *
 * 1. KS alone: `ks2samp` (copy, sort, statistic, p-value) against scipy.stats.ks_2samp on
 *    two samples of 1e5, 1e6 and 1e7 values each, read by scipy from the same binary files.
 * 2. End to end: a 1M-row x 10-feature CSV pair through the bundled CLI (`--method ks`) against
 *    pandas.read_csv + ks_2samp per column, wall time and peak RSS (/usr/bin/time -v).
 *
 * Goals (issue 4): at least as fast as scipy at 1e6; peak RSS within 2x the raw column data
 * (1M x 10 x 8 bytes x 2 datasets = 160 MB). Needs the repository's Python (.venv, made by
 * scripts/setup-python.sh). Temp files are removed; every child has a deadline.
 * Run with `npm run bench:drift`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ks2samp } from '../src/runtime/drift/stats/ks';
import { seededRandom } from '../src/runtime/drift/io/table';

const ROOT = path.resolve(__dirname, '..');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const CLI = path.join(ROOT, 'assets', 'mlops-drift.js');
const TIME = '/usr/bin/time';
const KS_SIZES: Array<[n: number, repeats: number]> = [[1e5, 7], [1e6, 3], [1e7, 1]];
const E2E_ROWS = 1_000_000;
const E2E_FEATURES = 10;
const CHILD_DEADLINE_MS = 300_000;

const KS_PY = `
import json, sys, time
import numpy as np
from scipy import stats
a = np.fromfile(sys.argv[1]); b = np.fromfile(sys.argv[2]); repeats = int(sys.argv[3])
best = float("inf")
for _ in range(repeats):
    t = time.perf_counter(); r = stats.ks_2samp(a, b); best = min(best, time.perf_counter() - t)
print(json.dumps({"seconds": best, "statistic": float(r.statistic), "pValue": float(r.pvalue)}))
`;

const E2E_PY = `
import json, sys
import pandas as pd
from scipy import stats
ref = pd.read_csv(sys.argv[1]); cur = pd.read_csv(sys.argv[2])
out = {c: float(stats.ks_2samp(ref[c].dropna(), cur[c].dropna()).pvalue) for c in ref.columns}
print(json.dumps(out))
`;

interface ChildResult { readonly stdout: string; readonly stderr: string; readonly seconds: number; readonly maxRssMb?: number }

/** Runs a command to completion (under /usr/bin/time -v when `measure`), killing it at the deadline. */
function run(command: string, args: string[], options: { measure?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<ChildResult> {
  const [file, argv] = options.measure ? [TIME, ['-v', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_DEADLINE_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      resolve({ stdout, stderr, seconds, maxRssMb: rss ? Number(rss[1]) / 1024 : undefined });
    });
  });
}

/** Python's environment: without the OpenBLAS core pinning this machine sets for old builds (see the env README); ks_2samp and read_csv use no BLAS, so this only removes doubt. */
function pythonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** A roughly normal sample (sum of four uniforms), seeded. */
function sample(n: number, seed: number, shift: number): Float64Array {
  const random = seededRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = random() + random() + random() + random() - 2 + shift;
  return out;
}

async function benchKs(dir: string) {
  const rows: string[][] = [];
  for (const [n, repeats] of KS_SIZES) {
    const a = sample(n, 10 + n, 0);
    const b = sample(n, 20 + n, 0.002);
    const fileA = path.join(dir, `a-${n}.bin`);
    const fileB = path.join(dir, `b-${n}.bin`);
    fs.writeFileSync(fileA, Buffer.from(a.buffer));
    fs.writeFileSync(fileB, Buffer.from(b.buffer));

    let best = Infinity;
    // One untimed run at this size: scipy's numpy is compiled ahead, our code is not.
    let result = ks2samp(a, b);
    for (let r = 0; r < repeats; r++) {
      global.gc?.();
      const t = process.hrtime.bigint();
      result = ks2samp(a, b);
      best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
    }
    const scipy = JSON.parse((await run(PYTHON, ['-c', KS_PY, fileA, fileB, String(repeats)], { env: pythonEnv() })).stdout) as { seconds: number; statistic: number; pValue: number };
    fs.rmSync(fileA);
    fs.rmSync(fileB);
    if (result.statistic !== scipy.statistic || Math.abs(result.pValue - scipy.pValue) > 1e-10) {
      throw new Error(`ks2samp disagrees with scipy at n=${n}: ${JSON.stringify(result)} vs ${JSON.stringify(scipy)}`);
    }
    rows.push([`KS two samples of ${n.toExponential(0)}`, `${(best * 1000).toFixed(0)} ms`, `${(scipy.seconds * 1000).toFixed(0)} ms`,
      `${(best / scipy.seconds).toFixed(2)}`, '', '', `p=${result.pValue.toPrecision(4)} (${result.mode})`]);
  }
  return rows;
}

/** A CSV of `rows` x `features` numbers with 7 significant digits, as exported feature tables look. */
async function writeCsv(file: string, rows: number, features: number, seed: number, shift: number): Promise<void> {
  const random = seededRandom(seed);
  const out = fs.createWriteStream(file);
  const header = Array.from({ length: features }, (_, j) => `f${j}`).join(',');
  let batch = `${header}\n`;
  for (let i = 0; i < rows; i++) {
    const cells: string[] = [];
    for (let j = 0; j < features; j++) {
      const v = (random() + random() + random() - 1.5) * (j + 1) * 10 + (j < 3 ? shift : 0);
      cells.push(v.toPrecision(7));
    }
    batch += `${cells.join(',')}\n`;
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      batch = '';
    }
  }
  out.end(batch);
  await new Promise<void>((resolve, reject) => out.on('finish', () => resolve()).on('error', reject));
}

async function benchEndToEnd(dir: string) {
  const reference = path.join(dir, 'reference.csv');
  const current = path.join(dir, 'current.csv');
  await writeCsv(reference, E2E_ROWS, E2E_FEATURES, 101, 0);
  await writeCsv(current, E2E_ROWS, E2E_FEATURES, 202, 0.05);
  const sizeMb = (fs.statSync(reference).size + fs.statSync(current).size) / 2 ** 20;
  const rawMb = (E2E_ROWS * E2E_FEATURES * 8 * 2) / 2 ** 20;

  const ours = await run(process.execPath, [CLI, 'check', '--reference', reference, '--current', current, '--method', 'ks', '--json'], { measure: true });
  const pandas = await run(PYTHON, ['-c', E2E_PY, reference, current], { measure: true, env: pythonEnv() });
  const oursP = (JSON.parse(ours.stdout) as { features: Array<{ feature: string; pValue: number }> }).features;
  const pandasP = JSON.parse(pandas.stdout) as Record<string, number>;
  const worst = Math.max(...oursP.map((f) => Math.abs(f.pValue - pandasP[f.feature])));
  if (worst > 1e-10) throw new Error(`CLI p-values differ from pandas+scipy by ${worst}`);
  return [[`CSV 1M rows x 10 features, 2 files (${sizeMb.toFixed(0)} MB)`, `${ours.seconds.toFixed(2)} s`, `${pandas.seconds.toFixed(2)} s`,
    `${(ours.seconds / pandas.seconds).toFixed(2)}`, `${ours.maxRssMb!.toFixed(0)} MB`, `${pandas.maxRssMb!.toFixed(0)} MB`,
    `raw columns ${rawMb.toFixed(0)} MB; RSS/raw ${(ours.maxRssMb! / rawMb).toFixed(2)}; max |dp| ${worst.toExponential(1)}`]];
}

function printTable(rows: string[][]): void {
  const header = ['case', 'mlops-drift', 'scipy/pandas', 'ratio', 'peak RSS ours', 'peak RSS py', 'notes'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const row of all) console.log(row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
}

async function main(): Promise<void> {
  for (const [file, fix] of [[PYTHON, 'run scripts/setup-python.sh'], [CLI, 'run npm run bundle'], [TIME, 'apt-get install time']]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${fix}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-drift-'));
  try {
    console.log(`bench:drift on ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
    const rows = [...(await benchKs(dir)), ...(await benchEndToEnd(dir))];
    printTable(rows);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`bench:drift: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
