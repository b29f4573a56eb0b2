import * as fc from 'fast-check';
import { kstwoSf, smirnovSf } from '../../src/runtime/drift/stats/kolmogorov';
import { ks2samp } from '../../src/runtime/drift/stats/ks';
import { sortFloat64 } from '../../src/runtime/drift/stats/sort';
import { readFixture, type SampleSpec, sample } from './drift-support';

interface KsCase {
  readonly name: string;
  readonly n1: number;
  readonly n2: number;
  readonly statistic: number;
  readonly pValue: number;
  readonly mode: 'exact' | 'asymp';
  readonly branch?: string;
  readonly a?: SampleSpec;
  readonly b?: SampleSpec;
  readonly aValues?: number[];
  readonly bValues?: number[];
}

const ks = readFixture<{ cases: KsCase[] }>('ks.json');
const kstwo = readFixture<{ kstwo: Array<[number, number, number, string]>; smirnov: Array<[number, number, number]> }>('kstwo.json');

/** The p-value contract against scipy 1.17.1, in every regime. */
const P_TOLERANCE = 1e-10;

describe('ks2samp against scipy.stats.ks_2samp(method="auto")', () => {
  const worst = { exact: 0, asymp: 0 };
  afterAll(() => {
    // Printed so the achieved precision is visible in the test log, not only "passed".
    process.stdout.write(`ks2samp worst |p - scipy|: exact ${worst.exact.toExponential(2)}, asymptotic ${worst.asymp.toExponential(2)}\n`);
  });

  it.each(ks.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    // GIVEN the oracle's samples
    const a = c.a ? sample(c.a) : Float64Array.from(c.aValues!);
    const b = c.b ? sample(c.b) : Float64Array.from(c.bValues!);

    // WHEN the test runs
    const result = ks2samp(a, b);

    // THEN the statistic is bit-identical, the regime is scipy's and the p-value within 1e-10
    expect(result.statistic).toBe(c.statistic);
    expect(result.mode).toBe(c.mode);
    const error = Math.abs(result.pValue - c.pValue);
    worst[c.mode] = Math.max(worst[c.mode], error);
    expect(error).toBeLessThanOrEqual(P_TOLERANCE);
  });

  it('covers every branch of the asymptotic distribution', () => {
    const branches = new Set(ks.cases.map((c) => c.branch).filter((b) => b !== undefined));
    expect([...branches].sort()).toEqual([
      'durbin', 'pelz-good', 'pomeranz', 'ruben-gambino-high', 'ruben-gambino-low', 'smirnov', 'smirnov-approx',
      'smirnov-d>=0.5', 'smirnov-small-n', 'zero',
    ]);
  });

  it('switches to the asymptotic distribution above max(n1, n2) = 10000, not at n1*n2 = 10000', () => {
    const at = ks.cases.find((c) => c.n1 === 10000 && c.n2 === 10000)!;
    const above = ks.cases.find((c) => c.n1 === 10001 && c.n2 === 10001)!;
    const product = ks.cases.find((c) => c.n1 === 100 && c.n2 === 101)!;
    expect([at.mode, above.mode, product.mode]).toEqual(['exact', 'asymp', 'exact']);
  });
});

describe('kstwo.sf and smirnov against scipy', () => {
  it('matches kstwo.sf(d, n) on a grid through every branch within 1e-10', () => {
    let worst = 0;
    for (const [n, d, expected, branch] of kstwo.kstwo) {
      const error = Math.abs(kstwoSf(d, n) - expected);
      worst = Math.max(worst, error);
      if (error > P_TOLERANCE) throw new Error(`kstwo.sf(${d}, ${n}) [${branch}] = ${kstwoSf(d, n)}, scipy ${expected}`);
    }
    process.stdout.write(`kstwo.sf worst |p - scipy| over ${kstwo.kstwo.length} points: ${worst.toExponential(2)}\n`);
  });

  it('matches scipy.special.smirnov(n, d) within 1e-12 relative', () => {
    for (const [n, d, expected] of kstwo.smirnov) {
      const got = smirnovSf(n, d);
      expect(Math.abs(got - expected)).toBeLessThanOrEqual(1e-12 * Math.max(expected, 1e-300) + 1e-300);
    }
  });
});

describe('ks2samp properties', () => {
  const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 });
  const sampleArb = fc.array(finite, { minLength: 1, maxLength: 60 });
  const tied = fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 80 });

  it('gives a statistic and p-value in [0, 1] for any finite input', () => {
    fc.assert(fc.property(sampleArb, sampleArb, (a, b) => {
      const r = ks2samp(a, b);
      return r.statistic >= 0 && r.statistic <= 1 && r.pValue >= 0 && r.pValue <= 1;
    }), { numRuns: 300 });
  });

  it('is symmetric in swapping the samples', () => {
    fc.assert(fc.property(fc.oneof(sampleArb, tied), fc.oneof(sampleArb, tied), (a, b) => {
      const ab = ks2samp(a, b);
      const ba = ks2samp(b, a);
      return ab.statistic === ba.statistic && ab.pValue === ba.pValue;
    }), { numRuns: 300 });
  });

  it('is invariant under strictly increasing transforms', () => {
    const transforms: Array<(x: number) => number> = [(x) => x * 3 + 1, (x) => Math.atan(x), (x) => Math.sign(x) * Math.log1p(Math.abs(x))];
    fc.assert(fc.property(tied, tied, fc.constantFrom(...transforms), (a, b, f) => {
      // Integers keep the transforms strictly increasing after rounding to doubles.
      const before = ks2samp(a, b);
      const after = ks2samp(a.map(f), b.map(f));
      return before.statistic === after.statistic && before.pValue === after.pValue;
    }), { numRuns: 300 });
  });

  it('gives p = 1 for identical samples and a small p for separated ones', () => {
    expect(ks2samp([1, 2, 3], [3, 2, 1]).pValue).toBe(1);
    expect(ks2samp([1, 2, 3, 4, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16, 17, 18]).pValue).toBeLessThan(0.001);
  });

  it('fails on an empty sample instead of reporting no drift', () => {
    expect(() => ks2samp([], [1])).toThrow(/non-empty/);
  });

  it('handles large asymptotic samples at every tail without NaN', () => {
    fc.assert(fc.property(fc.integer({ min: 10001, max: 40000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, d) => {
      const p = kstwoSf(d, n);
      return p >= 0 && p <= 1;
    }), { numRuns: 200 });
  });
});

describe('radix sort', () => {
  it('orders any finite doubles exactly as Float64Array.prototype.sort does', () => {
    const value = fc.oneof(fc.double({ noNaN: true }), fc.constantFrom(0, -0, 5e-324, -5e-324, 1, -1), fc.integer({ min: -5, max: 5 }));
    fc.assert(fc.property(fc.array(value, { minLength: 4096, maxLength: 9000 }), (values) => {
      const expected = Float64Array.from(values).sort();
      const actual = sortFloat64(Float64Array.from(values));
      return actual.every((v, i) => Object.is(v, expected[i]));
    }), { numRuns: 40 });
  });

  it('sorts a subarray in place without touching the rest of the buffer', () => {
    const buffer = Float64Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 10_007);
    const view = buffer.subarray(1000, 9000);
    const expected = view.slice().sort();
    sortFloat64(view);
    expect(Array.from(view)).toEqual(Array.from(expected));
    expect(buffer[999]).toBe((999 * 7919) % 10_007);
    expect(buffer[9000]).toBe((9000 * 7919) % 10_007);
  });
});
