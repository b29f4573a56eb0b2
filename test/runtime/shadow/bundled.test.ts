// The bundled metrics proxy in front of a custom runtime with a shadow and no inference log:
// the champion's and the challenger's answers are compared at MLOPS_SHADOW_RESPONSE_PATH,
// which ModelService writes from shadow.responsePath (test/shadow.test.ts).
import * as http from 'node:http';
import { PROXY_ENV, SHADOW_METRICS, SHADOW_OUTCOMES } from '../../../src/contract';
import { bundledProgram, runProgram, type RunningProgram } from '../bundled-program';
import { closeServer, listenOnLoopback, send, waitFor } from '../http-helpers';
import { parseExposition } from '../prometheus-text';

const MODEL = 'pricer';

/** A custom runtime answering `{"result":{"scores":[...]}}` with `scores`. */
async function customRuntime(scores: number[]): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ result: { scores }, took_ms: 1 }));
    });
  });
  return { url: `http://127.0.0.1:${await listenOnLoopback(server)}`, server };
}

describe('the bundled proxy compares a custom runtime\'s shadow answers at MLOPS_SHADOW_RESPONSE_PATH', () => {
  let program: string;
  let champion: { url: string; server: http.Server };
  let challenger: { url: string; server: http.Server };
  let running: RunningProgram | undefined;

  beforeAll(async () => {
    program = bundledProgram('metrics-proxy.js', 'src/runtime/metrics-proxy');
    champion = await customRuntime([10.5, 3]);
    challenger = await customRuntime([10.5, 4]);
  });
  afterEach(async () => {
    await running?.kill();
    running = undefined;
  });
  afterAll(async () => {
    await closeServer(champion.server);
    await closeServer(challenger.server);
  });

  /** Sends `n` scoring requests through a proxy with `extra` env and returns its comparison counts by outcome. */
  async function comparisons(extra: Record<string, string>, n: number): Promise<Record<string, number>> {
    running = runProgram(program, {
      MLOPS_PROXY_UPSTREAM: champion.url, MLOPS_MODEL_NAME: MODEL, MLOPS_PROXY_LISTEN_PORT: '0', MLOPS_PROXY_METRICS_PORT: '0', MLOPS_PROXY_BIND_ADDRESS: '127.0.0.1',
      [PROXY_ENV.shadowUpstream]: challenger.url, [PROXY_ENV.shadowShare]: '1', [PROXY_ENV.shadowTolerance]: 'equal',
      ...extra,
    });
    const started = await running.waitForEvent('started');
    for (let i = 0; i < n; i++) {
      const reply = await send(started.listenPort as number, '/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"data":{"rows":[[1,2],[3,4]]}}' });
      expect(JSON.parse(reply.text)).toEqual({ result: { scores: [10.5, 3] }, took_ms: 1 });
    }
    const counts = async () => {
      const exposition = parseExposition((await send(started.metricsPort as number, '/metrics')).text);
      return Object.fromEntries(Object.values(SHADOW_OUTCOMES).map((outcome) => [outcome, exposition.value(SHADOW_METRICS.comparisonsTotal, { model: MODEL, outcome }) ?? 0]));
    };
    await waitFor('every mirrored request compared', async () => Object.values(await counts()).reduce((a, b) => a + b, 0) === n);
    return counts();
  }

  test('with the path, each request compares as disagree (the second prediction differs)', async () => {
    expect(await comparisons({ [PROXY_ENV.shadowResponsePath]: 'result.scores' }, 3)).toEqual({ agree: 0, disagree: 3, challenger_failed: 0, incomparable: 0 });
  });

  test('without it, neither answer reads as MLflow predictions: incomparable', async () => {
    expect(await comparisons({}, 2)).toEqual({ agree: 0, disagree: 0, challenger_failed: 0, incomparable: 2 });
  });

  test('an empty segment in the path is refused at start, naming the variable', async () => {
    running = runProgram(program, {
      MLOPS_PROXY_UPSTREAM: champion.url, MLOPS_MODEL_NAME: MODEL, [PROXY_ENV.shadowUpstream]: challenger.url, [PROXY_ENV.shadowResponsePath]: 'result..scores',
    });
    expect(await running.exited).toBe(2);
    expect(running.stderr()).toMatch(/MLOPS_SHADOW_RESPONSE_PATH \("result\.\.scores"\) has an empty segment/);
  });
});
