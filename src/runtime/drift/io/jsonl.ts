import { InputError, at } from '../errors';
import { type ColumnRequest, type RowSink, resolveColumns } from './table';

/**
 * A streaming JSON Lines reader: one JSON object per line, blank lines skipped. The columns
 * are the keys of all objects together: an object may omit a key (a missing value), as an
 * inference log's record of a request it could not parse has no features, but a requested
 * column that no object of the file has is an error; a requested number column must hold
 * JSON numbers or null. A feature of inferred type is
 * numeric while it holds JSON numbers and categorical from its first string or boolean. Positions point at the line and
 * at the key inside it.
 */
export async function readJsonLines(chunks: AsyncIterable<Buffer>, name: string, requests: readonly ColumnRequest[], sink: RowSink): Promise<void> {
  let pending = '';
  let line = 0;
  let firstLine = 0;
  // Which requested columns some object had; the keys seen, for the message when one never came.
  const present = new Uint8Array(requests.length);
  let absent = requests.length;
  const keys = new Set<string>();
  const decoder = new TextDecoder('utf-8');

  const handle = (text: string) => {
    line++;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (err) {
      const position = /position (\d+)/.exec((err as Error).message);
      throw new InputError(`${at(name, line, position ? Number(position[1]) + 1 : 1)}: not valid JSON (${(err as Error).message})`);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new InputError(`${at(name, line, 1)}: each line must be a JSON object`);
    }
    const record = row as Record<string, unknown>;
    if (firstLine === 0) firstLine = line;
    if (absent > 0) {
      for (const key in record) keys.add(key);
      requests.forEach((request, slot) => {
        if (present[slot] === 0 && record[request.name] !== undefined) {
          present[slot] = 1;
          absent--;
        }
      });
    }
    sink.startRow();
    requests.forEach((request, slot) => {
      const value = record[request.name];
      if (request.kind === 'auto') {
        // JSON says the type: numbers stay numbers until a string or boolean turns the column text.
        if (value === undefined || value === null) sink.number(slot, NaN, false);
        else if (typeof value === 'number') sink.number(slot, value, Number.isInteger(value));
        else if (typeof value === 'string' || typeof value === 'boolean') sink.text(slot, String(value));
        else {
          const column = text.indexOf(JSON.stringify(request.name)) + 1 || 1;
          throw new InputError(`${at(name, line, column)}: column ${JSON.stringify(request.name)}: a feature value must be a number, string, boolean or null`);
        }
      } else if (request.kind === 'number') {
        if (value === undefined || value === null) sink.number(slot, NaN, false);
        else if (typeof value === 'number') sink.number(slot, value, Number.isInteger(value));
        else {
          const column = text.indexOf(JSON.stringify(request.name)) + 1 || 1;
          throw new InputError(`${at(name, line, column)}: column ${JSON.stringify(request.name)}: ${JSON.stringify(value)} is not a number (list the column in --categorical if it holds categories)`);
        }
      } else if (value === undefined || value === null) {
        sink.text(slot, null);
      } else if (typeof value === 'object') {
        const column = text.indexOf(JSON.stringify(request.name)) + 1 || 1;
        throw new InputError(`${at(name, line, column)}: column ${JSON.stringify(request.name)}: a category must be a string, number or boolean`);
      } else {
        sink.text(slot, String(value));
      }
    });
    sink.endRow();
  };

  for await (const chunk of chunks) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf('\n');
    let start = 0;
    while (newline >= 0) {
      handle(pending.slice(start, newline));
      start = newline + 1;
      newline = pending.indexOf('\n', start);
    }
    pending = pending.slice(start);
  }
  pending += decoder.decode();
  if (pending.length > 0) handle(pending);
  if (firstLine === 0) throw new InputError(`${name}: no JSON objects (the file is empty)`);
  if (absent > 0) resolveColumns([...keys], requests, at(name, firstLine, 1));
}
