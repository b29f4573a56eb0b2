import { InputError } from '../errors';

/**
 * What the readers (CSV, JSON Lines, Parquet) hand over and where it goes: only the requested
 * columns, row by row, into compact column stores (numbers as float64, text as int32 codes
 * into a dictionary shared by both datasets), optionally through a seeded reservoir sample,
 * so memory is bounded by (kept rows x requested columns) whatever the file size.
 */

/**
 * `number` and `text` are what the user said (a regression label, `--categorical`); `auto` is
 * a feature whose type the data decides, as pandas decides a dtype: it is stored as numbers
 * until the first value that is neither a number nor missing, then the numbers kept so far
 * become text codes and the column goes on as text. Memory stays that of a number column
 * until then (no dictionary of every distinct float is built on speculation).
 */
export type ColumnKind = 'number' | 'text' | 'auto';

export interface ColumnRequest {
  readonly name: string;
  readonly kind: ColumnKind;
}

/** The receiving end of a reader; `slot` indexes the requested columns. */
export interface RowSink {
  startRow(): void;
  /**
   * A number (NaN or +-Infinity for missing / non-finite); `integerLiteral` as pandas would
   * type it. Into an `auto` column already turned text, the number is stored as its text.
   */
  number(slot: number, value: number, integerLiteral: boolean): void;
  /** A text value, or null when missing. Into an `auto` column, a non-null value makes it text. */
  text(slot: number, value: string | null): void;
  /**
   * Whether an `auto` slot has turned text: a reader then hands over the raw text of values
   * that look like numbers (a CSV "007" stays "007", as pandas keeps it in an object column).
   */
  isText(slot: number): boolean;
  endRow(): void;
}

/** Text values <-> int32 codes; one per column, shared by reference and current. */
export class Dictionary {
  readonly values: string[] = [];
  private readonly codes = new Map<string, number>();

  code(value: string): number {
    let code = this.codes.get(value);
    if (code === undefined) {
      code = this.values.length;
      this.codes.set(value, code);
      this.values.push(value);
    }
    return code;
  }
}

export interface NumberColumn {
  readonly kind: 'number';
  /** One value per kept row; NaN where missing, +-Infinity where the source had it. */
  readonly values: Float64Array;
  /** pandas would read the column as int64: every value an integer literal, none missing. */
  readonly integer: boolean;
  /** Every present, finite value an integer literal (missing ones allowed): how numbers become text. */
  readonly integerText?: boolean;
}

export interface TextColumn {
  readonly kind: 'text';
  /** One code per kept row, -1 where missing. */
  readonly codes: Int32Array;
  readonly dictionary: Dictionary;
}

export type Column = NumberColumn | TextColumn;

export interface Table {
  /** Rows kept (all rows, or the sample). */
  readonly rows: number;
  /** Rows read from the source. */
  readonly rowsRead: number;
  readonly columns: ReadonlyMap<string, Column>;
  /** The `auto` columns that turned text while reading, with where. */
  readonly textSwitches?: ReadonlyMap<string, TextSwitch>;
}

/**
 * A column store that grows without copying: its ArrayBuffer is resizable (ES2024, Node 20),
 * so the engine commits pages as the column grows. With copying growth (or chunks copied at
 * the end), a whole table would briefly need twice its size, which "peak memory within 2x
 * the raw data" cannot afford.
 */
interface ResizableBuffer extends ArrayBuffer {
  resize(byteLength: number): void;
}
type ResizableCtor = new (byteLength: number, options: { maxByteLength: number }) => ResizableBuffer;

/** Largest column we reserve address space for: 4 GiB (half a billion float64 values). */
const MAX_COLUMN_BYTES = 2 ** 32;
const FIRST_CAPACITY = 1 << 16;

function resizable(): ResizableBuffer | undefined {
  try {
    const buffer = new (ArrayBuffer as unknown as ResizableCtor)(0, { maxByteLength: MAX_COLUMN_BYTES });
    return typeof buffer.resize === 'function' ? buffer : undefined;
  } catch {
    return undefined;
  }
}

type TypedArrayCtor<T> = { new (buffer: ArrayBuffer, byteOffset: number, length: number): T; new (length: number): T; BYTES_PER_ELEMENT: number };

class GrowableColumn<T extends Float64Array | Int32Array> {
  private readonly buffer = resizable();
  private view: T;

  constructor(private readonly ctor: TypedArrayCtor<T>) {
    this.view = new ctor(0);
  }

  set(index: number, value: number): void {
    if (index >= this.view.length) this.grow(index + 1);
    this.view[index] = value;
  }

  get(index: number): number {
    return this.view[index];
  }

  /** Gives the memory back (the column is no longer used). */
  release(): void {
    if (this.buffer) this.buffer.resize(0);
    this.view = new this.ctor(0);
  }

  private grow(minimum: number): void {
    const capacity = Math.max(minimum, FIRST_CAPACITY, Math.ceil(this.view.length * 1.5));
    if (this.buffer && capacity * this.ctor.BYTES_PER_ELEMENT <= MAX_COLUMN_BYTES) {
      this.buffer.resize(capacity * this.ctor.BYTES_PER_ELEMENT);
      this.view = new this.ctor(this.buffer, 0, capacity);
    } else {
      const next = new this.ctor(capacity);
      next.set(this.view);
      this.view = next;
    }
  }

  /**
   * The column as an ordinary array: the tests' loops run several times slower on views of
   * a resizable buffer in V8, so the data moves once into a plain array and the resizable
   * one shrinks to nothing at once; only one column is ever held twice.
   */
  finish(length: number): T {
    if (length > this.view.length) this.grow(length);
    const out = new this.ctor(length);
    out.set(this.view.subarray(0, length));
    if (this.buffer) this.buffer.resize(0);
    this.view = new this.ctor(0);
    return out;
  }
}

/**
 * A small seeded generator (mulberry32): the sample must be the same on every run with the
 * same seed so a drift alert can be reproduced, and it needs no dependency.
 */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Sampling {
  /** Keep at most this many rows, a uniform sample of all rows (reservoir sampling). */
  readonly size: number;
  readonly seed: number;
}

/**
 * The text a number read as a number stands for, once its column turned out to hold text:
 * an integer as its digits; other values as Python's repr of a float (`2.0`, `1e-05`,
 * `1e+16`), which is what pandas gives a JSON number in an object column. A CSV field's raw
 * text is gone by then (see the README: where inference differs from pandas).
 */
export function numberText(value: number, integerLiteral: boolean): string | null {
  if (Number.isNaN(value)) return null;
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (integerLiteral && Number.isSafeInteger(value)) return String(value);
  return pythonFloatRepr(value);
}

/** Python's `repr(float)`: the shortest round-tripping digits, fixed from 1e-4 up to 1e16, else exponent form. */
export function pythonFloatRepr(value: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = value.toExponential().split('e');
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    const fraction = digits.slice(exponent + 1);
    return `${sign}${whole}.${fraction === '' ? '0' : fraction}`;
  }
  const shown = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${shown}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/** A number column as text codes (an `auto` column that is text in the other dataset). */
export function numbersToText(column: NumberColumn, dictionary: Dictionary): TextColumn {
  const codes = new Int32Array(column.values.length);
  for (let i = 0; i < codes.length; i++) {
    const text = numberText(column.values[i], column.integerText ?? column.integer);
    codes[i] = text === null ? -1 : dictionary.code(text);
  }
  return { kind: 'text', codes, dictionary };
}

/** Where an `auto` column turned text: the first value that is not a number. */
export interface TextSwitch {
  /** 1-based row of the dataset (all its files), before sampling. */
  readonly row: number;
  readonly value: string;
}

/** Builds a `Table` from reader callbacks, optionally keeping a reservoir sample of rows. */
export class TableBuilder implements RowSink {
  private readonly numbers: Array<GrowableColumn<Float64Array> | undefined>;
  private readonly texts: Array<GrowableColumn<Int32Array> | undefined>;
  private readonly integer: boolean[];
  /** Per slot: an `auto` column still numeric, or any column holding text. */
  private readonly textMode: boolean[];
  /**
   * Per slot: every present, finite value so far was an integer literal (unlike `integer`,
   * missing values do not count): such numbers become text as their digits when the column
   * turns text, so "1, NA, team" gives "1", not "1.0".
   */
  private readonly integerText: boolean[];
  private readonly switches = new Map<string, TextSwitch>();
  private readonly random?: () => number;
  private rowsRead = 0;
  private kept = 0;
  /** Where the current row goes; -1 when the sample skips it (values are still parsed and checked). */
  private slot = -1;

  constructor(
    private readonly requests: readonly ColumnRequest[],
    private readonly dictionaries: readonly (Dictionary | undefined)[],
    private readonly sampling?: Sampling,
  ) {
    this.numbers = requests.map((r) => (r.kind !== 'text' ? new GrowableColumn(Float64Array) : undefined));
    this.texts = requests.map((r) => (r.kind === 'text' ? new GrowableColumn(Int32Array) : undefined));
    this.integer = requests.map(() => true);
    this.textMode = requests.map((r) => r.kind === 'text');
    this.integerText = requests.map(() => true);
    if (sampling) this.random = seededRandom(sampling.seed);
    requests.forEach((r, i) => {
      if (r.kind !== 'number' && !dictionaries[i]) throw new Error(`${r.kind} column ${r.name} needs a dictionary`);
    });
  }

  startRow(): void {
    const i = this.rowsRead++;
    if (!this.sampling || i < this.sampling.size) {
      this.slot = i;
      this.kept = i + 1;
    } else {
      // Algorithm R: row i replaces a random kept row with probability size / (i + 1).
      const j = Math.floor(this.random!() * (i + 1));
      this.slot = j < this.sampling.size ? j : -1;
    }
  }

  number(slot: number, value: number, integerLiteral: boolean): void {
    if (this.textMode[slot]) {
      this.text(slot, numberText(value, integerLiteral));
      return;
    }
    if (!integerLiteral) {
      this.integer[slot] = false;
      if (Number.isFinite(value)) this.integerText[slot] = false;
    }
    if (this.slot >= 0) this.numbers[slot]!.set(this.slot, value);
  }

  text(slot: number, value: string | null): void {
    if (!this.textMode[slot]) {
      if (this.requests[slot].kind === 'number') throw new Error(`number column ${this.requests[slot].name} got text`);
      // Missing keeps an auto column numeric; the first real text turns it.
      if (value === null) {
        this.number(slot, NaN, false);
        return;
      }
      this.switchToText(slot, value);
    }
    if (this.slot >= 0) this.texts[slot]!.set(this.slot, value === null ? -1 : this.dictionaries[slot]!.code(value));
  }

  isText(slot: number): boolean {
    return this.textMode[slot];
  }

  endRow(): void {}

  /** The kept numbers of an auto column become text codes; from now on it is a text column. */
  private switchToText(slot: number, value: string): void {
    const numbers = this.numbers[slot]!;
    const dictionary = this.dictionaries[slot]!;
    const texts = new GrowableColumn(Int32Array);
    // The current row's slot is written by the caller; every other kept row has its number.
    for (let i = 0; i < this.kept; i++) {
      if (i === this.slot) continue;
      const text = numberText(numbers.get(i), this.integerText[slot]);
      texts.set(i, text === null ? -1 : dictionary.code(text));
    }
    numbers.release();
    this.numbers[slot] = undefined;
    this.texts[slot] = texts;
    this.textMode[slot] = true;
    this.switches.set(this.requests[slot].name, { row: this.rowsRead, value });
  }

  finish(): Table {
    const columns = new Map<string, Column>();
    this.requests.forEach((request, i) => {
      if (!this.textMode[i]) {
        columns.set(request.name, { kind: 'number', values: this.numbers[i]!.finish(this.kept), integer: this.integer[i], integerText: this.integerText[i] });
      } else {
        columns.set(request.name, { kind: 'text', codes: this.texts[i]!.finish(this.kept), dictionary: this.dictionaries[i]! });
      }
    });
    return { rows: this.kept, rowsRead: this.rowsRead, columns, textSwitches: this.switches };
  }
}

/** Resolves requested column names against a source's header; missing ones are input errors. */
export function resolveColumns(header: readonly string[], requests: readonly ColumnRequest[], where: string): Int32Array {
  const index = new Map<string, number>();
  header.forEach((name, i) => {
    if (!index.has(name)) index.set(name, i);
  });
  const missing = requests.filter((r) => !index.has(r.name)).map((r) => r.name);
  if (missing.length > 0) {
    const shown = header.length > 20 ? `${header.slice(0, 20).join(', ')}, ...` : header.join(', ');
    throw new InputError(`${where}: column${missing.length > 1 ? 's' : ''} ${missing.map((m) => JSON.stringify(m)).join(', ')} not found (columns: ${shown})`);
  }
  // For each source column, the slot it fills or -1.
  const slots = new Int32Array(header.length).fill(-1);
  requests.forEach((r, slot) => {
    slots[index.get(r.name)!] = slot;
  });
  return slots;
}

/** Missing-value tokens pandas' read_csv recognises by default (na_values), for every column. */
export const NA_TOKENS: ReadonlySet<string> = new Set([
  '', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA',
  'NULL', 'NaN', 'None', 'n/a', 'nan', 'null',
]);
