/**
 * Processes standing in for containers: started with `ip netns exec <ns>` in a pod's network
 * namespace, through `setpriv` as the pod's user (no_new_privs, no capabilities), each in its
 * own process group so a stop reaches its children; their output is kept and logged to a file.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ContainerConfigError } from './kubelet';
import type { Container, PodSpec } from './manifests';

/** iproute2: namespaces and links, and `ip netns exec` for every process. */
export const IP = '/usr/sbin/ip';
export const SETPRIV = '/usr/bin/setpriv';

/** A user a process runs as. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly groups: number[];
}

/** One process standing in for a container. */
export class ContainerProcess {
  private readonly chunks: string[] = [];
  public exitCode: number | null | undefined = undefined;
  public readonly exited: Promise<number | null>;

  constructor(public readonly name: string, public readonly child: ChildProcess, logFile: string) {
    const sink = fs.createWriteStream(logFile, { flags: 'a' });
    const collect = (b: Buffer) => {
      const s = b.toString('utf8');
      this.chunks.push(s);
      // Output can still arrive after the exit, while the log closes (a shutdown burst).
      if (!sink.writableEnded) sink.write(s);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : null);
        resolve(this.exitCode);
      });
      child.on('error', (err) => {
        collect(Buffer.from(`harness: cannot start ${name}: ${err.message}\n`));
        this.exitCode = 127;
        resolve(127);
      });
    }).then((code) => new Promise<number | null>((r) => sink.end(() => r(code))));
  }

  /** Everything the process wrote to stdout and stderr so far. */
  public get log(): string {
    return this.chunks.join('');
  }

  /** The last `n` lines of the log. */
  public tail(n = 40): string {
    return this.log.trimEnd().split('\n').slice(-n).join('\n');
  }

  public get running(): boolean {
    return this.exitCode === undefined;
  }
}

/** Where and as whom a process runs. */
export interface Placement {
  /** Network namespace. */
  readonly netns: string;
  readonly runAs: RunAs;
  readonly env: Record<string, string>;
  readonly cwd: string;
  /** Directories the program needs that sit behind a directory the uid cannot enter. */
  readonly expose?: string[];
}

/** Every process the harness started and has not yet seen exit, so teardown can kill them all. */
export class Processes {
  private readonly running = new Set<ContainerProcess>();

  /** `stage`: a directory for the bind mounts of exposeScript. */
  constructor(private readonly stage: string) {}

  /** Starts a long-running process (a container), killed with the harness if the harness dies. */
  public spawn(name: string, argv: string[], at: Placement, logFile: string): ContainerProcess {
    const child = spawn(IP, this.wrap(at.netns, at.runAs, argv, at.expose), { env: at.env, cwd: at.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new ContainerProcess(name, child, logFile);
    this.running.add(proc);
    void proc.exited.then(() => this.running.delete(proc));
    return proc;
  }

  /** A helper process (entrypoint emulation), waited for; its output is returned. */
  public async exec(argv: string[], at: Placement, stdin?: string): Promise<{ code: number; output: string }> {
    return new Promise((resolve) => {
      const child = spawn(IP, this.wrap(at.netns, at.runAs, argv, [], false), { env: at.env, cwd: at.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (b) => { output += b; });
      child.stderr.on('data', (b) => { output += b; });
      child.on('error', (err) => resolve({ code: 127, output: `${output}${err.message}` }));
      child.on('exit', (code) => resolve({ code: code ?? 1, output }));
      child.stdin.end(stdin ?? '');
    });
  }

  /** An exec probe or hook: output discarded, SIGKILLed after `timeoutMs`; resolves to its exit code. */
  public async execWithin(argv: string[], at: Placement, timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      const child = spawn(IP, this.wrap(at.netns, at.runAs, argv, at.expose, false), { env: at.env, cwd: at.cwd, stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', () => resolve(127));
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? 1);
      });
    });
  }

  /** No longer tracked (stopped and waited for). */
  public forget(proc: ContainerProcess): void {
    this.running.delete(proc);
  }

  /** SIGKILLs every tracked process group. */
  public killAll(): void {
    for (const p of this.running) signalGroup(p, 'SIGKILL');
  }

  /**
   * `ip netns exec <ns> [sh -c <expose mounts>] setpriv <user> -- argv`. Mounts made by the
   * shell land in the private mount namespace `ip netns exec` creates for the process.
   */
  private wrap(netns: string, runAs: RunAs, argv: string[], expose: string[] = [], daemon = true): string[] {
    const setpriv = runAs.uid === 0 ? [] : [
      SETPRIV, '--reuid', String(runAs.uid), '--regid', String(runAs.gid),
      ...(runAs.groups.length > 0 ? ['--groups', runAs.groups.join(',')] : ['--clear-groups']),
      '--nnp', '--inh-caps=-all', '--bounding-set=-all', ...(daemon ? ['--pdeathsig', 'KILL'] : []), '--',
    ];
    const script = runAs.uid === 0 ? '' : exposeScript(expose, this.stage);
    const prelude = script === '' ? [] : ['/bin/sh', '-c', `set -e\n${script}exec "$@"`, 'sh'];
    return ['netns', 'exec', netns, ...prelude, ...setpriv, ...argv];
  }
}

/** The user of a container: its securityContext over the pod's, fsGroup as supplementary group. */
export function podUser(spec: PodSpec, container: Container | undefined): RunAs {
  const pod = spec.securityContext ?? {};
  const c = container?.securityContext ?? {};
  const uid = c.runAsUser ?? pod.runAsUser;
  const gid = c.runAsGroup ?? pod.runAsGroup ?? uid;
  if (uid === undefined) throw new ContainerConfigError('no runAsUser in the pod or container securityContext; the rehearsal will not guess the image\'s user');
  const groups = pod.fsGroup !== undefined ? [pod.fsGroup] : [];
  return { uid, gid: gid!, groups: [...new Set([gid!, ...groups])] };
}

export function signalGroup(proc: ContainerProcess, signal: NodeJS.Signals): void {
  if (!proc.running || proc.child.pid === undefined) return;
  try {
    process.kill(-proc.child.pid, signal);
  } catch {
    // Exited meanwhile.
  }
}

/** The nearest ancestor of `dir` (or itself) that others cannot enter, if any. */
function blockedAncestor(dir: string): string | undefined {
  const parts = path.resolve(dir).split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const p = `/${parts.slice(0, i).join('/')}`;
    if ((fs.statSync(p).mode & 0o001) === 0) return p;
  }
  return undefined;
}

/**
 * Shell lines that make each `expose` directory reachable for a non-root uid: the directory is
 * bind-mounted aside, a 0755 tmpfs covers the ancestor that blocks others, and the directory is
 * bound back at its own path, so only it (not the ancestor's other files) becomes visible.
 */
function exposeScript(expose: string[], stage: string): string {
  const blocked = expose.map((dir) => [dir, blockedAncestor(dir)] as const).filter((e): e is readonly [string, string] => e[1] !== undefined);
  if (blocked.length === 0) return '';
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const lines: string[] = [];
  blocked.forEach(([dir], i) => {
    fs.mkdirSync(path.join(stage, String(i)), { recursive: true });
    lines.push(`mount --bind ${q(dir)} ${q(path.join(stage, String(i)))}`);
  });
  for (const ancestor of new Set(blocked.map((b) => b[1]))) lines.push(`mount -t tmpfs -o mode=0755,size=1m rehearsal ${q(ancestor)}`);
  blocked.forEach(([dir], i) => {
    lines.push(`mkdir -p ${q(dir)}`, `mount --bind ${q(path.join(stage, String(i)))} ${q(dir)}`);
  });
  return `${lines.join('\n')}\n`;
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A timer for Promise.race that does not keep the process alive once the race is decided. */
export function timeout(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Polls `check` every 100 ms until it returns true; throws after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await delay(100);
  }
}
