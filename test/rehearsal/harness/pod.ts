import type { PodSpec, Workload } from './manifests';
import type { ContainerProcess } from './processes';

/** A container that exited or never became ready, with the cause from its log. */
export class PodStartError extends Error {
  constructor(
    message: string,
    /** The container at fault. */
    public readonly container: string,
    /** Its exit code, when it exited. */
    public readonly exitCode: number | undefined,
    /** Its log. */
    public readonly log: string,
  ) {
    super(message);
    this.name = 'PodStartError';
  }
}

/** A running pod. */
export class Pod {
  public readonly containers = new Map<string, ContainerProcess>();
  public readonly initContainers = new Map<string, ContainerProcess>();
  public ready = false;

  constructor(
    public readonly name: string,
    public readonly ip: string,
    public readonly netns: string,
    /** The pod's spec (a workload's pod template, or a Pod object's own). */
    public readonly spec: PodSpec,
    /** The pod's labels (what Service selectors match). */
    public readonly labels: Record<string, string> | undefined,
    public readonly dir: string,
    /** The workload the rehearsal started the pod from; none for a Pod a node agent runs. */
    public readonly workload?: Workload,
  ) {}

  /** Log of a container or init container. */
  public log(container: string): string {
    const c = this.containers.get(container) ?? this.initContainers.get(container);
    if (!c) throw new Error(`pod ${this.name} has no container ${container}`);
    return c.log;
  }
}
