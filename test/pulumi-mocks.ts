/**
 * A Pulumi program run against `pulumi.runtime.setMocks`, recording every resource
 * registration with what the engine would receive: type, name, parent, explicit dependencies,
 * provider reference, custom timeouts and the resolved inputs. No Pulumi CLI or provider
 * plugin is involved; what that leaves unproven is listed in docs/pulumi.md.
 */
import * as pulumi from '@pulumi/pulumi';

export interface Registration {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** URN of the parent ('' for the stack's direct children). */
  readonly parent: string;
  /** URNs of the resources it waits for (dependsOn, with components expanded to their children). */
  readonly dependencies: string[];
  /** Provider reference `<provider urn>::<id>`, '' for the default provider. */
  readonly provider: string;
  readonly custom: boolean;
  /** Inputs as the engine receives them (Outputs resolved; unknown values are undefined). */
  readonly inputs: any;
  readonly customTimeouts?: { create: string; update: string; delete: string };
}

export interface MockedRun {
  readonly registrations: Registration[];
  /** Registrations of custom resources of the kubernetes package. */
  kubernetes(): Registration[];
  byUrn(urn: string): Registration;
}

/**
 * Starts a mocked Pulumi runtime (project `mlops`, stack `test`) and records registrations.
 * `preview` makes outputs the mocks do not return unknown, as in `pulumi preview`; `config`
 * is the stack config (keys without a namespace are in `mlops`).
 */
export async function startMocks(options: { preview?: boolean; config?: Record<string, string> } = {}): Promise<MockedRun> {
  const registrations: Registration[] = [];
  // Config is process-wide: every run starts from exactly the config it is given.
  pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(options.config ?? {}).map(([k, v]) => [k.includes(':') ? k : `mlops:${k}`, v])));
  await pulumi.runtime.setMocks({
    newResource: (args) => {
      const meta = args.inputs?.metadata;
      const id = meta?.name ? (meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name) : `${args.name}-id`;
      // Kubernetes objects read back as they were sent; anything else returns no outputs,
      // which in a preview makes them unknown.
      return { id, state: args.type.startsWith('kubernetes:') ? args.inputs : {} };
    },
    call: () => ({}),
  }, 'mlops', 'test', options.preview ?? false);

  const monitor = pulumi.runtime.getMonitor() as any;
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: any, res: any) => void) => original(req, (err: any, res: any) => {
    if (!err) {
      const timeouts = req.getCustomtimeouts();
      registrations.push({
        type: req.getType(),
        name: req.getName(),
        urn: res.getUrn(),
        parent: req.getParent(),
        dependencies: req.getDependenciesList(),
        provider: req.getProvider(),
        custom: req.getCustom(),
        inputs: pulumi.runtime.deserializeProperties(req.getObject()),
        customTimeouts: timeouts ? { create: timeouts.getCreate(), update: timeouts.getUpdate(), delete: timeouts.getDelete() } : undefined,
      });
    }
    callback(err, res);
  });

  const run: MockedRun = {
    registrations,
    kubernetes: () => registrations.filter((r) => r.custom && r.type.startsWith('kubernetes:')),
    byUrn: (urn) => {
      const found = registrations.find((r) => r.urn === urn);
      if (!found) throw new Error(`no registration with URN ${urn}`);
      return found;
    },
  };
  return run;
}

/** Resolves once every resource has registered (its URN is known). */
export async function settled(resources: pulumi.Resource[]): Promise<void> {
  await Promise.all(resources.map((r) => new Promise<string>((resolve) => r.urn.apply(resolve))));
  // Outputs registered by registerOutputs and late apply() callbacks finish on the next turns.
  await new Promise((resolve) => setTimeout(resolve, 50));
}

/** The value of an Output (undefined when unknown in a preview). */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}
