/**
 * The few special functions the drift tests need, accurate to a few ulps in the ranges the
 * tests use: log-gamma, the regularized incomplete gamma functions, and from them the
 * chi-square survival function (scipy.stats.chi2.sf) and the standard normal CDF
 * (scipy.special.ndtr). One incomplete-gamma implementation serves both, since
 * erfc(x) = Q(1/2, x^2), which keeps the code small and its accuracy in one place.
 */

/** Lanczos coefficients for g = 7, n = 9 (Godfrey's set): ~1e-15 relative on x >= 0.5. */
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log(Gamma(x)) for x > 0. */
export function logGamma(x: number): number {
  if (!(x > 0)) return NaN;
  if (x < 0.5) {
    // Reflection keeps the Lanczos sum in its accurate range.
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const z = x - 1;
  let series = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) series += LANCZOS[i] / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return HALF_LOG_2PI + (z + 0.5) * Math.log(t) - t + Math.log(series);
}

const MAX_ITERATIONS = 100_000;
const TINY = 1e-300;

/** e^-x x^a / Gamma(a), the common factor of both incomplete gamma expansions. */
function gammaPrefactor(a: number, x: number): number {
  return Math.exp(a * Math.log(x) - x - logGamma(a));
}

/** P(a, x) by its power series; converges quickly for x < a + 1. */
function lowerSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
  }
  return sum * gammaPrefactor(a, x);
}

/** Q(a, x) by its continued fraction (modified Lentz); converges quickly for x >= a + 1. */
function upperFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return h * gammaPrefactor(a, x);
}

/** Regularized lower incomplete gamma P(a, x). */
export function gammaP(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? lowerSeries(a, x) : 1 - upperFraction(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate in the far tail. */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - lowerSeries(a, x) : upperFraction(a, x);
}

/** scipy.stats.chi2.sf(x, df): NaN for df < 1, as cephes chdtrc. */
export function chi2Sf(x: number, df: number): number {
  if (!(df >= 1) || Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  return gammaQ(df / 2, x / 2);
}

/**
 * scipy.special.ndtr, the standard normal CDF, with cephes' split: near 0 through erf, in
 * the tails through erfc, so the tail is accurate relative to itself.
 */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  const x = z * Math.SQRT1_2;
  const ax = Math.abs(x);
  if (ax < Math.SQRT1_2) {
    const erf = gammaP(0.5, x * x);
    return 0.5 + 0.5 * (x < 0 ? -erf : erf);
  }
  const half = 0.5 * gammaQ(0.5, x * x);
  return x > 0 ? 1 - half : half;
}
