import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { PROXY_DURATION_BUCKETS, type PromotionModelConfig } from '../../contract';
import { requireSecretRef, requireSeconds } from '../core/prop-checks';
import { invalidProp, isDnsLabel, isHttpUrl, requireInteger } from '../core/validation';
import type { SecretKeySelector } from '../core/workload-props';
import type { IModelService } from '../serving/interfaces';

/** Options of PromotionAction.githubDispatch. */
export interface GithubDispatchOptions {
  /** `owner/name` of the repository whose workflow deploys (examples/ci/mlops-stack.yml). */
  readonly repository: string;
  /** Secret key with a token that may dispatch to it (fine-grained: Contents read and write). */
  readonly token: SecretKeySelector;
  /** `event_type` of the dispatch, the workflow's `repository_dispatch.types`. @default 'model-promoted' */
  readonly eventType?: string;
  /** GitHub's API, for GitHub Enterprise Server (`https://github.example.com/api/v3`). @default 'https://api.github.com' */
  readonly apiUrl?: string;
}

/** Options of PromotionAction.ciWebhook. */
export interface CiWebhookOptions {
  /** URL the relay POSTs `{event, name, alias, version}` to (a pipeline trigger of GitLab, Jenkins, Argo Events...). */
  readonly url: string;
  /** Secret key with a bearer token for it. @default - no Authorization header */
  readonly token?: SecretKeySelector;
  /** `event` of the body. @default 'model-promoted' */
  readonly eventType?: string;
}

/** Options of the canary stage of PromotionAction.rollout. */
export interface CanaryOptions {
  /** Prometheus the relay queries for the canary's serving metrics, e.g. `http://prometheus-operated.monitoring.svc:9090`. */
  readonly prometheusUrl: string;
  /** Canary pods as a share of the stable Deployment's, and so of the traffic (at least one pod). @default 0.1 */
  readonly trafficShare?: number;
  /** How long the canary must hold its objectives. @default Duration.minutes(10) */
  readonly bakeTime?: Duration;
  /** How often the relay checks it. @default Duration.seconds(30) */
  readonly checkInterval?: Duration;
  /** How long its pods may take to become ready. @default Duration.minutes(10) */
  readonly readyTimeout?: Duration;
  /** Requests the canary must serve during the bake to be judged at all. @default 100 */
  readonly minRequests?: number;
  /** Largest share of 5xx answers. @default - the service's errorRateObjective */
  readonly errorRateObjective?: number;
  /** Largest p99 latency, a bucket bound of the serving histogram. @default - the service's latencyObjective */
  readonly latencyObjective?: Duration;
}

/** Options of PromotionAction.rollout. */
export interface RolloutOptions {
  /** The ModelService (in the relay's namespace) to roll; it must serve the model from the registry (ServingRuntime.mlflow). */
  readonly service: IModelService;
  /** Run the new version as a canary first. @default - the Deployment rolls at once */
  readonly canary?: CanaryOptions;
}

/** What an action contributes to the relay: its config, a token variable, the Deployments it may change. */
export interface PromotionActionBinding {
  readonly config: Pick<PromotionModelConfig, 'ci' | 'rollout'>;
  readonly token?: SecretKeySelector;
  /** Deployments the relay patches (stable) and, with a canary, creates and deletes. */
  readonly deployments?: { readonly stable: string; readonly canary?: string };
}

/** The context of an action's bind: the owning construct, the field, the relay's namespace and the token variable to use. */
export interface PromotionActionContext {
  readonly kind: string;
  readonly field: string;
  readonly namespace: string;
  readonly tokenEnv: string;
}

/** What the relay does when a model is promoted. */
export abstract class PromotionAction {
  /**
   * A `repository_dispatch` to GitHub with `client_payload` `{name, alias, version}`: the CI
   * workflow (examples/ci/mlops-stack.yml) deploys the version, so GitOps and `pulumi up`
   * stay the only writers of the cluster.
   */
  public static githubDispatch(options: GithubDispatchOptions): PromotionAction {
    return new CiAction('github', options);
  }

  /** A JSON POST `{event, name, alias, version}` to another CI system. */
  public static ciWebhook(options: CiWebhookOptions): PromotionAction {
    return new CiAction('webhook', options);
  }

  /**
   * In the cluster: pins the ModelService Deployment's pod template to `models:/<name>/<version>`,
   * optionally after a canary. For teams without a deploy pipeline: with GitOps (Argo CD,
   * Flux) or `pulumi up` the next sync reverts the pin, so use githubDispatch there.
   */
  public static rollout(options: RolloutOptions): PromotionAction {
    return new RolloutAction(options);
  }

  /** `ci`, `rollout` or `canary`. */
  public abstract readonly kind: string;

  /** Checks the options (errors name the owning construct and field) and returns what the action contributes. */
  public abstract bind(scope: Construct, context: PromotionActionContext): PromotionActionBinding;
}

class CiAction extends PromotionAction {
  public readonly kind = 'ci';

  constructor(private readonly flavour: 'github' | 'webhook', private readonly options: GithubDispatchOptions | CiWebhookOptions) {
    super();
  }

  public bind(scope: Construct, ctx: PromotionActionContext): PromotionActionBinding {
    const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(ctx.kind, scope, `${ctx.field}.${field}`, value, problem, fix);
    const o = this.options ?? ({} as GithubDispatchOptions);
    const eventType = o.eventType ?? 'model-promoted';
    if (typeof eventType !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(eventType)) {
      throw fail('eventType', eventType, 'is not an event name', 'use letters, digits, "_", "." or "-", e.g. "model-promoted"');
    }
    if (this.flavour === 'github') {
      const g = o as GithubDispatchOptions;
      if (typeof g.repository !== 'string' || !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(g.repository)) {
        throw fail('repository', g.repository, 'is not an owner/name repository', 'use e.g. "acme/ml-platform"');
      }
      const apiUrl = (g.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '');
      if (!isHttpUrl(apiUrl)) throw fail('apiUrl', g.apiUrl, 'is not an http(s) URL', 'use e.g. "https://github.example.com/api/v3"');
      const token = requireSecretRef(ctx.kind, scope, `${ctx.field}.token`, g.token);
      return { config: { ci: { kind: 'github', url: `${apiUrl}/repos/${g.repository}/dispatches`, eventType, tokenEnv: ctx.tokenEnv } }, token };
    }
    const w = o as CiWebhookOptions;
    if (typeof w.url !== 'string' || !isHttpUrl(w.url)) throw fail('url', w.url, 'is not an http(s) URL', 'pass the trigger URL of your CI system');
    if (/^[a-z]+:\/\/[^/]*@/i.test(w.url) || /[?&](token|key|secret)=/i.test(w.url)) {
      throw fail('url', '<redacted>', 'carries a credential in plain text', 'put the token in a Secret and pass it as token');
    }
    const token = w.token === undefined ? undefined : requireSecretRef(ctx.kind, scope, `${ctx.field}.token`, w.token);
    return { config: { ci: { kind: 'webhook', url: w.url, eventType, tokenEnv: token ? ctx.tokenEnv : undefined } }, token };
  }
}

class RolloutAction extends PromotionAction {
  constructor(private readonly options: RolloutOptions) {
    super();
  }

  public get kind(): string {
    return this.options?.canary ? 'canary' : 'rollout';
  }

  public bind(scope: Construct, ctx: PromotionActionContext): PromotionActionBinding {
    const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(ctx.kind, scope, `${ctx.field}.${field}`, value, problem, fix);
    const service = this.options?.service;
    if (service === undefined || service === null || typeof service !== 'object' || !isDnsLabel(service.name)) {
      throw fail('service', service, 'is not a model service', 'pass the ModelService to roll');
    }
    if (service.namespace !== ctx.namespace) {
      throw fail('service', `${service.namespace}/${service.name}`, `is in another namespace than the relay (${ctx.namespace}), whose Role is namespaced`,
        'declare a ModelPromotion in the service\'s namespace');
    }
    if (service.name.length > 63 - '-canary'.length) {
      throw fail('service', service.name, 'is too long for its canary Deployment name (<name>-canary)', 'use a name of at most 56 characters');
    }
    const c = this.options.canary;
    if (c === undefined) {
      return { config: { rollout: { deployment: service.name, metricModel: service.modelName } }, deployments: { stable: service.name } };
    }
    const at = 'canary';
    if (!service.exportsServingMetrics) {
      throw fail(at, 'canary', `needs serving metrics to judge the canary, and ${service.name} exports none`, 'keep the metrics proxy on, or roll without a canary');
    }
    if (typeof c.prometheusUrl !== 'string' || !isHttpUrl(c.prometheusUrl)) {
      throw fail(`${at}.prometheusUrl`, c.prometheusUrl, 'is not an http(s) URL', 'use e.g. "http://prometheus-operated.monitoring.svc:9090"');
    }
    const share = c.trafficShare ?? 0.1;
    if (typeof share !== 'number' || !(share > 0 && share <= 0.5)) {
      throw fail(`${at}.trafficShare`, share, 'is not a share above 0 and at most 0.5', 'use e.g. 0.1; a canary is the smaller part of the traffic');
    }
    const bakeSeconds = requireSeconds(ctx.kind, scope, `${ctx.field}.${at}.bakeTime`, c.bakeTime ?? Duration.minutes(10), 30, 86400);
    const intervalSeconds = requireSeconds(ctx.kind, scope, `${ctx.field}.${at}.checkInterval`, c.checkInterval ?? Duration.seconds(30), 1, 3600);
    if (intervalSeconds * 2 > bakeSeconds) {
      throw fail(`${at}.checkInterval`, `${intervalSeconds}s`, `leaves fewer than two checks in the bake time (${bakeSeconds}s)`, 'shorten checkInterval or lengthen bakeTime');
    }
    const readyTimeoutSeconds = requireSeconds(ctx.kind, scope, `${ctx.field}.${at}.readyTimeout`, c.readyTimeout ?? Duration.minutes(10), 10, 7200);
    const minRequests = requireInteger(ctx.kind, scope, `${ctx.field}.${at}.minRequests`, c.minRequests ?? 100, 1, 1e9);
    const errorRateObjective = c.errorRateObjective ?? service.errorRateObjective;
    if (errorRateObjective !== undefined && (typeof errorRateObjective !== 'number' || !(errorRateObjective > 0 && errorRateObjective < 1))) {
      throw fail(`${at}.errorRateObjective`, errorRateObjective, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.05');
    }
    const latency = c.latencyObjective ?? service.latencyObjective;
    let latencyObjectiveSeconds: number | undefined;
    if (latency !== undefined) {
      if (!(latency instanceof Duration)) throw fail(`${at}.latencyObjective`, latency, 'is not a Duration', 'use e.g. Duration.millis(500)');
      latencyObjectiveSeconds = latency.toMilliseconds() / 1000;
      if (!PROXY_DURATION_BUCKETS.includes(latencyObjectiveSeconds)) {
        throw fail(`${at}.latencyObjective`, `${latency.toMilliseconds()}ms`, 'is not a bucket bound of the serving latency histogram, so the canary\'s p99 would be an interpolation',
          `use one of ${PROXY_DURATION_BUCKETS.map((b) => `${b * 1000}ms`).join(', ')}`);
      }
    }
    if (errorRateObjective === undefined && latencyObjectiveSeconds === undefined) {
      throw fail(at, 'canary', `has no objective to hold the canary to: neither it nor ${service.name} sets errorRateObjective or latencyObjective`,
        'set errorRateObjective / latencyObjective on the ModelService or on the canary');
    }
    return {
      config: {
        rollout: {
          deployment: service.name,
          metricModel: service.modelName,
          canary: { replicaShare: share, bakeSeconds, intervalSeconds, readyTimeoutSeconds, prometheusUrl: c.prometheusUrl.replace(/\/+$/, ''), errorRateObjective, latencyObjectiveSeconds, minRequests },
        },
      },
      deployments: { stable: service.name, canary: `${service.name}-canary` },
    };
  }
}
