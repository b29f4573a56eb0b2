import { maxHeaderSize } from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';

/**
 * A lean HTTP/1.1 client for the one model server in the pod: keep-alive connections in a
 * LIFO pool, requests written as one head string, responses parsed here.
 *
 * Why not `http.request`: its ClientRequest, Agent bookkeeping, response IncomingMessage and
 * the two pipes cost about two thirds of the proxy's CPU per request (bench/proxy.ts). The
 * peer is a trusted local server, so this parser checks what the proxy relies on (framing, the
 * characters the client's response may carry) and fails the exchange on anything else.
 *
 * The inference log's PUTs to the object store go through it too (s3-put.ts): node:http's
 * client shares its parsers and stream code with the proxy's server, and each upload's new
 * object shapes there deoptimized the request path (bench/proxy.ts).
 */

/** What the proxy does with the events of one exchange. */
export interface ExchangeHandler {
  /** The final response's status line and headers (interim 1xx responses are skipped). */
  onHead(statusCode: number, statusMessage: string, rawHeaders: string[]): void;
  /** A piece of the response body, de-chunked; `last` on the piece that completes it (maybe empty). */
  onBody(chunk: Buffer, last: boolean): void;
  /** The exchange failed, before the head or in the middle of the body. Called at most once. */
  onError(err: UpstreamError): void;
}

/** `code` is what logs and the 502 body name: a socket errno, `timeout`, or an HPE_* parse error as Node names it. */
export class UpstreamError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamPoolOptions {
  readonly host: string;
  readonly port: number;
  /** Inactivity on a busy connection after which the exchange fails with `timeout`. */
  readonly timeoutMs: number;
  /** An idle connection older than this is closed instead of reused. */
  readonly idleMs: number;
  /** TLS (an https endpoint), with the name the certificate must carry (none for an IP address). @default - plain TCP */
  readonly tls?: { readonly servername?: string };
  /** Idle connections do not keep the process alive (a client in the background). @default false */
  readonly unrefIdle?: boolean;
}

/** Keep-alive connections to one upstream, reused most recent first. */
export class UpstreamPool {
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();
  private destroyed = false;

  constructor(private readonly options: UpstreamPoolOptions) {}

  /**
   * Starts one exchange. `head` is the request line and headers, ending in an empty line;
   * it goes out with the first body chunk, or on `end()`. `chunked` frames the body written
   * later; `headRequest` means the response has no body whatever its headers say.
   */
  exchange(head: string, chunked: boolean, headRequest: boolean, handler: ExchangeHandler): UpstreamExchange {
    const exchange = new UpstreamExchange(head, chunked, headRequest, handler);
    if (this.destroyed) {
      exchange.finish(false);
      process.nextTick(() => handler.onError(new UpstreamError('ECONNABORTED', 'the proxy is stopping')));
      return exchange;
    }
    this.acquire().start(exchange);
    return exchange;
  }

  /** Closes every connection, idle or busy; busy exchanges fail. */
  destroy(): void {
    this.destroyed = true;
    for (const connection of this.open) connection.socket.destroy();
    this.idle.length = 0;
  }

  /** @internal */
  release(connection: Connection): void {
    if (this.destroyed) {
      connection.socket.destroy();
      return;
    }
    connection.idleSince = Date.now();
    if (this.options.unrefIdle) connection.socket.unref();
    this.idle.push(connection);
  }

  /** @internal */
  forget(connection: Connection): void {
    this.open.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at !== -1) this.idle.splice(at, 1);
  }

  private acquire(): Connection {
    const connection = this.idle.pop();
    if (connection !== undefined) {
      if (Date.now() - connection.idleSince < this.options.idleMs) {
        if (this.options.unrefIdle) connection.socket.ref();
        return connection;
      }
      // The most recent idle connection is stale, so every older one is too.
      for (const stale of [connection, ...this.idle]) stale.socket.destroy();
      this.idle.length = 0;
    }
    const { host, port, tls: secure } = this.options;
    const socket = secure
      ? tls.connect({ host, port, servername: secure.servername, ALPNProtocols: ['http/1.1'] }).setNoDelay(true)
      : net.connect({ host, port, noDelay: true });
    const created = new Connection(this, socket, this.options.timeoutMs);
    this.open.add(created);
    return created;
  }
}

/** One request and its response on one connection; a no-op once done, so late calls cannot touch a reused connection. */
export class UpstreamExchange {
  /** @internal */ done = false;
  /** @internal */ requestEnded = false;
  /** @internal */ connection: Connection | undefined;
  private headSent = false;
  private paused = false;
  private drainListener: (() => void) | undefined;

  /** @internal */
  constructor(private readonly head: string, private readonly chunked: boolean, readonly headRequest: boolean,
    readonly handler: ExchangeHandler) {}

  /** Sends a piece of the request body; false when the socket buffer is full (wait for `onDrain`). */
  write(chunk: Buffer): boolean {
    if (this.done || chunk.length === 0) return true;
    const socket = this.connection!.socket;
    const head = this.takeHead();
    const prefix = this.chunked ? `${head}${chunk.length.toString(16)}\r\n` : head;
    const suffix = this.chunked ? 2 : 0;
    if (chunk.length <= COALESCE_BYTES) {
      // One buffer and one write: cheaper than a corked writev of two or three pieces.
      const out = Buffer.allocUnsafe(prefix.length + chunk.length + suffix);
      out.write(prefix, 0, 'latin1');
      chunk.copy(out, prefix.length);
      if (suffix > 0) out.write('\r\n', out.length - 2, 'latin1');
      return socket.write(out);
    }
    socket.cork();
    if (prefix !== '') socket.write(prefix, 'latin1');
    let writable = socket.write(chunk);
    if (suffix > 0) writable = socket.write('\r\n', 'latin1');
    socket.uncork();
    return writable;
  }

  /** Ends the request body (sends the head now if no body was written). */
  end(): void {
    if (this.done || this.requestEnded) return;
    this.requestEnded = true;
    const last = this.chunked ? `${this.takeHead()}0\r\n\r\n` : this.takeHead();
    if (last !== '') this.connection!.socket.write(last, 'latin1');
  }

  /**
   * Calls `listener` once the socket buffer has room again after `write` returned false, or
   * when the exchange ends first (an early answer, an error): a paused upload must not hang.
   */
  onDrain(listener: () => void): void {
    if (this.done) {
      listener();
      return;
    }
    if (this.drainListener === undefined) this.connection!.socket.once('drain', () => this.drained());
    this.drainListener = listener;
  }

  /** True while reading the response is paused. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Stops reading the response until `resume` (the client is slower than the model server). */
  pause(): void {
    if (this.done || this.paused) return;
    this.paused = true;
    this.connection!.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.done) this.connection!.socket.resume();
  }

  /** Gives up on the exchange (the client left): its connection is closed, the handler hears nothing more. */
  abort(): void {
    if (this.done) return;
    const connection = this.connection!;
    connection.exchange = undefined;
    connection.socket.destroy();
    this.finish(false);
  }

  /** @internal The exchange is over; `reused` when its connection goes back to the pool. */
  finish(reused: boolean): void {
    this.done = true;
    if (reused && this.paused) this.connection!.socket.resume();
    this.drained();
  }

  private drained(): void {
    const listener = this.drainListener;
    this.drainListener = undefined;
    listener?.();
  }

  /** The head the first time (it goes out with the first body bytes), then ''. */
  private takeHead(): string {
    if (this.headSent) return '';
    this.headSent = true;
    return this.head;
  }
}

/** Body pieces up to this size are copied behind the head (or chunk framing) into one buffer. */
const COALESCE_BYTES = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
/** What Node's ServerResponse accepts in a header name and in a value or reason phrase. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const CHUNK_SIZE = /^[0-9A-Fa-f]{1,15}$/;
/** Longest chunk-size line or trailer section accepted. */
const MAX_LINE = 16 * 1024;

const HEAD = 0;
const LENGTH = 1;
const CHUNK_LINE = 2;
const CHUNK_DATA = 3;
const CHUNK_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;
type ParseState = typeof HEAD | typeof LENGTH | typeof CHUNK_LINE | typeof CHUNK_DATA | typeof CHUNK_END | typeof TRAILERS | typeof UNTIL_CLOSE;

/** @internal A socket to the upstream and the response parser for its current exchange. */
class Connection {
  exchange: UpstreamExchange | undefined;
  idleSince = 0;
  private state: ParseState = HEAD;
  /** Bytes of a head or line not complete yet. */
  private pending: Buffer | undefined;
  /** Body bytes left in a Content-Length body or the current chunk. */
  private remaining = 0;
  private keepAlive = true;

  constructor(private readonly pool: UpstreamPool, readonly socket: net.Socket, timeoutMs: number) {
    socket.setTimeout(timeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('timeout', () => this.fail(new UpstreamError('timeout', 'upstream timeout')));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(new UpstreamError(err.code ?? 'ECONNRESET', err.message)));
    socket.on('close', () => {
      pool.forget(this);
      this.fail(new UpstreamError('ECONNRESET', 'socket hang up'));
    });
  }

  start(exchange: UpstreamExchange): void {
    exchange.connection = this;
    this.exchange = exchange;
    this.state = HEAD;
    this.pending = undefined;
    this.keepAlive = true;
  }

  private onData(chunk: Buffer): void {
    const exchange = this.exchange;
    if (exchange === undefined) {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      this.socket.destroy();
      return;
    }
    const data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    // Offsets rather than subarrays: a response usually arrives whole, in one chunk.
    let at = 0;
    while (this.exchange === exchange) {
      const available = data.length - at;
      switch (this.state) {
        case HEAD: {
          const end = data.indexOf(HEAD_END, at);
          if (end === -1 || end - at > maxHeaderSize) {
            if (end === -1 && available <= maxHeaderSize) this.keep(data, at);
            else this.fail(new UpstreamError('HPE_HEADER_OVERFLOW', 'response header too large'));
            return;
          }
          if (!this.parseHead(data.toString('latin1', at, end), exchange)) return;
          at = end + HEAD_END.length;
          break;
        }
        case LENGTH: {
          if (available < this.remaining) {
            this.remaining -= available;
            if (available > 0) exchange.handler.onBody(at === 0 ? data : data.subarray(at), false);
            return;
          }
          if (available > this.remaining) this.keepAlive = false;
          this.complete(exchange, data.subarray(at, at + this.remaining));
          return;
        }
        case CHUNK_LINE: {
          const end = data.indexOf(CRLF, at);
          if (end === -1) {
            if (available > MAX_LINE) this.fail(new UpstreamError('HPE_INVALID_CHUNK_SIZE', 'chunk size line too long'));
            else this.keep(data, at);
            return;
          }
          const line = data.toString('latin1', at, end);
          const extension = line.indexOf(';');
          const size = trimWhitespace(extension === -1 ? line : line.slice(0, extension));
          if (!CHUNK_SIZE.test(size)) {
            this.fail(new UpstreamError('HPE_INVALID_CHUNK_SIZE', `invalid chunk size ${JSON.stringify(line)}`));
            return;
          }
          this.remaining = parseInt(size, 16);
          this.state = this.remaining === 0 ? TRAILERS : CHUNK_DATA;
          at = end + CRLF.length;
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(available, this.remaining);
          if (take > 0) exchange.handler.onBody(take === data.length ? data : data.subarray(at, at + take), false);
          this.remaining -= take;
          at += take;
          if (this.remaining > 0) return;
          this.state = CHUNK_END;
          break;
        }
        case CHUNK_END: {
          if (available < CRLF.length) {
            this.keep(data, at);
            return;
          }
          if (data[at] !== 13 || data[at + 1] !== 10) {
            this.fail(new UpstreamError('HPE_STRICT', 'chunk data not followed by CRLF'));
            return;
          }
          at += CRLF.length;
          this.state = CHUNK_LINE;
          break;
        }
        case TRAILERS: {
          // Trailers are dropped, as the proxy always did; only where they end matters.
          let end: number;
          if (available >= CRLF.length && data[at] === 13 && data[at + 1] === 10) {
            end = at + CRLF.length;
          } else {
            const found = data.indexOf(HEAD_END, at);
            if (found === -1) {
              if (available > MAX_LINE) this.fail(new UpstreamError('HPE_HEADER_OVERFLOW', 'trailers too large'));
              else this.keep(data, at);
              return;
            }
            end = found + HEAD_END.length;
          }
          if (data.length > end) this.keepAlive = false;
          this.complete(exchange, EMPTY);
          return;
        }
        case UNTIL_CLOSE: {
          if (available > 0) exchange.handler.onBody(at === 0 ? data : data.subarray(at), false);
          return;
        }
      }
    }
  }

  /** Keeps the unparsed rest of `data` for the next chunk. */
  private keep(data: Buffer, at: number): void {
    if (at < data.length) this.pending = at === 0 ? data : data.subarray(at);
  }

  /** Reads one head; false when the exchange ended (failed, or a response without a body completed). */
  private parseHead(head: string, exchange: UpstreamExchange): boolean {
    // HTTP/1.x SP 3DIGIT [SP reason-phrase]
    let lineEnd = head.indexOf('\r\n');
    if (lineEnd === -1) lineEnd = head.length;
    const statusCode = digit(head, 9) * 100 + digit(head, 10) * 10 + digit(head, 11);
    if (!head.startsWith('HTTP/1.') || (head[7] !== '0' && head[7] !== '1') || head[8] !== ' ' || lineEnd < 12
      || (lineEnd > 12 && head[12] !== ' ') || !(statusCode >= 100)) {
      return this.failHead(`invalid status line ${JSON.stringify(head.slice(0, lineEnd))}`, 'HPE_INVALID_CONSTANT');
    }
    const statusMessage = lineEnd > 13 ? head.slice(13, lineEnd) : '';
    if (INVALID_VALUE.test(statusMessage)) return this.failHead(`invalid status line ${JSON.stringify(head.slice(0, lineEnd))}`, 'HPE_INVALID_STATUS');
    if (statusCode === 101) return this.failHead('the model server switched protocols unasked', 'HPE_INVALID_STATUS');
    if (head[7] === '0') this.keepAlive = false;

    const rawHeaders: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    for (let start = lineEnd + 2; start < head.length;) {
      let end = head.indexOf('\r\n', start);
      if (end === -1) end = head.length;
      const first = head.charCodeAt(start);
      if (first === 32 || first === 9) {
        // obs-fold: RFC 9112 5.2 lets a recipient replace it with a space.
        const folded = trimWhitespace(head.slice(start, end));
        if (rawHeaders.length === 0 || INVALID_VALUE.test(folded)) return this.failHead(`invalid header line ${JSON.stringify(head.slice(start, end))}`, 'HPE_INVALID_HEADER_TOKEN');
        rawHeaders[rawHeaders.length - 1] = `${rawHeaders[rawHeaders.length - 1]} ${folded}`;
        start = end + 2;
        continue;
      }
      const colon = head.indexOf(':', start);
      const name = colon === -1 || colon > end ? '' : head.slice(start, colon);
      const value = name === '' ? '' : trimWhitespace(head.slice(colon + 1, end));
      if (!TOKEN.test(name) || INVALID_VALUE.test(value)) {
        return this.failHead(`invalid header line ${JSON.stringify(head.slice(start, end))}`, 'HPE_INVALID_HEADER_TOKEN');
      }
      start = end + 2;
      rawHeaders.push(name, value);
      // Only three names decide framing and reuse; lowercase just the candidates.
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (contentLength !== -1 && contentLength !== Number(value))) {
          return this.failHead(`invalid content-length ${JSON.stringify(value)}`, 'HPE_INVALID_CONTENT_LENGTH');
        }
        contentLength = Number(value);
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        transferEncoding = true;
        chunked = /(?:^|,)[ \t]*chunked[ \t]*$/i.test(value);
      } else if (name.length === 10 && name.toLowerCase() === 'connection' && /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i.test(value)) {
        this.keepAlive = false;
      }
    }

    if (statusCode < 200) {
      // 100 Continue, 103 Early Hints: informational, the final response follows.
      return true;
    }
    exchange.handler.onHead(statusCode, statusMessage, rawHeaders);
    if (this.exchange !== exchange) return false;
    if (exchange.headRequest || statusCode === 204 || statusCode === 304) {
      this.complete(exchange, EMPTY);
      return false;
    }
    if (transferEncoding) {
      // RFC 9112 6.1: chunked last frames the body and overrides Content-Length; anything else reads to the close.
      this.state = chunked ? CHUNK_LINE : UNTIL_CLOSE;
      if (!chunked || contentLength !== -1) this.keepAlive = false;
    } else if (contentLength !== -1) {
      this.remaining = contentLength;
      this.state = LENGTH;
    } else {
      this.state = UNTIL_CLOSE;
      this.keepAlive = false;
    }
    return true;
  }

  private failHead(message: string, code: string): false {
    this.fail(new UpstreamError(code, message));
    return false;
  }

  /** The response is complete: hand the connection back (or close it), then deliver the last piece. */
  private complete(exchange: UpstreamExchange, last: Buffer): void {
    this.exchange = undefined;
    this.pending = undefined;
    if (this.keepAlive && exchange.requestEnded) {
      exchange.finish(true);
      this.pool.release(this);
    } else {
      this.socket.destroy();
      exchange.finish(false);
    }
    exchange.handler.onBody(last, true);
  }

  private onEnd(): void {
    const exchange = this.exchange;
    if (exchange !== undefined && this.state === UNTIL_CLOSE) {
      this.keepAlive = false;
      this.complete(exchange, EMPTY);
    } else if (exchange !== undefined) {
      this.fail(new UpstreamError('ECONNRESET', this.state === HEAD ? 'socket hang up' : 'response ended early'));
    } else {
      this.socket.destroy();
    }
  }

  private fail(err: UpstreamError): void {
    const exchange = this.exchange;
    this.socket.destroy();
    if (exchange === undefined) return;
    this.exchange = undefined;
    exchange.finish(false);
    exchange.handler.onError(err);
  }
}

/** The decimal digit at `index`, or NaN. */
function digit(text: string, index: number): number {
  const code = text.charCodeAt(index) - 48;
  return code >= 0 && code <= 9 ? code : NaN;
}

/** Strips optional whitespace (space and tab only, RFC 9110 5.6.3; String#trim also strips U+00A0, a valid latin1 byte). */
function trimWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start += 1;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end -= 1;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}
