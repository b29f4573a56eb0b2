/**
 * Startup and readiness probes as the kubelet runs them, polled every 0.5 s until the first
 * success: exec in the container's context, httpGet with the kubelet's Host `<podIP>:<port>`,
 * tcpSocket as a connection. A container that exits fails the pod at once (a kubelet would
 * restart it); liveness probes are not run.
 */
import { ContainerConfigError } from './kubelet';
import { type Container, type Probe, resolvePort } from './manifests';
import type { HttpResult, RequestInit } from './network';
import { type Pod, PodStartError } from './pod';
import { delay } from './processes';

/** How a probe reaches its container. */
export interface ProbeTarget {
  /** Runs a command in the container's context; resolves to its exit code. */
  exec(command: string[], timeoutMs: number): Promise<number>;
  /** An HTTP request from inside the cluster. */
  request(url: string, init: RequestInit): Promise<HttpResult>;
}

/** One probe attempt: true on success. */
export async function probeOnce(pod: Pod, container: Container, probe: Probe, target: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.exec) return (await target.exec(probe.exec.command!, timeoutMs)) === 0;
  if (probe.httpGet) {
    const port = resolvePort(pod.spec.containers, probe.httpGet.port);
    const headers: Record<string, string> = { host: `${pod.ip}:${port}`, 'user-agent': 'kube-probe/1.28' };
    for (const h of probe.httpGet.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    try {
      const res = await target.request(`http://${pod.ip}:${port}${probe.httpGet.path ?? '/'}`, { headers, timeoutMs });
      return res.status >= 200 && res.status < 400;
    } catch {
      return false;
    }
  }
  if (probe.tcpSocket) {
    const port = resolvePort(pod.spec.containers, probe.tcpSocket.port);
    return target.request(`http://${pod.ip}:${port}/`, { timeoutMs }).then(() => true, () => false);
  }
  throw new ContainerConfigError(`container "${container.name}": probe type ${Object.keys(probe).join(',')} is not supported by the rehearsal`);
}

/**
 * Waits until the container passed its startup probe (within failureThreshold x periodSeconds)
 * and then its readiness probe, or `deadline`; PodStartError when it exits or runs out of time.
 */
export async function waitReady(pod: Pod, container: Container, deadline: number, target: ProbeTarget): Promise<void> {
  const proc = pod.containers.get(container.name)!;
  const probes = [container.startupProbe, container.readinessProbe].filter((p): p is Probe => p !== undefined);
  for (const probe of probes) {
    const budget = probe === container.startupProbe
      ? ((probe.initialDelaySeconds ?? 0) + (probe.failureThreshold ?? 3) * (probe.periodSeconds ?? 10)) * 1000
      : Infinity;
    const until = Math.min(deadline, Date.now() + budget);
    for (;;) {
      if (!proc.running) {
        throw new PodStartError(
          `pod ${pod.name}: container "${container.name}" exited with code ${proc.exitCode} before it was ready\n--- last lines of ${container.name} ---\n${proc.tail()}`,
          container.name, proc.exitCode ?? undefined, proc.log);
      }
      if (await probeOnce(pod, container, probe, target)) break;
      if (Date.now() > until) {
        throw new PodStartError(
          `pod ${pod.name}: container "${container.name}" did not pass its ${probe === container.startupProbe ? 'startup' : 'readiness'} probe in time\n--- last lines of ${container.name} ---\n${proc.tail()}`,
          container.name, undefined, proc.log);
      }
      await delay(500);
    }
  }
}
