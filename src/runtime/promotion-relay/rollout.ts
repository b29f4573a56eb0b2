import { CANARY_TRACK_LABEL, PROMOTION_ANNOTATIONS as A, type PromotionModelConfig } from '../../contract';
import { KubeClient } from './kube';
import { canaryHealth, type CanaryHealth } from './prometheus';

type Rollout = NonNullable<PromotionModelConfig['rollout']>;
type Canary = NonNullable<Rollout['canary']>;

/** A promotion step failed for a reason retrying will not fix (or past its retries); the message says why. */
export class PromotionFailed extends Error {}

/** What a rollout or canary step reports as it goes. */
export type StepLog = (event: string, fields: Record<string, unknown>) => void;

const modelUri = (name: string) => new RegExp(`^models:/${escape(name)}(@[A-Za-z0-9_-]+|/[0-9]+)$`);

/**
 * The strategic merge patch that pins a Deployment's pod template to `models:/<name>/<version>`:
 * every container argument and environment value that is a models:/ URI of the model (the
 * server's --model-uri, the metrics proxy's MLOPS_MODEL_URI) and the version annotation. A
 * changed template is what makes the Deployment controller roll a new ReplicaSet. Throws
 * PromotionFailed when no container loads the model from the registry.
 */
export function pinPatch(deployment: any, name: string, version: string): { patch: any; changed: boolean } {
  const pattern = modelUri(name);
  const pinned = `models:/${name}/${version}`;
  const template = deployment.spec?.template ?? {};
  let references = 0;
  let changed = template.metadata?.annotations?.[A.modelVersion] !== version;
  const containers = (template.spec?.containers ?? []).map((c: any) => {
    const out: any = { name: c.name };
    const args: string[] | undefined = c.args;
    if (args?.some((a) => pattern.test(a))) {
      references++;
      out.args = args.map((a) => (pattern.test(a) ? pinned : a));
      if (out.args.some((a: string, i: number) => a !== args[i])) changed = true;
    }
    const env = (c.env ?? []).filter((e: any) => typeof e.value === 'string' && pattern.test(e.value));
    if (env.length > 0) {
      references++;
      out.env = env.map((e: any) => ({ name: e.name, value: pinned }));
      if (env.some((e: any) => e.value !== pinned)) changed = true;
    }
    return out;
  });
  if (references === 0) {
    throw new PromotionFailed(`Deployment ${deployment.metadata?.name} loads no models:/${name} URI in its containers' args or env: a rollout can only move a model its server loads from the registry (ServingRuntime.mlflow)`);
  }
  return {
    patch: { spec: { template: { metadata: { annotations: { [A.modelVersion]: version } }, spec: { containers: containers.filter((c: any) => c.args || c.env) } } } },
    changed,
  };
}

/** The version a Deployment's pod template is pinned to, if the relay pinned it. */
export function pinnedVersion(deployment: any): string | undefined {
  return deployment?.spec?.template?.metadata?.annotations?.[A.modelVersion];
}

/** Canary replicas: the share of the stable Deployment's, at least one. */
export function canaryReplicas(stable: any, share: number): number {
  const replicas = stable.spec?.replicas ?? stable.status?.replicas ?? 1;
  return Math.max(1, Math.ceil(replicas * share));
}

/**
 * The canary Deployment `<name>-canary`: the stable pod template pinned to `version`, its pods
 * labelled CANARY_TRACK_LABEL=canary besides the stable labels, so the model's Service (which
 * selects the stable labels) sends them a share of the traffic as large as their share of the
 * pods. Its selector adds the track label: it never adopts stable pods. The stable ReplicaSets
 * select on their pod-template-hash, so they do not adopt canary pods either.
 */
export function canaryDeployment(stable: any, name: string, version: string, replicas: number, status: 'baking' | 'failed' | 'promoted', started: string, reason?: string): any {
  const { patch } = pinPatch(stable, name, version);
  const template = structuredClone(stable.spec.template);
  template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [CANARY_TRACK_LABEL]: 'canary' }, annotations: { ...template.metadata?.annotations, [A.modelVersion]: version } };
  for (const c of template.spec.containers) {
    const p = patch.spec.template.spec.containers.find((x: any) => x.name === c.name);
    if (p?.args) c.args = p.args;
    if (p?.env) c.env = c.env.map((e: any) => p.env.find((x: any) => x.name === e.name) ?? e);
  }
  const stableName = stable.metadata.name;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: `${stableName}-canary`,
      namespace: stable.metadata.namespace,
      labels: { ...stable.metadata.labels, [CANARY_TRACK_LABEL]: 'canary' },
      annotations: {
        [A.canaryOf]: stableName, [A.canaryVersion]: version, [A.canaryStarted]: started, [A.canaryStatus]: status,
        ...(reason !== undefined ? { [A.canaryReason]: reason.slice(0, 1000) } : {}),
      },
    },
    spec: {
      replicas: status === 'baking' ? replicas : 0,
      revisionHistoryLimit: 1,
      progressDeadlineSeconds: stable.spec.progressDeadlineSeconds,
      selector: { matchLabels: { ...stable.spec.selector.matchLabels, [CANARY_TRACK_LABEL]: 'canary' } },
      strategy: stable.spec.strategy,
      template,
    },
  };
}

/** How the canary's verdict is reached. */
export interface BakeDeps {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly health: (windowSeconds: number) => Promise<CanaryHealth>;
}

/** Why a canary's metrics fail its objectives now, or undefined. `final` also requires minRequests. */
export function judge(c: Canary, h: CanaryHealth, final: boolean): string | undefined {
  const fmt = (x: number) => String(Number(x.toPrecision(4)));
  if (c.errorRateObjective !== undefined && h.requests > 0 && h.errorRatio > c.errorRateObjective) {
    return `error ratio ${fmt(h.errorRatio * 100)} % of ${Math.round(h.requests)} requests is above the objective ${fmt(c.errorRateObjective * 100)} %`;
  }
  if (c.latencyObjectiveSeconds !== undefined && h.requests >= Math.max(1, c.minRequests) && h.p99Seconds > c.latencyObjectiveSeconds) {
    return `p99 latency ${fmt(h.p99Seconds)} s is above the objective ${fmt(c.latencyObjectiveSeconds)} s`;
  }
  if (final && !(h.requests >= c.minRequests)) {
    return `the canary served ${Number.isNaN(h.requests) ? 'no' : Math.round(h.requests)} requests during the bake, fewer than the ${c.minRequests} needed to judge it`;
  }
  return undefined;
}

/** Watches the canary until the bake ends (resolves) or an objective fails (PromotionFailed). */
export async function bake(c: Canary, startedMs: number, deps: BakeDeps, log: StepLog): Promise<CanaryHealth> {
  const end = startedMs + c.bakeSeconds * 1000;
  for (;;) {
    const wait = Math.min(c.intervalSeconds * 1000, end - deps.now());
    if (wait > 0) await deps.sleep(wait);
    const final = deps.now() >= end;
    const windowSeconds = Math.max(c.intervalSeconds, (deps.now() - startedMs) / 1000);
    let h: CanaryHealth;
    try {
      h = await deps.health(Math.min(windowSeconds, c.bakeSeconds));
    } catch (err) {
      // A Prometheus that does not answer cannot vouch for the canary.
      if (final) throw new PromotionFailed(`Prometheus could not be asked about the canary at the end of the bake: ${(err as Error).message}`);
      log('canary_check_failed', { error: (err as Error).message });
      continue;
    }
    log('canary_check', { requests: h.requests, errorRatio: h.errorRatio, p99Seconds: h.p99Seconds, final });
    const problem = judge(c, h, final);
    if (problem) throw new PromotionFailed(`canary stopped: ${problem}`);
    if (final) return h;
  }
}

/** The steps of a rollout, with the clients it needs. */
export class Rollouts {
  constructor(
    private readonly kube: KubeClient,
    private readonly namespace: string,
    private readonly log: StepLog,
    private readonly clock: { now: () => number; sleep: (ms: number) => Promise<void> },
  ) {}

  /** Pins the stable Deployment to `version`; 'unchanged' when it already is. */
  public async pin(model: PromotionModelConfig, version: string): Promise<'succeeded' | 'unchanged'> {
    const r = model.rollout!;
    const stable = await this.stable(r);
    const { patch, changed } = pinPatch(stable, model.name, version);
    if (!changed) return 'unchanged';
    const updated = await this.kube.patchDeployment(this.namespace, r.deployment, patch);
    this.log('rolled', { model: model.name, version, deployment: r.deployment, generation: updated.metadata?.generation });
    await this.kube.event(this.namespace, updated, 'Normal', 'ModelPromoted', `pod template pinned to models:/${model.name}/${version} by the promotion relay`);
    return 'succeeded';
  }

  /**
   * The canary stage: runs `<deployment>-canary` at `version`, bakes it, then pins the stable
   * Deployment and deletes the canary, or scales it to zero and fails. Every step reads the
   * state it left in the canary's annotations, so after a restart `resume` picks it up.
   */
  public async canary(model: PromotionModelConfig, version: string, options: { resume?: boolean } = {}): Promise<'succeeded' | 'unchanged'> {
    const r = model.rollout!;
    const c = r.canary!;
    const stable = await this.stable(r);
    const canaryName = `${r.deployment}-canary`;
    const existing = await this.kube.getDeployment(this.namespace, canaryName);
    const existingVersion = existing?.metadata?.annotations?.[A.canaryVersion];
    const existingStatus = existing?.metadata?.annotations?.[A.canaryStatus];
    if (existing && existingVersion === version && existingStatus === 'promoted') {
      // Stopped between the verdict and the cleanup: finish it.
      return this.promote(model, stable, existing, version);
    }
    const bakingThis = existing !== undefined && existingVersion === version && existingStatus === 'baking';
    if (!bakingThis && !pinPatch(stable, model.name, version).changed) return 'unchanged';

    let startedIso: string;
    if (options.resume && bakingThis) {
      startedIso = existing.metadata.annotations[A.canaryStarted];
      this.log('canary_resumed', { model: model.name, version, started: startedIso });
    } else {
      startedIso = new Date(this.clock.now()).toISOString();
      await this.kube.applyDeployment(this.namespace, canaryDeployment(stable, model.name, version, canaryReplicas(stable, c.replicaShare), 'baking', startedIso));
      this.log('canary_started', { model: model.name, version, deployment: canaryName, replicas: canaryReplicas(stable, c.replicaShare) });
      await this.kube.event(this.namespace, stable, 'Normal', 'CanaryStarted', `canary ${canaryName} runs models:/${model.name}/${version} for ${c.bakeSeconds} s before the rollout`);
    }
    try {
      await this.waitReady(canaryName, c.readyTimeoutSeconds);
      const startedMs = Math.max(Date.parse(startedIso), 0);
      const health = await bake(c, startedMs, {
        now: this.clock.now,
        sleep: this.clock.sleep,
        health: (w) => canaryHealth(c.prometheusUrl, this.namespace, r.metricModel, r.deployment, w),
      }, (event, fields) => this.log(event, { model: model.name, version, ...fields }));
      this.log('canary_passed', { model: model.name, version, requests: health.requests, errorRatio: health.errorRatio, p99Seconds: health.p99Seconds });
    } catch (err) {
      if (!(err instanceof PromotionFailed)) throw err;
      const reason = err.message;
      await this.kube.applyDeployment(this.namespace, canaryDeployment(stable, model.name, version, 0, 'failed', startedIso, reason));
      await this.kube.event(this.namespace, stable, 'Warning', 'ModelPromotionFailed', `models:/${model.name}/${version} not rolled out: ${reason}; canary ${canaryName} scaled to 0`);
      throw err;
    }
    const marked = await this.kube.applyDeployment(this.namespace, canaryDeployment(stable, model.name, version, canaryReplicas(stable, c.replicaShare), 'promoted', startedIso));
    return this.promote(model, stable, marked, version);
  }

  private async promote(model: PromotionModelConfig, stable: any, canary: any, version: string): Promise<'succeeded'> {
    const r = model.rollout!;
    const { patch, changed } = pinPatch(stable, model.name, version);
    if (changed) await this.kube.patchDeployment(this.namespace, r.deployment, patch);
    // The canary goes only once the stable template is pinned: until then it keeps serving.
    await this.kube.deleteDeployment(this.namespace, canary.metadata.name);
    this.log('canary_promoted', { model: model.name, version, deployment: r.deployment });
    await this.kube.event(this.namespace, stable, 'Normal', 'ModelPromoted', `canary of models:/${model.name}/${version} passed; pod template pinned to it and the canary removed`);
    return 'succeeded';
  }

  private async stable(r: Rollout): Promise<any> {
    const stable = await this.kube.getDeployment(this.namespace, r.deployment);
    if (stable === undefined) throw new PromotionFailed(`Deployment ${this.namespace}/${r.deployment} does not exist`);
    return stable;
  }

  private async waitReady(name: string, timeoutSeconds: number): Promise<void> {
    const deadline = this.clock.now() + timeoutSeconds * 1000;
    let last: any;
    for (;;) {
      last = await this.kube.getDeployment(this.namespace, name);
      if (last === undefined) throw new PromotionFailed(`canary Deployment ${name} disappeared while starting`);
      const want = last.spec?.replicas ?? 1;
      const ready = last.status?.readyReplicas ?? 0;
      const updated = last.status?.updatedReplicas ?? 0;
      if ((last.status?.observedGeneration ?? 0) >= last.metadata.generation && ready >= want && updated >= want) return;
      if (this.clock.now() >= deadline) {
        throw new PromotionFailed(`canary ${name} had ${ready} of ${want} pods ready after ${timeoutSeconds} s (image pull, model load or crash: see its pods' events)`);
      }
      await this.clock.sleep(2000);
    }
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
