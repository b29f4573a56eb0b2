import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROXY_PATHS, SHADOW_SKIP_REASONS } from '../../contract';
import type { MetricsProxyConfig } from './config';
import { TEXT_FORMAT_CONTENT_TYPE } from '../shared/prometheus-text';
import { ServingMetrics } from './metrics';
import { UpstreamPool } from './upstream';
import { BodyCapture, type Capture, type InferenceLog } from './inference-log';
import type { LogEvent } from '../shared/log-event';
import type { Shadow } from './shadow';

export type { LogEvent } from '../shared/log-event';

export interface MetricsProxyOptions {
  /** Receives lifecycle and (summarised) upstream-error events. @default - events are dropped */
  readonly log?: (event: LogEvent) => void;
  /** Logs a sampled share of counted requests (ModelService inferenceLog). @default - none */
  readonly inferenceLog?: InferenceLog;
  /** Mirrors a sampled share of counted requests to a challenger (ModelService shadow). @default - none */
  readonly shadow?: Shadow;
  /** SHADOW_VARIANT on a challenger's proxy: a label of every serving series. @default - none (a champion) */
  readonly variant?: string;
}

export interface MetricsProxy {
  /** The port that receives inference traffic (the real one when 0 was asked for). */
  readonly listenPort: number;
  /** The port that serves /metrics and /healthz (the real one when 0 was asked for). */
  readonly metricsPort: number;
  /**
   * Stops accepting connections, lets in-flight requests finish within `drainSeconds`,
   * then closes both ports and the upstream connections. Safe to call more than once.
   */
  close(): Promise<void>;
}

/** nginx's code for "client closed the connection before the response was sent". */
export const CLIENT_CLOSED_CODE = '499';
/** Upstream errors are logged once, then summarised at most once per window. */
const ERROR_LOG_WINDOW_MS = 10_000;
/**
 * Idle upstream connections are not reused after this, before the usual 5 s keep-alive timeout
 * of model servers (uvicorn, Node), so a reused socket is rarely one the server is closing.
 */
const UPSTREAM_IDLE_SOCKET_MS = 4_000;
/**
 * Longer than the idle timeout of common clients and load balancers (60 s), so the client,
 * not the proxy, closes an idle connection and never reuses one the proxy just closed.
 */
const CLIENT_KEEP_ALIVE_MS = 65_000;

/** Headers about one connection, not the message. transfer-encoding stays on requests: the body is re-framed from it. */
const REQUEST_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect']);
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'trailer', 'upgrade']);

const NO_TOKENS: ReadonlySet<string> = new Set();
const ignore = (): void => undefined;

/** Starts the proxy on `listenPort` and the metrics endpoint on `metricsPort`. */
export async function startMetricsProxy(config: MetricsProxyConfig, options: MetricsProxyOptions = {}): Promise<MetricsProxy> {
  const log = options.log ?? (() => undefined);
  const upstreamUrl = new URL(config.upstream);
  const upstream = {
    host: upstreamUrl.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(upstreamUrl.port || 80),
    /** What http.request sent for a client that gave no Host (HTTP/1.0). */
    hostHeader: upstreamUrl.host,
  };
  const timeoutMs = Math.max(1, Math.round(config.upstreamTimeoutSeconds * 1000));
  const uncounted = new Set(config.uncountedPaths);
  const metrics = new ServingMetrics(config.modelName, config.buckets, options.variant);
  const { inferenceLog, shadow } = options;
  const captureLimit = Math.max(inferenceLog?.maxBodyBytes ?? 0, shadow?.maxBodyBytes ?? 0);
  const errors = new UpstreamErrorLog(config.upstream, log);
  const pool = new UpstreamPool({ host: upstream.host, port: upstream.port, timeoutMs, idleMs: UPSTREAM_IDLE_SOCKET_MS });

  let active = 0;
  let draining = false;
  let onIdle: (() => void) | undefined;

  const forward = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const startedAt = process.hrtime.bigint();
    const counted = !uncounted.has(pathOf(req.url));
    active += 1;
    if (counted) metrics.requestStarted();

    // One draw for both: the smaller of the logged and the mirrored sets is a subset of the
    // larger. Decided before any body is buffered, so unsampled requests cost nothing more.
    let logged = false;
    let mirrored = false;
    if (counted && (inferenceLog !== undefined || shadow !== undefined)) {
      const u = Math.random();
      logged = inferenceLog?.sample(u) ?? false;
      mirrored = shadow?.sample(u) ?? false;
    }
    const requestCapture = logged || mirrored ? new BodyCapture(captureLimit, req.headers['content-length']) : undefined;
    const responseCapture = requestCapture ? new BodyCapture(captureLimit) : undefined;
    let responseEncoding: string | undefined;
    const arrivedAt = requestCapture ? new Date() : undefined;

    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      active -= 1;
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      if (counted) metrics.requestEnded(res.headersSent ? String(res.statusCode) : CLIENT_CLOSED_CODE, seconds);
      if (requestCapture && res.writableFinished) sampled(seconds);
      if (active === 0) onIdle?.();
    };

    /** After the client has its answer: the record, and the mirror whose answer joins it. */
    const sampled = (seconds: number): void => {
      const capture: Capture = {
        requestBody: requestCapture!.body(),
        responseBody: responseCapture!.body(),
        code: res.statusCode,
        latencySeconds: seconds,
        startedAt: arrivedAt!,
        requestContentType: header(req.headers['content-type']),
        requestContentEncoding: header(req.headers['content-encoding']),
        responseContentEncoding: responseEncoding,
        requestId: header(req.headers['x-request-id']),
      };
      if (mirrored && capture.requestBody !== undefined) {
        void shadow!.mirror({
          method: req.method ?? 'POST',
          path: req.url ?? '/',
          headers: mirroredHeaders(req.headers),
          requestBody: capture.requestBody,
          championCode: res.statusCode,
          championBody: capture.responseBody,
          championContentEncoding: responseEncoding,
        }).then((answer) => {
          if (logged) inferenceLog!.record(answer ? { ...capture, challenger: answer } : capture);
        });
      } else {
        // A body over the capture limit cannot be sent whole: counted, not mirrored.
        if (mirrored) shadow!.skipped(SHADOW_SKIP_REASONS.bodyTooLarge);
        if (logged) inferenceLog!.record(capture);
      }
    };

    let request: ForwardedRequest;
    try {
      request = forwardedRequest(req, upstream.hostHeader);
    } catch (err) {
      res.once('close', settle);
      respond(res, 400, `bad request: ${(err as Error).message}\n`, draining);
      return;
    }

    let clientGone = false;
    const exchange = pool.exchange(request.head, request.chunked, req.method === 'HEAD', {
      onHead: (statusCode, statusMessage, rawHeaders) => {
        if (responseCapture) responseEncoding = rawHeaderValue(rawHeaders, 'content-encoding');
        res.writeHead(statusCode, statusMessage, forwardedResponseHeaders(rawHeaders, draining));
      },
      onBody: (chunk, last) => {
        responseCapture?.add(chunk);
        if (last) {
          res.end(chunk);
        } else if (!res.write(chunk) && !exchange.isPaused) {
          exchange.pause();
          res.once('drain', () => exchange.resume());
        }
      },
      onError: (err) => {
        if (clientGone) return;
        errors.record(err.code);
        if (res.headersSent) {
          // A model server that dies mid-body reaches the client as a reset, not a truncated 200.
          res.destroy();
        } else if (err.code === 'timeout') {
          respond(res, 504, `gateway timeout: the model server at ${config.upstream} sent nothing for ${config.upstreamTimeoutSeconds} s\n`, draining);
        } else {
          respond(res, 502, `bad gateway: the model server at ${config.upstream} failed (${err.code})\n`, draining);
        }
      },
    });

    // 'close' follows 'finish', or comes alone when the client left first.
    res.once('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        exchange.abort();
      }
      settle();
    });
    req.on('error', ignore); // a client abort; handled through res 'close'
    req.on('data', (chunk: Buffer) => {
      requestCapture?.add(chunk);
      if (!exchange.write(chunk) && !req.isPaused()) {
        req.pause();
        exchange.onDrain(() => req.resume());
      }
    });
    req.on('end', () => exchange.end());
  };

  const serveMetrics = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = pathOf(req.url);
    if (path !== PROXY_PATHS.metrics && path !== PROXY_PATHS.health) {
      respond(res, 404, `not found: this port serves ${PROXY_PATHS.metrics} and ${PROXY_PATHS.health}\n`, false);
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      respond(res, 405, 'method not allowed: use GET\n', false);
    } else if (path === PROXY_PATHS.metrics) {
      respond(res, 200, metrics.render() + (inferenceLog?.render() ?? '') + (shadow?.render() ?? ''), false, TEXT_FORMAT_CONTENT_TYPE);
    } else if (draining) {
      respond(res, 503, 'stopping', false);
    } else {
      respond(res, 200, 'ok', false);
    }
  };

  const proxyServer = http.createServer(forward);
  proxyServer.keepAliveTimeout = CLIENT_KEEP_ALIVE_MS;
  proxyServer.headersTimeout = CLIENT_KEEP_ALIVE_MS + 1_000;
  const metricsServer = http.createServer(serveMetrics);

  const listenPort = await listen(proxyServer, config.listenPort, config.bindAddress);
  let metricsPort: number;
  try {
    metricsPort = await listen(metricsServer, config.metricsPort, config.bindAddress);
  } catch (err) {
    await new Promise((resolve) => proxyServer.close(resolve));
    pool.destroy();
    throw err;
  }

  // After listening, an accept error (e.g. out of file descriptors) must not end the process.
  for (const [name, server] of [['proxy', proxyServer], ['metrics', metricsServer]] as const) {
    server.on('error', (err) => log({ event: 'server_error', level: 'error', server: name, error: err.message }));
  }

  const waitForIdle = (ms: number): Promise<boolean> => {
    if (active === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        onIdle = undefined;
        resolve(false);
      }, ms);
      onIdle = () => {
        clearTimeout(timer);
        onIdle = undefined;
        resolve(true);
      };
    });
  };

  let closing: Promise<void> | undefined;
  const drainAndClose = async (): Promise<void> => {
    draining = true;
    // Idle keep-alive connections close now; busy ones get `Connection: close` on their response.
    const proxyClosed = new Promise((resolve) => proxyServer.close(resolve));
    const inFlightAtStop = active;
    const drained = await waitForIdle(config.drainSeconds * 1000);
    const abandoned = active;
    proxyServer.closeAllConnections();
    await proxyClosed;
    const metricsClosed = new Promise((resolve) => metricsServer.close(resolve));
    metricsServer.closeAllConnections();
    await metricsClosed;
    pool.destroy();
    errors.stop();
    log({ event: 'stopped', level: drained ? 'info' : 'warn', inFlightAtStop, abandonedRequests: abandoned });
  };

  return {
    listenPort,
    metricsPort,
    close: () => (closing ??= drainAndClose()),
  };
}

function listen(server: http.Server, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function respond(res: http.ServerResponse, status: number, body: string, close: boolean,
  contentType = 'text/plain; charset=utf-8'): void {
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', Buffer.byteLength(body));
  if (close) res.setHeader('connection', 'close');
  res.writeHead(status);
  res.end(body);
}

/** One value of a request header (the first, if repeated). */
function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A response header's value from raw name/value pairs, case-insensitively. */
function rawHeaderValue(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

/** What a mirrored copy of the request carries: what says how to read the body, and the request's id. */
function mirroredHeaders(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of ['content-type', 'content-encoding', 'accept', 'x-request-id']) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** Header names listed in a Connection header are hop-by-hop too (RFC 9110, 7.6.1). */
function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> {
  // The usual values name no other header; skip building a set on every request.
  if (value === undefined || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive') return NO_TOKENS;
  const joined = Array.isArray(value) ? value.join(',') : value;
  return new Set(joined.split(',').map((token) => token.trim().toLowerCase()).filter((token) => token !== ''));
}

interface ForwardedRequest {
  /** Request line and headers for the model server, ending in the empty line. */
  readonly head: string;
  /** The client sent a chunked body, which Node's server hands over de-chunked: frame it again. */
  readonly chunked: boolean;
}

/** What http.request refused in a path (ERR_UNESCAPED_CHARACTERS); such a request still gets 400. */
const UNSENDABLE_PATH = /[^\u0021-\u00ff]/;

/**
 * Works on raw headers, so the model server sees the client's names, order and repeated headers;
 * drops hop-by-hop headers and a second Host, and adds the upstream's Host when the client
 * (HTTP/1.0) gave none, as http.request did.
 */
function forwardedRequest(req: http.IncomingMessage, hostHeader: string): ForwardedRequest {
  const url = req.url ?? '/';
  if (UNSENDABLE_PATH.test(url)) throw new Error('Request path contains unescaped characters');
  const raw = req.rawHeaders;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') connection = connection === undefined ? raw[i + 1] : `${connection}, ${raw[i + 1]}`;
  }
  const named = connectionTokens(connection);
  let head = `${req.method} ${url} HTTP/1.1\r\n`;
  let host = false;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (REQUEST_HOP_BY_HOP.has(name) || named.has(name)) continue;
    if (name === 'host') {
      if (host) continue;
      host = true;
    } else if (name === 'transfer-encoding') {
      chunked = true;
    }
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  if (!host) head += `Host: ${hostHeader}\r\n`;
  return { head: `${head}\r\n`, chunked };
}

/** Works on raw headers so the client sees the upstream's names, order and repeated headers unchanged. */
function forwardedResponseHeaders(rawHeaders: string[], close: boolean): string[] {
  let named = NO_TOKENS;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === 'connection') named = connectionTokens(rawHeaders[i + 1]);
  }
  const forwarded: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!RESPONSE_HOP_BY_HOP.has(name) && !named.has(name)) forwarded.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  if (close) forwarded.push('Connection', 'close');
  return forwarded;
}

/**
 * Logs the first upstream error at once, then at most one summary per window, so a dead
 * model server under load gives a few lines a minute instead of one per request.
 */
class UpstreamErrorLog {
  private window: NodeJS.Timeout | undefined;
  private suppressed = new Map<string, number>();

  constructor(private readonly upstream: string, private readonly log: (event: LogEvent) => void) {}

  record(error: string): void {
    if (this.window) {
      this.suppressed.set(error, (this.suppressed.get(error) ?? 0) + 1);
      return;
    }
    this.log({ event: 'upstream_error', level: 'warn', upstream: this.upstream, error });
    this.openWindow();
  }

  /** Writes the pending summary, if any, and stops the window timer. */
  stop(): void {
    if (this.window) clearTimeout(this.window);
    this.window = undefined;
    this.flush();
  }

  private openWindow(): void {
    this.window = setTimeout(() => {
      this.window = undefined;
      if (this.flush()) this.openWindow();
    }, ERROR_LOG_WINDOW_MS);
    this.window.unref();
  }

  private flush(): boolean {
    if (this.suppressed.size === 0) return false;
    const errors = Object.fromEntries(this.suppressed);
    const count = [...this.suppressed.values()].reduce((sum, n) => sum + n, 0);
    this.suppressed = new Map();
    this.log({ event: 'upstream_errors', level: 'warn', upstream: this.upstream, count, errors, windowSeconds: ERROR_LOG_WINDOW_MS / 1000 });
    return true;
  }
}
