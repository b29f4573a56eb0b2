import { PROMOTION_ENV, type PromotionModelConfig, type PromotionRelayConfig } from '../../contract';

/** Bad configuration: every problem found, one a line. The relay exits 2 on it. */
export class ConfigError extends Error {}

/** The relay's settings after their check, with the secrets read from the environment. */
export interface RelayConfig extends PromotionRelayConfig {
  readonly webhookSecret: string;
  readonly listenPort: number;
  readonly namespace: string;
  readonly trackingUri: string;
  readonly trackingAuth?: { readonly username: string; readonly password: string };
  /** Token of each model's CI action, by model name. */
  readonly ciTokens: ReadonlyMap<string, string>;
  readonly serviceAccountDir: string;
  readonly kubernetesApi?: string;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
const ALIAS = /^[A-Za-z_][A-Za-z0-9_-]{0,254}$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Reads PROMOTION_ENV; throws one ConfigError naming every variable or field that is wrong. */
export function parseConfig(env: NodeJS.ProcessEnv): RelayConfig {
  const problems: string[] = [];
  const raw = env[PROMOTION_ENV.config];
  let parsed: unknown;
  if (raw === undefined || raw === '') {
    problems.push(`${PROMOTION_ENV.config} is not set; it holds the relay's settings as JSON (ModelPromotion writes it)`);
  } else {
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      problems.push(`${PROMOTION_ENV.config} is not JSON: ${(err as Error).message}`);
    }
  }
  const secret = env[PROMOTION_ENV.webhookSecret] ?? '';
  if (secret.length < 16) {
    problems.push(`${PROMOTION_ENV.webhookSecret} is ${secret.length === 0 ? 'not set' : `${secret.length} characters`}; the webhook's HMAC secret needs at least 16 (from its Secret)`);
  }
  const listenPort = integer(env[PROMOTION_ENV.listenPort] ?? '8080', 1, 65535);
  if (listenPort === undefined) problems.push(`${PROMOTION_ENV.listenPort} (${env[PROMOTION_ENV.listenPort]}) is not a port number`);
  const namespace = env[PROMOTION_ENV.namespace] ?? '';
  if (!DNS_LABEL.test(namespace)) problems.push(`${PROMOTION_ENV.namespace} (${JSON.stringify(namespace)}) is not a namespace name`);
  const trackingUri = (env[PROMOTION_ENV.trackingUri] ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+/.test(trackingUri)) problems.push(`${PROMOTION_ENV.trackingUri} (${JSON.stringify(trackingUri)}) is not an http(s) URL of the MLflow tracking server`);
  const username = env[PROMOTION_ENV.trackingUsername];
  const password = env[PROMOTION_ENV.trackingPassword];
  if ((username === undefined) !== (password === undefined)) {
    problems.push(`${PROMOTION_ENV.trackingUsername} and ${PROMOTION_ENV.trackingPassword} are set together or not at all`);
  }

  const config = parsed === undefined ? undefined : checkSettings(parsed, problems);
  const ciTokens = new Map<string, string>();
  for (const model of config?.models ?? []) {
    if (model.ci?.tokenEnv === undefined) continue;
    const token = env[model.ci.tokenEnv];
    if (token === undefined || token === '') problems.push(`${model.ci.tokenEnv} (the CI token of ${model.name}) is not set; it comes from a Secret`);
    else ciTokens.set(model.name, token);
  }
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems.join('\n'));
  return {
    ...config,
    webhookSecret: secret,
    listenPort: listenPort!,
    namespace,
    trackingUri,
    trackingAuth: username !== undefined ? { username, password: password! } : undefined,
    ciTokens,
    serviceAccountDir: env[PROMOTION_ENV.serviceAccountDir] ?? '/var/run/secrets/kubernetes.io/serviceaccount',
    kubernetesApi: env[PROMOTION_ENV.kubernetesApi],
  };
}

/** Checks the JSON settings; pushes a problem per bad field (path and value) and returns them when sound. */
export function checkSettings(value: unknown, problems: string[]): PromotionRelayConfig | undefined {
  const before = problems.length;
  const o = object(value, 'config', problems);
  if (o === undefined) return undefined;
  if (typeof o.webhookName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(o.webhookName)) problems.push(`config.webhookName (${show(o.webhookName)}) is not a webhook name`);
  if (typeof o.webhookUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(o.webhookUrl)) problems.push(`config.webhookUrl (${show(o.webhookUrl)}) is not an http(s) URL`);
  if (!(typeof o.toleranceSeconds === 'number' && o.toleranceSeconds >= 10 && o.toleranceSeconds <= 3600)) problems.push(`config.toleranceSeconds (${show(o.toleranceSeconds)}) is not between 10 and 3600`);
  const retry = object(o.retry, 'config.retry', problems);
  if (retry) {
    if (!(Number.isInteger(retry.attempts) && (retry.attempts as number) >= 1 && (retry.attempts as number) <= 20)) problems.push(`config.retry.attempts (${show(retry.attempts)}) is not an integer between 1 and 20`);
    if (!(typeof retry.baseSeconds === 'number' && retry.baseSeconds > 0)) problems.push(`config.retry.baseSeconds (${show(retry.baseSeconds)}) is not positive`);
    if (!(typeof retry.maxSeconds === 'number' && retry.maxSeconds >= (retry.baseSeconds as number))) problems.push(`config.retry.maxSeconds (${show(retry.maxSeconds)}) is below baseSeconds`);
  }
  if (!Array.isArray(o.models) || o.models.length === 0) {
    problems.push(`config.models (${show(o.models)}) is not a non-empty list`);
  } else {
    const seen = new Set<string>();
    o.models.forEach((m, i) => {
      checkModel(m, `config.models[${i}]`, problems);
      const name = (m as PromotionModelConfig)?.name;
      if (seen.has(name)) problems.push(`config.models[${i}].name (${show(name)}) appears twice`);
      seen.add(name);
    });
  }
  return problems.length === before ? (o as unknown as PromotionRelayConfig) : undefined;
}

function checkModel(value: unknown, at: string, problems: string[]): void {
  const m = object(value, at, problems);
  if (m === undefined) return;
  if (typeof m.name !== 'string' || !MODEL_NAME.test(m.name)) problems.push(`${at}.name (${show(m.name)}) is not a registered model name`);
  if (!Array.isArray(m.aliases) || m.aliases.length === 0 || !m.aliases.every((a) => typeof a === 'string' && ALIAS.test(a))) {
    problems.push(`${at}.aliases (${show(m.aliases)}) is not a non-empty list of aliases`);
  }
  if ((m.ci === undefined) === (m.rollout === undefined)) {
    problems.push(`${at} sets ${m.ci === undefined ? 'neither' : 'both'} of ci and rollout; exactly one is the model's action`);
    return;
  }
  if (m.ci !== undefined) {
    const ci = object(m.ci, `${at}.ci`, problems);
    if (!ci) return;
    if (ci.kind !== 'github' && ci.kind !== 'webhook') problems.push(`${at}.ci.kind (${show(ci.kind)}) is not github or webhook`);
    if (typeof ci.url !== 'string' || !/^https?:\/\/[^\s]+$/.test(ci.url)) problems.push(`${at}.ci.url (${show(ci.url)}) is not an http(s) URL`);
    if (typeof ci.eventType !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(ci.eventType)) problems.push(`${at}.ci.eventType (${show(ci.eventType)}) is not an event name`);
    if (ci.tokenEnv !== undefined && (typeof ci.tokenEnv !== 'string' || !/^[A-Z_][A-Z0-9_]*$/.test(ci.tokenEnv))) problems.push(`${at}.ci.tokenEnv (${show(ci.tokenEnv)}) is not a variable name`);
    if (ci.kind === 'github' && ci.tokenEnv === undefined) problems.push(`${at}.ci.tokenEnv is required for github: a repository_dispatch needs a token`);
    return;
  }
  const r = object(m.rollout, `${at}.rollout`, problems);
  if (!r) return;
  if (typeof r.deployment !== 'string' || !DNS_LABEL.test(r.deployment)) problems.push(`${at}.rollout.deployment (${show(r.deployment)}) is not a Deployment name`);
  if (typeof r.metricModel !== 'string' || r.metricModel.length === 0) problems.push(`${at}.rollout.metricModel (${show(r.metricModel)}) is not a model label value`);
  if (r.canary === undefined) return;
  const c = object(r.canary, `${at}.rollout.canary`, problems);
  if (!c) return;
  const num = (field: string, lo: number, hi: number, exclusiveLo = false) => {
    const v = c[field];
    if (!(typeof v === 'number' && (exclusiveLo ? v > lo : v >= lo) && v <= hi)) problems.push(`${at}.rollout.canary.${field} (${show(v)}) is not between ${lo} and ${hi}`);
  };
  num('replicaShare', 0, 1, true);
  num('bakeSeconds', 10, 86400);
  num('intervalSeconds', 1, 3600);
  num('readyTimeoutSeconds', 10, 7200);
  num('minRequests', 0, 1e12);
  if (c.errorRateObjective !== undefined) num('errorRateObjective', 0, 1, true);
  if (c.latencyObjectiveSeconds !== undefined) num('latencyObjectiveSeconds', 0, 600, true);
  if (typeof c.prometheusUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(c.prometheusUrl)) problems.push(`${at}.rollout.canary.prometheusUrl (${show(c.prometheusUrl)}) is not an http(s) URL`);
}

function object(value: unknown, at: string, problems: string[]): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${at} (${show(value)}) is not an object`);
    return undefined;
  }
  return value as Record<string, unknown>;
}

function integer(value: string, lo: number, hi: number): number | undefined {
  if (!/^[0-9]+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= lo && n <= hi ? n : undefined;
}

function show(value: unknown): string {
  const s = JSON.stringify(value);
  return s === undefined ? 'unset' : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
