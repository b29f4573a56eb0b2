/**
 * The harness's container runtime: starts a container of a pod as the kubelet would (image
 * PATH and ENV, the resolved env, command or the image's ENTRYPOINT, `$(VAR)` expansion, paths
 * rewritten to the volume directories, the pod's user, the pod's network namespace), runs exec
 * probes and hooks in a container's context, and runs client programs in the node namespace.
 * Used by the rehearsal (cluster.ts) and by the node agent (test/node/node-agent.ts); the env
 * sources say where Secrets and ConfigMaps come from.
 */
import * as fs from 'fs';
import * as path from 'path';
import { programFor } from './images';
import { ContainerConfigError, EnvSources, expandArgv, resolveEnv, rewritePath } from './kubelet';
import type { Container } from './manifests';
import type { Pod } from './pod';
import { type ContainerProcess, Processes, type RunAs, podUser, signalGroup, timeout } from './processes';
import { type VolumeDirs, mappingsFor } from './volumes';

/** The user a container runs as: the image's override (PostgreSQL), else the pod's securityContext. */
export function runAsFor(pod: Pod, container: Container): RunAs {
  return programFor(container.image).runAs ?? podUser(pod.spec, container);
}

export class ContainerRuntime {
  /** An empty root-owned read-only directory: every container's working directory. */
  private readonly readOnlyCwd: string;
  private readonly logs: string;

  /** `root`: the run's directory (rootfs/, logs/ and client work directories go there). */
  constructor(public readonly processes: Processes, private readonly root: string) {
    this.readOnlyCwd = path.join(root, 'rootfs');
    fs.mkdirSync(this.readOnlyCwd, { recursive: true, mode: 0o555 });
    this.logs = path.join(root, 'logs');
    fs.mkdirSync(this.logs, { recursive: true });
  }

  /** env, argv and user of a container, as the kubelet would start it. */
  public async launch(pod: Pod, container: Container, volumes: VolumeDirs, sources: EnvSources): Promise<{ argv: string[]; env: Record<string, string>; runAs: RunAs }> {
    const program = programFor(container.image);
    const containerEnv = resolveEnv(container, sources);
    const mappings = mappingsFor(container, volumes);
    const env: Record<string, string> = { PATH: program.path.join(':'), ...program.env, HOSTNAME: pod.name };
    const tmp = mappings.find((m) => m.containerPath === '/tmp');
    if (tmp) env.TMPDIR = tmp.localPath;
    for (const [k, v] of Object.entries(containerEnv)) env[k] = rewritePath(v, mappings);
    const runAs = runAsFor(pod, container);
    let argv: string[];
    if (container.command) {
      argv = [...container.command, ...(container.args ?? [])];
    } else if (program.entrypoint) {
      argv = await program.entrypoint({
        args: container.args ?? [],
        env,
        runAs,
        mappings,
        exec: (a, stdin) => this.processes.exec(a, { netns: pod.netns, runAs, env, cwd: this.readOnlyCwd }, stdin),
      });
    } else {
      throw new ContainerConfigError(`container "${container.name}": no command, and the rehearsal does not know the ENTRYPOINT of ${container.image}`);
    }
    argv = expandArgv(argv, containerEnv).map((a) => rewritePath(a, mappings));
    return { argv, env, runAs };
  }

  /** Starts a container (or init container); its output goes to logs/<pod>.[init.]<container>.log. */
  public async start(pod: Pod, container: Container, volumes: VolumeDirs, sources: EnvSources, init: boolean): Promise<ContainerProcess> {
    const { argv, env, runAs } = await this.launch(pod, container, volumes, sources);
    const logFile = path.join(this.logs, `${pod.name}.${init ? 'init.' : ''}${container.name}.log`);
    fs.appendFileSync(logFile, `harness: ${new Date().toISOString()} starting ${container.name} as ${runAs.uid}:${runAs.gid}: ${argv.map((a) => (a.includes('\n') ? '<script>' : a)).join(' ')}\n`);
    return this.processes.spawn(container.name, argv,
      { netns: pod.netns, runAs, env, cwd: this.readOnlyCwd, expose: programFor(container.image).expose }, logFile);
  }

  /** Runs an exec probe or hook in a container's context; resolves to its exit code. */
  public async exec(pod: Pod, container: Container, volumes: VolumeDirs, sources: EnvSources, command: string[], timeoutMs: number): Promise<number> {
    const { env, runAs } = await this.launch(pod, { ...container, command, args: [] }, volumes, sources);
    const mappings = mappingsFor(container, volumes);
    const argv = command.map((a) => rewritePath(a, mappings));
    const expose = programFor(container.image).expose;
    return this.processes.execWithin(argv, { netns: pod.netns, runAs, env, cwd: this.readOnlyCwd, expose }, timeoutMs);
  }

  /**
   * Runs a client program (not a pod: a training job, a CLI) in namespace `netns` with the
   * programs of `image`, as uid/gid 1000, and returns its exit code and output.
   */
  public async run(netns: string, argv: string[], options: { image: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; output: string }> {
    const program = programFor(options.image);
    const work = fs.mkdtempSync(path.join(this.root, 'client-'));
    fs.chmodSync(work, 0o777);
    const env = { PATH: program.path.join(':'), ...program.env, HOME: work, TMPDIR: work, ...options.env };
    const logFile = path.join(this.logs, `client-${path.basename(work)}.log`);
    const proc = this.processes.spawn('client', argv,
      { netns, runAs: { uid: 1000, gid: 1000, groups: [1000] }, env, cwd: work, expose: program.expose }, logFile);
    const limit = options.timeoutMs ?? 300_000;
    const code = await Promise.race([proc.exited, timeout(limit).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      signalGroup(proc, 'SIGKILL');
      throw new Error(`${argv.join(' ')} did not finish in ${limit} ms; last lines:\n${proc.tail()}`);
    }
    this.processes.forget(proc);
    return { code, output: proc.log };
  }
}
