import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { INFERENCE_LOG_OUTCOMES } from '../../../contract';
import type { InferenceLogConfig } from './config';
import { type Bodies, extractRows, recordLines } from './extract';
import { InferenceLogMetrics, renderModelInfo } from './metrics';
import { type PutObject, s3PutObject } from './s3-put';
import { Sampler } from './sampler';
import { InferenceLogWriter, type LogEvent, type RetryPolicy, partitionOf } from './writer';

/**
 * The inference log as the metrics proxy sees it: `sample()` when a request arrives,
 * `record()` when its response has gone out, `render()` in /metrics, `close()` at SIGTERM.
 *
 * `record` only queues the captured bodies; they are parsed into records a moment later,
 * together, in a turn of at most a few milliseconds (so a burst never holds up the requests
 * behind it), and only the records' JSON lines are kept. Parsing at flush time instead would
 * cost the same CPU but hold every raw body (up to the capture limit each) until the flush,
 * and do all the parsing of a batch in one long turn of the event loop. Parsing each capture
 * in a turn of its own, right after its response, cost several times the CPU of parsing them
 * in batches: one capture among ten requests runs on caches the HTTP path has just filled.
 */

/**
 * What the proxy captured of one sampled request; with a shadow, `challenger` (Bodies) is the
 * challenger's answer when the request was also mirrored (the shadow's ChallengerAnswer as is).
 */
export interface Capture extends Bodies {
  /** Seconds from arrival to the end of the response. */
  readonly latencySeconds: number;
  /** When the request arrived: its records' timestamp and partition. */
  readonly startedAt: Date;
  /** The request's id (e.g. its X-Request-Id header); a random UUID when absent. */
  readonly requestId?: string;
}

export interface InferenceLog {
  /**
   * Whether to capture the request arriving now. Cheap: one random number, or `u` when given
   * (uniform in [0, 1), sampled iff u < sampleRatio): one draw shared with the shadow's
   * `sample(u)` makes the smaller of the two sampled sets a subset of the larger.
   */
  sample(u?: number): boolean;
  /** Bodies larger than this are not captured (BodyCapture); the record is logged as unparsed. */
  readonly maxBodyBytes: number;
  /** Queues one sampled request's records. Synchronous, cheap and never throws. */
  record(capture: Capture): void;
  /** The log's metrics and MODEL_INFO_METRIC in text format, to append to the proxy's /metrics. */
  render(): string;
  /**
   * Writes everything held within `deadlineMs` milliseconds; what is not written by then is
   * counted dropped_upload_failed. Call it after the proxy has drained its requests: records
   * given after it are counted dropped_upload_failed too. Never rejects.
   */
  close(deadlineMs: number): Promise<void>;
}

export interface InferenceLogOptions {
  /** The `model` label and `_model` column (MLOPS_MODEL_NAME). */
  readonly modelName: string;
  /** The served version (resolveModelVersion): `_version`, the key's version and MODEL_INFO_METRIC. */
  readonly version: string;
  /** First part of each object's file name. @default - config.podName (MLOPS_POD_NAME, else the host name) */
  readonly podName?: string;
  /** Lifecycle and upload-failure events (each kind of failure once). @default - events are dropped */
  readonly log?: (event: LogEvent) => void;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Uniform in [0, 1): sampling and retry jitter. @default Math.random */
  readonly random?: () => number;
  /** Writes one object. @default - a signed S3 PutObject into the configured bucket */
  readonly put?: PutObject;
  /** Retries of an object's upload. @default DEFAULT_RETRY (5 attempts, 0.5 s doubling to at most 15 s) */
  readonly retry?: RetryPolicy;
}

/**
 * Captured bodies waiting to be parsed are bounded too: beyond this, new captures are dropped.
 * They wait PARSE_DELAY_MS at most, unless a burst outruns the parsing; the sidecar's memory
 * limit is small (128 MiB by default).
 */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** Captures are parsed this many milliseconds after the first of a batch arrived... */
export const PARSE_DELAY_MS = 50;
/** ...or on the next turn, once this many captures or bytes wait. */
export const PARSE_BATCH_CAPTURES = 64;
const PARSE_BATCH_BYTES = 1024 * 1024;
/** Parsing yields to the event loop after this many milliseconds. */
const PARSE_SLICE_MS = 4;
/** Decompressed bodies may be this many times the capture limit. */
const DECODE_FACTOR = 8;

export function createInferenceLog(config: InferenceLogConfig, options: InferenceLogOptions): InferenceLog {
  const log = options.log ?? (() => undefined);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const sampler = new Sampler(config.sampleRatio, random);
  const metrics: InferenceLogMetrics = new InferenceLogMetrics(options.modelName, (): number => writer.bufferedRecords);
  const writer: InferenceLogWriter = new InferenceLogWriter({
    prefix: config.prefix,
    modelName: options.modelName,
    version: options.version,
    podName: options.podName ?? config.podName,
    bufferRecords: config.bufferRecords,
    // Room for two objects uploading, one waiting and one filling.
    bufferBytes: Math.max(4 * config.flushBytes, 16 * 1024 * 1024),
    flushBytes: config.flushBytes,
    flushSeconds: config.flushSeconds,
    retry: options.retry,
  }, {
    put: options.put ?? s3PutObject(config.s3, config.bucket),
    metrics,
    log,
    now,
    random,
  });
  const extractOptions = {
    requestPath: config.requestPath,
    responsePath: config.responsePath,
    maxDecodedBytes: DECODE_FACTOR * config.maxBodyBytes,
  };
  const modelInfo = renderModelInfo(options.modelName, options.version);

  let pending: Capture[] = [];
  let pendingBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let immediate = false;
  let closing = false;
  let failureLogged = false;

  const sizeOf = (capture: Capture) => (capture.requestBody?.length ?? 0) + (capture.responseBody?.length ?? 0) + (capture.challenger?.body?.length ?? 0);

  const processCapture = (capture: Capture): void => {
    try {
      const extraction = extractRows(capture, extractOptions);
      for (const part of extraction.unparsed) metrics.countUnparsed(part);
      const timestamp = capture.startedAt.toISOString();
      const lines = recordLines(extraction, {
        timestamp,
        model: options.modelName,
        version: options.version,
        code: capture.code,
        latencySeconds: capture.latencySeconds,
        requestId: capture.requestId ?? randomUUID(),
        ...(capture.challenger !== undefined ? { challengerCode: capture.challenger.code } : {}),
      });
      if (closing) metrics.countRecords(INFERENCE_LOG_OUTCOMES.droppedUploadFailed, lines.length);
      else writer.add(partitionOf(timestamp), lines);
    } catch (err) {
      // A bug here must cost one record, never the proxy: counted as an unreadable request, logged once.
      metrics.countUnparsed('request');
      if (!failureLogged) {
        failureLogged = true;
        log({ event: 'inference_log_record_failed', level: 'error', error: (err as Error).stack ?? String(err) });
      }
    }
  };

  const parsePending = (budgetMs: number): void => {
    const until = performance.now() + budgetMs;
    let done = 0;
    while (done < pending.length) {
      const capture = pending[done++];
      pendingBytes -= sizeOf(capture);
      processCapture(capture);
      if (performance.now() >= until) break;
    }
    pending = done === pending.length ? [] : pending.slice(done);
  };

  const stopTimer = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };

  const onTurn = (): void => {
    immediate = false;
    stopTimer();
    parsePending(PARSE_SLICE_MS);
    if (pending.length > 0) nextTurn();
  };

  const nextTurn = (): void => {
    if (immediate) return;
    immediate = true;
    setImmediate(onTurn);
  };

  /** A full batch (or a backlog) is parsed on the next turn, a smaller one when its first capture is PARSE_DELAY_MS old. */
  const schedule = (): void => {
    if (pending.length >= PARSE_BATCH_CAPTURES || pendingBytes >= PARSE_BATCH_BYTES) {
      nextTurn();
    } else if (timer === undefined && !immediate) {
      timer = setTimeout(onTurn, PARSE_DELAY_MS);
      timer.unref();
    }
  };

  return {
    maxBodyBytes: config.maxBodyBytes,
    sample: (u) => sampler.sample(u),
    record: (capture) => {
      try {
        const size = sizeOf(capture);
        if (pendingBytes + size > MAX_PENDING_BYTES) {
          metrics.countRecords(INFERENCE_LOG_OUTCOMES.droppedBufferFull, 1);
          return;
        }
        pending.push(capture);
        pendingBytes += size;
        if (closing) parsePending(Infinity);
        else schedule();
      } catch {
        // Never into the request path; a capture that cannot even be queued counts as unreadable.
        metrics.countUnparsed('request');
      }
    },
    render: () => metrics.render() + modelInfo,
    close: async (deadlineMs) => {
      if (!closing) {
        // What is queued was given before close: it still goes into the last objects.
        stopTimer();
        parsePending(Infinity);
        closing = true;
      }
      try {
        await writer.close(deadlineMs);
      } catch (err) {
        log({ event: 'inference_log_close_failed', level: 'error', error: (err as Error).message });
      }
    },
  };
}
