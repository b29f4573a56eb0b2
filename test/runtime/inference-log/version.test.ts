import * as http from 'node:http';
import { resolveModelVersion } from '../../../src/runtime/metrics-proxy/inference-log/version';
import { closeServer, listenOnLoopback, unusedPort } from '../http-helpers';

/**
 * The registry's alias lookup against a loopback server with MLflow's REST answers
 * (GET /api/2.0/mlflow/registered-models/alias, as MLflow 3 gives them).
 */
describe('resolveModelVersion', () => {
  const seen: Array<{ url: string; authorization?: string }> = [];
  /** Statuses to answer before the real answer. */
  let failFirst: number[] = [];
  let server: http.Server;
  let trackingUri: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      const url = new URL(req.url ?? '/', 'http://mlflow');
      res.setHeader('content-type', 'application/json');
      if (failFirst.length > 0) {
        res.statusCode = failFirst.shift()!;
        res.end('{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try again"}');
      } else if (url.pathname === '/api/2.0/mlflow/registered-models/alias' && url.searchParams.get('name') === 'fraud detector' && url.searchParams.get('alias') === 'champion') {
        res.end(JSON.stringify({ model_version: { name: 'fraud detector', version: '7', aliases: ['champion'], run_id: 'abc', status: 'READY' } }));
      } else if (url.pathname === '/api/2.0/mlflow/registered-models/alias' && url.searchParams.get('alias') === 'hang') {
        // never answers
      } else {
        res.statusCode = 404;
        res.end('{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered model alias challenger not found."}');
      }
    });
    trackingUri = `http://127.0.0.1:${await listenOnLoopback(server)}`;
  });
  afterAll(() => closeServer(server));
  beforeEach(() => {
    seen.length = 0;
    failFirst = [];
  });

  const fast = { timeoutMs: 300, backoffMs: 10 };

  test('takes MLOPS_MODEL_VERSION first, asking nobody', async () => {
    expect(await resolveModelVersion({ MLOPS_MODEL_VERSION: '4', MLOPS_MODEL_URI: 'models:/m@champion', MLFLOW_TRACKING_URI: trackingUri }))
      .toEqual({ version: '4', source: 'pinned' });
    expect(seen).toHaveLength(0);
  });

  test('reads the number of models:/<name>/<n>', async () => {
    expect(await resolveModelVersion({ MLOPS_MODEL_URI: 'models:/fraud-detector/12' })).toEqual({ version: '12', source: 'uri' });
  });

  test('asks the registry for an alias, with basic auth from the MLflow client variables', async () => {
    const resolved = await resolveModelVersion({
      MLOPS_MODEL_URI: 'models:/fraud detector@champion', MLFLOW_TRACKING_URI: `${trackingUri}/`,
      MLFLOW_TRACKING_USERNAME: 'proxy', MLFLOW_TRACKING_PASSWORD: 'pw',
    }, fast);
    expect(resolved).toEqual({ version: '7', source: 'registry' });
    expect(seen).toEqual([{ url: '/api/2.0/mlflow/registered-models/alias?name=fraud%20detector&alias=champion', authorization: `Basic ${Buffer.from('proxy:pw').toString('base64')}` }]);
  });

  test('sends a bearer token when MLFLOW_TRACKING_TOKEN is set', async () => {
    await resolveModelVersion({ MLOPS_MODEL_URI: 'models:/fraud detector@champion', MLFLOW_TRACKING_URI: trackingUri, MLFLOW_TRACKING_TOKEN: 't0k', MLFLOW_TRACKING_USERNAME: 'x' }, fast);
    expect(seen[0].authorization).toBe('Bearer t0k');
  });

  test('retries a 503, then resolves', async () => {
    failFirst = [503, 503];
    expect(await resolveModelVersion({ MLOPS_MODEL_URI: 'models:/fraud detector@champion', MLFLOW_TRACKING_URI: trackingUri }, fast))
      .toEqual({ version: '7', source: 'registry' });
    expect(seen).toHaveLength(3);
  });

  test('is unknown, with the registry\'s answer, for an alias that does not exist (not retried)', async () => {
    const resolved = await resolveModelVersion({ MLOPS_MODEL_URI: 'models:/fraud detector@challenger', MLFLOW_TRACKING_URI: trackingUri }, fast);
    expect(resolved).toEqual({ version: 'unknown', source: 'unknown', error: expect.stringMatching(/: 404 Not Found \(.*RESOURCE_DOES_NOT_EXIST.*\)$/) });
    expect(seen).toHaveLength(1);
  });

  test('is unknown after the attempts when the registry is down or silent, within the timeouts', async () => {
    const refused = await resolveModelVersion({ MLOPS_MODEL_URI: 'models:/m@champion', MLFLOW_TRACKING_URI: `http://127.0.0.1:${await unusedPort()}` }, fast);
    expect(refused).toEqual({ version: 'unknown', source: 'unknown', error: expect.stringMatching(/ECONNREFUSED \(after 3 attempts\)$/) });
    const started = Date.now();
    const silent = await resolveModelVersion({ MLOPS_MODEL_URI: 'models:/m@hang', MLFLOW_TRACKING_URI: trackingUri }, { ...fast, attempts: 2 });
    expect(silent.error).toMatch(/no answer within 0.3 s \(after 2 attempts\)$/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test.each([
    [{}, 'neither MLOPS_MODEL_VERSION nor MLOPS_MODEL_URI is set'],
    [{ MLOPS_MODEL_URI: 'runs:/abc/model' }, 'MLOPS_MODEL_URI ("runs:/abc/model") is not models:/<name>@<alias> or models:/<name>/<version>'],
    [{ MLOPS_MODEL_URI: 'models:/m@champion' }, 'models:/m@champion names an alias, but MLFLOW_TRACKING_URI is not set to ask the registry for its version'],
  ])('is unknown, saying why, for %j', async (env, error) => {
    expect(await resolveModelVersion(env)).toEqual({ version: 'unknown', source: 'unknown', error });
  });
});
