import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { INFERENCE_LOG_COLUMNS } from '../../../contract';

/**
 * Request and response bodies to inference-log rows: flat records of feature name -> value,
 * with the predictions under `prediction` (one output per row) or `prediction_<i>` /
 * `prediction_<key>` (several). Nothing here throws: a body that is not JSON, not a known
 * shape, or whose row count does not match the other body's is reported as unparsed, and the
 * caller logs the rows without that part.
 *
 * Request formats, those of the MLflow scoring server (`/invocations`):
 * - `{"dataframe_split": {"columns": [...], "data": [[...], ...], "index"?: [...]}}`
 * - `{"dataframe_records": [{...}, ...]}`
 * - `{"instances": ...}` and `{"inputs": ...}`: a list of objects (one row each), a list of
 *   lists or of scalars (positional), or an object of column -> list (columnar)
 * - `text/csv` with a header row (values that look like numbers become numbers, empty ones null)
 * - the MLflow 1 pandas formats without the wrapper (`{"columns", "data"}`, a bare list)
 * Positional features (lists without column names) are named "0", "1", ...: the names pandas
 * gives the columns of a DataFrame built from the same lists, which is what the MLflow scoring
 * server feeds a model without a signature and what `pd.DataFrame(X).to_csv()` writes as the
 * reference data's header. A custom runtime names the rows' place with a dotted path instead
 * (MLOPS_INFERENCE_LOG_REQUEST_PATH, e.g. `data.rows`; a number indexes a list); what it
 * points at is read like `inputs`.
 *
 * Response formats: `{"predictions": ...}` (MLflow) or a bare list, or what the dotted
 * response path points at: a list of scalars (`prediction`), of lists (`prediction_<i>`; lists
 * of one value, the (n, 1) output of many regressors, give `prediction`), of objects
 * (`prediction_<key>`), an object of column -> list (`prediction_<key>`), or one scalar for a
 * one-row request. Responses other than 2xx are not read: they carry an error, not predictions.
 * A shadow challenger's answer is read the same way, its columns named `challenger_prediction`
 * (`challenger_prediction_<i|key>`), and the shadow compares the two with `readPredictionsOf`.
 */

export type Part = 'request' | 'response';
export type Row = Record<string, unknown>;

export interface Extraction {
  /** One per logged row: its features, then its predictions. */
  readonly rows: readonly Row[];
  /** The parts that could not be read, 'request' first. */
  readonly unparsed: readonly Part[];
}

export interface Bodies {
  /** The request body; undefined when it was not captured (larger than the capture limit). */
  readonly requestBody: Buffer | undefined;
  /** The response body; undefined when it was not captured. */
  readonly responseBody: Buffer | undefined;
  /** HTTP status sent to the client: only a 2xx response is read for predictions. */
  readonly code: number;
  /** Request Content-Type (text/csv is read as CSV; anything else as JSON). */
  readonly requestContentType?: string;
  /** Request Content-Encoding (gzip, deflate and br are decompressed). */
  readonly requestContentEncoding?: string;
  /** Response Content-Encoding (gzip, deflate and br are decompressed). */
  readonly responseContentEncoding?: string;
  /**
   * The shadow challenger's answer to the same request, when it was mirrored: its predictions
   * are joined to the rows as `challenger_prediction` (or `challenger_prediction_<i|key>`).
   */
  readonly challenger?: ChallengerBodies;
}

/** What the shadow challenger answered to a mirrored request. */
export interface ChallengerBodies {
  /** Its HTTP status; 0 when it did not answer (timeout, no connection). Only a 2xx is read for predictions. */
  readonly code: number;
  /** Its response body; undefined when there was none or it was larger than the capture limit. */
  readonly body: Buffer | undefined;
  /** Its Content-Encoding (gzip, deflate and br are decompressed). */
  readonly contentEncoding?: string;
}

export interface ExtractOptions {
  /** Dotted path to the rows in the request (custom runtime); unset reads MLflow's formats. */
  readonly requestPath?: string;
  /** Dotted path to the predictions in the response (custom runtime); unset reads MLflow's formats. */
  readonly responsePath?: string;
  /** Decompressed bodies larger than this are not read (a compressed body may expand a thousandfold). */
  readonly maxDecodedBytes: number;
}

/**
 * The rows of one request and its response, with the challenger's predictions joined when it
 * answered predictions for as many rows (else the rows have none of its columns). Never throws.
 */
export function extractRows(bodies: Bodies, options: ExtractOptions): Extraction {
  const extraction = championRows(bodies, options);
  const challenger = bodies.challenger;
  if (challenger === undefined || !isSuccess(challenger.code)) return extraction;
  const predictions = readPredictionsOf(challenger.body, { ...options, contentEncoding: challenger.contentEncoding, column: CHALLENGER_PREDICTION });
  if (predictions === undefined || predictions.length !== extraction.rows.length) return extraction;
  extraction.rows.forEach((row, i) => Object.assign(row, predictions[i]));
  return extraction;
}

function championRows(bodies: Bodies, options: ExtractOptions): Extraction {
  const features = readFeatures(bodies, options);
  const answered = isSuccess(bodies.code);
  const predictions = answered ? readPredictionsOf(bodies.responseBody, { ...options, contentEncoding: bodies.responseContentEncoding }) : undefined;

  if (features !== undefined) {
    if (!answered) return { rows: features, unparsed: [] };
    if (predictions === undefined || predictions.length !== features.length) return { rows: features, unparsed: ['response'] };
    return { rows: features.map((row, i) => Object.assign(row, predictions[i])), unparsed: [] };
  }
  if (predictions !== undefined) return { rows: predictions, unparsed: ['request'] };
  // Neither part: one row, so the request is still seen (its code, latency) in the log.
  return { rows: [{}], unparsed: answered ? ['request', 'response'] : ['request'] };
}

const META = new Set<string>([
  INFERENCE_LOG_COLUMNS.timestamp, INFERENCE_LOG_COLUMNS.model, INFERENCE_LOG_COLUMNS.version, INFERENCE_LOG_COLUMNS.code,
  INFERENCE_LOG_COLUMNS.latencySeconds, INFERENCE_LOG_COLUMNS.requestId, INFERENCE_LOG_COLUMNS.unparsed,
  INFERENCE_LOG_COLUMNS.challengerCode,
]);

/** The meta columns of one request's records (INFERENCE_LOG_COLUMNS). */
export interface RecordMeta {
  /** When the request arrived, ISO-8601 in UTC (Date.toISOString). */
  readonly timestamp: string;
  readonly model: string;
  readonly version: string;
  readonly code: number;
  readonly latencySeconds: number;
  /** Shared by the rows of one request. */
  readonly requestId: string;
  /** The challenger's HTTP code (0: no answer), when the request was mirrored; unset writes no `_challenger_code`. */
  readonly challengerCode?: number;
}

/**
 * One JSON object per row: the meta columns first, then the row's features and predictions.
 * A feature named like a meta column is left out (the meta columns start with an underscore so
 * that this stays rare). `_unparsed` is "request" when the request could not be read (the row
 * has no features, whatever became of the response), else "response" when the response could
 * not be read (no predictions).
 */
export function recordLines(extraction: Extraction, meta: RecordMeta): string[] {
  const head: Row = {
    [INFERENCE_LOG_COLUMNS.timestamp]: meta.timestamp,
    [INFERENCE_LOG_COLUMNS.model]: meta.model,
    [INFERENCE_LOG_COLUMNS.version]: meta.version,
    [INFERENCE_LOG_COLUMNS.requestId]: meta.requestId,
    [INFERENCE_LOG_COLUMNS.code]: meta.code,
    // Microseconds: more digits are noise of the clock and cost bytes on every line.
    [INFERENCE_LOG_COLUMNS.latencySeconds]: Math.round(meta.latencySeconds * 1e6) / 1e6,
  };
  if (meta.challengerCode !== undefined) head[INFERENCE_LOG_COLUMNS.challengerCode] = meta.challengerCode;
  if (extraction.unparsed.length > 0) head[INFERENCE_LOG_COLUMNS.unparsed] = extraction.unparsed[0];
  // Written by hand rather than JSON.stringify of one object per row: the meta columns are
  // serialized once per request, and stay first (an object would put keys like "0" first).
  const prefix = JSON.stringify(head).slice(0, -1);
  const lines: string[] = [];
  for (const row of extraction.rows) {
    let line = prefix;
    for (const key in row) {
      const value = row[key];
      if (value !== undefined && !META.has(key)) line += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
    }
    lines.push(`${line}}`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Requests

function readFeatures(bodies: Bodies, options: ExtractOptions): Row[] | undefined {
  const text = decode(bodies.requestBody, bodies.requestContentEncoding, options.maxDecodedBytes);
  if (text === undefined) return undefined;
  if (isCsv(bodies.requestContentType)) return options.requestPath === undefined ? csvRows(text) : undefined;
  const body = parseJson(text);
  if (body === NOT_JSON) return undefined;
  if (options.requestPath !== undefined) return rowsOf(valueAt(body, options.requestPath));
  return mlflowRows(body);
}

function mlflowRows(body: unknown): Row[] | undefined {
  if (Array.isArray(body)) return rowsOf(body); // MLflow 1's pandas-records without the wrapper
  if (!isObject(body)) return undefined;
  if ('dataframe_split' in body) return splitRows(body.dataframe_split);
  if ('dataframe_records' in body) return Array.isArray(body.dataframe_records) ? recordRows(body.dataframe_records) : undefined;
  if ('instances' in body) return rowsOf(body.instances);
  if ('inputs' in body) return rowsOf(body.inputs);
  if ('data' in body && Array.isArray(body.data)) return splitRows(body); // MLflow 1's pandas-split without the wrapper
  return undefined;
}

/** pandas' `orient="split"`: column names (optional) and rows of values. */
function splitRows(split: unknown): Row[] | undefined {
  if (!isObject(split) || !Array.isArray(split.data)) return undefined;
  const columns = split.columns;
  if (columns !== undefined && !(Array.isArray(columns) && columns.every((c) => typeof c === 'string' || typeof c === 'number'))) return undefined;
  const names = columns?.map(String);
  const rows: Row[] = [];
  for (const values of split.data) {
    if (!Array.isArray(values) || (names !== undefined && values.length !== names.length)) return undefined;
    rows.push(positional(values, names));
  }
  return rows;
}

/** Rows in any of the shapes of `instances` and `inputs`; undefined for anything else. */
function rowsOf(value: unknown): Row[] | undefined {
  if (Array.isArray(value)) {
    if (value.length === 0) return [];
    if (value.every(isObject)) return recordRows(value);
    if (value.every(Array.isArray)) return value.map((values: unknown[]) => positional(values));
    if (value.every((v) => !isObject(v) && !Array.isArray(v))) return value.map((v) => ({ '0': v }));
    return undefined;
  }
  if (isObject(value)) {
    if (Object.keys(value).length === 0) return [];
    // Columns of equal length (a dict of tensors, the first axis the batch), or else one row of scalars.
    return columnarRows(value, '') ?? (Object.values(value).some(Array.isArray) ? undefined : [{ ...value }]);
  }
  return undefined;
}

function recordRows(records: unknown[]): Row[] | undefined {
  if (!records.every(isObject)) return undefined;
  return records.map((record) => ({ ...record }));
}

/** An object of equally long lists, one per column: its rows, each key with `prefix` in front. */
function columnarRows(columns: Record<string, unknown>, prefix: string): Row[] | undefined {
  const keys = Object.keys(columns);
  if (keys.length === 0 || !keys.every((k) => Array.isArray(columns[k]))) return undefined;
  const length = (columns[keys[0]] as unknown[]).length;
  if (!keys.every((k) => (columns[k] as unknown[]).length === length)) return undefined;
  const rows: Row[] = [];
  for (let i = 0; i < length; i++) {
    const row: Row = {};
    for (const key of keys) put(row, prefix + key, (columns[key] as unknown[])[i]);
    rows.push(row);
  }
  return rows;
}

function positional(values: readonly unknown[], names?: readonly string[]): Row {
  const row: Row = {};
  values.forEach((value, i) => put(row, names ? names[i] : String(i), value));
  return row;
}

/** Sets a column, also one named `__proto__` (a data key in JSON, the prototype to `=`). */
function put(row: Row, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(row, key, { value, enumerable: true, writable: true, configurable: true });
  else row[key] = value;
}

// ---------------------------------------------------------------------------------------------
// Responses

/** How `readPredictionsOf` reads a response body. */
export interface PredictionOptions {
  /** Dotted path to the predictions (custom runtime); unset reads MLflow's formats. */
  readonly responsePath?: string;
  /** Decompressed bodies larger than this are not read. */
  readonly maxDecodedBytes: number;
  /** The body's Content-Encoding (gzip, deflate and br are decompressed). */
  readonly contentEncoding?: string;
  /** The column the predictions go under (`<column>` or `<column>_<i|key>`). @default INFERENCE_LOG_COLUMNS.prediction */
  readonly column?: string;
}

/**
 * The predictions of one response body, one row each (the shapes in this file's header), or
 * undefined when the body is absent, compressed in an unknown way, too large or not a known
 * shape. Does not look at the status code: call it on 2xx answers only. Never throws.
 */
export function readPredictionsOf(body: Buffer | undefined, options: PredictionOptions): Row[] | undefined {
  const text = decode(body, options.contentEncoding, options.maxDecodedBytes);
  if (text === undefined) return undefined;
  const value = parseJson(text);
  if (value === NOT_JSON) return undefined;
  const column = options.column ?? PREDICTION;
  if (options.responsePath !== undefined) return predictionRows(valueAt(value, options.responsePath), column);
  if (Array.isArray(value)) return predictionRows(value, column);
  if (isObject(value) && 'predictions' in value) return predictionRows(value.predictions, column);
  return undefined;
}

const PREDICTION = INFERENCE_LOG_COLUMNS.prediction;
const CHALLENGER_PREDICTION = INFERENCE_LOG_COLUMNS.challengerPrediction;

function predictionRows(value: unknown, column: string): Row[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.every((v) => !isObject(v) && !Array.isArray(v))) return value.map((v) => ({ [column]: v }));
    if (value.every(Array.isArray)) {
      if (value.every((v: unknown[]) => v.length === 1)) return value.map((v: unknown[]) => ({ [column]: v[0] }));
      return value.map((v: unknown[]) => {
        const row: Row = {};
        v.forEach((output, i) => {
          row[`${column}_${i}`] = output;
        });
        return row;
      });
    }
    if (value.every(isObject)) {
      return value.map((v: Record<string, unknown>) => {
        const row: Row = {};
        for (const key in v) row[`${column}_${key}`] = v[key];
        return row;
      });
    }
    return undefined;
  }
  if (isObject(value)) return columnarRows(value, `${column}_`);
  return [{ [column]: value }];
}

function isSuccess(code: number): boolean {
  return code >= 200 && code < 300;
}

// ---------------------------------------------------------------------------------------------
// Bodies

const NOT_JSON = Symbol('not JSON');

/** The body as text, decompressed; undefined when absent, compressed in an unknown way, too large or broken. */
function decode(body: Buffer | undefined, encoding: string | undefined, maxBytes: number): string | undefined {
  if (body === undefined) return undefined;
  const coding = encoding?.trim().toLowerCase() ?? '';
  try {
    let bytes: Buffer;
    if (coding === '' || coding === 'identity') bytes = body;
    else if (coding === 'gzip' || coding === 'x-gzip') bytes = gunzipSync(body, { maxOutputLength: maxBytes });
    else if (coding === 'deflate') bytes = inflateDeflate(body, maxBytes);
    else if (coding === 'br') bytes = brotliDecompressSync(body, { maxOutputLength: maxBytes });
    else return undefined;
    return bytes.toString('utf8');
  } catch {
    return undefined;
  }
}

/** HTTP's deflate is zlib-wrapped, but some servers send it raw. */
function inflateDeflate(body: Buffer, maxBytes: number): Buffer {
  try {
    return inflateSync(body, { maxOutputLength: maxBytes });
  } catch {
    return inflateRawSync(body, { maxOutputLength: maxBytes });
  }
}

/**
 * JSON, or NOT_JSON. Python's json module (and so MLflow's responses) writes NaN, Infinity
 * and -Infinity as bare words, which JSON.parse refuses: they are read as null (missing).
 */
function parseJson(text: string): unknown {
  const clean = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(clean);
  } catch {
    if (!/NaN|Infinity/.test(clean)) return NOT_JSON;
    try {
      return JSON.parse(clean.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (token) => (token.startsWith('"') ? token : 'null')));
    } catch {
      return NOT_JSON;
    }
  }
}

/** The value at a dotted path; a segment that is a number indexes a list. */
export function valueAt(body: unknown, path: string): unknown {
  let value = body;
  for (const segment of path.split('.')) {
    if (Array.isArray(value) && /^\d+$/.test(segment)) value = value[Number(segment)];
    else if (isObject(value) && Object.prototype.hasOwnProperty.call(value, segment)) value = value[segment];
    else return undefined;
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCsv(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*text\/csv\s*(;|$)/i.test(contentType);
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** CSV with a header row (RFC 4180 quoting), as MLflow's scoring server reads `text/csv` with pandas. */
function csvRows(text: string): Row[] | undefined {
  const records = csvRecords(text);
  if (records === undefined || records.length === 0) return undefined;
  const [header, ...data] = records;
  const rows: Row[] = [];
  for (const fields of data) {
    if (fields.length === 1 && fields[0] === '') continue; // a blank line
    if (fields.length !== header.length) return undefined;
    const row: Row = {};
    header.forEach((name, i) => {
      const field = fields[i];
      put(row, name, field === '' ? null : NUMBER.test(field) ? Number(field) : field);
    });
    rows.push(row);
  }
  return rows;
}

function csvRecords(text: string): string[][] | undefined {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i += 1;
    } else if (c === '"' && field === '') {
      quoted = true;
      i += 1;
    } else if (c === ',') {
      fields.push(field);
      field = '';
      i += 1;
    } else if (c === '\n' || c === '\r') {
      fields.push(field);
      records.push(fields);
      fields = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i += 1;
    }
  }
  if (quoted) return undefined;
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    records.push(fields);
  }
  return records;
}
