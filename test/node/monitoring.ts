/**
 * Monitoring of the node tier's cluster: prometheus-operator v0.93.0 reconciling a
 * `Prometheus` resource, and the Prometheus it configures run on the node with the operator's
 * generated configuration; Alertmanager (Debian's 0.25, as in test/rehearsal/alerting/) and a
 * webhook receiver in the test process. Both the operator and Prometheus 3.13.1 (the release
 * the operator is built against, with Kubernetes service discovery only: Debian's 2.42 is
 * built without it) come from the Go module proxy through scripts/setup-kubernetes.sh.
 *
 * Why Prometheus runs from the configuration Secret and not as the operator's StatefulSet pod:
 * the pod needs the config-reloader (which decompresses the Secret into the config-out
 * emptyDir) and a Prometheus whose Kubernetes service discovery reaches the apiserver by
 * client-go's in-cluster config: KUBERNETES_SERVICE_HOST/PORT (the node agent injects no
 * service variables) and the hard-coded /var/run/secrets/kubernetes.io/serviceaccount/ (the
 * harness rewrites paths in argv and env, it mounts nothing), and the generated file names
 * its rule files by container paths (/etc/prometheus/rules/...), which no argv rewriting
 * reaches. So:
 * - the `Prometheus` resource says where the apiserver is and how to authenticate, with the
 *   operator's own field for a Prometheus that does not use the in-cluster config,
 *   `spec.apiserverConfig` (host, the cluster CA file, the token file of its ServiceAccount,
 *   which has a Role to discover the namespace): the operator writes them into every
 *   kubernetes_sd_config;
 * - the test runs the StatefulSet's own `prometheus` container command (the flags the
 *   operator emits for `spec.version`, set to the built release), each volume of the pod
 *   template a local directory filled from its Secret or ConfigMap, paths rewritten as the
 *   harness rewrites a container's argv (runConfigFor), and `--web.listen-address` set to the
 *   node's address;
 * - it writes the configuration the config-reloader would: the Secret's prometheus.yaml.gz,
 *   unzipped, the reloader container's variables expanded ($(POD_NAME), $(SHARD)), with one
 *   change (configForNode): `rule_files` point at the local rule directories.
 */
import { type ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as zlib from 'zlib';
import { parse, stringify } from 'yaml';
import { cacheDir } from '../controlplane/binaries';
import type { ControlPlane } from '../controlplane/cluster';
import { type PathMapping, rewritePath } from '../rehearsal/harness/kubelet';
import { IP } from '../rehearsal/harness/processes';

export const OPERATOR_VERSION = 'v0.93.0';
export const OPERATOR = path.join(cacheDir(), `prometheus-operator-${OPERATOR_VERSION}`, 'bin', 'operator');
/** The Prometheus release tools/prometheus builds (module github.com/prometheus/prometheus v0.313.1). */
export const PROMETHEUS_VERSION = 'v3.13.1';
const PROMETHEUS_BINARY = path.join(cacheDir(), `prometheus-${PROMETHEUS_VERSION}`, 'bin', 'prometheus');

/** The built Prometheus; throws, naming the script, when it is missing. */
export function prometheusBinary(): string {
  if (!fs.existsSync(PROMETHEUS_BINARY)) throw new Error(`${PROMETHEUS_BINARY} is missing; run bash scripts/setup-kubernetes.sh`);
  return PROMETHEUS_BINARY;
}

/** A process this module started; stop() ends it (SIGTERM, SIGKILL after 10 s). */
export interface Started {
  readonly name: string;
  log(): string;
  readonly exitCode: () => number | null;
  stop(): Promise<void>;
}

function started(name: string, child: ChildProcess): Started {
  let log = '';
  const collect = (b: Buffer) => { log = (log + b.toString('utf8')).slice(-256 * 1024); };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    log: () => log,
    exitCode: () => child.exitCode ?? (child.signalCode ? 128 : null),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The operator as a process beside the control plane, with the test's admin certificate (not its chart's RBAC), watching `namespace`. */
export function startOperator(cp: ControlPlane, namespace: string): Started {
  if (!fs.existsSync(OPERATOR)) throw new Error(`${OPERATOR} is missing; run bash scripts/setup-kubernetes.sh`);
  const pki = path.join(cp.dir, 'pki');
  return started('prometheus-operator', spawn(OPERATOR, [
    `--apiserver=${cp.server}`, `--ca-file=${path.join(pki, 'ca.crt')}`, `--cert-file=${path.join(pki, 'admin.crt')}`, `--key-file=${path.join(pki, 'admin.key')}`,
    `--namespaces=${namespace}`, '--web.listen-address=127.0.0.1:0', '--log-level=info',
  ], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** A program in network namespace `netns`, as root. */
export function startInNamespace(name: string, netns: string, argv: string[], cwd: string): Started {
  return started(name, spawn(IP, ['netns', 'exec', netns, ...argv], { cwd, env: { PATH: '/usr/sbin:/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/**
 * Forwards 127.0.0.1:<port> of `netns` to 127.0.0.1:<port> of the machine, for each port:
 * loopback-relay.js in the namespace hands each connection over a Unix socket in `dir` (a
 * file, so it crosses network namespaces) to this process, which dials the machine's port.
 */
export async function startLoopbackRelay(netns: string, dir: string, ports: number[]): Promise<Started> {
  const servers = await Promise.all(ports.map((port) => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer((inbound) => {
      const outbound = net.connect(port, '127.0.0.1');
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      const end = () => { inbound.destroy(); outbound.destroy(); };
      inbound.on('error', end);
      outbound.on('error', end);
      inbound.on('close', end);
      outbound.on('close', end);
    });
    server.once('error', reject);
    server.listen(path.join(dir, `${port}.sock`), () => resolve(server));
  })));
  const relay = startInNamespace('loopback-relay', netns, [process.execPath, path.join(__dirname, 'loopback-relay.js'), dir, ...ports.map(String)], dir);
  const deadline = Date.now() + 10_000;
  while (!relay.log().includes('ready')) {
    if (relay.exitCode() !== null || Date.now() > deadline) throw new Error(`loopback relay did not start: ${relay.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    ...relay,
    stop: async () => {
      await relay.stop();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/** The operator's generated configuration (Secret prometheus-<name>, key prometheus.yaml.gz), parsed. */
export function generatedConfig(secret: any): any {
  const gz = secret.data?.['prometheus.yaml.gz'];
  return gz ? parse(zlib.gunzipSync(Buffer.from(gz, 'base64')).toString('utf8')) : undefined;
}

/**
 * The generated configuration as the config-reloader of `statefulSet` would write it for its
 * first pod: `$(VAR)` expanded from the reloader container's env (POD_NAME, SHARD), with the
 * one change of the file comment: container paths in `rule_files` rewritten.
 */
export function configForNode(secret: any, statefulSet: any, mappings: readonly PathMapping[]): any {
  const podName = `${statefulSet.metadata.name}-0`;
  const reloader = statefulSet.spec.template.spec.containers.find((c: any) => c.name === 'config-reloader');
  const env: Record<string, string> = {};
  for (const e of reloader?.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
  }
  const text = zlib.gunzipSync(Buffer.from(secret.data['prometheus.yaml.gz'], 'base64')).toString('utf8')
    .replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (all, name: string) => env[name] ?? all);
  const config = parse(text);
  return { ...config, rule_files: (config.rule_files ?? []).map((f: string) => rewritePath(f, mappings)) };
}

/**
 * The StatefulSet's `prometheus` container as a local command: each volume of the pod
 * template a directory under `dir` (Secrets and ConfigMaps written out from `objects`,
 * emptyDirs empty), the container's mount paths rewritten in its args.
 */
export function runConfigFor(statefulSet: any, dir: string, objects: { secret(name: string): any; configMap(name: string): any }): { argv: string[]; mappings: PathMapping[]; volumeDir(name: string): string } {
  const spec = statefulSet.spec.template.spec;
  const container = spec.containers.find((c: any) => c.name === 'prometheus');
  const volumeDir = (name: string) => path.join(dir, 'volumes', name);
  const write = (name: string, data: Record<string, string> | undefined, base64: boolean) => {
    for (const [file, value] of Object.entries(data ?? {})) fs.writeFileSync(path.join(volumeDir(name), file), base64 ? Buffer.from(value, 'base64') : value);
  };
  for (const v of spec.volumes ?? []) {
    fs.mkdirSync(volumeDir(v.name), { recursive: true });
    if (v.secret) write(v.name, objects.secret(v.secret.secretName)?.data, true);
    if (v.configMap) write(v.name, objects.configMap(v.configMap.name)?.data, false);
    for (const source of v.projected?.sources ?? []) {
      if (source.secret) write(v.name, objects.secret(source.secret.name)?.data, true);
      if (source.configMap) write(v.name, objects.configMap(source.configMap.name)?.data, false);
    }
  }
  const mappings = (container.volumeMounts ?? []).map((m: any) => ({ containerPath: m.mountPath, localPath: path.join(volumeDir(m.name), m.subPath ?? '') }));
  return { argv: (container.args ?? []).map((a: string) => rewritePath(a, mappings)), mappings, volumeDir };
}

/** Writes an object as YAML. */
export function writeYaml(file: string, value: unknown): void {
  fs.writeFileSync(file, stringify(value, { lineWidth: 0 }));
}
