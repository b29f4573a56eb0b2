import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The path of a bundled runtime program, rebuilt with scripts/bundle-runtime.js when it is
 * missing or older than its sources, so tests never run a stale bundle.
 */
export function bundledProgram(asset: string, sourceDir: string): string {
  const bundle = path.join(ROOT, 'assets', asset);
  // The program's own folder and what every program imports: the shared runtime parts, the code shared with the constructs and the contract.
  const sources = [sourceDir, 'src/runtime/shared', 'src/shared', 'src/contract.ts'].map((p) => path.join(ROOT, p));
  const newestSource = Math.max(...sources.flatMap(sourceFiles).map((file) => fs.statSync(file).mtimeMs));
  if (!fs.existsSync(bundle) || fs.statSync(bundle).mtimeMs < newestSource) {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'bundle-runtime.js')], { cwd: ROOT, stdio: 'pipe' });
  }
  return bundle;
}

/** Every .ts file under a folder (or the file itself); nothing when it does not exist. */
function sourceFiles(at: string): string[] {
  if (!fs.existsSync(at)) return [];
  if (!fs.statSync(at).isDirectory()) return [at];
  return fs.readdirSync(at, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(at, file));
}

export interface RunningProgram {
  readonly child: ChildProcess;
  /** Parsed JSON lines of stdout so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Every stdout line, JSON or not. */
  readonly stdoutLines: string[];
  stderr(): string;
  /** Resolves with the first log line whose `event` is `event`. */
  waitForEvent(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGKILLs the program if it still runs. */
  kill(): Promise<void>;
}

/** Runs a bundled program with `node <file>` and exactly `env` (plus PATH), as the container does. */
export function runProgram(file: string, env: Record<string, string>): RunningProgram {
  const child = spawn(process.execPath, [file], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const stdoutLines: string[] = [];
  let stderr = '';
  const listeners = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdoutLines.push(line);
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // kept in stdoutLines; the test decides whether non-JSON output is acceptable
    }
    for (const listener of listeners) listener();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    for (const listener of listeners) listener();
    resolve(code);
  }));

  const waitForEvent = (event: string, timeoutMs = 15_000) => new Promise<Record<string, unknown>>((resolve, reject) => {
    const check = () => {
      const found = logs.find((log) => log.event === event);
      if (found) {
        done();
        resolve(found);
      } else if (child.exitCode !== null || child.signalCode !== null) {
        done();
        reject(new Error(`program exited (${child.exitCode ?? child.signalCode}) before logging "${event}"; stderr: ${stderr}`));
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no "${event}" log line within ${timeoutMs} ms; stdout: ${stdoutLines.join('\n')} stderr: ${stderr}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      listeners.delete(check);
    };
    listeners.add(check);
    check();
  });

  return {
    child,
    logs,
    stdoutLines,
    stderr: () => stderr,
    waitForEvent,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
