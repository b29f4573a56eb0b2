import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { InputError } from '../errors';
import type { DataObject, RandomAccess } from './sources';
import { type ColumnRequest, type RowSink, resolveColumns } from './table';

/**
 * Parquet through hyparquet (pure JavaScript, MIT, no dependencies): the footer is read
 * first, then one row group at a time with only the requested columns, so memory holds one
 * row group of the requested columns, not the file. Snappy is built into hyparquet; gzip and
 * brotli come from node:zlib, zstd from fzstd; LZ4 and LZO files are refused with a message.
 *
 * Types follow pandas/pyarrow: INT32/INT64 columns are integers (int64 in pandas unless they
 * hold nulls), floats are floats, BOOLEAN and strings are categories. This module is loaded
 * only when a Parquet source is read (hyparquet is an ES module that jest's CommonJS tests
 * cannot load; the bundled program has it inlined).
 */

const COMPRESSORS = {
  GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(brotliDecompressSync(input)),
  ZSTD: (input: Uint8Array, outputLength: number) => zstdDecompress(input, new Uint8Array(outputLength)),
};

export async function readParquet(object: DataObject, requests: readonly ColumnRequest[], sink: RowSink): Promise<void> {
  const { parquetMetadataAsync, parquetSchema, parquetRead } = await import('hyparquet');
  const file = await object.randomAccess();
  try {
    await readRowGroups(object, file, requests, sink, parquetMetadataAsync, parquetSchema, parquetRead);
  } finally {
    await file.close?.();
  }
}

type Hyparquet = typeof import('hyparquet');

async function readRowGroups(object: DataObject, file: RandomAccess, requests: readonly ColumnRequest[], sink: RowSink,
  parquetMetadataAsync: Hyparquet['parquetMetadataAsync'], parquetSchema: Hyparquet['parquetSchema'], parquetRead: Hyparquet['parquetRead']): Promise<void> {
  let metadata;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new InputError(`${object.name}: not a readable Parquet file (${(err as Error).message})`);
  }
  const schema = parquetSchema(metadata);
  const names = schema.children.map((child) => child.element.name);
  resolveColumns(names, requests, object.name);
  const elementOf = (name: string) => schema.children.find((child) => child.element.name === name)!.element;
  // A feature of inferred type takes the column's type: strings and booleans are categories
  // (pandas' object and bool dtypes), everything else numbers. The schema decides before any
  // value is read, so a string column that holds digits is still categorical, as in pandas.
  const kinds = requests.map((request) => {
    if (request.kind !== 'auto') return request.kind;
    const element = elementOf(request.name);
    const logical = element.logical_type?.type;
    const textual = element.type === 'BOOLEAN'
      || (element.type === 'BYTE_ARRAY' && (element.converted_type === 'UTF8' || element.converted_type === 'ENUM'
        || logical === 'STRING' || logical === 'ENUM'));
    return textual ? 'text' : 'number';
  });
  const integerColumn = requests.map((request) => {
    const element = elementOf(request.name);
    const logical = element.logical_type?.type;
    return (element.type === 'INT32' || element.type === 'INT64') && element.converted_type !== 'DECIMAL'
      && logical !== 'DECIMAL' && logical !== 'DATE' && logical !== 'TIMESTAMP' && logical !== 'TIME'
      && element.converted_type !== 'DATE' && !String(element.converted_type ?? '').startsWith('TIME');
  });

  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupRows = Number(group.num_rows);
    const groupEnd = groupStart + groupRows;
    const data = new Map<string, { values: ArrayLike<unknown>; start: number }>();
    try {
      await parquetRead({
        file,
        metadata,
        columns: requests.map((r) => r.name),
        rowStart: groupStart,
        rowEnd: groupEnd,
        compressors: COMPRESSORS,
        onChunk: (chunk) => {
          // A column may arrive in several chunks; keep them in row order.
          const previous = data.get(chunk.columnName);
          if (!previous) data.set(chunk.columnName, { values: chunk.columnData, start: chunk.rowStart });
          else data.set(chunk.columnName, { values: [...Array.from(previous.values), ...Array.from(chunk.columnData)], start: previous.start });
        },
      });
    } catch (err) {
      throw new InputError(`${object.name}: row group starting at row ${groupStart + 1}: ${(err as Error).message}`);
    }
    const columns = requests.map((r) => data.get(r.name));
    for (let row = groupStart; row < groupEnd; row++) {
      sink.startRow();
      for (let slot = 0; slot < requests.length; slot++) {
        const column = columns[slot];
        const value = column ? column.values[row - column.start] : undefined;
        const request = requests[slot];
        if (kinds[slot] === 'number') {
          if (value === null || value === undefined) sink.number(slot, NaN, false);
          else if (typeof value === 'number') sink.number(slot, value, integerColumn[slot]);
          else if (typeof value === 'bigint') sink.number(slot, Number(value), true);
          else {
            throw new InputError(`${object.name}: row ${row + 1}, column ${JSON.stringify(request.name)}: ${describe(value)} is not a number (list the column in --categorical if it holds categories)`);
          }
        } else if (value === null || value === undefined) {
          sink.text(slot, null);
        } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
          sink.text(slot, String(value));
        } else {
          throw new InputError(`${object.name}: row ${row + 1}, column ${JSON.stringify(request.name)}: ${describe(value)} cannot be a category`);
        }
      }
      sink.endRow();
    }
    groupStart = groupEnd;
  }
}

function describe(value: unknown): string {
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (value instanceof Uint8Array) return `${value.length} bytes of binary data`;
  return JSON.stringify(value) ?? String(value);
}
