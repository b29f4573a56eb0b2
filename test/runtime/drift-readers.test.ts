import * as fc from 'fast-check';
import { readCsv, parseNumberBytes } from '../../src/runtime/drift/io/csv';
import { InputError } from '../../src/runtime/drift/errors';
import { readJsonLines } from '../../src/runtime/drift/io/jsonl';
import { type ColumnRequest, Dictionary, NA_TOKENS, type Table, TableBuilder, pythonFloatRepr } from '../../src/runtime/drift/io/table';
import { readFixture } from './drift-support';

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
  const builder = new TableBuilder(requests, requests.map((r) => (r.kind !== 'number' ? new Dictionary() : undefined)), sampling);
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

describe('inferred column types (auto)', () => {
  const auto = (name: string): ColumnRequest => ({ name, kind: 'auto' });

  it('keeps a column of numbers numeric, with pandas\' integer typing', async () => {
    const table = await readText(readCsv, 'a,b\n1,1.5\n2,NA\n3,inf\n', [auto('a'), auto('b')]);
    expect(numbers(table, 'a')).toEqual([1, 2, 3]);
    expect(numbers(table, 'b')).toEqual([1.5, NaN, Infinity]);
    expect(table.columns.get('a')).toMatchObject({ integer: true });
    expect(table.textSwitches?.size).toBe(0);
  });

  it('turns a CSV column text at its first value that is not a number, keeping later raw text', async () => {
    // GIVEN numbers, then a word, then numbers written in forms a number column would normalize
    const table = await readText(readCsv, 'plan\n1\n\nNA\n2\nteam\n007\n"3"\n1.50\n-\n', [auto('plan')]);
    // THEN the numbers before the switch are their digits, NA stays missing, and what follows is kept as written
    expect(texts(table, 'plan')).toEqual(['1', null, '2', 'team', '007', '3', '1.50', '-']);
    expect(table.textSwitches?.get('plan')).toEqual({ row: 4, value: 'team' });
  });

  it('renders floats read before the switch as Python\'s repr (the documented difference from pandas)', async () => {
    const table = await readText(readCsv, 'x\n2.50\n2\n1e-5\n1e16\nx\n', [auto('x')]);
    // pandas would keep "2.50", "2", "1e-5", "1e16": the raw text is gone once the values were numbers
    expect(texts(table, 'x')).toEqual(['2.5', '2.0', '1e-05', '1e+16', 'x']);
  });

  it('gives the same table however the bytes are split, and the same text as --categorical when numbers are written canonically (property)', async () => {
    const token = fc.oneof(
      fc.integer({ min: -1000, max: 1000 }).map(String),
      fc.constantFrom('team', 'pro', 'free', 'x y'),
      fc.constantFrom('', 'NA', 'null'),
    );
    await fc.assert(fc.asyncProperty(fc.array(token, { minLength: 1, maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 17 }), { maxLength: 30 }),
      async (values, chunks) => {
        const text = `id,v\n${values.map((v, i) => `${i},${v}`).join('\n')}\n`;
        const inferred = await readText(readCsv, text, [auto('v')], chunks);
        const categorical = await readText(readCsv, text, [{ name: 'v', kind: 'text' }]);
        const anyText = values.some((v) => /[a-z]/.test(v) && v !== 'null');
        if (anyText) expect(texts(inferred, 'v')).toEqual(texts(categorical, 'v'));
        else expect(numbers(inferred, 'v')).toEqual(values.map((v) => (v === '' || v === 'NA' || v === 'null' ? NaN : Number(v))));
      }), { numRuns: 300 });
  });

  it('agrees with pandas on which CSV columns are numbers, and on the text of the others (oracle: pandas 3.1)', async () => {
    // GIVEN pandas.read_csv's dtype and values for each column (python/oracle/make_inference_fixtures.py)
    const fixture = readFixture<{ csv: Array<{ tokens: string[]; dtype: string; numeric: boolean; values: Array<string | null> | null }> }>('inference.json');
    // The documented difference: numbers read before the first word become text as their number
    const rendered: Record<string, Array<string | null>> = {
      '1e5,b': ['100000.0', 'b'],
      '007,8,x': ['7', '8', 'x'],
      '1.0,2.50,x': ['1.0', '2.5', 'x'],
    };
    for (const c of fixture.csv) {
      // WHEN the column is read with its type inferred
      const table = await readText(readCsv, `id,v\n${c.tokens.map((t, i) => `${i},${t}`).join('\n')}\n`, [auto('v')]);
      // THEN it is numeric exactly when pandas gave it a number dtype, and holds pandas' text otherwise
      expect([c.tokens, table.columns.get('v')!.kind]).toEqual([c.tokens, c.numeric ? 'number' : 'text']);
      if (!c.numeric) expect([c.tokens, texts(table, 'v')]).toEqual([c.tokens, rendered[c.tokens.join(',')] ?? c.values]);
    }
    expect(fixture.csv.filter((c) => rendered[c.tokens.join(',')]).map((c) => c.values)).toEqual([['1e5', 'b'], ['007', '8', 'x'], ['1.0', '2.50', 'x']]);
  });

  it('keeps a column text from one file to the next of the same dataset', async () => {
    const builder = new TableBuilder([auto('v')], [new Dictionary()]);
    const feed = (text: string) => readCsv((async function* () { yield Buffer.from(text); })(), 'part.csv', [auto('v')], builder);
    await feed('v\n1\nteam\n');
    await feed('v\n007\n');
    const table = builder.finish();
    expect(texts(table, 'v')).toEqual(['1', 'team', '007']);
  });

  it('follows the JSON types in JSON Lines: numbers until a string or boolean', async () => {
    const text = '{"v": 1}\n{"v": 2.5}\n{"v": null}\n{"v": "team"}\n{"v": 3}\n{"v": true}\n{}\n';
    const table = await readText(readJsonLines, text, [auto('v')]);
    expect(texts(table, 'v')).toEqual(['1.0', '2.5', null, 'team', '3', 'true', null]);
    const numeric = await readText(readJsonLines, '{"v": 1}\n{"v": null}\n', [auto('v')]);
    expect(numbers(numeric, 'v')).toEqual([1, NaN]);
    const nested = await errorOf(readText(readJsonLines, '{"v": [1]}\n', [auto('v')]));
    expect(nested.message).toMatch(/^data\.csv:1:2: column "v": a feature value must be a number, string, boolean or null/);
  });

  it('converts the kept rows of a reservoir sample, and only those', async () => {
    const lines = Array.from({ length: 200 }, (_, i) => (i === 150 ? 'team' : String(i)));
    const text = `v\n${lines.join('\n')}\n`;
    const sampled = await readText(readCsv, text, [auto('v')], [], { size: 20, seed: 3 });
    const numericOnly = await readText(readCsv, `v\n${lines.map((l, i) => (i === 150 ? '150' : l)).join('\n')}\n`, [auto('v')], [], { size: 20, seed: 3 });
    // the same rows are kept; each holds its number as text, or "team" where row 151 was kept
    expect(texts(sampled, 'v')).toEqual(numbers(numericOnly, 'v').map((n) => (n === 150 ? 'team' : String(n))));
  });
});

describe('Python float repr (numbers that become categories)', () => {
  it.each([
    [1e-5, '1e-05'], [0.0001, '0.0001'], [0.00012, '0.00012'], [1e16, '1e+16'], [1234567890123456, '1234567890123456.0'],
    [123456789012345678, '1.2345678901234568e+17'], [0.1, '0.1'], [-2.5, '-2.5'], [1.5e300, '1.5e+300'], [5e-324, '5e-324'],
    [2, '2.0'], [-0, '-0.0'], [100, '100.0'], [1e22, '1e+22'], [3.14159, '3.14159'], [9999999999999998, '9999999999999998.0'],
  ])('%p is %s, as CPython 3 prints it', (value, expected) => {
    expect(pythonFloatRepr(value)).toBe(expected);
  });

  it('reads back to the same double (property)', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
      expect(Object.is(Number(pythonFloatRepr(x)), x)).toBe(true);
    }));
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
