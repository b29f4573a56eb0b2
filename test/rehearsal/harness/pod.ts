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
    public readonly workload: Workload,
    public readonly dir: string,
  ) {}

  /** Pod template spec. */
  public get spec(): PodSpec {
    return this.workload.spec.template.spec;
  }

  /** Pod template labels (what Service selectors match). */
  public get labels(): Record<string, string> | undefined {
    return this.workload.spec.template.metadata?.labels;
  }

  /** Log of a container or init container. */
  public log(container: string): string {
    const c = this.containers.get(container) ?? this.initContainers.get(container);
    if (!c) throw new Error(`pod ${this.name} has no container ${container}`);
    return c.log;
  }
}
