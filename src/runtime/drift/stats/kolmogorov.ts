/**
 * Tail probabilities of the Kolmogorov-Smirnov statistics, written to give the same numbers
 * as scipy 1.17.1: `kstwoSf(d, n)` is `scipy.stats.kstwo.sf(d, n)` (scipy/stats/_ksstats.py
 * `_kolmogn`, following Simard & L'Ecuyer 2011) and `smirnovSf(n, d)` is
 * `scipy.special.smirnov(n, d)` (xsf cephes/kolmogorov.h).
 *
 * ks_2samp's asymptotic p-value is `kstwo.sf(d, round(m*n/(m+n)))`, so every branch of the
 * Simard & L'Ecuyer selection is reachable from real data: the branch boundaries below are
 * scipy's, because a different but "equally good" method would move p-values by more than
 * the 1e-10 the fixtures demand near the boundaries.
 */

// Local aliases: hot loops below would otherwise look up the global Math on every term,
// which is slow where the global object is a proxy (jest's vm context).
const { abs, ceil, exp, floor, log, log1p, max, min, sqrt } = Math;
const EPSILON = Number.EPSILON;

const E128 = 2 ** 128;
const EM128 = 2 ** -128;
const LOG_2PI = log(2 * Math.PI);
const SQRT_2PI = sqrt(2 * Math.PI);
const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;
/** exp() below this gives 0 in the Pelz-Good series; scipy's cut-off. */
const MIN_LOG_PELZ_GOOD = -708;
/** log(2^-1022), cephes MINLOG: below it smirnov's tail is reported as 0. */
const CEPHES_MINLOG = -7.08396418532264106224e2;
/** Above this n, smirnov switches from the exact sum to the e^(-(6nx+1)^2/18n) approximation. */
const SMIRNOV_MAX_COMPUTE_N = 1_000_000;

const clip01 = (p: number): number => (p < 0 ? 0 : p > 1 ? 1 : p);

/** x * 2^e without overflowing or underflowing the power of two on the way. */
export function ldexp(x: number, e: number): number {
  while (e > 1000) {
    x *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000) {
    x *= 2 ** -1000;
    e += 1000;
  }
  return x * 2 ** e;
}

/**
 * Survival function of the two-sided one-sample KS statistic D_n: P(D_n >= d).
 * Outside the open support (1/(2n), 1) it is 1 below and 0 above, as rv_continuous.sf does.
 */
export function kstwoSf(d: number, n: number): number {
  if (Number.isNaN(d) || !(n >= 1) || n !== Math.round(n)) return NaN;
  if (d <= 0.5 / n) return 1;
  if (d >= 1) return 0;
  return kolmognSf(n, d);
}

/** scipy's `_kolmogn(n, x, cdf=False)`: the method is chosen by n and n*x^2. */
function kolmognSf(n: number, x: number): number {
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino closed form for 1/(2n) <= x <= 1/n.
    if (t <= 0.5) return 1;
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      const invN = 1 / n;
      const factor = 2 * t - 1;
      for (let i = 1; i <= n; i++) cdf *= i * invN * factor;
    } else {
      cdf = exp(logFactorialOverPower(n) + n * log(2 * t - 1));
    }
    return clip01(1 - cdf);
  }
  if (t >= n - 1) return clip01(2 * (1 - x) ** n);
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x));

  const nxSquared = t * x;
  if (n <= 140) {
    if (nxSquared <= 0.754693) return clip01(1 - durbinMatrixCdf(n, x));
    if (nxSquared <= 4) return clip01(1 - pomeranzCdf(n, x));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nxSquared >= 370) return 0;
  if (nxSquared >= 2.2) return clip01(2 * smirnovSf(n, x));
  const cdf = n <= 100_000 && n * x ** 1.5 <= 1.4 ? durbinMatrixCdf(n, x) : pelzGoodCdf(n, x);
  return clip01(1 - cdf);
}

/** log(n!/n^n) by Stirling's series with n*log(n) taken out up front (no cancellation). */
function logFactorialOverPower(n: number): number {
  // B_2j / (2j (2j-1)) for j = 8..1, highest power first.
  const coefficients = [-3617 / 122400, 1 / 156, -691 / 360360, 1 / 1188, -1 / 1680, 1 / 1260, -1 / 360, 1 / 12];
  const rn = 1 / n;
  const z = rn / n;
  let series = 0;
  for (const c of coefficients) series = series * z + c;
  return log(n) / 2 - n + LOG_2PI / 2 + rn * series;
}

/** Square matrix product of two row-major m x m matrices. */
function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array<ArrayBuffer> {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    const row = i * m;
    for (let k = 0; k < m; k++) {
      const aik = a[row + k];
      if (aik === 0) continue;
      const bRow = k * m;
      for (let j = 0; j < m; j++) out[row + j] += aik * b[bRow + j];
    }
  }
  return out;
}

/**
 * P(D_n <= d) by Durbin's matrix method as Marsaglia, Tsang & Wang evaluate it: the k-th
 * diagonal entry of H^n scaled by n!/n^n, with powers of two split off to stay in range.
 */
function durbinMatrixCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;

  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - h ** j) * fac;
  }
  const tt = max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;

  let H = new Float64Array(m * m);
  for (let i = 1; i < m; i++) {
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)];
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r];
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c];

  let power = new Float64Array(m * m);
  for (let i = 0; i < m; i++) power[i * m + i] = 1;
  let exponent = 0;
  let hExponent = 0;
  const kk = (k - 1) * m + (k - 1);
  for (let nn = n; nn > 0; nn = floor(nn / 2)) {
    if (nn % 2 === 1) {
      power = matmul(power, H, m);
      exponent += hExponent;
    }
    H = matmul(H, H, m);
    hExponent *= 2;
    if (abs(H[kk]) > E128) {
      for (let i = 0; i < H.length; i++) H[i] /= E128;
      hExponent += 128;
    }
  }

  let p = power[kk];
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (abs(p) < EM128) {
      p *= E128;
      exponent -= 128;
    }
  }
  if (exponent !== 0) p = ldexp(p, exponent);
  return clip01(p);
}

/** Row window [j1, j2] of Pomeranz's recursion for row i (scipy's `_pomeranz_compute_j1j2`). */
function pomeranzWindow(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const half = floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      if (half === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return [max(j1 + 2, 0), min(j2, n)];
}

/**
 * P(D_n <= d) by Pomeranz's recursion: each row is the previous row convolved with
 * (almost) Poisson probabilities; only a sliding window of each row is non-zero.
 */
function pomeranzCdf(n: number, x: number): number {
  const t = n * x;
  const ll = floor(t);
  const f = t - ll;
  const g = min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = twogpower[0] = onem2gpower[0] = 1;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1] * gOverN) / m;
    twogpower[m] = (twogpower[m - 1] * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1] * oneMinusTwoGOverN) / m;
  }

  let v0 = new Float64Array(npwrs);
  let v1 = new Float64Array(npwrs);
  v1[0] = 1;
  let v0s = 0;
  let v1s = 0;
  let exponent = 0;
  let [j1, j2] = pomeranzWindow(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [v0, v1] = [v1, v0];
    [v0s, v1s] = [v1s, v0s];
    v1.fill(0);
    [j1, j2] = pomeranzWindow(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 === 1 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // Full convolution of a = v0[k1-v0s ..][:ln2] with b = pwrs[:ln2], keeping the entries
      // conv[j1-k1 .. j2-k1] that land inside this row's window.
      const aStart = k1 - v0s;
      const aLen = min(ln2, npwrs - aStart);
      const bLen = min(ln2, npwrs);
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      let largest = 0;
      for (let c = 0; c < convLen; c++) {
        const kIdx = convStart + c;
        let sum = 0;
        const lo = max(0, kIdx - bLen + 1);
        const hi = min(aLen - 1, kIdx);
        for (let q = lo; q <= hi; q++) sum += v0[aStart + q] * pwrs[kIdx - q];
        v1[c] = sum;
        if (sum > largest) largest = sum;
      }
      if (largest > 0 && largest < EM128) {
        for (let c = 0; c < npwrs; c++) v1[c] *= E128;
        exponent -= 128;
      }
      v1s = v0s + j1 - k1;
    }
  }

  let ans = v1[n - v1s];
  for (let m = 1; m <= n; m++) {
    if (abs(ans) > E128) {
      ans *= EM128;
      exponent += 128;
    }
    ans *= m;
  }
  if (exponent !== 0) ans = ldexp(ans, exponent);
  return clip01(ans);
}

/**
 * Pelz-Good asymptotic series for P(D_n <= x): Li-Chien/Korolyuk's expansion in 1/sqrt(n)
 * with each term rewritten through Jacobi theta functions so it converges for small x*sqrt(n).
 */
function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = sqrt(n) * x;
  const z2 = z ** 2;
  const z3 = z ** 3;
  const z4 = z ** 4;
  const z6 = z ** 6;
  const qlog = -PI2 / 8 / z2;
  if (qlog < MIN_LOG_PELZ_GOOD) return 0;
  let q = exp(qlog);

  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;

  // Horner in q^(8k) over odd m = 2k-1: sum c_i q^(m^2).
  const K = [0, 0, 0, 0];
  const maxk = ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m ** 2;
    const m4 = m ** 4;
    const m6 = m ** 6;
    const qpower = q ** (8 * k);
    const c = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i] * qpower + c[i];
  }
  const divisors = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i] * q * SQRT_2PI) / divisors[i];

  // The terms over all integers k in K_2 and K_3.
  q = exp(-PI2 / 2 / z2);
  const sqrt3z = sqrt(3) * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const k2 = k ** 2;
    const qk = q ** k2;
    const kpi = Math.PI * k;
    k2extra += k2 * qk;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk;
  }
  K[2] += k2extra * ((PI2 * SQRT_2PI) / (-36 * z3));
  K[3] += k3extra * ((PI2 * SQRT_2PI) / (216 * z6));
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i] / n ** (i / 2);
  return sum;
}

// ---- one-sided Smirnov distribution ---------------------------------------------------

/** Veltkamp split constant for exact products (no FMA in JavaScript). */
const SPLITTER = 134217729; // 2^27 + 1

/** a*b as an unevaluated sum hi + lo, exactly. */
function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return [p, ((ah * bh - p) + ah * bl + al * bh) + al * bl];
}

/**
 * floor(n*x) and the fractional part n*x - floor(n*x), from the exact product: the sum's
 * limits and the terms' bases depend on them, and n*x rounded to a double can cross an integer.
 */
function splitNx(n: number, x: number): { nxFloor: number; alpha: number } {
  const [hi, lo] = twoProduct(n, x);
  let nxFloor = floor(hi);
  // hi is an integer when the true product is within half an ulp of one: lo decides the side.
  let alpha = (hi - nxFloor) + lo;
  if (alpha < 0) {
    nxFloor -= 1;
    alpha += 1;
  }
  if (alpha >= 1) {
    nxFloor += 1;
    alpha -= 1;
  }
  return { nxFloor, alpha };
}

/**
 * P(D+_n >= x), the one-sided Smirnov tail, as scipy.special.smirnov computes it: the
 * Birnbaum-Tingey sum  x * sum_v C(n,v) (1-x-v/n)^(n-v) (x+v/n)^(v-1), or its upper
 * complement when that has at most three terms, or for n > 10^6 the approximation
 * exp(-(6nx+1)^2/(18n)). Each term is formed in log space from (v + n*x)/n with the exact
 * integer and fractional parts of n*x, which keeps the relative error of the sum near
 * 1e-12 even for n in the hundreds of thousands (scipy carries double-doubles instead).
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;

  const { nxFloor, alpha } = splitNx(n, x);
  let lowerLast = n - nxFloor - (alpha === 0 ? 0 : 1);
  let upperFirst = n - nxFloor;
  if (alpha === 0) {
    // x*n is an integer: the term at v = n(1-x) is zero in the lower sum and excluded above.
    lowerLast -= 1;
    upperFirst += 1;
  }

  if (nxFloor === 0 || (nxFloor === 1 && alpha === 0)) {
    // x <= 1/n: only the v = n term of the upper sum is non-zero.
    return clip01(1 - x * exp((n - 1) * log1p(x)));
  }
  if (-2 * n * x * x < CEPHES_MINLOG) return 0;
  if (nxFloor >= n - 1) return clip01(exp(n * log1p(-x)));
  if (n > SMIRNOV_MAX_COMPUTE_N) {
    const a = 6.0 * n * x + 1;
    const logp = -(a * a) / 18.0 / n;
    return clip01(logp < -Math.LN2 ? exp(logp) : 1 - -Math.expm1(logp));
  }

  const upperTerms = n - upperFirst + 1;
  const useUpper = (upperTerms <= 1 && x < 0.5) || (n >= 10 && upperTerms <= 3 && x <= 0.5 / sqrt(n));
  if (useUpper) {
    // cdf = x * sum over v = n .. upperFirst; the bases (1-x-v/n) are negative there.
    let sum = 0;
    for (let v = n; v >= upperFirst; v--) sum += signedTerm(n, v, nxFloor, alpha);
    return clip01(1 - x * sum);
  }

  const terms = lowerLast + 1;
  // log C(n, v) as a compensated running sum of log((n-j)/(j+1)): the logs' own rounding
  // errors are independent, so after 10^5 steps the error is near 1e-13, not 1e-11.
  let logC = 0;
  let logCompensation = 0;
  let sum = 0;
  for (let v = 0; v < terms; v++) {
    // y = x + v/n = (v + floor(nx) + alpha) / n;  1 - y by log1p keeps small bases exact.
    const y = (v + nxFloor + alpha) / n;
    const term = exp((logC + logCompensation) + (n - v) * log1p(-y) + (v - 1) * log(y));
    sum += term;
    if (term !== 0) {
      if (4 * (terms - v) * term < EPSILON * sum && v !== terms - 1) break;
    } else if (v > floor(n / 2)) {
      break;
    }
    const step = log((n - v) / (v + 1));
    const t = logC + step;
    logCompensation += abs(logC) >= abs(step) ? (logC - t) + step : (step - t) + logC;
    logC = t;
  }
  return clip01(x * sum);
}

/** One term C(n,v) (1-x-v/n)^(n-v) (x+v/n)^(v-1) of the upper sum, where the first base may be negative. */
function signedTerm(n: number, v: number, nxFloor: number, alpha: number): number {
  const base1 = ((n - v - nxFloor) - alpha) / n;
  const base2 = (v + nxFloor + alpha) / n;
  let logC = 0;
  for (let j = 0; j < n - v; j++) logC += log((n - j) / (j + 1));
  const power = n - v;
  const magnitude = exp(logC + (power === 0 ? 0 : power * log(abs(base1))) + (v - 1) * log(base2));
  return base1 < 0 && power % 2 === 1 ? -magnitude : magnitude;
}
