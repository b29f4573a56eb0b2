import { ks2sampSorted } from './ks';
import { type CategoryCounts, type ColumnType, type FeatureSamples, accurateSum, distinctSorted } from './samples';
import { chi2Sf, normalCdf } from './special';

/**
 * The per-feature drift tests, each reproducing Evidently 0.7.23
 * (evidently/legacy/calculations/stattests/*.py, which its current DataDriftPreset calls),
 * with the scipy 1.17.1 / numpy 2.4.6 functions those call:
 *
 * | method        | statistic                          | p-value                  | drifted when   | default threshold |
 * | ks            | D of ks_2samp                      | ks_2samp(method='auto')  | p <= threshold | 0.05 |
 * | chisquare     | Pearson chi2 of counts             | chi2.sf(stat, k-1)       | p < threshold  | 0.05 |
 * | z             | two-proportion z (ref - cur)       | 2(1 - Phi(|z|))          | p < threshold  | 0.05 |
 * | wasserstein   | W1 / max(std(ref), 0.001)          | none                     | stat >= thr    | 0.1  |
 * | jensenshannon | JS distance of binned shares       | none                     | stat >= thr    | 0.1  |
 * | psi           | PSI of binned shares, zeros filled | none                     | stat >= thr    | 0.1  |
 */
const { abs } = Math;

export const METHODS = ['ks', 'chisquare', 'z', 'wasserstein', 'jensenshannon', 'psi'] as const;
export type DriftMethod = (typeof METHODS)[number];

export interface MethodInfo {
  readonly defaultThreshold: number;
  /** True for tests whose score is a p-value (small means drift). */
  readonly hasPValue: boolean;
  /** Column types Evidently's registry allows the method on. */
  readonly columnTypes: readonly ColumnType[];
}

export const METHOD_INFO: Readonly<Record<DriftMethod, MethodInfo>> = {
  ks: { defaultThreshold: 0.05, hasPValue: true, columnTypes: ['numerical'] },
  chisquare: { defaultThreshold: 0.05, hasPValue: true, columnTypes: ['categorical'] },
  z: { defaultThreshold: 0.05, hasPValue: true, columnTypes: ['categorical'] },
  wasserstein: { defaultThreshold: 0.1, hasPValue: false, columnTypes: ['numerical'] },
  jensenshannon: { defaultThreshold: 0.1, hasPValue: false, columnTypes: ['categorical', 'numerical'] },
  psi: { defaultThreshold: 0.1, hasPValue: false, columnTypes: ['categorical', 'numerical'] },
};

export interface TestOutcome {
  readonly statistic: number;
  /** null for distances. */
  readonly pValue: number | null;
}

/** Evidently's verdict for one score against a threshold (note ks uses <=, chisquare and z <). */
export function isDrifted(method: DriftMethod, outcome: TestOutcome, threshold: number): boolean {
  switch (method) {
    case 'ks':
      return outcome.pValue! <= threshold;
    case 'chisquare':
    case 'z':
      return outcome.pValue! < threshold;
    default:
      return outcome.statistic >= threshold;
  }
}

/**
 * `_get_default_stattest`: small reference (<= 1000 rows) gets a statistical test (ks for
 * numbers with more than 5 distinct values, else chisquare, or z for at most 2 values);
 * a large reference gets a distance (wasserstein for numbers with more than 5 distinct values,
 * else jensenshannon). Rows and distinct values are counted after NaN and inf are dropped.
 */
export function defaultMethod(feature: FeatureSamples): DriftMethod {
  const distinct = feature.distinct();
  if (feature.nRef <= 1000) {
    if (feature.type === 'numerical' && distinct > 5) return 'ks';
    return distinct > 2 ? 'chisquare' : 'z';
  }
  if (feature.type === 'numerical' && distinct > 5) return 'wasserstein';
  return 'jensenshannon';
}

export function runTest(method: DriftMethod, feature: FeatureSamples): TestOutcome {
  switch (method) {
    case 'ks': {
      const { ref, cur } = numeric(feature, method);
      const result = ks2sampSorted(ref, cur);
      return { statistic: result.statistic, pValue: result.pValue };
    }
    case 'chisquare':
      return chisquare(feature.counts());
    case 'z':
      return zTest(feature.counts());
    case 'wasserstein': {
      const { ref, cur } = numeric(feature, method);
      return { statistic: wassersteinNormed(ref, cur), pValue: null };
    }
    case 'jensenshannon': {
      const [ref, cur] = binnedShares(feature, false);
      return { statistic: jensenShannon(ref, cur), pValue: null };
    }
    case 'psi': {
      const [ref, cur] = binnedShares(feature, true);
      return { statistic: psi(ref, cur), pValue: null };
    }
  }
}

function numeric(feature: FeatureSamples, method: DriftMethod) {
  if (!feature.numeric) throw new TypeError(`${method} needs numbers but feature ${feature.name} holds categories`);
  return feature.numeric;
}

/**
 * Pearson's chi-square of current counts against reference counts scaled to the current
 * size. A category absent from the reference makes the statistic infinite and p = 0, as in
 * scipy. With a single category scipy has no degrees of freedom and returns NaN; here that
 * is p = 1 (nothing can have shifted), so a constant column never fails the run.
 */
export function chisquare(counts: CategoryCounts): TestOutcome {
  const k = counts.keys.length;
  const scale = counts.nCur / counts.nRef;
  const terms = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const expected = counts.ref[i] * scale;
    const diff = counts.cur[i] - expected;
    terms[i] = (diff * diff) / expected;
  }
  const statistic = accurateSum(terms);
  if (k < 2) return { statistic: 0, pValue: 1 };
  return { statistic, pValue: chi2Sf(statistic, k - 1) };
}

/**
 * Two-proportion z test of "first category (in sorted order) vs the rest". Evidently
 * short-cuts a column with the same single value on both sides to p = 1; the statistic is
 * then 0. The arithmetic follows Evidently's line by line (p1*n1 is recomputed from p1),
 * because the p-value tail is sensitive to the last bits of z.
 */
export function zTest(counts: CategoryCounts): TestOutcome {
  const refValues = counts.ref.filter((c) => c > 0).length;
  const curValues = counts.cur.filter((c) => c > 0).length;
  if (refValues === 1 && curValues === 1 && counts.ref.findIndex((c) => c > 0) === counts.cur.findIndex((c) => c > 0)) {
    return { statistic: 0, pValue: 1 };
  }
  const n1 = counts.nRef;
  const n2 = counts.nCur;
  // Evidently maps the first sorted key to 0 and every other key to 1, then sums.
  const p1 = (n1 - counts.ref[0]) / n1;
  const p2 = (n2 - counts.cur[0]) / n2;
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  const z = (p1 - p2) / Math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2));
  return { statistic: z, pValue: 2 * (1 - normalCdf(Math.abs(z))) };
}

/** Population standard deviation (numpy's np.std, ddof=0) with compensated sums. */
export function populationStd(values: Float64Array): number {
  const mean = accurateSum(values) / values.length;
  const squares = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const d = values[i] - mean;
    squares[i] = d * d;
  }
  return Math.sqrt(accurateSum(squares) / values.length);
}

/**
 * First Wasserstein distance (scipy.stats.wasserstein_distance: the integral of |F_ref -
 * F_cur| between consecutive pooled values) divided by max(std(ref), 0.001).
 */
export function wassersteinNormed(ref: Float64Array, cur: Float64Array): number {
  return wasserstein1(ref, cur) / Math.max(populationStd(ref), 0.001);
}

/** W1 between two sorted samples, walking the pooled values once. */
export function wasserstein1(u: Float64Array, v: Float64Array): number {
  let i = 0;
  let j = 0;
  let sum = 0;
  let compensation = 0;
  let previous = NaN;
  let previousDiff = 0;
  while (i < u.length || j < v.length) {
    const x = i < u.length ? (j < v.length && v[j] < u[i] ? v[j] : u[i]) : v[j];
    if (!Number.isNaN(previous)) {
      const term = previousDiff * (x - previous);
      const t = sum + term;
      compensation += abs(sum) >= abs(term) ? (sum - t) + term : (term - t) + sum;
      sum = t;
    }
    while (i < u.length && u[i] <= x) i++;
    while (j < v.length && v[j] <= x) j++;
    previous = x;
    previousDiff = abs(i / u.length - j / v.length);
  }
  return sum + compensation;
}

/**
 * Evidently's `get_binned_data`: numerical columns with more than 20 distinct reference
 * values get numpy's Sturges histogram over both samples (np.histogram_bin_edges(..,
 * "sturges") then np.histogram with those edges: [e_i, e_i+1), the last bin closed); all
 * other columns get one bin per category. Shares are counts / sample size. With
 * `fillZeroes` (PSI) empty bins get min(non-zero share)/1e6, or 1e-4 when that minimum is
 * above 1e-4, separately for each sample.
 */
export function binnedShares(feature: FeatureSamples, fillZeroes: boolean): [Float64Array, Float64Array] {
  let ref: Float64Array;
  let cur: Float64Array;
  const numericPair = feature.numeric;
  if (feature.type === 'numerical' && numericPair && distinctSorted(numericPair.ref) > 20) {
    const edges = sturgesEdges(numericPair.ref, numericPair.cur, numericPair.integer);
    ref = histogramShares(numericPair.ref, edges);
    cur = histogramShares(numericPair.cur, edges);
  } else {
    const counts = feature.counts();
    ref = counts.ref.map((c) => c / counts.nRef);
    cur = counts.cur.map((c) => c / counts.nCur);
  }
  if (fillZeroes) {
    fillEmpty(ref);
    fillEmpty(cur);
  }
  return [ref, cur];
}

function fillEmpty(shares: Float64Array): void {
  let min = Infinity;
  for (const s of shares) if (s !== 0 && s < min) min = s;
  const fill = min <= 0.0001 ? min / 10 ** 6 : 0.0001;
  for (let i = 0; i < shares.length; i++) if (shares[i] === 0) shares[i] = fill;
}

/**
 * numpy's Sturges bin edges of the pooled samples: width = range / (log2(n) + 1), clamped
 * to 1 for integer data, ceil(range / width) bins, edges from np.linspace (i * step + first,
 * the last edge set to the maximum exactly).
 */
export function sturgesEdges(ref: Float64Array, cur: Float64Array, integer: boolean): Float64Array {
  const min = Math.min(ref[0], cur[0]);
  const max = Math.max(ref[ref.length - 1], cur[cur.length - 1]);
  let first = min;
  let last = max;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  let width = (max - min) / (Math.log2(ref.length + cur.length) + 1.0);
  let bins = 1;
  if (width) {
    if (integer && width < 1) width = 1;
    bins = Math.ceil((last - first) / width);
  }
  const edges = new Float64Array(bins + 1);
  const step = (last - first) / bins;
  for (let i = 0; i <= bins; i++) edges[i] = step === 0 ? (i / bins) * (last - first) + first : i * step + first;
  edges[bins] = last;
  return edges;
}

/** Shares of a sorted sample in [e_i, e_i+1) bins, the last one closed. */
function histogramShares(sorted: Float64Array, edges: Float64Array): Float64Array {
  const bins = edges.length - 1;
  const cumulative = new Float64Array(edges.length);
  for (let i = 0; i < bins; i++) cumulative[i] = lowerBound(sorted, edges[i]);
  cumulative[bins] = upperBound(sorted, edges[bins]);
  const shares = new Float64Array(bins);
  for (let i = 0; i < bins; i++) shares[i] = (cumulative[i + 1] - cumulative[i]) / sorted.length;
  return shares;
}

/** Number of elements < x. */
function lowerBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of elements <= x. */
function upperBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** scipy.spatial.distance.jensenshannon (natural log): sqrt of the mean KL divergence to the midpoint. */
export function jensenShannon(pIn: Float64Array, qIn: Float64Array): number {
  const pSum = accurateSum(pIn);
  const qSum = accurateSum(qIn);
  const left = new Float64Array(pIn.length);
  const right = new Float64Array(qIn.length);
  for (let i = 0; i < pIn.length; i++) {
    const p = pIn[i] / pSum;
    const q = qIn[i] / qSum;
    const m = (p + q) / 2.0;
    left[i] = relativeEntropy(p, m);
    right[i] = relativeEntropy(q, m);
  }
  return Math.sqrt((accurateSum(left) + accurateSum(right)) / 2.0);
}

/** scipy.special.rel_entr: x log(x/y), 0 at x = 0. */
function relativeEntropy(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Infinity;
}

/** Population stability index: sum (r - c) ln(r / c) over bins (zeros already filled). */
export function psi(ref: Float64Array, cur: Float64Array): number {
  const terms = new Float64Array(ref.length);
  for (let i = 0; i < ref.length; i++) terms[i] = (ref[i] - cur[i]) * Math.log(ref[i] / cur[i]);
  return accurateSum(terms);
}

/**
 * The column type Evidently 0.7.23's DataDriftPreset infers (evidently/core/datasets.py
 * `infer_column_type`, applied to the current data): floats are numerical, integers are
 * categorical when the current data has at most 10 distinct values, text is categorical.
 * (Evidently would call a text column with more than 50 % distinct values "Text" and run
 * text-drift tests; the checker has no text tests and keeps such columns categorical.)
 */
export function evidentlyColumnType(current: { readonly text: boolean; readonly integer: boolean; readonly distinct: number }): ColumnType {
  if (current.text) return 'categorical';
  if (current.integer && current.distinct <= 10) return 'categorical';
  return 'numerical';
}
