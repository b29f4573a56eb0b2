import * as fc from 'fast-check';
import { readCsv, parseNumberBytes } from '../../src/runtime/drift/io/csv';
import { InputError } from '../../src/runtime/drift/errors';
import { readJsonLines } from '../../src/runtime/drift/io/jsonl';
import { type ColumnRequest, Dictionary, NA_TOKENS, type Table, TableBuilder } from '../../src/runtime/drift/io/table';

/** Reads `text` split into the given chunk sizes (bytes), as a stream would deliver it. */
async function readText(reader: typeof readCsv, text: string | Buffer, requests: ColumnRequest[], chunkSizes: number[] = [], sampling?: { size: number; seed: number }): Promise<Table> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const chunks: Buffer[] = [];
  let pos = 0;
  for (const size of chunkSizes) {
    if (pos >= bytes.length) break;
    chunks.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  if (pos < bytes.length) chunks.push(bytes.subarray(pos));
  const builder = new TableBuilder(requests, requests.map((r) => (r.kind === 'text' ? new Dictionary() : undefined)), sampling);
  await reader((async function* () { yield* chunks; })(), 'data.csv', requests, builder);
  return builder.finish();
}

const numbers = (table: Table, name: string) => {
  const column = table.columns.get(name)!;
  if (column.kind !== 'number') throw new Error('not numbers');
  return Array.from(column.values);
};
const texts = (table: Table, name: string) => {
  const column = table.columns.get(name)!;
  if (column.kind !== 'text') throw new Error('not text');
  return Array.from(column.codes, (c) => (c < 0 ? null : column.dictionary.values[c]));
};

async function errorOf(promise: Promise<unknown>): Promise<InputError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('expected an InputError');
}

describe('CSV reader', () => {
  it('reads RFC 4180: quotes, escaped quotes, line breaks and commas in quotes, CRLF, a BOM, blank lines', async () => {
    const text = '\uFEFFid,"note",x\r\n1,"a, ""quoted"" word",1.5\r\n\r\n2,"two\nlines",-2e3\r\n3,,\r\n';
    const table = await readText(readCsv, text, [{ name: 'note', kind: 'text' }, { name: 'x', kind: 'number' }]);
    expect(table.rows).toBe(3);
    expect(texts(table, 'note')).toEqual(['a, "quoted" word', 'two\nlines', null]);
    expect(numbers(table, 'x')).toEqual([1.5, -2000, NaN]);
  });

  it('treats pandas\' NA tokens as missing and inf as infinite, and types integers as pandas does', async () => {
    const text = 'a,b,c\n1,NA,inf\n2,null,-Infinity\n3,#N/A,1.0\n';
    const table = await readText(readCsv, text, [{ name: 'a', kind: 'number' }, { name: 'b', kind: 'text' }, { name: 'c', kind: 'number' }]);
    expect(numbers(table, 'c')).toEqual([Infinity, -Infinity, 1]);
    expect(texts(table, 'b')).toEqual([null, null, null]);
    expect((table.columns.get('a') as { integer: boolean }).integer).toBe(true);
    expect((table.columns.get('c') as { integer: boolean }).integer).toBe(false);
  });

  it('names file, line and column of a bad value, counting lines inside quoted fields', async () => {
    const text = 'a,b\n"x\ny",1\n"z",2\nq,oops\n';
    const err = await errorOf(readText(readCsv, text, [{ name: 'b', kind: 'number' }]));
    expect(err.message).toBe('data.csv:5:3: column "b": "oops" is not a number (list the column in --categorical if it holds categories)');
  });

  it('fails on rows with a different number of fields, and on an unclosed quote', async () => {
    expect((await errorOf(readText(readCsv, 'a,b\n1,2\n3\n', [{ name: 'a', kind: 'number' }]))).message).toBe('data.csv:3:1: 1 fields, but the header has 2');
    expect((await errorOf(readText(readCsv, 'a,b\n1,"2\n', [{ name: 'a', kind: 'number' }]))).message).toMatch(/^data\.csv:2:1: a quoted field is not closed/);
    expect((await errorOf(readText(readCsv, '', [{ name: 'a', kind: 'number' }]))).message).toBe('data.csv: the file is empty (no header row)');
  });

  it('gives the same table however the bytes are split into chunks', async () => {
    const cell = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('a,b', 'say "hi"', 'x\ny', 'é€😀', '', 'NA', 'x\r\ny'));
    const row = fc.tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), cell);
    await fc.assert(fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 200 }), fc.boolean(),
      async (rows, cuts, crlf) => {
        const eol = crlf ? '\r\n' : '\n';
        const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
        const text = `num,text${eol}${rows.map(([n, s]) => `${n},${quote(s)}`).join(eol)}${eol}`;
        const table = await readText(readCsv, text, [{ name: 'num', kind: 'number' }, { name: 'text', kind: 'text' }], cuts);
        expect(numbers(table, 'num')).toEqual(rows.map(([n]) => (n === 0 ? 0 : n))); // String(-0) is "0"
        // pandas' NA tokens ('', 'NA', 'null', ...) are missing even when quoted
        expect(texts(table, 'text')).toEqual(rows.map(([, s]) => (NA_TOKENS.has(s) ? null : s)));
      }), { numRuns: 200 });
  });
});

describe('number parsing', () => {
  const parse = (text: string) => parseNumberBytes(Buffer.from(text), 0, Buffer.byteLength(text), { integer: false });

  it('reads every double back exactly from its shortest, fixed and exponential forms', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
      expect(parse(String(x))).toBe(x === 0 ? 0 : x);
      expect(parse(x.toExponential(16))).toBe(Number(x.toExponential(16)));
      if (Math.abs(x) < 1e20) expect(parse(x.toFixed(8))).toBe(Number(x.toFixed(8)));
    }), { numRuns: 2000 });
  });

  it('agrees with the correctly rounded reading on any decimal literal', () => {
    const digits = fc.stringMatching(/^[0-9]{1,25}$/);
    fc.assert(fc.property(fc.boolean(), digits, fc.option(digits), fc.option(fc.integer({ min: -330, max: 330 })), (neg, int, frac, exp) => {
      const text = `${neg ? '-' : ''}${int}${frac !== null ? `.${frac}` : ''}${exp !== null ? `e${exp}` : ''}`;
      expect(parse(text)).toBe(Number(text));
    }), { numRuns: 3000 });
  });

  it('refuses what pandas would not read as a number', () => {
    for (const text of ['abc', '1.2.3', '0x10', '1e', '--1', '1,5', '١٢']) expect(parse(text)).toBeUndefined();
    for (const text of ['', ' ', 'NA', 'nan', 'NULL']) expect(parse(text)).toBeNaN();
    expect(parse(' 2.5 ')).toBe(2.5);
    expect(parse('.5')).toBe(0.5);
    expect(parse('5.')).toBe(5);
  });
});

describe('JSON Lines reader', () => {
  it('reads numbers, categories, nulls and absent keys', async () => {
    const text = '{"x": 1.5, "c": "a"}\n\n{"x": null, "c": true}\r\n{"c": 3}\n';
    const table = await readText(readJsonLines, text, [{ name: 'x', kind: 'number' }, { name: 'c', kind: 'text' }]);
    expect(numbers(table, 'x')).toEqual([1.5, NaN, NaN]);
    expect(texts(table, 'c')).toEqual(['a', 'true', '3']);
  });

  it('names line and column of bad JSON and of a string in a number column', async () => {
    const bad = await errorOf(readText(readJsonLines, '{"x": 1}\n{"x": 2,,}\n', [{ name: 'x', kind: 'number' }]));
    expect(bad.message).toMatch(/^data\.csv:2:9: not valid JSON/);
    const text = await errorOf(readText(readJsonLines, '{"x": 1}\n{"y": 0, "x": "2"}\n', [{ name: 'x', kind: 'number' }]));
    expect(text.message).toBe('data.csv:2:10: column "x": "2" is not a number (list the column in --categorical if it holds categories)');
    const missing = await errorOf(readText(readJsonLines, '{"y": 1}\n', [{ name: 'x', kind: 'number' }]));
    expect(missing.message).toBe('data.csv:1:1: column "x" not found (columns: y)');
  });
});

describe('sampling', () => {
  const csv = `v\n${Array.from({ length: 1000 }, (_, i) => i).join('\n')}\n`;

  it('keeps at most n rows, the same ones for the same seed, and reads (and checks) every row', async () => {
    const a = await readText(readCsv, csv, [{ name: 'v', kind: 'number' }], [], { size: 50, seed: 1 });
    const b = await readText(readCsv, csv, [{ name: 'v', kind: 'number' }], [], { size: 50, seed: 1 });
    const c = await readText(readCsv, csv, [{ name: 'v', kind: 'number' }], [], { size: 50, seed: 2 });
    expect([a.rows, a.rowsRead]).toEqual([50, 1000]);
    expect(numbers(a, 'v')).toEqual(numbers(b, 'v'));
    expect(numbers(a, 'v')).not.toEqual(numbers(c, 'v'));
    expect(new Set(numbers(a, 'v')).size).toBe(50);
    const bad = await errorOf(readText(readCsv, `${csv}x\n`, [{ name: 'v', kind: 'number' }], [], { size: 5, seed: 1 }));
    expect(bad.message).toMatch(/^data\.csv:1002:1: column "v": "x" is not a number/);
  });

  it('is close to uniform: every decile of the rows is kept about equally often', async () => {
    const counts = new Array(10).fill(0);
    for (let seed = 0; seed < 40; seed++) {
      const t = await readText(readCsv, csv, [{ name: 'v', kind: 'number' }], [], { size: 100, seed });
      for (const v of numbers(t, 'v')) counts[Math.floor(v / 100)]++;
    }
    // 4000 kept rows, 400 expected per decile; 5 standard deviations is about +-95
    for (const count of counts) expect(Math.abs(count - 400)).toBeLessThan(95);
  });
});
