import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** A free TCP port on 127.0.0.1 (the OS picks it; released before the program binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Thrown by a probe to stop waiting at once (the awaited program died). */
export class GiveUp extends Error {}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or fails after `timeoutMs` saying what it waited for. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A started program whose output is kept for failure messages. */
export interface Program {
  readonly name: string;
  readonly child: ChildProcess;
  /** The last 200 lines of stdout and stderr. */
  output(): string;
  /** Everything the program wrote to stdout. */
  stdout(): string;
  /** Resolves with the exit code, or the signal name. */
  readonly exited: Promise<number | string>;
}

/**
 * Everything a rehearsal starts (programs, servers, a temp directory), stopped and removed by
 * `close()`, in afterAll, whatever happened before.
 */
export class Rehearsal {
  public readonly dir: string;
  private readonly programs: Program[] = [];
  private readonly closers: Array<() => Promise<void> | void> = [];

  constructor(prefix: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  }

  /** Starts `command args` with exactly `env` (plus PATH). */
  start(name: string, command: string, args: string[], env: Record<string, string> = {}, cwd = this.dir): Program {
    const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const keep = (chunk: Buffer) => {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      if (lines.length > 200) lines.splice(0, lines.length - 200);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<number | string>((resolve) => {
      child.once('error', (err) => {
        lines.push(`spawn failed: ${err.message}`);
        resolve('spawn-error');
      });
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    });
    const program: Program = { name, child, output: () => lines.join('\n'), stdout: () => stdout, exited };
    this.programs.push(program);
    return program;
  }

  /** Runs `close` at teardown (servers the test started in-process). */
  onClose(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  /** Output of every program, for a failure message. */
  logs(): string {
    return this.programs.map((p) => `----- ${p.name} (pid ${p.child.pid})\n${p.output()}`).join('\n');
  }

  /** Kills every program it started (by pid), closes servers, removes the temp directory. */
  async close(): Promise<void> {
    await Promise.all(this.programs.map(async (p) => {
      if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid !== undefined) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }));
    for (const close of this.closers.reverse()) {
      try {
        await close();
      } catch {
        // teardown goes on: the other resources still need closing
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** GETs `url` and returns the body when the status is 2xx, else undefined. */
export async function httpGetOk(url: string): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.ok ? res.text() : undefined;
}

/** Waits until `url` answers 2xx; fails early, with the program's output, when the program exits. */
export async function waitReady(program: Program, url: string, timeoutMs = 30_000): Promise<void> {
  let exited: number | string | undefined;
  void program.exited.then((code) => {
    exited = code;
  });
  await waitFor(`${program.name} at ${url}`, async () => {
    if (exited !== undefined) throw new GiveUp(`${program.name} exited (${exited}) before ${url} answered`);
    try {
      return (await httpGetOk(url)) === undefined ? undefined : true;
    } catch {
      return undefined;
    }
  }, timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}\n${program.output()}`);
  });
}
