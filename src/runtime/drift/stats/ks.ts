import { kstwoSf } from './kolmogorov';
import { sortFloat64 } from './sort';

/**
 * Two-sample Kolmogorov-Smirnov test, two-sided, giving the numbers of
 * `scipy.stats.ks_2samp(a, b, method='auto')` in scipy 1.17.1 (scipy/stats/_stats_py.py):
 *
 * - the statistic is max |F_a - F_b| over the pooled values, each ECDF value computed as
 *   count/n in doubles, so it is bit-identical to scipy's `searchsorted(...)/n` differences;
 * - 'auto' tries the exact distribution when max(n_a, n_b) <= 10000 (not n_a*n_b), rounding
 *   d to h/lcm(n_a, n_b) first; the rounded d is also what is reported and, when the exact
 *   computation fails (a probability outside [0, 1]), what the asymptotic fallback uses;
 * - asymptotic: kstwo.sf(d, round(en)) with en = m*n/(m+n), round half to even;
 * - the p-value is clipped to [0, 1].
 */
export interface KsResult {
  readonly statistic: number;
  readonly pValue: number;
  /** Which distribution produced the p-value. */
  readonly mode: 'exact' | 'asymp';
}

/** max(n1, n2) up to which 'auto' attempts the exact p-value (scipy's MAX_AUTO_N). */
export const KS_EXACT_MAX_N = 10000;

/** The KS test on two samples without NaN; copies and sorts them. */
export function ks2samp(a: ArrayLike<number>, b: ArrayLike<number>): KsResult {
  const copy = (x: ArrayLike<number>) => (x instanceof Float64Array ? x.slice() : Float64Array.from(x));
  return ks2sampSorted(sortFloat64(copy(a)), sortFloat64(copy(b)));
}

/** The KS test on two ascending samples without NaN (the checker sorts each column once). */
export function ks2sampSorted(a: Float64Array, b: Float64Array): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('ks2samp needs two non-empty samples');
  let d = ksStatistic(a, b);
  let mode: 'exact' | 'asymp' = Math.max(n1, n2) <= KS_EXACT_MAX_N ? 'exact' : 'asymp';
  let p = NaN;
  if (mode === 'exact') {
    const exact = exactTwoSided(n1, n2, d);
    d = exact.d;
    if (exact.ok) p = exact.p;
    else mode = 'asymp';
  }
  if (mode === 'asymp') {
    const m = Math.max(n1, n2);
    const n = Math.min(n1, n2);
    const en = (m * n) / (m + n);
    p = kstwoSf(d, roundHalfEven(en));
  }
  return { statistic: d, pValue: clip01(p), mode };
}

const clip01 = (p: number): number => (p < 0 ? 0 : p > 1 ? 1 : p);

/** numpy's round: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * max over the pooled values v of |#{a <= v}/n1 - #{b <= v}/n2|, where the larger of the
 * positive and negative extremes wins and a tie goes to the positive one, as in scipy.
 * Ties between and within samples are handled by evaluating only after a whole run of equal
 * values is consumed (searchsorted side='right').
 */
export function ksStatistic(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let maxDiff = 0;
  let minDiff = 0;
  // Once one sample is used up the difference only moves back towards 0, so the extremes
  // are all seen by then.
  while (i < n1 && j < n2) {
    const x = a[i];
    const y = b[j];
    const v = y < x ? y : x;
    while (i < n1 && a[i] <= v) i++;
    while (j < n2 && b[j] <= v) j++;
    const diff = i / n1 - j / n2;
    if (diff > maxDiff) maxDiff = diff;
    else if (diff < minDiff) minDiff = diff;
  }
  const minS = Math.min(-minDiff, 1);
  return minS > maxDiff ? minS : maxDiff;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** scipy's `_attempt_exact_2kssamp` for the two-sided alternative. */
function exactTwoSided(n1: number, n2: number, d: number): { ok: boolean; d: number; p: number } {
  const g = gcd(n1, n2);
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  const rounded = h / lcm;
  if (h === 0) return { ok: true, d: rounded, p: 1 };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : probOutsideCorridor(n1, n2, g, h);
  return { ok: p >= 0 && p <= 1, d: rounded, p };
}

/**
 * P(D_{n,n} >= h/n) for equal sample sizes: the reflection-principle alternating series
 * 2 * sum_k (-1)^(k+1) C(2n, n-kh)/C(2n, n), evaluated from the innermost term outwards
 * (Horner-like) so the cancellation of the alternating terms does not eat the precision.
 */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let ratio = 1;
    for (let j = 0; j < h; j++) ratio = ((n - k * h - j) * ratio) / (n + k * h + j + 1);
    P = ratio * (1 - P);
  }
  return 2 * P;
}

/**
 * 1 - P(|x/m - y/n| < h/lcm along the whole lattice path) for m != n, by Hodges' inside
 * method rewritten (Viehmann 2021) to carry the complement directly: one column of the path
 * count matrix, normalised as it goes, in a window that slides with the diagonal band.
 */
function probOutsideCorridor(m0: number, n0: number, g: number, h: number): number {
  const m = Math.max(m0, n0);
  const n = Math.min(m0, n0);
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, Math.min(maxj, lenA));
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    const shift = minj - lastminj;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + shift] * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, curlen, Math.min(curlen + (lastlen - curlen), lenA));
  }
  return A[maxj - minj - 1];
}
