import * as fc from 'fast-check';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { type Bodies, extractRows } from '../../../src/runtime/metrics-proxy/inference-log/extract';
import { Sampler } from '../../../src/runtime/metrics-proxy/inference-log/sampler';
import { parseShadowConfig } from '../../../src/runtime/metrics-proxy/shadow/config';
import {
  type ChallengerRequest, type ChallengerResponse, type MirrorInput, type SendToChallenger, challengerHeaders, createShadow,
} from '../../../src/runtime/metrics-proxy/shadow/mirror';
import type { LogEvent } from '../../../src/runtime/shared/log-event';
import { parseExposition } from '../prometheus-text';

/**
 * The shadow as the proxy will use it: requests mirrored after the champion answered, their
 * answers compared and counted, against a scripted sender or a real challenger on loopback.
 */

const MODEL = 'fraud-detector';
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

const config = (env: Record<string, string> = {}) => parseShadowConfig({ MLOPS_SHADOW_UPSTREAM: 'http://challenger.test:80', MLOPS_SHADOW_SHARE: '0.25', ...env })!;

function input(championAnswer: unknown, extra: Partial<MirrorInput> = {}): MirrorInput {
  return {
    method: 'POST',
    path: '/invocations',
    headers: { 'content-type': 'application/json' },
    requestBody: json({ inputs: [{ amount: 12.5 }, { amount: 3 }] }),
    championCode: 200,
    championBody: Buffer.isBuffer(championAnswer) ? championAnswer : json(championAnswer),
    ...extra,
  };
}

/** A sender that answers every mirror with `answer` (or what it returns for the request). */
function answering(answer: Partial<ChallengerResponse> | ((request: ChallengerRequest) => Partial<ChallengerResponse>)) {
  const seen: ChallengerRequest[] = [];
  const send: SendToChallenger = async (request) => {
    seen.push(request);
    const response = typeof answer === 'function' ? answer(request) : answer;
    return { code: 200, body: undefined, ...response };
  };
  return { send, seen };
}

/** A sender whose mirrors wait until released (or aborted: they reject as http.request does). */
function holding() {
  const waiting: Array<{ release: () => void; signal: AbortSignal }> = [];
  const send: SendToChallenger = (_request, { signal }) => new Promise((resolve, reject) => {
    waiting.push({ release: () => resolve({ code: 200, body: json({ predictions: [1, 0] }) }), signal });
    signal.addEventListener('abort', () => reject(Object.assign(new Error('The operation was aborted'), { code: 'ABORT_ERR' })));
  });
  return { send, waiting };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function start(send: SendToChallenger, env: Record<string, string> = {}, random?: () => number) {
  const events: LogEvent[] = [];
  const shadow = createShadow(config(env), { modelName: MODEL, log: (e) => events.push(e), request: send, random });
  const metric = (name: string, labels: Record<string, string> = {}) => parseExposition(shadow.render()).value(name, { model: MODEL, ...labels });
  const comparisons = (outcome: string) => metric('mlops_shadow_comparisons_total', { outcome });
  return { shadow, events, metric, comparisons };
}

describe('createShadow: sampling', () => {
  test('mirrors exactly the draws below the share, with a draw given or its own', () => {
    // GIVEN a share of 0.25 and a scripted random source
    const draws = [0.1, 0.3];
    const { shadow } = start(answering({}).send, {}, () => draws.shift()!);
    // WHEN / THEN
    expect([0.1, 0.25, 0.2499, 0.9].map((u) => shadow.sample(u))).toEqual([true, false, true, false]);
    expect([shadow.sample(), shadow.sample()]).toEqual([true, false]);
    expect(start(answering({}).send, { MLOPS_SHADOW_SHARE: '1' }, () => 0.999).shadow.sample()).toBe(true);
  });

  test('with the inference log\'s draw, the smaller sampled set is a subset of the larger (property)', () => {
    fc.assert(fc.property(fc.double({ min: 0.001, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 50 }), (share, ratio, draws) => {
        const { shadow } = start(answering({}).send, { MLOPS_SHADOW_SHARE: String(share) });
        const logSampler = new Sampler(ratio);
        for (const u of draws) {
          const mirrored = shadow.sample(u);
          const logged = logSampler.sample(u);
          if (share <= ratio) expect(!mirrored || logged).toBe(true);
          else expect(!logged || mirrored).toBe(true);
        }
      }));
  });
});

describe('createShadow: comparing the answers', () => {
  test('agrees when every row\'s prediction is the same, and hands back the challenger\'s answer', async () => {
    // GIVEN a challenger that answers as the champion
    const body = json({ predictions: [1, 0] });
    const { shadow, comparisons, metric } = start(answering({ code: 200, body }).send);
    // WHEN
    const answer = await shadow.mirror(input({ predictions: [1, 0] }));
    // THEN
    expect(answer).toEqual({ code: 200, body, outcome: 'agree' });
    expect(comparisons('agree')).toBe(1);
    expect(comparisons('disagree')).toBe(0);
    // and "equal" measures no differences
    expect(metric('mlops_shadow_abs_difference_count')).toBe(0);
  });

  test('its answer joins the inference log\'s record as is', async () => {
    // GIVEN a mirrored request the challenger answered differently
    const { shadow } = start(answering({ body: json({ predictions: [1, 1] }) }).send);
    const mirrored = input({ predictions: [1, 0] });
    const answer = await shadow.mirror(mirrored);
    // WHEN the proxy hands it to the inference log as Capture.challenger
    const capture: Bodies = { requestBody: mirrored.requestBody, responseBody: mirrored.championBody, code: mirrored.championCode, challenger: answer };
    // THEN
    expect(extractRows(capture, { maxDecodedBytes: 1 << 20 }).rows).toEqual([
      { amount: 12.5, prediction: 1, challenger_prediction: 1 },
      { amount: 3, prediction: 0, challenger_prediction: 1 },
    ]);
  });

  test('disagrees when one row differs, also in a column of several outputs', async () => {
    const { shadow, comparisons } = start(answering({ body: json({ predictions: [[0.1, 0.9], [0.7, 0.3]] }) }).send);
    expect(await shadow.mirror(input({ predictions: [[0.1, 0.9], [0.7, 0.31]] }))).toEqual(expect.objectContaining({ outcome: 'disagree' }));
    expect(await shadow.mirror(input({ predictions: [1, 0] }))).toEqual(expect.objectContaining({ outcome: 'disagree' }));
    expect(comparisons('disagree')).toBe(2);
  });

  test('with a tolerance, numbers within it agree and every |difference| is summed, also of a disagreeing request', async () => {
    // GIVEN a regression challenger, tolerance 0.5
    const answers = [{ predictions: [10.25, 20] }, { predictions: [10, 21] }];
    const { shadow, comparisons, metric } = start(answering(() => ({ body: json(answers.shift()) })).send, { MLOPS_SHADOW_TOLERANCE: '0.5' });
    // WHEN the champion predicted [10, 20] both times
    const first = await shadow.mirror(input({ predictions: [10, 20] }));
    const second = await shadow.mirror(input({ predictions: [10, 20] }));
    // THEN within 0.5, then one row 1 apart
    expect([first?.outcome, second?.outcome]).toEqual(['agree', 'disagree']);
    expect(comparisons('agree')).toBe(1);
    expect(comparisons('disagree')).toBe(1);
    expect(metric('mlops_shadow_abs_difference_sum')).toBe(1.25);
    expect(metric('mlops_shadow_abs_difference_count')).toBe(4);
  });

  test('reads both answers at the response path, compressed or not', async () => {
    const shadow = createShadow(config(), {
      modelName: MODEL,
      responsePath: 'result.scores',
      request: answering({ body: gzipSync(json({ result: { scores: ['fraud', 'ok'] } })), contentEncoding: 'gzip' }).send,
    });
    expect(await shadow.mirror(input({ result: { scores: ['fraud', 'ok'] } }))).toEqual(expect.objectContaining({ outcome: 'agree', contentEncoding: 'gzip' }));
  });

  test.each([
    ['the champion failed', { championCode: 500, championBody: json({ error: 'boom' }) }, { predictions: [1, 0] }],
    ['the champion\'s body was not captured', { championBody: undefined }, { predictions: [1, 0] }],
    ['the champion\'s body is not predictions', { championBody: Buffer.from('<html>') }, { predictions: [1, 0] }],
    ['the challenger\'s body is not predictions', {}, { outputs: [1, 0] }],
    ['the challenger answered another row count', {}, { predictions: [1] }],
    ['both answered an empty batch', { championBody: json({ predictions: [] }) }, { predictions: [] }],
  ])('is incomparable when %s', async (_name, extra, challengerAnswer) => {
    const { shadow, comparisons } = start(answering({ body: json(challengerAnswer) }).send);
    expect(await shadow.mirror(input({ predictions: [1, 0] }, extra))).toEqual(expect.objectContaining({ code: 200, outcome: 'incomparable' }));
    expect(comparisons('incomparable')).toBe(1);
  });

  test('a challenger error status is challenger_failed, whatever its body', async () => {
    const { shadow, comparisons } = start(answering({ code: 500, body: json({ predictions: [1, 0] }) }).send);
    expect(await shadow.mirror(input({ predictions: [1, 0] }))).toEqual({ code: 500, body: json({ predictions: [1, 0] }), outcome: 'challenger_failed' });
    expect(comparisons('challenger_failed')).toBe(1);
  });

  test('a challenger that does not answer is challenger_failed even when the champion failed too', async () => {
    const send: SendToChallenger = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    };
    const { shadow, comparisons, events } = start(send);
    expect(await shadow.mirror(input({ error: 'x' }, { championCode: 503 }))).toEqual({ code: 0, body: undefined, outcome: 'challenger_failed' });
    await shadow.mirror(input({ predictions: [1, 0] }));
    expect(comparisons('challenger_failed')).toBe(2);
    // logged once per kind of failure
    expect(events).toEqual([{ event: 'shadow_mirror_failed', level: 'warn', upstream: 'http://challenger.test', error: 'ECONNREFUSED' }]);
  });

  test('exports every outcome from the start, at 0, as counters with help', () => {
    const { shadow } = start(answering({}).send);
    const exposition = parseExposition(shadow.render());
    expect(exposition.samples.map((s) => [s.name, s.labels.outcome ?? s.labels.reason, s.value])).toEqual([
      ['mlops_shadow_comparisons_total', 'agree', 0],
      ['mlops_shadow_comparisons_total', 'disagree', 0],
      ['mlops_shadow_comparisons_total', 'challenger_failed', 0],
      ['mlops_shadow_comparisons_total', 'incomparable', 0],
      ['mlops_shadow_skipped_total', 'in_flight_limit', 0],
      ['mlops_shadow_skipped_total', 'body_too_large', 0],
      ['mlops_shadow_abs_difference_sum', undefined, 0],
      ['mlops_shadow_abs_difference_count', undefined, 0],
    ]);
    expect(exposition.samples.every((s) => s.labels.model === MODEL)).toBe(true);
    expect([...exposition.types.values()]).toEqual(['counter', 'counter', 'counter', 'counter']);
  });
});

describe('createShadow: bounds', () => {
  test('sends the copy on a later turn of the event loop, not in the proxy\'s', async () => {
    const { send, seen } = answering({ body: json({ predictions: [1, 0] }) });
    const { shadow } = start(send);
    const answer = shadow.mirror(input({ predictions: [1, 0] }));
    expect(seen).toHaveLength(0);
    await nextTurn();
    expect(seen).toHaveLength(1);
    expect((await answer)?.outcome).toBe('agree');
  });


  test('a challenger slower than the timeout is challenger_failed, and its request is aborted', async () => {
    // GIVEN a challenger that never answers, and a 50 ms timeout
    const { send, waiting } = holding();
    const { shadow, comparisons, events } = start(send, { MLOPS_SHADOW_TIMEOUT_SECONDS: '0.05' });
    // WHEN
    const started = Date.now();
    const answer = await shadow.mirror(input({ predictions: [1, 0] }));
    // THEN
    expect(answer).toEqual({ code: 0, body: undefined, outcome: 'challenger_failed' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(waiting[0].signal.aborted).toBe(true);
    expect(comparisons('challenger_failed')).toBe(1);
    expect(events).toEqual([expect.objectContaining({ event: 'shadow_mirror_failed', error: 'timeout' })]);
  });

  test('skips and counts sampled requests beyond maxInFlight, and mirrors again once one ends', async () => {
    // GIVEN two mirrors in flight at most, both held
    const { send, waiting } = holding();
    const { shadow, metric, comparisons } = start(send, { MLOPS_SHADOW_MAX_IN_FLIGHT: '2' });
    const first = shadow.mirror(input({ predictions: [1, 0] }));
    const second = shadow.mirror(input({ predictions: [1, 0] }));
    // WHEN a third and a fourth come
    const skipped = await Promise.all([shadow.mirror(input({ predictions: [1, 0] })), shadow.mirror(input({ predictions: [1, 0] }))]);
    await nextTurn();
    // THEN they are not sent, and counted
    expect(skipped).toEqual([undefined, undefined]);
    expect(waiting).toHaveLength(2);
    expect(metric('mlops_shadow_skipped_total', { reason: 'in_flight_limit' })).toBe(2);
    // and once one is answered, the next is mirrored
    waiting[0].release();
    expect(await first).toEqual(expect.objectContaining({ outcome: 'agree' }));
    const third = shadow.mirror(input({ predictions: [1, 0] }));
    await nextTurn();
    expect(waiting).toHaveLength(3);
    waiting[1].release();
    waiting[2].release();
    await Promise.all([second, third]);
    expect(comparisons('agree')).toBe(3);
    expect(metric('mlops_shadow_skipped_total', { reason: 'in_flight_limit' })).toBe(2);
  });

  test('close() waits for the mirrors in flight up to its deadline, then aborts the rest', async () => {
    // GIVEN two mirrors held, one answered during the close, one never
    const { send, waiting } = holding();
    const { shadow } = start(send);
    const answered = shadow.mirror(input({ predictions: [1, 0] }));
    const abandoned = shadow.mirror(input({ predictions: [1, 0] }));
    setTimeout(() => waiting[0].release(), 20);
    // WHEN
    const started = Date.now();
    await shadow.close(300);
    // THEN it waited for the first, gave up on the second at the deadline
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await answered).toEqual(expect.objectContaining({ outcome: 'agree' }));
    expect(await abandoned).toEqual({ code: 0, body: undefined, outcome: 'challenger_failed' });
    expect(waiting[1].signal.aborted).toBe(true);
    // and mirrors nothing after it
    expect(await shadow.mirror(input({ predictions: [1, 0] }))).toBeUndefined();
    expect(waiting).toHaveLength(2);
  });

  test('close() returns at once when nothing is in flight', async () => {
    const { shadow } = start(answering({}).send);
    const started = Date.now();
    await shadow.close(5000);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('createShadow: never throws', () => {
  test('a sender that throws, rejects with anything, or answers garbage costs one comparison', async () => {
    const senders: SendToChallenger[] = [
      () => {
        throw new Error('sync bug');
      },
      () => Promise.reject(null),
      () => Promise.reject('a string'),
      () => Promise.resolve({ code: 200, body: Buffer.from([0xff, 0xfe, 0x00]) }),
      () => Promise.resolve(undefined as unknown as ChallengerResponse),
    ];
    for (const send of senders) {
      const { shadow } = start(send);
      await expect(shadow.mirror(input({ predictions: [1, 0] }))).resolves.toEqual(expect.objectContaining({ outcome: expect.any(String) }));
    }
  });

  test('any input the proxy might give resolves, never rejects (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), fc.integer({ min: 0, max: 599 }), fc.integer({ min: 0, max: 599 }),
      fc.constantFrom(undefined, 'gzip', 'br', 'zstd'), async (champion, challenger, championCode, challengerCode, encoding) => {
        const { shadow } = start(answering({ code: challengerCode, body: json(challenger) }).send, { MLOPS_SHADOW_TOLERANCE: '0.1' });
        const answer = await shadow.mirror(input(champion, { championCode, championContentEncoding: encoding }));
        expect(['agree', 'disagree', 'challenger_failed', 'incomparable']).toContain(answer?.outcome);
      }), { numRuns: 200 });
  });

  test('broken input is a counted, resolved mirror too', async () => {
    const { shadow } = start(answering({ body: json({ predictions: [1] }) }).send);
    await expect(shadow.mirror(undefined as unknown as MirrorInput)).resolves.toEqual(expect.objectContaining({ outcome: 'challenger_failed' }));
    await expect(shadow.mirror({ ...input({}), headers: undefined as unknown as MirrorInput['headers'] })).resolves.toBeDefined();
  });
});

describe('challengerHeaders', () => {
  test('keeps the champion\'s headers, frames the buffered body, names the challenger\'s host and asks for no compression', () => {
    const raw = ['Content-Type', 'application/json', 'X-Request-Id', 'r-1', 'Accept-Encoding', 'gzip', 'Transfer-Encoding', 'chunked',
      'Host', 'fraud.example.com', 'Connection', 'keep-alive', 'X-Tag', 'a', 'x-tag', 'b'];
    expect(challengerHeaders(raw, 'challenger:8080', 12)).toEqual({
      'content-type': 'application/json', 'x-request-id': 'r-1', 'x-tag': ['a', 'b'],
      host: 'challenger:8080', 'accept-encoding': 'identity', 'content-length': 12,
    });
    // a GET without a body gets no Content-Length
    expect(challengerHeaders({ accept: 'application/json' }, 'c', 0)).toEqual({ accept: 'application/json', host: 'c', 'accept-encoding': 'identity' });
    expect(challengerHeaders({ 'content-length': '0' }, 'c', 0)).toEqual({ host: 'c', 'accept-encoding': 'identity', 'content-length': 0 });
  });
});

/** What the loopback challenger saw of one request. */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly socket: number;
}

describe('createShadow against a real challenger on loopback', () => {
  let server: http.Server;
  let port: number;
  const seen: Seen[] = [];
  let sockets = 0;
  let respond: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, socket: (req.socket as unknown as { id: number }).id });
        respond(req, res, body);
      });
    });
    server.on('connection', (socket) => {
      (socket as unknown as { id: number }).id = ++sockets;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    seen.length = 0;
    respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ predictions: [1, 0] }));
    };
  });

  const real = (env: Record<string, string> = {}) => {
    const events: LogEvent[] = [];
    const shadow = createShadow(config({ MLOPS_SHADOW_UPSTREAM: `http://127.0.0.1:${port}`, ...env }), { modelName: MODEL, log: (e) => events.push(e) });
    return { shadow, events, comparisons: (outcome: string) => parseExposition(shadow.render()).value('mlops_shadow_comparisons_total', { model: MODEL, outcome }) };
  };

  test('receives exactly the champion\'s method, path, body and content type, over one kept-alive connection', async () => {
    // GIVEN
    const { shadow } = real();
    const body = json({ dataframe_split: { columns: ['amount'], data: [[12.5], [3]] } });
    const mirrored = input({ predictions: [1, 0] }, {
      method: 'PUT', path: '/invocations?explain=1', requestBody: body,
      headers: ['Content-Type', 'application/json; format=pandas-split', 'X-Request-Id', 'r-42', 'Host', 'fraud.example.com', 'Accept-Encoding', 'br'],
    });
    try {
      // WHEN two requests are mirrored one after the other
      const first = await shadow.mirror(mirrored);
      const second = await shadow.mirror({ ...mirrored, method: 'POST', headers: { 'content-type': 'text/csv' }, requestBody: Buffer.from('amount\n1\n2\n') });
      // THEN
      expect(seen.map(({ method, url, body: b, headers }) => ({ method, url, body: b, type: headers['content-type'] }))).toEqual([
        { method: 'PUT', url: '/invocations?explain=1', body: body.toString(), type: 'application/json; format=pandas-split' },
        { method: 'POST', url: '/invocations?explain=1', body: 'amount\n1\n2\n', type: 'text/csv' },
      ]);
      expect(seen[0].headers).toEqual(expect.objectContaining({
        'x-request-id': 'r-42', host: `127.0.0.1:${port}`, 'accept-encoding': 'identity', 'content-length': String(body.length), connection: 'keep-alive',
      }));
      expect(seen[1].socket).toBe(seen[0].socket);
      expect(first).toEqual({ code: 200, body: json({ predictions: [1, 0] }), outcome: 'agree' });
      expect(second?.outcome).toBe('agree');
    } finally {
      await shadow.close(1000);
    }
  });

  test('a 500, a timeout and a body cut short are challenger_failed; the champion\'s answer is never touched', async () => {
    // GIVEN a challenger that fails in turn, and a 200 ms timeout
    const behaviours: Array<(res: http.ServerResponse) => void> = [
      (res) => {
        res.writeHead(500);
        res.end('{"error_code":"INTERNAL_ERROR"}');
      },
      (res) => {
        setTimeout(() => res.end('{"predictions":[1,0]}'), 1000).unref();
      },
      (res) => {
        res.writeHead(200, { 'content-length': 100 });
        res.write('{"predictions":');
        setTimeout(() => res.destroy(), 10);
      },
    ];
    respond = (_req, res) => behaviours.shift()!(res);
    const { shadow, comparisons, events } = real({ MLOPS_SHADOW_TIMEOUT_SECONDS: '0.2' });
    const championBody = json({ predictions: [1, 0] });
    const mirrored = input(championBody);
    try {
      // WHEN
      const answers = [await shadow.mirror(mirrored), await shadow.mirror(mirrored), await shadow.mirror(mirrored)];
      // THEN
      expect(answers.map((a) => [a?.code, a?.outcome])).toEqual([[500, 'challenger_failed'], [0, 'challenger_failed'], [0, 'challenger_failed']]);
      expect(comparisons('challenger_failed')).toBe(3);
      expect(events.map((e) => e.error)).toEqual(['timeout', expect.any(String)]);
      expect(mirrored.championBody).toEqual(championBody);
    } finally {
      await shadow.close(1000);
    }
  });

  test('a challenger that refuses connections is challenger_failed, logged once', async () => {
    // GIVEN a port nobody listens on
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const events: LogEvent[] = [];
    const shadow = createShadow(config({ MLOPS_SHADOW_UPSTREAM: `http://127.0.0.1:${closedPort}` }), { modelName: MODEL, log: (e) => events.push(e) });
    try {
      // WHEN
      const answers = [await shadow.mirror(input({ predictions: [1, 0] })), await shadow.mirror(input({ predictions: [1, 0] }))];
      // THEN
      expect(answers).toEqual([{ code: 0, body: undefined, outcome: 'challenger_failed' }, { code: 0, body: undefined, outcome: 'challenger_failed' }]);
      expect(events).toEqual([{ event: 'shadow_mirror_failed', level: 'warn', upstream: `http://127.0.0.1:${closedPort}`, error: 'ECONNREFUSED' }]);
    } finally {
      await shadow.close(1000);
    }
  });

  test('a kept-alive connection the challenger closes as a mirror arrives is retried once on a new one, not a failure', async () => {
    // GIVEN a challenger that drops the connection of the second request, as a server whose keep-alive timeout just ran out
    let requests = 0;
    respond = (req, res) => {
      requests += 1;
      if (requests === 2) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ predictions: [1, 0] }));
    };
    const { shadow, comparisons } = real();
    try {
      // WHEN two mirrors go out one after the other
      await shadow.mirror(input({ predictions: [1, 0] }));
      const answer = await shadow.mirror(input({ predictions: [1, 0] }));
      // THEN the second was sent again on a new connection, and answered
      expect(answer?.outcome).toBe('agree');
      expect(seen).toHaveLength(3);
      expect(seen[1].socket).toBe(seen[0].socket);
      expect(seen[2].socket).not.toBe(seen[0].socket);
      expect(comparisons('agree')).toBe(2);
      expect(comparisons('challenger_failed')).toBe(0);
    } finally {
      await shadow.close(1000);
    }
  });

  test('a challenger answer larger than the capture limit is not kept: incomparable', async () => {
    respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ predictions: [1, 0], padding: 'x'.repeat(1024 * 1024) }));
    };
    const { shadow } = real();
    try {
      expect(await shadow.mirror(input({ predictions: [1, 0] }))).toEqual({ code: 200, body: undefined, outcome: 'incomparable' });
    } finally {
      await shadow.close(1000);
    }
  });

  test('close() aborts a mirror the challenger holds past the deadline', async () => {
    respond = () => undefined; // never answers
    const { shadow } = real();
    const held = shadow.mirror(input({ predictions: [1, 0] }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await shadow.close(50);
    expect(await held).toEqual({ code: 0, body: undefined, outcome: 'challenger_failed' });
  });
});
