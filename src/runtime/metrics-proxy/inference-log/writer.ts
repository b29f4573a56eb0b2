import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { INFERENCE_LOG_LAYOUT, INFERENCE_LOG_OUTCOMES } from '../../../contract';
import type { LogEvent } from '../../shared/log-event';
import type { InferenceLogMetrics } from './metrics';
import type { PutObject, PutResult } from './s3-put';

const gzip = promisify(gzipCallback);

/**
 * The inference log's bounded buffer and its uploads. Records (JSON lines) wait in one batch
 * per partition (UTC date and hour); a batch becomes an object when its uncompressed lines
 * reach `flushBytes`, when its oldest line is `flushSeconds` old, or at `close`. Objects are
 * gzipped on the thread pool (never on the event loop the proxied requests share) and written
 * at most `maxInFlight` at a time, retried with capped exponential backoff and jitter on 5xx
 * and network errors, never on other 4xx (a wrong signature or bucket does not heal).
 *
 * Memory is bounded twice: by records (`bufferRecords`) and by uncompressed bytes
 * (`bufferBytes`), counting everything not yet acknowledged by the store (waiting, gzipping,
 * uploading, retrying). When either is reached new records are dropped and counted: when
 * storage is slow or down, inference goes on and the log loses the newest records.
 */

export interface RetryPolicy {
  /** Attempts per object at most. */
  readonly attempts: number;
  /** Delay before the second attempt; doubled for each next one... */
  readonly baseDelayMs: number;
  /** ...up to this. Each delay is jittered to between half and all of it. */
  readonly maxDelayMs: number;
}

/** After the deadline's abort, uploads get this long to notice before they are counted lost anyway. */
const ABORT_GRACE_MS = 500;

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 15_000 };

export interface WriterSettings {
  /** Key prefix ('' for the bucket's root), without trailing slash. */
  readonly prefix: string;
  readonly modelName: string;
  readonly version: string;
  readonly podName: string;
  readonly bufferRecords: number;
  readonly bufferBytes: number;
  readonly flushBytes: number;
  readonly flushSeconds: number;
  /** Uploads at once. @default 2 */
  readonly maxInFlight?: number;
  readonly retry?: RetryPolicy;
  /** zlib level: 1 to 9. @default 6 */
  readonly gzipLevel?: number;
}

export type { LogEvent };

export interface WriterDeps {
  readonly put: PutObject;
  readonly metrics: InferenceLogMetrics;
  readonly log: (event: LogEvent) => void;
  /** Epoch milliseconds: the batches' ages and the start time in object names. */
  readonly now: () => number;
  /** Uniform in [0, 1): the retries' jitter. */
  readonly random: () => number;
}

/** A partition's date and hour (UTC), from a record's ISO-8601 timestamp. */
export interface Partition {
  /** YYYY-MM-DD */
  readonly date: string;
  /** HH, 00 to 23 */
  readonly hour: string;
}

export function partitionOf(isoTimestamp: string): Partition {
  return { date: isoTimestamp.slice(0, 10), hour: isoTimestamp.slice(11, 13) };
}

/**
 * `<prefix>/model=<m>/version=<v>/dt=YYYY-MM-DD/hour=HH/<pod>-<start>-<seq>.jsonl.gz`
 * (INFERENCE_LOG_LAYOUT). `start` is the process's start in epoch milliseconds and `seq` counts
 * its objects, so a restarted container of the same pod never overwrites an object, and one
 * pod's names sort in the order they were written. Values are URI-encoded, so a `/` in a
 * version cannot add a level.
 */
export function objectKey(settings: Pick<WriterSettings, 'prefix' | 'modelName' | 'version' | 'podName'>, partition: Partition,
  startMs: number, seq: number): string {
  const L = INFERENCE_LOG_LAYOUT;
  const parts = [
    `${L.model}=${encodeURIComponent(settings.modelName)}`,
    `${L.version}=${encodeURIComponent(settings.version)}`,
    `${L.date}=${partition.date}`,
    `${L.hour}=${partition.hour}`,
    `${encodeURIComponent(settings.podName)}-${startMs}-${String(seq).padStart(6, '0')}${L.suffix}`,
  ];
  return settings.prefix === '' ? parts.join('/') : `${settings.prefix}/${parts.join('/')}`;
}

interface Batch {
  readonly partition: Partition;
  readonly lines: string[];
  bytes: number;
  /** now() when its first line came. */
  readonly openedAt: number;
}

interface Sealed {
  readonly key: string;
  lines: string[] | undefined;
  readonly records: number;
  readonly bytes: number;
  /** Counted (written or dropped) and released; a second outcome would count its records twice. */
  settled: boolean;
}

export class InferenceLogWriter {
  private readonly batches = new Map<string, Batch>();
  private readonly queue: Sealed[] = [];
  private readonly uploading = new Set<Sealed>();
  private inFlight = 0;
  private heldRecords = 0;
  private heldBytes = 0;
  private seq = 0;
  private readonly startMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private deadlineAt = Infinity;
  private readonly abort = new AbortController();
  private onIdle: (() => void) | undefined;
  /** Failures already logged, by kind (status and code): each kind is logged once until an upload succeeds. */
  private readonly reported = new Set<string>();
  private readonly maxInFlight: number;
  private readonly retry: RetryPolicy;
  private closed: Promise<void> | undefined;

  constructor(private readonly settings: WriterSettings, private readonly deps: WriterDeps) {
    this.startMs = Math.floor(deps.now());
    this.maxInFlight = Math.max(1, settings.maxInFlight ?? 2);
    this.retry = settings.retry ?? DEFAULT_RETRY;
  }

  /** Records held right now: waiting in a batch, or in an object not yet acknowledged. */
  get bufferedRecords(): number {
    return this.heldRecords;
  }

  /**
   * Adds one request's lines to its partition's batch, all or none: dropped and counted
   * (dropped_buffer_full) when the buffer has no room for them, or (dropped_upload_failed)
   * once `close` has begun. Never throws.
   */
  add(partition: Partition, lines: readonly string[]): void {
    if (lines.length === 0) return;
    const { metrics } = this.deps;
    if (this.closing) {
      metrics.countRecords(INFERENCE_LOG_OUTCOMES.droppedUploadFailed, lines.length);
      return;
    }
    let bytes = 0;
    for (const line of lines) bytes += Buffer.byteLength(line) + 1;
    if (this.heldRecords + lines.length > this.settings.bufferRecords || this.heldBytes + bytes > this.settings.bufferBytes) {
      metrics.countRecords(INFERENCE_LOG_OUTCOMES.droppedBufferFull, lines.length);
      return;
    }
    this.heldRecords += lines.length;
    this.heldBytes += bytes;
    const id = `${partition.date}/${partition.hour}`;
    let batch = this.batches.get(id);
    if (!batch) {
      batch = { partition, lines: [], bytes: 0, openedAt: this.deps.now() };
      this.batches.set(id, batch);
      this.armTimer();
    }
    for (const line of lines) batch.lines.push(line);
    batch.bytes += bytes;
    if (batch.bytes >= this.settings.flushBytes) this.seal(id, batch);
  }

  /**
   * Writes every batch within `deadlineMs` milliseconds: what is not acknowledged by then is
   * abandoned and counted dropped_upload_failed. Later `add`s are dropped the same way. Safe to
   * call more than once; resolves when nothing is held.
   */
  close(deadlineMs: number): Promise<void> {
    return (this.closed ??= this.drain(deadlineMs));
  }

  private async drain(deadlineMs: number): Promise<void> {
    this.closing = true;
    this.deadlineAt = Date.now() + Math.max(0, deadlineMs);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const records = this.heldRecords;
    for (const [id, batch] of [...this.batches]) this.seal(id, batch);
    const drained = await this.idleWithin(Math.max(0, deadlineMs));
    if (!drained) {
      // Past the deadline: objects not yet started are given up, running uploads aborted
      // (an upload still gzipping sees the abort when it starts its PUT).
      for (const sealed of this.queue.splice(0)) this.fail(sealed);
      this.abort.abort();
      if (!(await this.idleWithin(ABORT_GRACE_MS))) for (const sealed of this.uploading) this.fail(sealed);
    }
    this.deps.log({
      event: 'inference_log_closed',
      level: drained ? 'info' : 'warn',
      heldAtClose: records,
      drained,
      droppedUploadFailedTotal: this.deps.metrics.recordsOf(INFERENCE_LOG_OUTCOMES.droppedUploadFailed),
    });
  }

  private idleWithin(ms: number): Promise<boolean> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => {
        this.onIdle = undefined;
        resolve(false);
      }, ms) : undefined;
      this.onIdle = () => {
        if (timer) clearTimeout(timer);
        this.onIdle = undefined;
        resolve(true);
      };
    });
  }

  private seal(id: string, batch: Batch): void {
    this.batches.delete(id);
    this.seq += 1;
    this.queue.push({
      key: objectKey(this.settings, batch.partition, this.startMs, this.seq),
      lines: batch.lines,
      records: batch.lines.length,
      bytes: batch.bytes,
      settled: false,
    });
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const sealed = this.queue.shift()!;
      this.inFlight += 1;
      this.uploading.add(sealed);
      this.upload(sealed).catch(() => this.fail(sealed)).finally(() => {
        this.uploading.delete(sealed);
        this.inFlight -= 1;
        this.pump();
        if (this.inFlight === 0 && this.queue.length === 0) this.onIdle?.();
      });
    }
  }

  private async upload(sealed: Sealed): Promise<void> {
    const text = sealed.lines!.join('\n') + '\n';
    sealed.lines = undefined;
    const body = await gzip(Buffer.from(text, 'utf8'), { level: this.settings.gzipLevel ?? 6 });
    for (let attempt = 1; ; attempt++) {
      const result = await this.deps.put(sealed.key, body, this.abort.signal);
      if (result.ok) {
        if (!this.release(sealed)) return;
        this.deps.metrics.countRecords(INFERENCE_LOG_OUTCOMES.written, sealed.records);
        this.deps.metrics.countObject();
        if (this.reported.size > 0) {
          this.reported.clear();
          this.deps.log({ event: 'inference_log_upload_recovered', key: sealed.key, attempt });
        }
        return;
      }
      const last = !result.retryable || attempt >= this.retry.attempts || this.abort.signal.aborted;
      this.report(sealed, result, attempt, last);
      if (last) {
        this.fail(sealed);
        return;
      }
      const full = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
      let delay = full / 2 + this.deps.random() * (full / 2);
      // While closing, a retry waits no longer than the deadline leaves.
      if (this.closing) delay = Math.min(delay, Math.max(0, this.deadlineAt - Date.now()));
      await sleep(delay, this.abort.signal);
    }
  }

  private report(sealed: Sealed, result: PutResult, attempt: number, last: boolean): void {
    const kind = `${result.status ?? 'none'}:${result.code ?? ''}`;
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    this.deps.log({
      event: 'inference_log_upload_failed',
      level: result.retryable ? 'warn' : 'error',
      key: sealed.key,
      attempt,
      willRetry: !last,
      error: result.error ?? 'unknown error',
      // Logged once per kind of failure until an upload succeeds again; the metrics count every record.
      note: 'further failures of this kind are counted, not logged',
    });
  }

  private fail(sealed: Sealed): void {
    if (this.release(sealed)) this.deps.metrics.countRecords(INFERENCE_LOG_OUTCOMES.droppedUploadFailed, sealed.records);
  }

  /** Frees what the object held; false when it was already settled. */
  private release(sealed: Sealed): boolean {
    if (sealed.settled) return false;
    sealed.settled = true;
    sealed.lines = undefined;
    this.heldRecords -= sealed.records;
    this.heldBytes -= sealed.bytes;
    return true;
  }

  /** One timer, for the batch that is due first. */
  private armTimer(): void {
    if (this.timer || this.closing || this.batches.size === 0) return;
    let due = Infinity;
    for (const batch of this.batches.values()) due = Math.min(due, batch.openedAt + this.settings.flushSeconds * 1000);
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, due - this.deps.now()));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    const now = this.deps.now();
    for (const [id, batch] of [...this.batches]) {
      if (now >= batch.openedAt + this.settings.flushSeconds * 1000) this.seal(id, batch);
    }
    this.armTimer();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
