// The bundled metrics proxy in front of a custom runtime with a shadow and no inference log:
// the champion's and the challenger's answers are compared at MLOPS_SHADOW_RESPONSE_PATH,
// which ModelService writes from shadow.responsePath (test/shadow.test.ts); a request over the
// capture limit is answered but not mirrored, and counted.
import * as http from 'node:http';
import { PROXY_ENV, SHADOW_METRICS, SHADOW_OUTCOMES, SHADOW_SKIP_REASONS } from '../../../src/contract';
import { bundledProgram, runProgram, type RunningProgram } from '../bundled-program';
import { closeServer, listenOnLoopback, send, waitFor } from '../http-helpers';
import { parseExposition } from '../prometheus-text';

const MODEL = 'pricer';

/** A custom runtime answering `{"result":{"scores":[...]}}` with `scores`; `bodies` has the size of each request body it got. */
async function customRuntime(scores: number[]): Promise<{ url: string; server: http.Server; bodies: number[] }> {
  const bodies: number[] = [];
  const server = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => { size += chunk.length; });
    req.on('end', () => bodies.push(size));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ result: { scores }, took_ms: 1 }));
    });
  });
  return { url: `http://127.0.0.1:${await listenOnLoopback(server)}`, server, bodies };
}

describe('the bundled proxy compares a custom runtime\'s shadow answers at MLOPS_SHADOW_RESPONSE_PATH', () => {
  let program: string;
  let champion: Awaited<ReturnType<typeof customRuntime>>;
  let challenger: Awaited<ReturnType<typeof customRuntime>>;
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

  /** A proxy mirroring every request to the challenger, with `extra` env; resolves with its ports once started. */
  async function startProxy(extra: Record<string, string>): Promise<{ listenPort: number; metricsPort: number }> {
    running = runProgram(program, {
      MLOPS_PROXY_UPSTREAM: champion.url, MLOPS_MODEL_NAME: MODEL, MLOPS_PROXY_LISTEN_PORT: '0', MLOPS_PROXY_METRICS_PORT: '0', MLOPS_PROXY_BIND_ADDRESS: '127.0.0.1',
      [PROXY_ENV.shadowUpstream]: challenger.url, [PROXY_ENV.shadowShare]: '1', [PROXY_ENV.shadowTolerance]: 'equal',
      ...extra,
    });
    const started = await running.waitForEvent('started');
    return { listenPort: started.listenPort as number, metricsPort: started.metricsPort as number };
  }

  const scoring = (port: number, body: string) => send(port, '/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  /** Sends `n` scoring requests through a proxy with `extra` env and returns its comparison counts by outcome. */
  async function comparisons(extra: Record<string, string>, n: number): Promise<Record<string, number>> {
    const { listenPort, metricsPort } = await startProxy(extra);
    for (let i = 0; i < n; i++) {
      const reply = await scoring(listenPort, '{"data":{"rows":[[1,2],[3,4]]}}');
      expect(JSON.parse(reply.text)).toEqual({ result: { scores: [10.5, 3] }, took_ms: 1 });
    }
    const counts = async () => {
      const exposition = parseExposition((await send(metricsPort, '/metrics')).text);
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

  test('a request over the 1 MiB capture limit is answered, not mirrored, and counted skipped with reason body_too_large', async () => {
    // GIVEN a proxy that mirrors every request
    const { listenPort, metricsPort } = await startProxy({ [PROXY_ENV.shadowResponsePath]: 'result.scores' });
    const mirroredBefore = challenger.bodies.length;
    // WHEN a 1.5 MiB request and then a small one pass
    const large = JSON.stringify({ data: { rows: [[1, 2]] }, padding: 'x'.repeat(1.5 * 1024 * 1024) });
    expect((await scoring(listenPort, large)).status).toBe(200);
    expect((await scoring(listenPort, '{"data":{"rows":[[1,2]]}}')).status).toBe(200);
    const skipped = async (reason: string) => parseExposition((await send(metricsPort, '/metrics')).text).value(SHADOW_METRICS.skippedTotal, { model: MODEL, reason: reason });
    await waitFor('the small request mirrored', () => challenger.bodies.length === mirroredBefore + 1);
    // THEN the champion got both, the challenger only the small one, and the large one is counted
    expect(champion.bodies.slice(-2)).toEqual([Buffer.byteLength(large), 25]);
    expect(challenger.bodies.slice(mirroredBefore)).toEqual([25]);
    expect(await skipped(SHADOW_SKIP_REASONS.bodyTooLarge)).toBe(1);
    expect(await skipped(SHADOW_SKIP_REASONS.inFlightLimit)).toBe(0);
  });

  test('fails at start on an empty segment in the path, naming the variable', async () => {
    running = runProgram(program, {
      MLOPS_PROXY_UPSTREAM: champion.url, MLOPS_MODEL_NAME: MODEL, [PROXY_ENV.shadowUpstream]: challenger.url, [PROXY_ENV.shadowResponsePath]: 'result..scores',
    });
    expect(await running.exited).toBe(2);
    expect(running.stderr()).toMatch(/MLOPS_SHADOW_RESPONSE_PATH \("result\.\.scores"\) has an empty segment/);
  });
});
