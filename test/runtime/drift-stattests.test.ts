import * as fc from 'fast-check';
import { categoricalFeature, numericFeature, type FeatureSamples } from '../../src/runtime/drift/stats/samples';
import {
  METHOD_INFO, type DriftMethod, defaultMethod, evidentlyColumnType, isDrifted, runTest,
} from '../../src/runtime/drift/stats/stattests';
import { distinctSorted } from '../../src/runtime/drift/stats/samples';
import { readFixture, type SampleSpec, sample } from './drift-support';

interface MethodResult {
  readonly score: number | null;
  readonly drifted: boolean;
  readonly threshold: number;
  readonly statistic?: number | string;
}

interface EvidentlyCase {
  readonly name: string;
  readonly kind: 'float' | 'int' | 'category';
  readonly ref: SampleSpec;
  readonly cur: SampleSpec;
  readonly type: 'numerical' | 'categorical';
  readonly auto: DriftMethod;
  readonly methods: Partial<Record<DriftMethod, MethodResult>>;
}

const fixture = readFixture<{ cases: EvidentlyCase[] }>('evidently.json');
const LABELS = ['apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape', 'honeydew', 'kiwi', 'lemon', 'mango',
  'nectarine', 'olive', 'papaya', 'quince', 'raspberry', 'strawberry', 'tomato', 'ugli', 'vanilla', 'walnut', 'xigua',
  'yam', 'zucchini', 'Ärtan', 'éclair', 'Zebra'];

/** The feature as the checker would load it: the type inferred from the current data as Evidently does. */
function feature(c: EvidentlyCase): FeatureSamples {
  const ref = sample(c.ref);
  const cur = sample(c.cur);
  if (c.kind === 'category') {
    const dictionary: string[] = [];
    const codes = new Map<string, number>();
    const encode = (values: Float64Array) => Int32Array.from(values, (v) => {
      const label = LABELS[v];
      if (!codes.has(label)) {
        codes.set(label, dictionary.length);
        dictionary.push(label);
      }
      return codes.get(label)!;
    });
    return categoricalFeature(c.name, dictionary, encode(ref), encode(cur));
  }
  const integer = c.kind === 'int';
  const type = evidentlyColumnType({ text: false, integer, distinct: distinctSorted(cur.slice().sort()) });
  return numericFeature(c.name, type, ref, cur, integer);
}

/** 1e-9 relative, or 1e-15 absolute for values that are zero up to rounding. */
function close(actual: number, expected: number): boolean {
  if (actual === expected) return true;
  return Math.abs(actual - expected) <= Math.max(1e-9 * Math.abs(expected), 1e-15);
}

const worst: Record<string, number> = {};
afterAll(() => {
  const lines = Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(2)}`);
  process.stdout.write(`stattests worst relative error vs Evidently/scipy: ${lines.join(', ')}\n`);
});

function track(key: string, actual: number, expected: number): void {
  if (actual === expected) return;
  const rel = expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected);
  worst[key] = Math.max(worst[key] ?? 0, rel);
}

describe.each(fixture.cases.map((c) => [c.name, c] as const))('Evidently 0.7.23: %s', (_name, c) => {
  const f = feature(c);

  it(`types the column ${c.type} and picks ${c.auto} by default`, () => {
    expect(f.type).toBe(c.type);
    expect(defaultMethod(f)).toBe(c.auto);
  });

  it.each(Object.entries(c.methods) as Array<[DriftMethod, MethodResult]>)('%s', (method, expected) => {
    // WHEN the test runs on the feature
    const outcome = runTest(method, f);
    const info = METHOD_INFO[method];

    // THEN the score, the statistic behind it and the verdict are Evidently's
    expect(info.defaultThreshold).toBe(expected.threshold);
    if (info.hasPValue) {
      if (expected.score === null) {
        // scipy's chisquare has no degrees of freedom with one category (NaN); we report p = 1
        expect(outcome.pValue).toBe(1);
      } else {
        track(`${method} p`, outcome.pValue!, expected.score);
        expect(close(outcome.pValue!, expected.score)).toBe(true);
      }
      const statistic = expected.statistic === 'inf' ? Infinity : (expected.statistic as number);
      track(`${method} statistic`, outcome.statistic, statistic);
      expect(close(outcome.statistic, statistic)).toBe(true);
    } else {
      track(method, outcome.statistic, expected.score!);
      expect(outcome.pValue).toBeNull();
      expect(close(outcome.statistic, expected.score!)).toBe(true);
    }
    expect(isDrifted(method, outcome, expected.threshold)).toBe(expected.drifted);
  });
});

describe('stattest properties', () => {
  const values = fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 50 });
  const methods: DriftMethod[] = ['ks', 'wasserstein', 'jensenshannon', 'psi'];

  it('never crashes and gives finite scores on any finite numeric input', () => {
    fc.assert(fc.property(values, values, fc.constantFrom(...methods), (a, b, method) => {
      const outcome = runTest(method, numericFeature('x', 'numerical', Float64Array.from(a), Float64Array.from(b), false));
      const p = outcome.pValue;
      return Number.isFinite(outcome.statistic) && outcome.statistic >= 0 && (p === null || (p >= 0 && p <= 1));
    }), { numRuns: 400 });
  });

  it('gives p-values in [0, 1] for any categories', () => {
    const codes = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 60 });
    fc.assert(fc.property(codes, codes, fc.constantFrom<DriftMethod>('chisquare', 'z', 'jensenshannon', 'psi'), (a, b, method) => {
      const dictionary = ['a', 'b', 'c', 'd', 'e', 'f'];
      const outcome = runTest(method, categoricalFeature('c', dictionary, Int32Array.from(a), Int32Array.from(b)));
      const p = outcome.pValue;
      return !Number.isNaN(outcome.statistic) && (p === null || (p >= 0 && p <= 1));
    }), { numRuns: 400 });
  });

  it('fails with a message when a method meets the wrong column kind', () => {
    const f = categoricalFeature('country', ['DE', 'FR'], Int32Array.from([0, 1]), Int32Array.from([1, 1]));
    expect(() => runTest('ks', f)).toThrow(/ks needs numbers but feature country holds categories/);
  });
});
