import * as fs from 'node:fs';
import * as path from 'node:path';
import { createGunzip } from 'node:zlib';
import { InputError, NotFoundError, RunError } from '../errors';
import { httpRequest, readBytes } from './http';
import { type MlflowSettings, mlflowHeaders, proxyList, proxyUrl, resolveMlflowUri } from './mlflow';
import { type S3Settings, parseS3Uri, s3Get, s3Head, s3List } from './s3';

/**
 * Where data comes from. A URI becomes a list of objects (a glob in the last path segment,
 * or an MLflow artifact directory, gives several; they are read as one dataset in name
 * order). Each object offers sequential bytes (CSV, JSON Lines; .gz is gunzipped) and random
 * access (Parquet reads its footer first, then only the requested column chunks).
 */

export type Format = 'csv' | 'jsonl' | 'parquet';

export interface RandomAccess {
  readonly byteLength: number;
  slice(start: number, end?: number): Promise<ArrayBuffer>;
  /** Releases what the access holds (a file descriptor). */
  close?(): Promise<void>;
}

export interface DataObject {
  /** Path or URL as the user should see it in messages. */
  readonly name: string;
  stream(): AsyncIterable<Buffer>;
  randomAccess(): Promise<RandomAccess>;
}

export interface SourceSettings {
  readonly s3: S3Settings;
  readonly mlflow?: MlflowSettings;
}

/** The format implied by a name: .csv, .jsonl/.ndjson/.json, .parquet/.pq (a trailing .gz is gunzipped). */
export function formatFromName(name: string): Format | undefined {
  const base = name.replace(/[?#].*$/, '').toLowerCase().replace(/\.gz$/, '');
  if (base.endsWith('.csv')) return 'csv';
  if (base.endsWith('.jsonl') || base.endsWith('.ndjson') || base.endsWith('.json')) return 'jsonl';
  if (base.endsWith('.parquet') || base.endsWith('.pq')) return 'parquet';
  return undefined;
}

const SUPPORTED = (name: string) => formatFromName(name) !== undefined;

/** A shell-style pattern (* and ? within one segment) as a RegExp. */
function globRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

const hasGlob = (segment: string) => /[*?]/.test(segment);

/** Resolves a data URI to the objects it names. */
export async function resolveSource(uri: string, settings: SourceSettings): Promise<DataObject[]> {
  if (uri.startsWith('s3://')) return resolveS3(uri, settings.s3);
  if (uri.startsWith('http://') || uri.startsWith('https://')) return [httpObject(uri, uri)];
  if (uri.startsWith('runs:/') || uri.startsWith('models:/')) return resolveMlflow(uri, settings);
  const local = uri.startsWith('file://') ? new URL(uri).pathname : uri;
  return resolveLocal(local);
}

function resolveLocal(file: string): DataObject[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  if (hasGlob(dir)) throw new InputError(`${file}: wildcards are only supported in the last path segment`);
  if (hasGlob(base)) {
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch (err) {
      const Missing = (err as NodeJS.ErrnoException).code === 'ENOENT' ? NotFoundError : InputError;
      throw new Missing(`${file}: cannot list ${dir}: ${(err as Error).message}`);
    }
    const pattern = globRegExp(base);
    const matches = entries.filter((e) => pattern.test(e)).sort().map((e) => path.join(dir, e));
    if (matches.length === 0) throw new NotFoundError(`${file}: no file matches`);
    return matches.map(localObject);
  }
  try {
    if (fs.statSync(file).isDirectory()) throw new InputError(`${file} is a directory; name a file or a pattern like ${path.join(file, '*.parquet')}`);
  } catch (err) {
    if (err instanceof InputError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${file}: no such file`);
    throw new InputError(`${file}: ${(err as Error).message}`);
  }
  return [localObject(file)];
}

function localObject(file: string): DataObject {
  return {
    name: file,
    stream: () => maybeGunzip(file, fs.createReadStream(file, { highWaterMark: 1 << 20 })),
    randomAccess: async () => {
      const handle = await fs.promises.open(file, 'r');
      const { size } = await handle.stat();
      return {
        byteLength: size,
        close: () => handle.close(),
        slice: async (start: number, end = size) => {
          const buffer = Buffer.alloc(end - start);
          await handle.read(buffer, 0, end - start, start);
          return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length) as ArrayBuffer;
        },
      };
    },
  };
}

function maybeGunzip(name: string, stream: NodeJS.ReadableStream): AsyncIterable<Buffer> {
  if (!/\.gz$/i.test(name.replace(/[?#].*$/, ''))) return stream as AsyncIterable<Buffer>;
  const gunzip = createGunzip();
  stream.on('error', (err) => gunzip.destroy(err));
  return stream.pipe(gunzip) as AsyncIterable<Buffer>;
}

/** An object behind a URL; `headers` (e.g. MLflow auth) go with every request. */
function httpObject(url: string, name: string, headers: Record<string, string> = {}): DataObject {
  return {
    name,
    stream: () => streamOf(name, async () => maybeGunzip(name, await httpRequest(url, { headers, label: name }))),
    randomAccess: async () => {
      const head = await httpRequest(url, { method: 'HEAD', headers, label: name });
      head.resume();
      const length = Number(head.headers['content-length']);
      if (head.headers['accept-ranges'] !== 'bytes' || !Number.isFinite(length)) {
        // No range support: fall back to one download held in memory.
        const bytes = await readBytes(await httpRequest(url, { headers, label: name }));
        return bufferAccess(bytes);
      }
      return {
        byteLength: length,
        slice: async (start: number, end = length) => {
          const response = await httpRequest(url, { headers: { ...headers, range: `bytes=${start}-${end - 1}` }, label: name });
          const bytes = await readBytes(response);
          if (response.statusCode === 200) return arrayBufferOf(bytes.subarray(start, end));
          return arrayBufferOf(bytes);
        },
      };
    },
  };
}

function bufferAccess(bytes: Buffer): RandomAccess {
  return { byteLength: bytes.length, slice: async (start: number, end = bytes.length) => arrayBufferOf(bytes.subarray(start, end)) };
}

function arrayBufferOf(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
}

/** Lazily opened streams: the request happens when reading starts, errors surface there. */
function streamOf(name: string, open: () => Promise<AsyncIterable<Buffer>>): AsyncIterable<Buffer> {
  return {
    async *[Symbol.asyncIterator]() {
      const stream = await open();
      try {
        for await (const chunk of stream) yield chunk;
      } catch (err) {
        if (err instanceof InputError || err instanceof RunError) throw err;
        throw new RunError(`${name}: reading failed: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}

/**
 * An S3 location's objects. Wildcards may sit in any segment (an inference log is read with
 * a `*` for the version and for the hour): the keys under the path before the first
 * wildcard are listed once and matched against the whole pattern, segment by segment.
 */
async function resolveS3(uri: string, settings: S3Settings): Promise<DataObject[]> {
  const { bucket, key } = parseS3Uri(uri);
  const segments = key.split('/');
  const firstGlob = segments.findIndex(hasGlob);
  const last = segments[segments.length - 1];
  if (firstGlob === -1 && last !== '') return [s3Object(settings, bucket, key)];
  const staticPrefix = segments.slice(0, firstGlob === -1 ? segments.length - 1 : firstGlob).map((s) => `${s}/`).join('');
  const pattern = globRegExp(last === '' ? `${key}*` : key);
  const listed = await s3List(settings, bucket, staticPrefix);
  const keys = listed.filter((k) => pattern.test(k) && (last !== '' || SUPPORTED(k))).sort();
  if (keys.length === 0) throw new NotFoundError(`${uri}: no object matches`);
  return keys.map((k) => s3Object(settings, bucket, k));
}

function s3Object(settings: S3Settings, bucket: string, key: string): DataObject {
  const name = `s3://${bucket}/${key}`;
  return {
    name,
    stream: () => streamOf(name, async () => maybeGunzip(name, await s3Get(settings, { bucket, key }))),
    randomAccess: async () => {
      const head = await s3Head(settings, { bucket, key });
      head.resume();
      const length = Number(head.headers['content-length']);
      return {
        byteLength: length,
        slice: async (start: number, end = length) => arrayBufferOf(await readBytes(await s3Get(settings, { bucket, key }, { range: `bytes=${start}-${end - 1}` }))),
      };
    },
  };
}

async function resolveMlflow(uri: string, settings: SourceSettings): Promise<DataObject[]> {
  const artifact = await resolveMlflowUri(uri, settings.mlflow);
  const root = artifact.artifactRoot.replace(/\/+$/, '');
  const joined = `${root}/${artifact.path.replace(/^\/+/, '')}`;
  if (root.startsWith('s3://')) {
    const isDir = artifact.conventional || !SUPPORTED(artifact.path);
    return resolveS3(isDir ? `${joined.replace(/\/+$/, '')}/` : joined, settings.s3);
  }
  if (root.startsWith('http://') || root.startsWith('https://')) return [httpObject(joined, joined)];
  if (!root.startsWith('mlflow-artifacts:')) {
    throw new InputError(`${artifact.description}: artifacts are stored at ${root}, which the checker cannot read; run the tracking server with --serve-artifacts (the default) so artifacts go through its proxy`);
  }
  const mlflow = settings.mlflow!;
  const headers = mlflowHeaders(mlflow);
  if (!artifact.conventional && SUPPORTED(artifact.path)) {
    return [httpObject(proxyUrl(mlflow, root, artifact.path), `${artifact.description}`, headers)];
  }
  const files = (await proxyList(mlflow, root, artifact.path)).filter(SUPPORTED);
  if (files.length === 0) {
    throw new InputError(`${artifact.description}: no .csv, .jsonl or .parquet file under the artifact directory ${artifact.path}/`
      + (artifact.conventional ? ' (log the reference dataset in the model\'s run with mlflow.log_artifact(file, artifact_path="reference"))' : ''));
  }
  return files.map((file) => httpObject(proxyUrl(mlflow, root, file), `${artifact.description}: ${file}`, headers));
}
