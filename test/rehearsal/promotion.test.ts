// Rehearsal of ModelPromotion in mode `ci`: the synthesized PostgreSQL, MLflow server (with
// `webhooks`) and promotion relay run as real programs (harness/cluster.ts). The relay registers
// its webhook through its own start-up step; moving `champion` makes real MLflow 3.17 deliver a
// signed model_version_alias.created event over the pod network (pod and ClusterIP addresses are
// private, so MLflow's SSRF check is really what MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS turns off),
// and the relay's repository_dispatch reaches a GitHub stand-in on the node's bridge address,
// whose body the example workflow's own payload check (examples/ci/mlops-stack.yml) accepts.
//
// What differs from a cluster: the GitHub stand-in is a loopback HTTP server (no TLS, no real
// token check beyond comparing the header), NetworkPolicies are not enforced (no CNI), and
// nothing but the test moves aliases.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Chart, Duration, Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { registryProps } from '../../examples/reference-stack-props';
import { Images, ModelPromotion, ModelRegistry, Monitoring, PromotionAction } from '../../src';
import { mlflowSignature } from '../../src/runtime/promotion-relay/signature';
import { RehearsalCluster } from './harness/cluster';

const WORKFLOW = path.resolve(__dirname, '..', '..', 'examples', 'ci', 'mlops-stack.yml');
const HMAC = `rehearsal-hmac-${process.pid}-0123456789`;
const GH_TOKEN = `ghp_rehearsal_${process.pid}`;
// A Fernet key: 32 bytes, URL-safe base64.
const FERNET_KEY = Buffer.alloc(32, 7).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
const BRIDGE = '10.244.0.1';
const STANDIN_PORT = 18000 + (process.pid % 1000);

/** The GitHub stand-in (and a recorder of MLflow deliveries): every request as a JSON line in OUT; POST /quit stops it. */
const STANDIN = `
const http = require('node:http'); const fs = require('node:fs');
const server = http.createServer((req, res) => {
  let body = ''; req.on('data', (c) => { body += c; });
  req.on('end', () => {
    fs.appendFileSync(process.env.OUT, JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }) + '\\n');
    if (req.url === '/quit') { res.end('bye'); server.close(); setTimeout(() => process.exit(0), 50); return; }
    res.writeHead(req.url.startsWith('/repos/') ? 204 : 200); res.end();
  });
});
server.listen(Number(process.env.PORT), process.env.HOST, () => console.log('listening'));
`;

describe('rehearsal: ModelPromotion relays MLflow promotions to CI', () => {
  let cluster: RehearsalCluster;
  let objects: any[];
  let work: string;
  let standIn: Promise<{ code: number | null; output: string }>;
  const requests = (): any[] => (fs.existsSync(path.join(work, 'requests.jsonl'))
    ? fs.readFileSync(path.join(work, 'requests.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  const timings: [string, number][] = [];
  const started = Date.now();

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-promotion-'));
    fs.chmodSync(work, 0o777);
    fs.writeFileSync(path.join(work, 'standin.js'), STANDIN, { mode: 0o644 });
    const app = Testing.app();
    const chart = new Chart(app, 'mlops', { namespace: 'mlops', disableResourceNameHashes: true });
    Monitoring.configure(chart, { serviceMonitorLabels: { release: 'kube-prometheus-stack' } });
    const registry = new ModelRegistry(chart, 'mlflow', { ...registryProps(), webhooks: { encryptionKey: { secretName: 'mlflow-webhooks', key: 'encryption-key' } } });
    new ModelPromotion(chart, 'promotion', {
      registry,
      webhookSecret: { secretName: 'promotion-webhook', key: 'hmac' },
      models: [{
        model: registry.model('fraud-detector', { alias: 'champion' }),
        action: PromotionAction.githubDispatch({ repository: 'acme/ml-platform', token: { secretName: 'promotion-github', key: 'token' }, apiUrl: `http://${BRIDGE}:${STANDIN_PORT}` }),
      }],
      // short, so a replay can outlive it within the test
      timestampTolerance: Duration.seconds(30),
    });
    objects = Testing.synth(chart);
    cluster = await RehearsalCluster.start({
      objects,
      secrets: {
        'mlflow-postgres': { password: `pg-${process.pid}` },
        'mlflow-webhooks': { 'encryption-key': FERNET_KEY },
        'promotion-webhook': { hmac: HMAC },
        'promotion-github': { token: GH_TOKEN },
      },
    });
    standIn = cluster.run(['node', path.join(work, 'standin.js')], { image: Images.NODE, env: { OUT: path.join(work, 'requests.jsonl'), PORT: String(STANDIN_PORT), HOST: BRIDGE }, timeoutMs: 580_000 });
    timings.push(['network', Date.now() - started]);
  });

  afterAll(async () => {
    await cluster?.request(`http://${BRIDGE}:${STANDIN_PORT}/quit`, { method: 'POST' }).catch(() => undefined);
    await standIn?.catch(() => undefined);
    await cluster?.teardown();
    // eslint-disable-next-line no-console
    console.log(`promotion rehearsal timings:\n${timings.map(([w, ms]) => `  ${w}: ${(ms / 1000).toFixed(1)} s`).join('\n')}`);
  });

  const python = (script: string) => cluster.run(['python', '-c', script], {
    image: Images.MLFLOW,
    env: { MLFLOW_TRACKING_URI: 'http://mlflow.mlops.svc.cluster.local:5000', MLFLOW_DISABLE_TELEMETRY: 'true', PYTHONUNBUFFERED: '1', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2' },
    timeoutMs: 120_000,
  });
  const waitFor = async (what: string, check: () => boolean | Promise<boolean>, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  let relayLog: () => string;
  const metric = async (line: RegExp): Promise<number> => {
    const res = await cluster.request('http://promotion.mlops.svc.cluster.local:8080/metrics');
    const m = line.exec(res.body);
    return m ? Number(m[1]) : NaN;
  };

  test('the relay registers its webhook in MLflow on PostgreSQL, idempotently', async () => {
    const t0 = Date.now();
    await cluster.startPod('StatefulSet', 'mlflow-postgres');
    const mlflow = await cluster.startPod('Deployment', 'mlflow');
    expect(mlflow.log('mlflow')).not.toMatch(/Traceback/);
    const relay = await cluster.startPod('Deployment', 'promotion');
    relayLog = () => relay.log('relay');
    await waitFor('webhook_registered', () => relayLog().includes('"event":"webhook_registered"'));
    expect(relayLog()).toMatch(/"event":"webhook_registered","webhookId":"[0-9a-f-]{36}","created":true,"name":"mlops-promotion-mlops-promotion","url":"http:\/\/promotion\.mlops\.svc\.cluster\.local:8080\/webhook"/);
    // WHEN the relay restarts, THEN it updates the same webhook rather than adding one
    await cluster.stopPod('promotion-0', { graceful: true });
    const again = await cluster.startPod('Deployment', 'promotion');
    relayLog = () => again.log('relay');
    await waitFor('second webhook_registered', () => relayLog().includes('"event":"webhook_registered"'));
    expect(relayLog()).toContain('"created":false');
    const listed = await python('from mlflow import MlflowClient\nimport json\nprint(json.dumps([(w.name, w.url, [str(e) for e in w.events], w.status.value) for w in MlflowClient().list_webhooks()]))');
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.output.trim().split('\n').pop()!)).toEqual([
      ['mlops-promotion-mlops-promotion', 'http://promotion.mlops.svc.cluster.local:8080/webhook', ['model_version_alias.created'], 'ACTIVE'],
    ]);
    expect(await metric(/^mlops_promotion_webhook_registered (\d+)$/m)).toBe(1);
    timings.push(['registry + relay + registration', Date.now() - t0]);
  });

  test('moving champion makes MLflow deliver a signed event, and GitHub gets exactly the dispatch the workflow accepts', async () => {
    const t0 = Date.now();
    // GIVEN fraud-detector with two versions, and a second webhook to the recorder so the test
    // holds a real delivery of MLflow (signed with the same secret) to replay later
    const setup = await python([
      'from mlflow import MlflowClient',
      'from mlflow.entities.webhook import WebhookEvent',
      'c = MlflowClient()',
      'c.create_registered_model("fraud-detector")',
      'run = c.create_run(experiment_id="0")',
      'for _ in range(2): c.create_model_version("fraud-detector", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)',
      `c.create_webhook(name="recorder", url="http://${BRIDGE}:${STANDIN_PORT}/record", events=[WebhookEvent("model_version_alias", "created")], secret=${JSON.stringify(HMAC)})`,
      `c.create_webhook(name="impostor", url="http://promotion.mlops.svc.cluster.local:8080/webhook", events=[WebhookEvent("model_version_alias", "created")], secret="another-secret-0123456789")`,
      'print("ok")',
    ].join('\n'));
    expect({ code: setup.code, tail: setup.code === 0 ? '' : setup.output.slice(-2000) }).toEqual({ code: 0, tail: '' });
    // MLflow caches the webhook list for MLFLOW_WEBHOOK_CACHE_TTL (60 s); a fresh server has not cached it yet
    // WHEN champion moves to version 2
    const moved = await python('from mlflow import MlflowClient\nMlflowClient().set_registered_model_alias("fraud-detector", "champion", "2")\nprint("ok")');
    expect(moved.code).toBe(0);
    await waitFor('the dispatch', () => requests().some((r) => r.url.startsWith('/repos/')), 90_000);
    await waitFor('the recorded delivery', () => requests().some((r) => r.url === '/record'), 30_000);
    await waitFor('the impostor refused', () => relayLog().includes('"outcome":"bad_signature"'), 30_000);

    // THEN the relay accepted MLflow's real delivery
    expect(relayLog()).toMatch(/"event":"delivery_accepted","deliveryId":"[0-9a-f-]{36}","model":"fraud-detector","alias":"champion","version":"2"/);
    // AND GitHub got one repository_dispatch with the token, GitHub's headers and the payload
    const dispatches = requests().filter((r) => r.url.startsWith('/repos/'));
    expect(dispatches).toHaveLength(1);
    const [d] = dispatches;
    expect({ method: d.method, url: d.url, auth: d.headers.authorization, accept: d.headers.accept, api: d.headers['x-github-api-version'], ua: d.headers['user-agent'] }).toEqual({
      method: 'POST', url: '/repos/acme/ml-platform/dispatches', auth: `Bearer ${GH_TOKEN}`, accept: 'application/vnd.github+json', api: '2022-11-28', ua: 'mlops-constructs-promotion-relay',
    });
    const dispatch = JSON.parse(d.body);
    expect(dispatch).toEqual({ event_type: 'model-promoted', client_payload: { name: 'fraud-detector', alias: 'champion', version: '2' } });
    // AND the workflow's trigger and its payload check accept it: the promote job deploys version 2
    const workflow = yaml.load(fs.readFileSync(WORKFLOW, 'utf8')) as any;
    expect(workflow.on.repository_dispatch.types).toContain(dispatch.event_type);
    const step = workflow.jobs.promote.steps.find((s: any) => s.id === 'promotion');
    const output = path.join(work, 'github-output');
    fs.writeFileSync(output, '');
    // as GitHub runs a `run` step on Linux: bash --noprofile --norc -eo pipefail
    const check = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, GITHUB_OUTPUT: output, SERVED_MODEL: workflow.env.SERVED_MODEL,
        MODEL: dispatch.client_payload.name, VERSION: dispatch.client_payload.version, ALIAS: dispatch.client_payload.alias },
    });
    expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });
    expect(fs.readFileSync(output, 'utf8')).toBe('deploy=true\nmodel=fraud-detector\nversion=2\n');
    // AND a real MLflow delivery signed with another secret was refused, counted, and never acted on
    expect(await metric(/^mlops_promotion_deliveries_total\{outcome="bad_signature"\} (\d+)$/m)).toBe(1);
    expect(await metric(/^mlops_promotion_actions_total\{model="fraud-detector",action="ci",outcome="succeeded"\} (\d+)$/m)).toBe(1);
    timings.push(['alias move to dispatch', Date.now() - t0]);
  });

  test('a tampered body, a replayed delivery and a delivery older than the tolerance are refused', async () => {
    // GIVEN a fresh delivery of MLflow's to the recorder, signed with the relay's secret (champion back to 1)
    const before = requests().filter((r) => r.url === '/record').length;
    const moved = await python('from mlflow import MlflowClient\nMlflowClient().set_registered_model_alias("fraud-detector", "champion", "1")\nprint("ok")');
    expect(moved.code).toBe(0);
    await waitFor('the second recorded delivery', () => requests().filter((r) => r.url === '/record').length > before, 30_000);
    const recorded = requests().filter((r) => r.url === '/record')[before];
    expect(JSON.parse(recorded.body).data).toEqual({ name: 'fraud-detector', alias: 'champion', version: '1' });
    expect(recorded.headers['x-mlflow-signature']).toBe(mlflowSignature(HMAC, recorded.headers['x-mlflow-delivery-id'], recorded.headers['x-mlflow-timestamp'], recorded.body));
    const send = (body: string, headers: Record<string, string>) => cluster.request('http://promotion.mlops.svc.cluster.local:8080/webhook', {
      method: 'POST', body, headers: { 'content-type': 'application/json', ...headers },
    });
    const headers = {
      'x-mlflow-delivery-id': recorded.headers['x-mlflow-delivery-id'],
      'x-mlflow-timestamp': recorded.headers['x-mlflow-timestamp'],
      'x-mlflow-signature': recorded.headers['x-mlflow-signature'],
    };
    // WHEN its body is changed to promote version 2, THEN 401
    const tampered = await send(recorded.body.replace('"version": "1"', '"version": "2"'), headers);
    expect([tampered.status, JSON.parse(tampered.body).error]).toEqual([401, 'x-mlflow-signature does not match the body: it was changed, or signed with another secret']);
    // WHEN it is sent as MLflow sent it, twice within the tolerance, THEN the second is a replay
    expect((await send(recorded.body, headers)).status).toBe(202);
    const replay = await send(recorded.body, headers);
    expect([replay.status, JSON.parse(replay.body).error]).toEqual([409, `delivery ${headers['x-mlflow-delivery-id']} was already received: a replay`]);
    // WHEN it is sent again past the 30 s tolerance, THEN it is stale
    const age = Date.now() / 1000 - Number(headers['x-mlflow-timestamp']);
    expect(age).toBeLessThan(30);
    await new Promise((r) => setTimeout(r, (31 - age) * 1000));
    const stale = await send(recorded.body, headers);
    expect(stale.status).toBe(401);
    expect(JSON.parse(stale.body).error).toMatch(/^x-mlflow-timestamp is 3\d s from the relay's clock, beyond the 30 s tolerance: a replayed delivery or a clock far off$/);
    // THEN each refusal was counted; GitHub got version 2 once, then version 1 for MLflow's delivery and the one fresh copy
    await waitFor('the dispatches of version 1', () => requests().filter((r) => r.url.startsWith('/repos/')).length >= 3, 30_000);
    expect(await metric(/^mlops_promotion_deliveries_total\{outcome="stale"\} (\d+)$/m)).toBe(1);
    expect(await metric(/^mlops_promotion_deliveries_total\{outcome="replayed"\} (\d+)$/m)).toBe(1);
    // the tampered one, and the impostor's two real deliveries
    expect(await metric(/^mlops_promotion_deliveries_total\{outcome="bad_signature"\} (\d+)$/m)).toBe(3);
    const versions = requests().filter((r) => r.url.startsWith('/repos/')).map((r) => JSON.parse(r.body).client_payload.version);
    expect(versions).toEqual(['2', '1', '1']);
  });
});
