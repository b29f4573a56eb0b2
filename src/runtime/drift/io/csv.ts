import { InputError, at } from '../errors';
import { type ColumnRequest, NA_TOKENS, type RowSink, resolveColumns } from './table';

/**
 * A streaming CSV reader (RFC 4180: comma separated, double-quoted fields with "" escapes and
 * line breaks inside quotes, LF or CRLF line ends, a header row). It works on bytes: numbers
 * in requested columns are parsed straight from the buffer and only requested text fields
 * become strings, which is what makes a million-row file cheap. Blank lines are skipped, as
 * pandas does; a row with more or fewer fields than the header is an error with its position.
 * Columns are counted in bytes from 1 (the same as characters for ASCII).
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/** Reads `chunks` (the raw bytes of one file) into `sink`; `name` is used in error messages. */
export async function readCsv(chunks: AsyncIterable<Buffer>, name: string, requests: readonly ColumnRequest[], sink: RowSink): Promise<void> {
  const parser = new CsvParser(name, requests, sink);
  for await (const chunk of chunks) parser.push(chunk);
  parser.end();
}

class CsvParser {
  private pending: Buffer | undefined;
  /** Line number (1-based) of the first byte of `pending`/the next chunk. */
  private line = 1;
  /** Source column index -> requested slot, or -1; set from the header. */
  private slots: Int32Array | undefined;
  private kinds: Uint8Array | undefined;
  private fieldCount = 0;
  private first = true;
  private readonly literal: NumberLiteral = { integer: false };

  constructor(private readonly name: string, private readonly requests: readonly ColumnRequest[], private readonly sink: RowSink) {}

  push(chunk: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.first) {
      this.first = false;
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    }
    const consumed = this.records(buf, false);
    this.pending = consumed < buf.length ? Buffer.from(buf.subarray(consumed)) : undefined;
  }

  end(): void {
    if (this.pending && this.pending.length > 0) this.records(this.pending, true);
    this.pending = undefined;
    if (!this.slots) throw new InputError(`${this.name}: the file is empty (no header row)`);
  }

  /**
   * Parses the complete records in buf; returns how many bytes were consumed. A record is
   * complete when its line end is seen (outside quotes), or at the end of the input.
   */
  private records(buf: Buffer, final: boolean): number {
    let pos = 0;
    const length = buf.length;
    let nextQuote = buf.indexOf(QUOTE, 0);
    while (pos < length) {
      // The record ends at the first line feed outside quotes: memchr-speed when the line has
      // no quote at all, a byte walk only for lines that do.
      let end = buf.indexOf(LF, pos);
      if (end < 0) end = length;
      let newlines = 0;
      if (nextQuote >= 0 && nextQuote < pos) nextQuote = buf.indexOf(QUOTE, pos);
      if (nextQuote >= 0 && nextQuote < end) {
        let inQuotes = false;
        for (end = pos; end < length; end++) {
          const b = buf[end];
          if (b === QUOTE) inQuotes = !inQuotes;
          else if (b === LF) {
            if (!inQuotes) break;
            newlines++;
          }
        }
        if (end === length && inQuotes && final) {
          throw new InputError(`${at(this.name, this.line, 1)}: a quoted field is not closed before the end of the file`);
        }
        nextQuote = buf.indexOf(QUOTE, end);
      }
      if (end === length && !final) return pos;
      let recordEnd = end;
      if (recordEnd > pos && buf[recordEnd - 1] === CR) recordEnd--;
      if (recordEnd > pos) this.record(buf, pos, recordEnd);
      this.line += newlines + 1;
      pos = end + 1;
    }
    return length;
  }

  private record(buf: Buffer, start: number, end: number): void {
    if (!this.slots) {
      this.header(buf, start, end);
      return;
    }
    const slots = this.slots;
    const kinds = this.kinds!;
    this.sink.startRow();
    let field = 0;
    let pos = start;
    let lineOffset = 0; // newlines seen inside quoted fields of this record, for positions
    let lineStart = start;
    for (;;) {
      let fieldStart = pos;
      let fieldEnd: number;
      let quoted = false;
      let escaped = false;
      if (pos < end && buf[pos] === QUOTE) {
        quoted = true;
        fieldStart = ++pos;
        for (;;) {
          if (pos >= end) throw new InputError(`${at(this.name, this.line + lineOffset, fieldStart - lineStart)}: a quoted field is not closed`);
          const b = buf[pos];
          if (b === QUOTE) {
            if (pos + 1 < end && buf[pos + 1] === QUOTE) {
              escaped = true;
              pos += 2;
              continue;
            }
            break;
          }
          if (b === LF) {
            lineOffset++;
            lineStart = pos + 1;
          }
          pos++;
        }
        fieldEnd = pos++;
        if (pos < end && buf[pos] !== COMMA) {
          throw new InputError(`${at(this.name, this.line + lineOffset, pos - lineStart + 1)}: unexpected character after a closing quote`);
        }
      } else {
        while (pos < end && buf[pos] !== COMMA) pos++;
        fieldEnd = pos;
      }
      if (field < slots.length) {
        const slot = slots[field];
        if (slot >= 0) {
          const column = (quoted ? fieldStart - 1 : fieldStart) - lineStart + 1;
          this.value(buf, fieldStart, fieldEnd, quoted, escaped, slot, kinds[slot], column, lineOffset);
        }
      }
      field++;
      if (pos >= end) break;
      pos++; // the comma
      if (pos === end) {
        // a trailing comma: one more, empty field
        if (field < slots.length && slots[field] >= 0) {
          this.value(buf, pos, pos, false, false, slots[field], kinds[slots[field]], pos - lineStart + 1, lineOffset);
        }
        field++;
        break;
      }
    }
    if (field !== this.fieldCount) {
      throw new InputError(`${at(this.name, this.line, 1)}: ${field} fields, but the header has ${this.fieldCount}`);
    }
    this.sink.endRow();
  }

  private value(buf: Buffer, start: number, end: number, quoted: boolean, escaped: boolean, slot: number, kind: number,
    column: number, lineOffset: number): void {
    if (kind === KIND_AUTO) {
      // A number while every value so far was one; the first other text turns the column
      // (pandas' object dtype), and from then on every field is kept as its text.
      const parsed = quoted ? parseNumberText(unquote(buf, start, end, escaped), this.literal) : parseNumberBytes(buf, start, end, this.literal);
      if (parsed !== undefined) {
        this.sink.number(slot, parsed, this.literal.integer);
        return;
      }
      this.kinds![slot] = KIND_TEXT;
      kind = KIND_TEXT;
    }
    if (kind === KIND_NUMBER) {
      const parsed = quoted ? parseNumberText(unquote(buf, start, end, escaped), this.literal) : parseNumberBytes(buf, start, end, this.literal);
      if (parsed === undefined) {
        const text = quoted ? unquote(buf, start, end, escaped) : buf.toString('utf8', start, end);
        throw new InputError(`${at(this.name, this.line + lineOffset, column)}: column ${JSON.stringify(this.requests[slot].name)}: ${JSON.stringify(text)} is not a number (list the column in --categorical if it holds categories)`);
      }
      this.sink.number(slot, parsed, this.literal.integer);
    } else {
      const text = quoted ? unquote(buf, start, end, escaped) : buf.toString('utf8', start, end);
      this.sink.text(slot, NA_TOKENS.has(text) ? null : text);
    }
  }

  private header(buf: Buffer, start: number, end: number): void {
    const names: string[] = [];
    let pos = start;
    for (;;) {
      if (pos < end && buf[pos] === QUOTE) {
        const fieldStart = ++pos;
        let escaped = false;
        while (pos < end && !(buf[pos] === QUOTE && buf[pos + 1] !== QUOTE)) {
          if (buf[pos] === QUOTE) {
            escaped = true;
            pos++;
          }
          pos++;
        }
        names.push(unquote(buf, fieldStart, pos, escaped));
        pos++;
      } else {
        const fieldStart = pos;
        while (pos < end && buf[pos] !== COMMA) pos++;
        names.push(buf.toString('utf8', fieldStart, pos));
      }
      if (pos >= end) break;
      pos++;
      if (pos === end) {
        names.push('');
        break;
      }
    }
    this.fieldCount = names.length;
    this.slots = resolveColumns(names, this.requests, at(this.name, this.line, 1));
    // An auto column that turned text in an earlier file of the dataset stays text.
    this.kinds = Uint8Array.from(this.requests, (r, slot) =>
      (r.kind === 'number' ? KIND_NUMBER : r.kind === 'text' || this.sink.isText(slot) ? KIND_TEXT : KIND_AUTO));
  }
}

const KIND_NUMBER = 0;
const KIND_TEXT = 1;
const KIND_AUTO = 2;

function unquote(buf: Buffer, start: number, end: number, escaped: boolean): string {
  const text = buf.toString('utf8', start, end);
  return escaped ? text.replace(/""/g, '"') : text;
}

/** What a number parser saw besides the value: whether it was an integer literal (pandas int64). */
export interface NumberLiteral {
  integer: boolean;
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * A decimal number from bytes, as pandas reads it: optional blanks, sign, digits with an
 * optional fraction and exponent; the pandas NA tokens give NaN; inf/infinity give
 * +-Infinity. Returns undefined when the text is not a number. Up to 15 significant digits
 * with a power of ten up to 22, one multiply or divide of exact operands gives the correctly
 * rounded double (Clinger's fast path); anything else goes through Number(), which is also
 * correctly rounded, so every value equals what Python reads.
 */
export function parseNumberBytes(buf: Buffer, start: number, end: number, literal: NumberLiteral): number | undefined {
  while (start < end && (buf[start] === 0x20 || buf[start] === 0x09)) start++;
  while (end > start && (buf[end - 1] === 0x20 || buf[end - 1] === 0x09)) end--;
  literal.integer = false;
  if (start === end) return NaN;
  let pos = start;
  let negative = false;
  if (buf[pos] === 0x2d || buf[pos] === 0x2b) {
    negative = buf[pos] === 0x2d;
    pos++;
  }
  let mantissa = 0;
  let digits = 0; // significant digits kept in mantissa
  let dropped = false; // more than 15 significant digits: leave it to Number()
  let exponent = 0;
  let sawDigit = false;
  let integer = true;
  while (pos < end) {
    const d = buf[pos] - 0x30;
    if (d < 0 || d > 9) break;
    sawDigit = true;
    if (digits < 15) {
      if (mantissa !== 0 || d !== 0) digits++;
      mantissa = mantissa * 10 + d;
    } else {
      dropped = true;
    }
    pos++;
  }
  if (pos < end && buf[pos] === 0x2e) {
    integer = false;
    pos++;
    while (pos < end) {
      const d = buf[pos] - 0x30;
      if (d < 0 || d > 9) break;
      sawDigit = true;
      if (digits < 15) {
        if (mantissa !== 0 || d !== 0) digits++;
        mantissa = mantissa * 10 + d;
        exponent--;
      } else {
        dropped = true;
      }
      pos++;
    }
  }
  if (sawDigit && pos < end && (buf[pos] === 0x65 || buf[pos] === 0x45)) {
    integer = false;
    pos++;
    let expNegative = false;
    if (pos < end && (buf[pos] === 0x2d || buf[pos] === 0x2b)) {
      expNegative = buf[pos] === 0x2d;
      pos++;
    }
    let e = 0;
    let expDigits = 0;
    while (pos < end) {
      const d = buf[pos] - 0x30;
      if (d < 0 || d > 9) break;
      if (e < 100000) e = e * 10 + d;
      expDigits++;
      pos++;
    }
    if (expDigits === 0) sawDigit = false;
    exponent += expNegative ? -e : e;
  }
  // Anything unusual (NA tokens, inf, junk): the text rules decide.
  if (!sawDigit || pos !== end) return parseNumberText(buf.toString('latin1', start, end), literal);
  literal.integer = integer;
  if (!dropped && exponent >= -22 && exponent <= 22) {
    const value = exponent >= 0 ? mantissa * POW10[exponent] : mantissa / POW10[-exponent];
    return negative ? -value : value;
  }
  return Number(buf.toString('latin1', start, end));
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** The same rules for a string (quoted CSV fields). */
export function parseNumberText(text: string, literal: NumberLiteral): number | undefined {
  const trimmed = text.trim();
  literal.integer = false;
  if (NA_TOKENS.has(trimmed)) return NaN;
  const lower = trimmed.toLowerCase();
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity' || lower === '+infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  if (!NUMBER.test(trimmed)) return undefined;
  literal.integer = INTEGER.test(trimmed);
  return Number(trimmed);
}
