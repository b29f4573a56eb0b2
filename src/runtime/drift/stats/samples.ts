/**
 * One feature's two samples as the statistical tests consume them, with the Evidently column
 * type. Numbers stay as sorted Float64Arrays (every numeric test works on sorted data, so
 * each column is sorted once, in place); categories as value counts over the union of keys.
 */

import { sortFloat64 } from './sort';

export type ColumnType = 'numerical' | 'categorical';

export interface NumericPair {
  /** Reference values, ascending, finite. */
  readonly ref: Float64Array;
  /** Current values, ascending, finite. */
  readonly cur: Float64Array;
  /**
   * True when both columns would be int64 in pandas (every value an integer literal, none
   * missing): numpy then clamps Sturges' bin width to at least 1.
   */
  readonly integer: boolean;
}

/** Counts per category over the union of both samples' categories. */
export interface CategoryCounts {
  /** Category keys; numbers for numeric columns, strings otherwise. */
  readonly keys: ReadonlyArray<string | number>;
  readonly ref: Float64Array;
  readonly cur: Float64Array;
  readonly nRef: number;
  readonly nCur: number;
}

export interface FeatureSamples {
  readonly name: string;
  readonly type: ColumnType;
  /** Present when the column holds numbers (also for integer columns typed categorical). */
  readonly numeric?: NumericPair;
  readonly nRef: number;
  readonly nCur: number;
  /** Value counts, computed on first use. */
  counts(): CategoryCounts;
  /** Number of distinct values over both samples (pandas `concat(...).nunique()`). */
  distinct(): number;
}

/** Sorted numeric samples; `values` arrays are sorted in place. */
export function numericFeature(name: string, type: ColumnType, ref: Float64Array, cur: Float64Array, integer: boolean): FeatureSamples {
  sortFloat64(ref);
  sortFloat64(cur);
  let counts: CategoryCounts | undefined;
  return {
    name,
    type,
    numeric: { ref, cur, integer },
    nRef: ref.length,
    nCur: cur.length,
    counts: () => (counts ??= countSorted(ref, cur)),
    distinct: () => (counts ??= countSorted(ref, cur)).keys.length,
  };
}

/** Category samples as codes into one dictionary shared by both datasets. */
export function categoricalFeature(name: string, dictionary: readonly string[], ref: Int32Array, cur: Int32Array): FeatureSamples {
  let counts: CategoryCounts | undefined;
  const compute = (): CategoryCounts => {
    const refAll = new Float64Array(dictionary.length);
    const curAll = new Float64Array(dictionary.length);
    for (let i = 0; i < ref.length; i++) refAll[ref[i]]++;
    for (let i = 0; i < cur.length; i++) curAll[cur[i]]++;
    // Only categories seen in these samples count (the dictionary may hold others, e.g. a
    // value seen only in rows that sampling dropped).
    const order = [...dictionary.keys()].filter((code) => refAll[code] > 0 || curAll[code] > 0);
    const numeric = order.every((code) => isNumberLiteral(dictionary[code]));
    order.sort((a, b) => (numeric ? Number(dictionary[a]) - Number(dictionary[b]) : compareCodePoints(dictionary[a], dictionary[b])));
    return {
      keys: order.map((code) => dictionary[code]),
      ref: Float64Array.from(order, (code) => refAll[code]),
      cur: Float64Array.from(order, (code) => curAll[code]),
      nRef: ref.length,
      nCur: cur.length,
    };
  };
  return {
    name,
    type: 'categorical',
    nRef: ref.length,
    nCur: cur.length,
    counts: () => (counts ??= compute()),
    distinct: () => (counts ??= compute()).keys.length,
  };
}

/**
 * Python's `sorted` on the keys: numerically when every key is a number literal (pandas
 * would have read such a column as numbers), else by code point (not UTF-16 unit), as for
 * the strings of an object column (a column the data made categorical may mix "3" and "team").
 */
function isNumberLiteral(key: string): boolean {
  return key.trim() !== '' && !Number.isNaN(Number(key));
}

function compareCodePoints(a: string, b: string): number {
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i].codePointAt(0)! - cb[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

/** Value counts of two sorted numeric samples over the union of their values, ascending. */
function countSorted(ref: Float64Array, cur: Float64Array): CategoryCounts {
  const keys: number[] = [];
  const refCounts: number[] = [];
  const curCounts: number[] = [];
  let i = 0;
  let j = 0;
  while (i < ref.length || j < cur.length) {
    const v = i < ref.length ? (j < cur.length && cur[j] < ref[i] ? cur[j] : ref[i]) : cur[j];
    const i0 = i;
    const j0 = j;
    while (i < ref.length && ref[i] <= v) i++;
    while (j < cur.length && cur[j] <= v) j++;
    keys.push(v === 0 ? 0 : v);
    refCounts.push(i - i0);
    curCounts.push(j - j0);
  }
  return { keys, ref: Float64Array.from(refCounts), cur: Float64Array.from(curCounts), nRef: ref.length, nCur: cur.length };
}

/** Number of distinct values in a sorted array (pandas nunique). */
export function distinctSorted(values: Float64Array): number {
  let count = 0;
  for (let i = 0; i < values.length; i++) if (i === 0 || values[i] !== values[i - 1]) count++;
  return count;
}

/** Sum with Neumaier's compensation: at least as accurate as numpy's pairwise sum. */
const { abs } = Math;

export function accurateSum(values: ArrayLike<number>): number {
  let sum = 0;
  let compensation = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const t = sum + v;
    compensation += abs(sum) >= abs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
  }
  // An infinite term makes the compensation NaN; the plain sum is then the answer.
  return Number.isFinite(sum) ? sum + compensation : sum;
}
