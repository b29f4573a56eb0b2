// The promotion relay's library functions and its HTTP server, against loopback stand-ins of
// MLflow's REST API and a CI system. MLflow's own signing code (the .venv's) is the oracle for
// the signature; the rehearsal (test/rehearsal/promotion.test.ts) has real MLflow deliver.
import { execFileSync } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { PROMOTION_ENV, type PromotionRelayConfig } from '../../src/contract';
import { ciRequest } from '../../src/runtime/promotion-relay/ci';
import { ConfigError, checkSettings, parseConfig } from '../../src/runtime/promotion-relay/config';
import { backoffMs } from '../../src/runtime/promotion-relay/http';
import { canaryQueries } from '../../src/runtime/promotion-relay/prometheus';
import { startRelay } from '../../src/runtime/promotion-relay/relay';
import { bake, canaryDeployment, judge, pinPatch, PromotionFailed } from '../../src/runtime/promotion-relay/rollout';
import { mlflowSignature, parseAliasEvent, ReplayCache, verifyDelivery } from '../../src/runtime/promotion-relay/signature';

const PYTHON = path.resolve(__dirname, '..', '..', '.venv', 'bin', 'python');
const SECRET = 'relay-test-secret-0123456789';
const BODY = Buffer.from(JSON.stringify({ entity: 'model_version_alias', action: 'created', timestamp: '2026-01-01T00:00:00+00:00', data: { name: 'fraud-detector', alias: 'champion', version: '7' } }));

function signed(body: Buffer, opts: { secret?: string; id?: string; at?: number } = {}): Record<string, string> {
  const ts = String(opts.at ?? Math.floor(Date.now() / 1000));
  const id = opts.id ?? `d-${Math.random()}`;
  return { 'x-mlflow-delivery-id': id, 'x-mlflow-timestamp': ts, 'x-mlflow-signature': mlflowSignature(opts.secret ?? SECRET, id, ts, body) };
}

const SETTINGS: PromotionRelayConfig = {
  webhookName: 'mlops-promotion-mlops-promotion',
  webhookUrl: 'http://promotion.mlops.svc.cluster.local:8080/webhook',
  toleranceSeconds: 300,
  retry: { attempts: 3, baseSeconds: 0.01, maxSeconds: 0.02 },
  models: [{ name: 'fraud-detector', aliases: ['champion'], ci: { kind: 'github', url: 'https://api.github.com/repos/acme/ml/dispatches', eventType: 'model-promoted', tokenEnv: 'TOKEN_0' } }],
};

describe('signature', () => {
  test('is the one MLflow 3.17 computes (its _generate_hmac_signature, run in the .venv)', () => {
    const py = 'import sys; from mlflow.webhooks.delivery import _generate_hmac_signature as g; print(g(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]))';
    const body = '{"entity": "model_version_alias", "action": "created", "data": {"name": "m\\u00e9", "alias": "champion", "version": "3"}}';
    const theirs = execFileSync(PYTHON, ['-c', py, SECRET, 'delivery-1', '1767225600', body], { encoding: 'utf8' }).trim();
    expect(mlflowSignature(SECRET, 'delivery-1', '1767225600', Buffer.from(body))).toBe(theirs);
    expect(theirs).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  test('accepts a signed delivery within the tolerance once', () => {
    const replays = new ReplayCache(600_000);
    const headers = signed(BODY, { id: 'a' });
    expect(verifyDelivery(headers, BODY, SECRET, 300, replays, Date.now())).toEqual({ ok: true, deliveryId: 'a' });
    // THEN the same delivery again is a replay
    expect(verifyDelivery(headers, BODY, SECRET, 300, replays, Date.now())).toMatchObject({ ok: false, status: 409, outcome: 'replayed' });
  });

  test.each([
    ['a tampered body', () => ({ headers: signed(BODY), body: Buffer.from(BODY.toString().replace('"7"', '"8"')) }), 401, 'bad_signature'],
    ['a wrong secret', () => ({ headers: signed(BODY, { secret: 'another-secret-of-enough-length' }), body: BODY }), 401, 'bad_signature'],
    ['an old timestamp', () => ({ headers: signed(BODY, { at: Math.floor(Date.now() / 1000) - 301 }), body: BODY }), 401, 'stale'],
    ['a future timestamp', () => ({ headers: signed(BODY, { at: Math.floor(Date.now() / 1000) + 400 }), body: BODY }), 401, 'stale'],
    ['no signature', () => ({ headers: { ...signed(BODY), 'x-mlflow-signature': '' }, body: BODY }), 400, 'missing_headers'],
    ['no delivery id', () => { const h: Record<string, string> = signed(BODY); delete h['x-mlflow-delivery-id']; return { headers: h, body: BODY }; }, 400, 'missing_headers'],
    ['a timestamp that is not a number', () => ({ headers: { ...signed(BODY), 'x-mlflow-timestamp': '2026-01-01' }, body: BODY }), 400, 'missing_headers'],
  ])('fails on %s', (_what, make, status, outcome) => {
    const { headers, body } = make();
    expect(verifyDelivery(headers, body, SECRET, 300, new ReplayCache(600_000), Date.now())).toMatchObject({ ok: false, status, outcome });
  });

  test('fails on a repeated header (two signatures sent as an array)', () => {
    const h: Record<string, string | string[]> = signed(BODY);
    h['x-mlflow-signature'] = [h['x-mlflow-signature'] as string, 'v1,x'];
    expect(verifyDelivery(h, BODY, SECRET, 300, new ReplayCache(600_000), Date.now())).toMatchObject({ ok: false, outcome: 'missing_headers' });
  });

  test('a replayed id is only remembered for a delivery whose signature held', () => {
    const replays = new ReplayCache(600_000);
    const forged = { ...signed(BODY, { id: 'x' }), 'x-mlflow-signature': 'v1,AAAA' };
    expect(verifyDelivery(forged, BODY, SECRET, 300, replays, Date.now())).toMatchObject({ outcome: 'bad_signature' });
    expect(verifyDelivery(signed(BODY, { id: 'x' }), BODY, SECRET, 300, replays, Date.now())).toMatchObject({ ok: true });
  });

  test('the replay cache forgets ids older than its window', () => {
    const cache = new ReplayCache(1000);
    expect(cache.admit('a', 0)).toBe(true);
    expect(cache.admit('a', 500)).toBe(false);
    expect(cache.admit('a', 2000)).toBe(true);
  });
});

describe('event', () => {
  test('reads model_version_alias.created', () => {
    expect(parseAliasEvent(BODY)).toEqual({ event: { name: 'fraud-detector', alias: 'champion', version: '7' } });
  });
  test.each([
    ['not JSON', '{"entity":', 400, 'bad_request'],
    ['not an envelope', '{"name":"x"}', 400, 'bad_request'],
    ['another event', '{"entity":"model_version","action":"created","data":{"name":"m","version":"1"}}', 422, 'ignored_event'],
    ['an alias deletion', '{"entity":"model_version_alias","action":"deleted","data":{"name":"m","alias":"champion"}}', 422, 'ignored_event'],
    ['a version that is not a number', '{"entity":"model_version_alias","action":"created","data":{"name":"m","alias":"a","version":"1; rm"}}', 400, 'bad_request'],
  ])('fails on %s', (_what, body, status, outcome) => {
    expect(parseAliasEvent(Buffer.from(body))).toMatchObject({ status, outcome });
  });
});

describe('config', () => {
  const env = (over: Record<string, string | undefined> = {}) => ({
    [PROMOTION_ENV.config]: JSON.stringify(SETTINGS),
    [PROMOTION_ENV.webhookSecret]: SECRET,
    [PROMOTION_ENV.namespace]: 'mlops',
    [PROMOTION_ENV.trackingUri]: 'http://mlflow.mlops.svc.cluster.local:5000/',
    TOKEN_0: 'ghp_x',
    ...over,
  });

  test('reads the settings and the secrets', () => {
    const c = parseConfig(env());
    expect(c).toMatchObject({ trackingUri: 'http://mlflow.mlops.svc.cluster.local:5000', listenPort: 8080, namespace: 'mlops', webhookSecret: SECRET });
    expect(c.ciTokens.get('fraud-detector')).toBe('ghp_x');
  });

  test('fails naming every problem at once', () => {
    let error: unknown;
    try {
      parseConfig(env({ [PROMOTION_ENV.webhookSecret]: 'short', TOKEN_0: undefined, [PROMOTION_ENV.trackingUri]: 'mlflow:5000', [PROMOTION_ENV.listenPort]: '0' }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as Error).message.split('\n');
    expect(lines).toEqual([
      'MLOPS_PROMOTION_WEBHOOK_SECRET is 5 characters; the webhook\'s HMAC secret needs at least 16 (from its Secret)',
      'MLOPS_PROMOTION_LISTEN_PORT (0) is not a port number',
      'MLFLOW_TRACKING_URI ("mlflow:5000") is not an http(s) URL of the MLflow tracking server',
      'TOKEN_0 (the CI token of fraud-detector) is not set; it comes from a Secret',
    ]);
  });

  test.each([
    ['no models', { models: [] }, 'config.models ([]) is not a non-empty list'],
    ['both actions', { models: [{ name: 'm', aliases: ['a'], ci: SETTINGS.models[0].ci, rollout: { deployment: 'm', metricModel: 'm' } }] }, 'config.models[0] sets both of ci and rollout'],
    ['neither action', { models: [{ name: 'm', aliases: ['a'] }] }, 'config.models[0] sets neither of ci and rollout'],
    ['a bad alias', { models: [{ ...SETTINGS.models[0], aliases: ['1x'] }] }, 'config.models[0].aliases (["1x"]) is not a non-empty list of aliases'],
    ['a github action without token', { models: [{ ...SETTINGS.models[0], ci: { ...SETTINGS.models[0].ci, tokenEnv: undefined } }] }, 'config.models[0].ci.tokenEnv is required for github'],
    ['a canary share of 0', { models: [{ name: 'm', aliases: ['a'], rollout: { deployment: 'm', metricModel: 'm', canary: { replicaShare: 0, bakeSeconds: 60, intervalSeconds: 5, readyTimeoutSeconds: 60, minRequests: 1, prometheusUrl: 'http://p:9090' } } }] }, 'config.models[0].rollout.canary.replicaShare (0) is not between 0 and 1'],
    ['a model twice', { models: [SETTINGS.models[0], SETTINGS.models[0]] }, 'config.models[1].name ("fraud-detector") appears twice'],
    ['a tolerance of 1 s', { toleranceSeconds: 1 }, 'config.toleranceSeconds (1) is not between 10 and 3600'],
  ])('fails on %s', (_what, over, message) => {
    const problems: string[] = [];
    expect(checkSettings({ ...SETTINGS, ...over }, problems)).toBeUndefined();
    expect(problems.join('\n')).toContain(message);
  });

  test('fails on JSON that does not parse', () => {
    expect(() => parseConfig(env({ [PROMOTION_ENV.config]: '{' }))).toThrow(/^MLOPS_PROMOTION_CONFIG is not JSON/);
  });
});

describe('rollout steps', () => {
  const stable = {
    metadata: { name: 'churn', namespace: 'mlops', labels: { 'app.kubernetes.io/name': 'churn' } },
    spec: {
      replicas: 4,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'churn', 'app.kubernetes.io/component': 'model-server' } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'churn', 'app.kubernetes.io/component': 'model-server' }, annotations: { a: 'b' } },
        spec: {
          containers: [
            { name: 'model-server', args: ['--model-uri', 'models:/churn@champion', '--workers', '2'], env: [{ name: 'X', value: 'y' }] },
            { name: 'metrics-proxy', env: [{ name: 'MLOPS_MODEL_URI', value: 'models:/churn@champion' }, { name: 'P', value: '1' }] },
          ],
        },
      },
    },
  };

  test('pins every models:/ URI of the model and the version annotation', () => {
    const { patch, changed } = pinPatch(stable, 'churn', '12');
    expect(changed).toBe(true);
    expect(patch).toEqual({
      spec: {
        template: {
          metadata: { annotations: { 'mlops-constructs.io/model-version': '12' } },
          spec: {
            containers: [
              { name: 'model-server', args: ['--model-uri', 'models:/churn/12', '--workers', '2'] },
              { name: 'metrics-proxy', env: [{ name: 'MLOPS_MODEL_URI', value: 'models:/churn/12' }] },
            ],
          },
        },
      },
    });
  });

  test('a Deployment already pinned is unchanged', () => {
    const pinned = structuredClone(stable);
    pinned.spec.template.metadata.annotations = { a: 'b', 'mlops-constructs.io/model-version': '12' } as any;
    pinned.spec.template.spec.containers[0].args![1] = 'models:/churn/12';
    pinned.spec.template.spec.containers[1].env![0].value = 'models:/churn/12';
    expect(pinPatch(pinned, 'churn', '12').changed).toBe(false);
  });

  test('fails on a Deployment that loads another model or none from the registry', () => {
    expect(() => pinPatch(stable, 'churn-v2', '1')).toThrow(PromotionFailed);
    expect(() => pinPatch(stable, 'churn-v2', '1')).toThrow(/loads no models:\/churn-v2 URI/);
  });

  test('the canary selects only its own pods, which the stable selector (and so the Service) also selects', () => {
    const canary = canaryDeployment(stable, 'churn', '12', 1, 'baking', '2026-01-01T00:00:00.000Z');
    expect(canary.metadata.name).toBe('churn-canary');
    expect(canary.spec.selector.matchLabels).toEqual({ ...stable.spec.selector.matchLabels, 'mlops-constructs.io/track': 'canary' });
    for (const [k, v] of Object.entries(stable.spec.selector.matchLabels)) expect(canary.spec.template.metadata.labels[k]).toBe(v);
    expect(canary.spec.template.spec.containers[0].args).toEqual(['--model-uri', 'models:/churn/12', '--workers', '2']);
    expect(canary.spec.template.spec.containers[1].env).toEqual([{ name: 'MLOPS_MODEL_URI', value: 'models:/churn/12' }, { name: 'P', value: '1' }]);
    // the stable template is left alone
    expect(stable.spec.template.spec.containers[0].args![1]).toBe('models:/churn@champion');
    expect(canaryDeployment(stable, 'churn', '12', 1, 'failed', 'x', 'why').spec.replicas).toBe(0);
  });

  const canary = { replicaShare: 0.25, bakeSeconds: 60, intervalSeconds: 10, readyTimeoutSeconds: 60, prometheusUrl: 'http://p', errorRateObjective: 0.05, latencyObjectiveSeconds: 0.5, minRequests: 50 };

  test('judges a canary by error ratio, p99 and, at the end, traffic', () => {
    expect(judge(canary, { requests: 100, errorRatio: 0.01, p99Seconds: 0.25 }, true)).toBeUndefined();
    expect(judge(canary, { requests: 100, errorRatio: 0.2, p99Seconds: 0.25 }, false)).toBe('error ratio 20 % of 100 requests is above the objective 5 %');
    expect(judge(canary, { requests: 100, errorRatio: 0, p99Seconds: 1 }, false)).toBe('p99 latency 1 s is above the objective 0.5 s');
    expect(judge(canary, { requests: 10, errorRatio: 0, p99Seconds: 0.1 }, false)).toBeUndefined();
    expect(judge(canary, { requests: 10, errorRatio: 0, p99Seconds: 0.1 }, true)).toBe('the canary served 10 requests during the bake, fewer than the 50 needed to judge it');
    expect(judge(canary, { requests: NaN, errorRatio: NaN, p99Seconds: NaN }, true)).toMatch(/served no requests/);
  });

  test('bakes until the end, or stops at the first check that fails', async () => {
    let now = 0;
    const clock = { now: () => now, sleep: async (ms: number) => { now += ms; } };
    const windows: number[] = [];
    const healthy = await bake(canary, 0, { ...clock, health: async (w) => { windows.push(w); return { requests: 100, errorRatio: 0, p99Seconds: 0.1 }; } }, () => undefined);
    expect(healthy.requests).toBe(100);
    expect(windows).toEqual([10, 20, 30, 40, 50, 60]);
    now = 0;
    let checks = 0;
    await expect(bake(canary, 0, { ...clock, health: async () => { checks++; return { requests: 100, errorRatio: checks >= 2 ? 0.5 : 0, p99Seconds: 0.1 }; } }, () => undefined))
      .rejects.toThrow('canary stopped: error ratio 50 % of 100 requests is above the objective 5 %');
    expect(now).toBe(20_000);
  });

  test('fails the bake when Prometheus cannot be asked at the end', async () => {
    let now = 0;
    await expect(bake(canary, 0, { now: () => now, sleep: async (ms) => { now += ms; }, health: async () => { throw new Error('connection refused'); } }, () => undefined))
      .rejects.toThrow('Prometheus could not be asked about the canary at the end of the bake: connection refused');
  });

  test('queries only the canary\'s pods', () => {
    const q = canaryQueries('mlops', 'churn', 'churn', 60);
    expect(q.requests).toBe('sum(increase(mlops_inference_requests_total{namespace="mlops",model="churn",pod=~"churn-canary-[a-z0-9]+-[a-z0-9]+"}[60s]))');
    expect(new RegExp(`^${'churn-canary-[a-z0-9]+-[a-z0-9]+'}$`).test('churn-7c9d8f6b5-x2k4z')).toBe(false);
    expect(new RegExp(`^${'churn-canary-[a-z0-9]+-[a-z0-9]+'}$`).test('churn-canary-5f6d7c8b9-q8w2e')).toBe(true);
  });

  test('backs off exponentially up to the cap, with at most 20 % jitter', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffMs(a, 2, 10, () => 0))).toEqual([2000, 4000, 8000, 10000, 10000]);
    expect(backoffMs(1, 2, 10, () => 1)).toBe(2400);
  });
});

describe('the relay over HTTP', () => {
  /** A loopback stand-in: answers each request with the next scripted status, records what it got. */
  async function standIn(route: (req: http.IncomingMessage, body: string) => [number, unknown]) {
    const got: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        got.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const [status, answer] = route(req, body);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(answer === undefined ? '' : JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { got, url: `http://127.0.0.1:${(server.address() as any).port}`, close: () => new Promise<void>((r) => { server.close(() => r()); server.closeIdleConnections(); }) };
  }

  const mlflowRoutes = (version: string) => (req: http.IncomingMessage): [number, unknown] => {
    if (req.url!.startsWith('/api/2.0/mlflow/webhooks') && req.method === 'GET') return [200, { webhooks: [] }];
    if (req.url === '/api/2.0/mlflow/webhooks' && req.method === 'POST') return [200, { webhook: { webhook_id: 'w1' } }];
    if (req.url!.startsWith('/api/2.0/mlflow/registered-models/alias')) return [200, { model_version: { version } }];
    return [404, { error_code: 'ENDPOINT_NOT_FOUND' }];
  };

  async function relayWith(ciStatuses: number[]) {
    const mlflow = await standIn(mlflowRoutes('9'));
    const ci = await standIn(() => [ciStatuses.shift() ?? 204, undefined]);
    const logs: any[] = [];
    const config = parseConfig({
      [PROMOTION_ENV.config]: JSON.stringify({ ...SETTINGS, models: [{ ...SETTINGS.models[0], ci: { ...SETTINGS.models[0].ci, url: `${ci.url}/repos/acme/ml/dispatches` } }] }),
      [PROMOTION_ENV.webhookSecret]: SECRET,
      [PROMOTION_ENV.namespace]: 'mlops',
      [PROMOTION_ENV.trackingUri]: mlflow.url,
      TOKEN_0: 'ghp_test',
    });
    const relay = await startRelay({ ...config, listenPort: 0 } as any, { log: (e) => logs.push(e) });
    await relay.registered;
    const post = (body: Buffer, headers: Record<string, string>) => fetch(`http://127.0.0.1:${relay.port}/webhook`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    return { mlflow, ci, relay, logs, post, close: async () => { await relay.close(); await mlflow.close(); await ci.close(); } };
  }

  test('registers its webhook, then dispatches an accepted promotion with the version MLflow resolves now', async () => {
    const r = await relayWith([]);
    try {
      const create = r.mlflow.got.find((g) => g.method === 'POST')!;
      expect(JSON.parse(create.body)).toMatchObject({ name: SETTINGS.webhookName, url: SETTINGS.webhookUrl, events: [{ entity: 'MODEL_VERSION_ALIAS', action: 'CREATED' }], secret: SECRET, status: 'ACTIVE' });
      const res = await r.post(BODY, signed(BODY));
      expect(res.status).toBe(202);
      await r.relay.idle();
      expect(r.ci.got).toHaveLength(1);
      expect(r.ci.got[0].headers.authorization).toBe('Bearer ghp_test');
      // the delivery said 7; the alias points at 9 by now, and 9 is what CI deploys
      expect(JSON.parse(r.ci.got[0].body)).toEqual({ event_type: 'model-promoted', client_payload: { name: 'fraud-detector', alias: 'champion', version: '9' } });
      expect(r.relay.metrics.render()).toMatch(/mlops_promotion_actions_total\{model="fraud-detector",action="ci",outcome="succeeded"\} 1/);
      expect(r.relay.metrics.render()).toMatch(/mlops_promotion_webhook_registered 1/);
    } finally {
      await r.close();
    }
  });

  test('retries a CI system that answers 502, and fails for good on 401 with the reason', async () => {
    const r = await relayWith([502, 204]);
    try {
      await r.post(BODY, signed(BODY));
      await r.relay.idle();
      expect(r.ci.got).toHaveLength(2);
      expect(r.relay.metrics.render()).toMatch(/mlops_promotion_retries_total\{model="fraud-detector",action="ci"\} 1/);
      expect(r.relay.metrics.render()).toMatch(/mlops_promotion_failed\{model="fraud-detector"\} 0/);
    } finally {
      await r.close();
    }
    const denied = await relayWith([401]);
    try {
      await denied.post(BODY, signed(BODY));
      await denied.relay.idle();
      expect(denied.ci.got).toHaveLength(1);
      expect(denied.relay.metrics.render()).toMatch(/mlops_promotion_failed\{model="fraud-detector"\} 1/);
      expect(denied.logs.find((l) => l.event === 'promotion_failed').error).toMatch(/repository_dispatch to 127\.0\.0\.1:\d+\/repos\/acme\/ml\/dispatches answered 401 \(the token is wrong or expired\)/);
    } finally {
      await denied.close();
    }
  });

  test('fails CI delivery that keeps failing after the configured attempts', async () => {
    const r = await relayWith([503, 503, 503, 204]);
    try {
      await r.post(BODY, signed(BODY));
      await r.relay.idle();
      expect(r.ci.got).toHaveLength(3);
      expect(r.logs.find((l) => l.event === 'promotion_failed').error).toMatch(/failed after 3 attempts: repository_dispatch .* answered 503/);
    } finally {
      await r.close();
    }
  });

  test('refuses what it cannot verify or does not promote, with a 4xx and a counted outcome, and never acts', async () => {
    const r = await relayWith([]);
    try {
      const other = Buffer.from(BODY.toString().replace('fraud-detector', 'churn'));
      const challenger = Buffer.from(BODY.toString().replace('champion', 'challenger'));
      const headers = signed(BODY);
      expect((await r.post(Buffer.from(BODY.toString().replace('"7"', '"1"')), headers)).status).toBe(401);
      expect((await r.post(other, signed(other))).status).toBe(422);
      expect((await r.post(challenger, signed(challenger))).status).toBe(422);
      expect((await r.post(BODY, {})).status).toBe(400);
      expect((await r.post(Buffer.alloc(70 * 1024, 'a'), signed(BODY))).status).toBe(413);
      expect((await fetch(`http://127.0.0.1:${r.relay.port}/webhook`)).status).toBe(405);
      expect((await fetch(`http://127.0.0.1:${r.relay.port}/other`, { method: 'POST' })).status).toBe(404);
      // the tampered delivery never registered its id: the true one with its headers passes, once
      expect((await r.post(BODY, headers)).status).toBe(202);
      expect((await r.post(BODY, headers)).status).toBe(409);
      await r.relay.idle();
      expect(r.ci.got).toHaveLength(1);
      const metrics = r.relay.metrics.render();
      for (const [outcome, n] of [['bad_signature', 1], ['unknown_model', 2], ['missing_headers', 1], ['too_large', 1], ['replayed', 1], ['accepted', 1]] as const) {
        expect(metrics).toContain(`mlops_promotion_deliveries_total{outcome="${outcome}"} ${n}`);
      }
    } finally {
      await r.close();
    }
  });

  test('a generic CI webhook gets {event, name, alias, version} and no token when none is given', () => {
    expect(ciRequest({ kind: 'webhook', url: 'https://ci/x', eventType: 'model-promoted' }, undefined, { name: 'm', alias: 'champion', version: '3' }))
      .toEqual({ headers: { 'content-type': 'application/json', 'user-agent': 'mlops-constructs-promotion-relay' }, body: '{"event":"model-promoted","name":"m","alias":"champion","version":"3"}' });
  });
});
