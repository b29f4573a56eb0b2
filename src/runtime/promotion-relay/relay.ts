import * as http from 'node:http';
import { PROMOTION_ANNOTATIONS as A, PROMOTION_DELIVERY_OUTCOMES as O, PROMOTION_PATHS, type PromotionModelConfig } from '../../contract';
import type { LogEvent } from '../shared/log-event';
import { TEXT_FORMAT_CONTENT_TYPE } from '../shared/prometheus-text';
import { CiError, dispatch } from './ci';
import type { RelayConfig } from './config';
import { backoffMs, sleep } from './http';
import { KubeClient, KubeError } from './kube';
import { RelayMetrics } from './metrics';
import { MlflowError, registerWebhook, resolveAlias } from './mlflow';
import { PromotionFailed, Rollouts } from './rollout';
import { parseAliasEvent, ReplayCache, verifyDelivery } from './signature';

/** Largest delivery body read; MLflow's alias event is about 150 bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

export type { LogEvent };

export interface RelayDeps {
  readonly log: (e: LogEvent) => void;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** The apiserver client; made from the service account when a model rolls out and none is given. */
  readonly kube?: KubeClient;
}

export interface RunningRelay {
  readonly port: number;
  readonly metrics: RelayMetrics;
  /** Resolves once the webhook is registered (the relay keeps retrying until it is). */
  readonly registered: Promise<void>;
  /** Resolves when no action is running or queued. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

type Job = { kind: 'promote'; alias: string; payloadVersion: string } | { kind: 'resume'; version: string };

/**
 * The promotion relay: receives MLflow's signed model_version_alias.created deliveries,
 * refuses anything it cannot verify or is not configured for (a 4xx and a counted outcome,
 * never an action), and runs each accepted promotion's action in a queue per model, so a
 * model's steps never overlap and a promotion that arrives during one runs after it.
 */
export async function startRelay(config: RelayConfig, deps: RelayDeps): Promise<RunningRelay> {
  const now = deps.now ?? Date.now;
  const wait = deps.sleep ?? sleep;
  const log = deps.log;
  const metrics = new RelayMetrics(config.models.map((m) => m.name));
  const replays = new ReplayCache(config.toleranceSeconds * 1000 * 2);
  const byName = new Map(config.models.map((m) => [m.name, m]));
  const needsKube = config.models.some((m) => m.rollout !== undefined);
  const kube = deps.kube ?? (needsKube ? new KubeClient(config.serviceAccountDir, config.kubernetesApi) : undefined);
  const rollouts = kube ? new Rollouts(kube, config.namespace, (event, fields) => log({ event, ...fields }), { now, sleep: wait }) : undefined;
  const mlflow = { trackingUri: config.trackingUri, auth: config.trackingAuth };

  // ---- the queue, one chain per model
  const running = new Map<string, Promise<void>>();
  const pending = new Map<string, Job>();
  let closed = false;

  const enqueue = (model: PromotionModelConfig, job: Job): void => {
    if (running.has(model.name)) {
      // The latest promotion wins: the alias is resolved again when it runs.
      pending.set(model.name, job);
      return;
    }
    const run = (j: Job): Promise<void> => act(model, j).finally(() => {
      const next = pending.get(model.name);
      pending.delete(model.name);
      if (next && !closed) running.set(model.name, run(next));
      else running.delete(model.name);
    });
    running.set(model.name, run(job));
  };

  const actionOf = (m: PromotionModelConfig) => (m.ci ? 'ci' : m.rollout?.canary ? 'canary' : 'rollout');

  /** Runs `fn`, retrying retryable failures with capped exponential backoff. */
  async function retrying<T>(model: string, action: string, what: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (err) {
        const retryable = (err instanceof CiError || err instanceof MlflowError || err instanceof KubeError) && err.retryable;
        if (!retryable || attempt >= config.retry.attempts || closed) {
          throw new PromotionFailed(`${what} failed${retryable ? ` after ${attempt} attempts` : ''}: ${(err as Error).message}`);
        }
        metrics.retry(model, action);
        const delay = backoffMs(attempt, config.retry.baseSeconds, config.retry.maxSeconds);
        log({ event: 'retrying', level: 'warn', model, action, what, attempt, delayMs: delay, error: (err as Error).message });
        await wait(delay);
      }
    }
  }

  async function act(model: PromotionModelConfig, job: Job): Promise<void> {
    const action = actionOf(model);
    try {
      let version: string;
      let alias: string | undefined;
      if (job.kind === 'promote') {
        alias = job.alias;
        // Deliveries run in MLflow's thread pool and may arrive out of order: act on where the alias points now.
        version = await retrying(model.name, action, `resolving ${model.name}@${alias} in MLflow`, () => resolveAlias(mlflow, model.name, alias!));
        if (version !== job.payloadVersion) log({ event: 'alias_moved', model: model.name, alias, delivered: job.payloadVersion, current: version });
      } else {
        version = job.version;
      }
      log({ event: 'promoting', model: model.name, alias, version, action });
      let outcome: 'succeeded' | 'unchanged';
      if (model.ci) {
        const ci = model.ci;
        await retrying(model.name, action, `CI delivery of ${model.name} version ${version}`,
          () => dispatch(ci, config.ciTokens.get(model.name), { name: model.name, alias: alias!, version }));
        outcome = 'succeeded';
      } else if (model.rollout?.canary) {
        metrics.canary(model.name, version);
        try {
          outcome = await retrying(model.name, action, `canary of ${model.name} version ${version}`,
            (attempt) => rollouts!.canary(model, version, { resume: job.kind === 'resume' || attempt > 1 }));
        } finally {
          metrics.canary(model.name, undefined);
        }
      } else {
        outcome = await retrying(model.name, action, `rollout of ${model.name} version ${version}`, () => rollouts!.pin(model, version));
      }
      metrics.action(model.name, action, outcome);
      log({ event: 'promoted', model: model.name, version, action, outcome });
    } catch (err) {
      metrics.action(model.name, action, 'failed');
      log({ event: 'promotion_failed', level: 'error', model: model.name, action, error: (err as Error).message });
    }
  }

  // ---- HTTP
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const answer = (status: number, body: unknown, type = 'application/json') => {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method === 'GET' && url === PROMOTION_PATHS.health) return answer(200, { ok: true, webhookRegistered: metrics.isRegistered });
    if (req.method === 'GET' && url === PROMOTION_PATHS.metrics) return answer(200, metrics.render(), TEXT_FORMAT_CONTENT_TYPE);
    if (url !== PROMOTION_PATHS.webhook) return answer(404, { error: `no such path ${url}; MLflow delivers to ${PROMOTION_PATHS.webhook}` });
    if (req.method !== 'POST') return answer(405, { error: 'deliveries are POSTed' });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      const refuse = (status: number, outcome: string, reason: string) => {
        metrics.delivery(outcome);
        log({ event: 'delivery_refused', level: 'warn', outcome, status, reason, deliveryId: req.headers['x-mlflow-delivery-id'] });
        answer(status, { error: reason });
      };
      if (tooLarge) return refuse(413, O.tooLarge, `body above ${MAX_BODY_BYTES} bytes`);
      const body = Buffer.concat(chunks);
      const verdict = verifyDelivery(req.headers, body, config.webhookSecret, config.toleranceSeconds, replays, now());
      if (!verdict.ok) return refuse(verdict.status, verdict.outcome, verdict.reason);
      const parsed = parseAliasEvent(body);
      if (!('event' in parsed)) return refuse(parsed.status, parsed.outcome, parsed.reason);
      const { name, alias, version } = parsed.event;
      const model = byName.get(name);
      if (model === undefined) return refuse(422, O.unknownModel, `model ${JSON.stringify(name)} is not one the relay promotes (${[...byName.keys()].join(', ')})`);
      if (!model.aliases.includes(alias)) return refuse(422, O.unknownModel, `alias ${JSON.stringify(alias)} of ${name} is not a promotion (${model.aliases.join(', ')})`);
      metrics.delivery(O.accepted);
      log({ event: 'delivery_accepted', deliveryId: verdict.deliveryId, model: name, alias, version });
      // MLflow waits at most 30 s for an answer, a canary takes minutes: answer first, act after.
      answer(202, { accepted: true, model: name, alias, version });
      if (!closed) enqueue(model, { kind: 'promote', alias, payloadVersion: version });
    });
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listenPort, '0.0.0.0', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  // ---- registration: retried until it holds, so a relay that starts before MLflow registers once MLflow is up
  const registered = (async () => {
    for (let attempt = 1; !closed; attempt++) {
      try {
        const r = await registerWebhook(mlflow, config.webhookName, config.webhookUrl, config.webhookSecret,
          `mlops-constructs promotion relay in ${config.namespace}: ${config.models.map((m) => m.name).join(', ')}`);
        metrics.webhookRegistered(true);
        log({ event: 'webhook_registered', webhookId: r.webhookId, created: r.created, name: config.webhookName, url: config.webhookUrl });
        return;
      } catch (err) {
        const delay = backoffMs(attempt, config.retry.baseSeconds, config.retry.maxSeconds);
        log({ event: 'webhook_registration_failed', level: 'error', attempt, delayMs: delay, error: (err as Error).message });
        await wait(delay);
      }
    }
  })();

  // ---- resume: canaries a previous relay left baking or promoted
  if (kube) {
    for (const model of config.models.filter((m) => m.rollout?.canary)) {
      try {
        const canary = await kube.getDeployment(config.namespace, `${model.rollout!.deployment}-canary`);
        const status = canary?.metadata?.annotations?.[A.canaryStatus];
        const version = canary?.metadata?.annotations?.[A.canaryVersion];
        if ((status === 'baking' || status === 'promoted') && version) enqueue(model, { kind: 'resume', version });
        else if (status === 'failed') metrics.markFailed(model.name);
      } catch (err) {
        log({ event: 'resume_check_failed', level: 'error', model: model.name, error: (err as Error).message });
      }
    }
  }

  return {
    port,
    metrics,
    registered,
    async idle() {
      while (running.size > 0) await Promise.all([...running.values()]);
    },
    async close() {
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive connections would hold close() open until they time out.
        server.closeIdleConnections();
      });
    },
  };
}
