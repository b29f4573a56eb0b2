import * as http from 'node:http';
import { SHADOW_OUTCOMES, SHADOW_SKIP_REASONS } from '../../../contract';
import type { LogEvent } from '../../shared/log-event';
import { readPredictionsOf } from '../inference-log/extract';
import { BodyCapture } from '../inference-log/sampler';
import { comparePredictions } from './compare';
import type { ShadowConfig } from './config';
import { type ShadowOutcome, type ShadowSkipReason, ShadowMetrics } from './metrics';

/**
 * The shadow as the champion's metrics proxy sees it: `sample(u)` when a request arrives,
 * `mirror()` once the champion's response has gone out, `render()` in /metrics, `close()` at
 * SIGTERM after the proxy's drain.
 *
 * A mirror is a copy of the request sent to the challenger's Service, never before the client
 * has its answer, and never able to delay or fail it: `mirror()` only queues the copy (it goes
 * out on a later turn of the event loop), never rejects, and gives up on a challenger that takes
 * longer than the timeout.
 * The challenger's answer is compared with the champion's (SHADOW_OUTCOMES) and handed back,
 * so that the inference log can join it to the request's record.
 */

/** A champion's exchange, copied to the challenger. */
export interface MirrorInput {
  readonly method: string;
  /** The request target as the client sent it: path and query. */
  readonly path: string;
  /**
   * The request headers forwarded to the champion (without hop-by-hop headers), as an object
   * or as raw name/value pairs (IncomingMessage.rawHeaders). Host, framing and Accept-Encoding
   * are set for the challenger's connection.
   */
  readonly headers: Readonly<Record<string, string | number | readonly string[] | undefined>> | readonly string[];
  /** The whole request body (empty for none). */
  readonly requestBody: Buffer;
  /** The HTTP status the client got from the champion. */
  readonly championCode: number;
  /** The champion's response body; undefined when it was not captured (larger than the capture limit). */
  readonly championBody: Buffer | undefined;
  /** The champion's response Content-Encoding. */
  readonly championContentEncoding?: string;
}

/** What became of one mirrored request; give it to the inference log as Capture.challenger. */
export interface ChallengerAnswer {
  /** The challenger's HTTP status; 0 when it failed to answer (timeout, connection error, shutdown). */
  readonly code: number;
  /** Its response body; undefined when it failed to answer or the body was larger than the capture limit. */
  readonly body: Buffer | undefined;
  /** Its Content-Encoding, should it compress despite `Accept-Encoding: identity`. */
  readonly contentEncoding?: string;
  readonly outcome: ShadowOutcome;
}

export interface Shadow {
  /**
   * Whether to mirror the request arriving now, decided before any body is buffered: iff
   * u < share. Pass the draw `u` (uniform in [0, 1)) the inference log samples with too, so that
   * the smaller sampled set is a subset of the larger; without it, a draw of its own.
   */
  sample(u?: number): boolean;
  /** Bodies larger than this are not mirrored; the proxy captures up to it for a sampled request. */
  readonly maxBodyBytes: number;
  /**
   * Sends a sampled request to the challenger and compares the answers. Resolves undefined at
   * once when maxInFlight mirrors are in flight (counted skipped) or the shadow is closing (not
   * counted), else with the challenger's answer within the timeout. Never rejects.
   */
  mirror(input: MirrorInput): Promise<ChallengerAnswer | undefined>;
  /** Counts a sampled request that the proxy did not mirror (its body was over maxBodyBytes). */
  skipped(reason: ShadowSkipReason): void;
  /** SHADOW_METRICS in text format, to append to the proxy's /metrics. */
  render(): string;
  /**
   * Refuses new mirrors, waits up to `deadlineMs` milliseconds for those in flight, then aborts
   * the rest (each resolves challenger_failed) and closes the connections. Never rejects.
   */
  close(deadlineMs: number): Promise<void>;
}

/** The request as it goes to the challenger. */
export interface ChallengerRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.OutgoingHttpHeaders;
  readonly body: Buffer;
}

/** The challenger's response, its body captured up to `maxBodyBytes`. */
export interface ChallengerResponse {
  readonly code: number;
  readonly body: Buffer | undefined;
  readonly contentEncoding?: string;
}

/** Sends one request to the challenger; rejects on any failure to get a whole response. Must stop when `signal` aborts. */
export type SendToChallenger = (request: ChallengerRequest, options: { readonly signal: AbortSignal; readonly maxBodyBytes: number }) => Promise<ChallengerResponse>;

export interface ShadowOptions {
  /** The `model` label of SHADOW_METRICS (MLOPS_MODEL_NAME). */
  readonly modelName: string;
  /** Dotted path to the predictions in both models' responses, for a custom runtime (MLOPS_INFERENCE_LOG_RESPONSE_PATH). @default - MLflow's formats */
  readonly responsePath?: string;
  /** The first failure of each kind to reach the challenger (a timeout, ECONNREFUSED, ...). @default - events are dropped */
  readonly log?: (event: LogEvent) => void;
  /** Sends mirrors. @default - node:http to config.upstream over keep-alive connections, at most maxInFlight */
  readonly request?: SendToChallenger;
  /** Uniform in [0, 1), when sample() is given no draw. @default Math.random */
  readonly random?: () => number;
}

/** Decompressed bodies may be this many times the capture limit (as the inference log's). */
const DECODE_FACTOR = 8;
/**
 * Idle connections to the challenger are closed after this, before the usual 5 s keep-alive
 * timeout of model servers, so a mirror rarely goes out on a socket the server is closing.
 */
const IDLE_SOCKET_MS = 4_000;

/** Kinds of failure logged at most (each once); the metrics count every one. */
const MAX_LOGGED_FAILURES = 32;

const { agree, disagree, challengerFailed, incomparable } = SHADOW_OUTCOMES;

/** Why a mirror got no answer: the `error` of its log event. */
class NoAnswer {
  constructor(readonly reason: string) {}
}

export function createShadow(config: ShadowConfig, options: ShadowOptions): Shadow {
  const log = options.log ?? (() => undefined);
  const random = options.random ?? Math.random;
  const metrics = new ShadowMetrics(options.modelName);
  const upstream = new URL(config.upstream);
  const agent = options.request ? undefined : new http.Agent({ keepAlive: true, maxSockets: config.maxInFlight, timeout: IDLE_SOCKET_MS });
  const send = options.request ?? httpSender(upstream, agent!);
  const timeoutMs = Math.max(1, Math.round(config.timeoutSeconds * 1000));
  const predictionOptions = { responsePath: options.responsePath, maxDecodedBytes: DECODE_FACTOR * config.maxBodyBytes };

  const inFlight = new Map<Promise<unknown>, AbortController>();
  const loggedFailures = new Set<string>();
  let closing = false;

  const logFailure = (reason: string): void => {
    if (loggedFailures.has(reason) || loggedFailures.size >= MAX_LOGGED_FAILURES) return;
    loggedFailures.add(reason);
    log({ event: 'shadow_mirror_failed', level: 'warn', upstream: config.upstream, error: reason });
  };

  const outcomeOf = (input: MirrorInput, response: ChallengerResponse): ShadowOutcome => {
    if (!isSuccess(input.championCode)) return incomparable;
    if (!isSuccess(response.code)) return challengerFailed;
    const champion = readPredictionsOf(input.championBody, { ...predictionOptions, contentEncoding: input.championContentEncoding });
    const challenger = readPredictionsOf(response.body, { ...predictionOptions, contentEncoding: response.contentEncoding });
    // No rows (an empty batch) is nothing compared: agreement is measured on predictions.
    if (champion === undefined || challenger === undefined || champion.length !== challenger.length || champion.length === 0) return incomparable;
    const comparison = comparePredictions(champion, challenger, config.tolerance);
    metrics.addDifferences(comparison.absDifferenceSum, comparison.absDifferenceCount);
    return comparison.agree ? agree : disagree;
  };

  const run = async (input: MirrorInput, controller: AbortController): Promise<ChallengerAnswer> => {
    let timer: NodeJS.Timeout | undefined;
    // Ends the wait at the timeout or at close(), whether or not the sender honours the signal.
    const stopped = new Promise<NoAnswer>((resolve) => {
      timer = setTimeout(() => {
        resolve(new NoAnswer('timeout'));
        controller.abort();
      }, timeoutMs).unref();
      controller.signal.addEventListener('abort', () => resolve(new NoAnswer('aborted')), { once: true });
    });
    let response: ChallengerResponse | NoAnswer;
    try {
      // On a later turn, so the proxy's turn that ended the champion's response is not made longer.
      await new Promise((resolve) => setImmediate(resolve));
      const request: ChallengerRequest = {
        method: input.method,
        path: input.path,
        headers: challengerHeaders(input.headers, upstream.host, input.requestBody.length),
        body: input.requestBody,
      };
      response = await Promise.race([send(request, { signal: controller.signal, maxBodyBytes: config.maxBodyBytes }), stopped]);
    } catch (err) {
      response = new NoAnswer(reasonOf(err));
    } finally {
      clearTimeout(timer);
    }
    if (response instanceof NoAnswer) {
      if (response.reason !== 'aborted') logFailure(response.reason);
      metrics.countComparison(challengerFailed);
      return { code: 0, body: undefined, outcome: challengerFailed };
    }
    let outcome: ShadowOutcome;
    try {
      outcome = outcomeOf(input, response);
    } catch (err) {
      // A bug here must cost one comparison, never the proxy.
      logFailure(`comparison failed: ${reasonOf(err)}`);
      outcome = incomparable;
    }
    metrics.countComparison(outcome);
    return {
      code: response.code,
      body: response.body,
      ...(response.contentEncoding !== undefined ? { contentEncoding: response.contentEncoding } : {}),
      outcome,
    };
  };

  return {
    maxBodyBytes: config.maxBodyBytes,
    sample: (u) => config.share >= 1 || (u ?? random()) < config.share,
    skipped: (reason) => metrics.countSkipped(reason),
    mirror: (input) => {
      try {
        if (closing) return Promise.resolve(undefined);
        if (inFlight.size >= config.maxInFlight) {
          metrics.countSkipped(SHADOW_SKIP_REASONS.inFlightLimit);
          return Promise.resolve(undefined);
        }
        const controller = new AbortController();
        const answer = run(input, controller).catch((): ChallengerAnswer => ({ code: 0, body: undefined, outcome: challengerFailed }));
        inFlight.set(answer, controller);
        void answer.then(() => inFlight.delete(answer));
        return answer;
      } catch {
        return Promise.resolve(undefined);
      }
    },
    render: () => metrics.render(),
    close: async (deadlineMs) => {
      closing = true;
      try {
        const all = Promise.all(inFlight.keys());
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, deadlineMs));
        });
        await Promise.race([all, deadline]);
        clearTimeout(timer);
        for (const controller of inFlight.values()) controller.abort();
        await Promise.all(inFlight.keys());
      } catch (err) {
        log({ event: 'shadow_close_failed', level: 'error', error: (err as Error).message });
      } finally {
        agent?.destroy();
      }
    },
  };
}

/** Headers about one connection or the body's framing, which the challenger's connection sets itself. */
const NOT_MIRRORED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect',
  'transfer-encoding', 'content-length', 'host', 'accept-encoding']);

/**
 * The champion's request headers for the challenger: Host names the challenger's Service (its
 * server may check it), the buffered body goes with a Content-Length, and the answer is asked
 * uncompressed (nobody reads it but the comparison).
 */
export function challengerHeaders(headers: MirrorInput['headers'], host: string, bodyLength: number): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  let framed = bodyLength > 0;
  const add = (name: string, value: string | number | readonly string[] | undefined): void => {
    if (value === undefined) return;
    const key = name.toLowerCase();
    if (key === 'content-length' || key === 'transfer-encoding') framed = true;
    if (NOT_MIRRORED.has(key)) return;
    const values = Array.isArray(value) ? value.map(String) : [String(value)];
    const existing = out[key];
    out[key] = existing === undefined ? (values.length === 1 ? values[0] : values) : [...(Array.isArray(existing) ? existing : [String(existing)]), ...values];
  };
  if (isRawHeaders(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) add(headers[i], headers[i + 1]);
  } else {
    for (const name of Object.keys(headers)) add(name, headers[name]);
  }
  out.host = host;
  out['accept-encoding'] = 'identity';
  if (framed) out['content-length'] = bodyLength;
  return out;
}

function isRawHeaders(headers: MirrorInput['headers']): headers is readonly string[] {
  return Array.isArray(headers);
}

/** An errno code (ECONNREFUSED, ECONNRESET, ...) where there is one, else the message. */
function reasonOf(err: unknown): string {
  // Not `instanceof Error`: errors of node's own modules may come from another realm.
  if (typeof err === 'object' && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (typeof code === 'string') return code;
    if (typeof message === 'string') return message;
  }
  return String(err);
}

function isSuccess(code: number): boolean {
  return code >= 200 && code < 300;
}

/** Sends mirrors with node:http over `agent`; one retry when a reused keep-alive connection turns out closed by the server. */
export function httpSender(upstream: URL, agent: http.Agent): SendToChallenger {
  const host = upstream.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(upstream.port || 80);
  return (request, { signal, maxBodyBytes }) => {
    const attempt = (retry: boolean): Promise<ChallengerResponse> => new Promise((resolve, reject) => {
      let answered = false;
      const req = http.request({ host, port, method: request.method, path: request.path, headers: request.headers, agent, signal }, (res) => {
        answered = true;
        const capture = new BodyCapture(maxBodyBytes, res.headers['content-length']);
        res.on('data', (chunk: Buffer) => capture.add(chunk));
        res.on('error', reject);
        // A server that closes in the middle of the body; after 'end' this changes nothing.
        res.on('close', () => {
          if (!res.complete) reject(new Error('the challenger closed the connection before the end of its response'));
        });
        res.on('end', () => {
          const encoding = res.headers['content-encoding'];
          resolve({ code: res.statusCode ?? 0, body: capture.body(), ...(encoding !== undefined ? { contentEncoding: encoding } : {}) });
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (retry && !answered && req.reusedSocket && err.code === 'ECONNRESET' && !signal.aborted) resolve(attempt(false));
        else reject(err);
      });
      req.end(request.body);
    });
    return attempt(true);
  };
}
