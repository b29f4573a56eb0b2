import { readCsv } from './csv';
import { InputError } from '../errors';
import { readJsonLines } from './jsonl';
import { type Format, type SourceSettings, formatFromName, resolveSource } from './sources';
import { type ColumnRequest, type Dictionary, type Sampling, type Table, TableBuilder } from './table';

/**
 * Loads one dataset (reference or current): every object the URI names, read in order into
 * one table of the requested columns.
 */
export interface LoadOptions {
  /** Forces the format instead of taking it from each object's extension. */
  readonly format?: Format;
  readonly sampling?: Sampling;
  readonly settings: SourceSettings;
}

export async function loadTable(uri: string, requests: readonly ColumnRequest[], dictionaries: readonly (Dictionary | undefined)[],
  options: LoadOptions): Promise<Table> {
  const objects = await resolveSource(uri, options.settings);
  const builder = new TableBuilder(requests, dictionaries, options.sampling);
  for (const object of objects) {
    const format = options.format ?? formatFromName(object.name);
    if (!format) {
      throw new InputError(`${object.name}: cannot tell the format from the name; pass --format csv, jsonl or parquet`);
    }
    if (format === 'csv') await readCsv(object.stream(), object.name, requests, builder);
    else if (format === 'jsonl') await readJsonLines(object.stream(), object.name, requests, builder);
    else {
      // Loaded on demand: see parquet.ts.
      const { readParquet } = await import('./parquet');
      await readParquet(object, requests, builder);
    }
  }
  return builder.finish();
}

/** Column names of a dataset's first object, for "all columns" defaults. */
export async function peekColumns(uri: string, options: LoadOptions): Promise<string[]> {
  const objects = await resolveSource(uri, options.settings);
  const object = objects[0];
  const format = options.format ?? formatFromName(object.name);
  if (!format) throw new InputError(`${object.name}: cannot tell the format from the name; pass --format csv, jsonl or parquet`);
  if (format === 'parquet') {
    const { parquetMetadataAsync, parquetSchema } = await import('hyparquet');
    const file = await object.randomAccess();
    try {
      return parquetSchema(await parquetMetadataAsync(file)).children.map((child) => child.element.name);
    } catch (err) {
      throw new InputError(`${object.name}: not a readable Parquet file (${(err as Error).message})`);
    } finally {
      await file.close?.();
    }
  }
  // The header line (CSV) or the first object's keys (JSON Lines), without reading further.
  let text = '';
  for await (const chunk of object.stream()) {
    text += chunk.toString('utf8');
    if (format === 'jsonl' ? /\S[^\n]*\n/.test(text) : headerComplete(text)) break;
  }
  if (format === 'jsonl') {
    const line = text.split('\n').find((l) => l.trim() !== '');
    if (!line) throw new InputError(`${object.name}: no JSON objects (the file is empty)`);
    try {
      return Object.keys(JSON.parse(line) as object);
    } catch (err) {
      throw new InputError(`${object.name}:1:1: not valid JSON (${(err as Error).message})`);
    }
  }
  return parseHeader(text.replace(/^\uFEFF/, ''), object.name);
}

/** True when text holds a whole first record (a line end outside quotes). */
function headerComplete(text: string): boolean {
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === '\n' && !quoted) return true;
  }
  return false;
}

function parseHeader(text: string, name: string): string[] {
  const names: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      names.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') break;
    else field += ch;
  }
  names.push(field);
  if (names.length === 1 && names[0] === '') throw new InputError(`${name}: the file is empty (no header row)`);
  return names;
}
