import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decide, runCheck } from '../../src/runtime/drift/check';
import { parseArgs } from '../../src/runtime/drift/cli';
import { renderTemplate } from '../../src/runtime/drift/schedule';
import { InputError } from '../../src/runtime/drift/errors';
import { pushUrl, renderMetrics } from '../../src/runtime/drift/push';
import { classificationMetrics, regressionMetrics } from '../../src/runtime/drift/stats/quality';
import { categoricalFeature } from '../../src/runtime/drift/stats/samples';
import { FIXTURES, readFixture, tempDir } from './drift-support';

interface QualityCase {
  readonly name: string;
  readonly task: 'classification' | 'regression';
  readonly label: number[];
  readonly prediction: number[];
  readonly metrics: Record<string, number>;
}

describe('quality metrics against scikit-learn 1.9.1', () => {
  const fixture = readFixture<{ cases: QualityCase[] }>('quality.json');

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const metrics = c.task === 'regression'
      ? regressionMetrics(Float64Array.from(c.label), Float64Array.from(c.prediction))
      : classificationMetrics(c.label.map(String), c.prediction.map(String), '1');
    expect(Object.keys(metrics).sort()).toEqual(Object.keys(c.metrics).sort());
    for (const [name, expected] of Object.entries(c.metrics)) {
      expect(Math.abs(metrics[name] - expected)).toBeLessThanOrEqual(1e-12 * Math.abs(expected));
    }
  });
});

describe('multiple-testing corrections', () => {
  const scored = (ps: number[]) => ps.map((p, i) => ({ feature: `f${i}`, method: 'ks' as const, outcome: { statistic: 0.1, pValue: p }, threshold: 0.05 }));

  it('Bonferroni holds each p-value to alpha/m', () => {
    const results = decide(scored([0.001, 0.02, 0.04, 0.3]), 'bonferroni');
    expect(results.map((r) => [r.threshold, r.drifted])).toEqual([[0.0125, true], [0.0125, false], [0.0125, false], [0.0125, false]]);
  });

  it('Benjamini-Hochberg flags the k smallest p-values with p_(k) <= k/m alpha', () => {
    // ranks: 0.001 <= 0.0125, 0.008 <= 0.025, 0.039 > 0.0375, 0.041 <= 0.05 -> k = 4
    const results = decide(scored([0.041, 0.001, 0.039, 0.008]), 'fdr');
    expect(results.map((r) => r.drifted)).toEqual([true, true, true, true]);
    expect(decide(scored([0.2, 0.3]), 'fdr').map((r) => [r.threshold, r.drifted])).toEqual([[0.025, false], [0.025, false]]);
  });

  it('flags a subset of what the uncorrected test flags, and leaves distances alone', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 30 }), fc.constantFrom('bonferroni' as const, 'fdr' as const), (ps, correction) => {
      const plain = decide(scored(ps), 'none');
      const corrected = decide(scored(ps), correction);
      return corrected.every((r, i) => !r.drifted || plain[i].drifted);
    }));
    const distance = { feature: 'd', method: 'wasserstein' as const, outcome: { statistic: 0.2, pValue: null }, threshold: 0.1 };
    expect(decide([distance, ...scored([0.01])], 'bonferroni')[0]).toEqual({ feature: 'd', method: 'wasserstein', statistic: 0.2, pValue: null, threshold: 0.1, drifted: true });
  });
});

describe('command line', () => {
  const now = new Date('2024-06-01T00:30:00Z');
  const base = ['check', '--reference', 'ref.csv', '--current', 's3://b/dt={{ds}}/*.parquet'];

  it('fills {{ds}} with the UTC run date or --date', () => {
    const parsed = parseArgs(base, {}, now);
    expect(!parsed.help && parsed.check.current).toBe('s3://b/dt=2024-06-01/*.parquet');
    const dated = parseArgs([...base, '--date=2024-05-31'], {}, now);
    expect(!dated.help && dated.check.current).toBe('s3://b/dt=2024-05-31/*.parquet');
    expect(renderTemplate('x/{{ ds }}/{{ds}}', { ds: '2024-01-02' })).toBe('x/2024-01-02/2024-01-02');
  });

  it('fills {{ds}} and {{hour}} with the period that has just ended, given the schedule and time zone', () => {
    // GIVEN a daily schedule at 00:00 and a run a few seconds after midnight
    const daily = ['check', '--reference', 'ref.csv', '--current', 's3://b/dt={{ds}}/hour={{hour}}/x.csv', '--schedule', '0 0 * * *'];
    const parsed = parseArgs([...daily, '--now', '2024-06-02T00:00:07Z'], {}, now);
    // THEN it reads yesterday (the day that has just ended), not the day just begun
    expect(!parsed.help && [parsed.check.current, parsed.period.ds]).toEqual(['s3://b/dt=2024-06-01/hour=00/x.csv', '2024-06-01']);
    // AND in the CronJob's time zone: 00:00 in Berlin is 22:00 UTC the day before
    const berlin = parseArgs([...daily, '--time-zone', 'Europe/Berlin', '--now', '2024-06-01T22:00:05Z'], {}, now);
    expect(!berlin.help && berlin.check.current).toBe('s3://b/dt=2024-06-01/hour=00/x.csv');
    // AND --periods-back 2 reads the day before that, 0 the day the run starts
    const two = parseArgs([...daily, '--periods-back', '2', '--now', '2024-06-02T00:00:07Z'], {}, now);
    const zero = parseArgs([...daily, '--periods-back', '0', '--now', '2024-06-02T00:00:07Z'], {}, now);
    expect([!two.help && two.period.ds, !zero.help && zero.period.ds]).toEqual(['2024-05-31', '2024-06-02']);
    // AND --date still wins, with an hour when {{hour}} is used
    const dated = parseArgs([...daily, '--date', '2024-05-20T13'], {}, now);
    expect(!dated.help && dated.check.current).toBe('s3://b/dt=2024-05-20/hour=13/x.csv');
    expect(() => parseArgs([...daily, '--date', '2024-05-20'], {}, now)).toThrow('uses {{hour}}, but --date gives no hour');
  });

  it('reads methods and thresholds per method and per feature, and the environment for S3 and MLflow', () => {
    const parsed = parseArgs([...base, '--method', 'auto,amount=psi', '--threshold', '0.01,psi=0.2', '--sample', '1000', '--seed', '3',
      '--correction', 'fdr', '--drift-share', '0.3'], { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://minio:9000', MLFLOW_TRACKING_URI: 'http://mlflow:5000/' }, now);
    if (parsed.help) throw new Error('unexpected help');
    expect(parsed.check).toMatchObject({
      method: 'auto', featureMethods: { amount: 'psi' }, threshold: 0.01, methodThresholds: { psi: 0.2 },
      sampling: { size: 1000, seed: 3 }, correction: 'fdr', driftShare: 0.3,
      settings: { s3: { endpoint: 'http://minio:9000', region: 'eu-west-1' }, mlflow: { trackingUri: 'http://mlflow:5000' } },
    });
  });

  it.each([
    [['--drift-share', '2'], /--drift-share "2" is not a share between 0 and 1/],
    [['--sample', '0'], /--sample "0" is not a whole number of rows >= 1/],
    [['--seed', '4'], /--seed only makes sense with --sample/],
    [['--date', '2024-13-45'], /--date "2024-13-45" is not a date/],
    [['--date', '2024-05-31T24'], /--date "2024-05-31T24" is not a date/],
    [['--schedule', '0 0 * *'], /--schedule "0 0 \* \*": "0 0 \* \*" has 4 fields/],
    [['--schedule', '0 0 30 2 *'], /does not fire 2 times/],
    [['--time-zone', 'Mars/Olympus'], /time zone "Mars\/Olympus" is not an IANA time zone/],
    [['--periods-back', '1'], /--periods-back only makes sense with --schedule/],
    [['--schedule', '@daily', '--periods-back', '-1'], /--periods-back "-1" is not a whole number from 0 to 1000/],
    [['--now', 'yesterday'], /--now "yesterday" is not a time with an offset like/],
    [['--now', '2024-06-02T00:00:05'], /--now "2024-06-02T00:00:05" is not a time with an offset/],
    [['--format', 'xlsx'], /--format "xlsx" is not one of csv, jsonl, parquet/],
    [['--threshold', 'ks=-1'], /--threshold: "ks=-1" is not a threshold >= 0/],
    [['--json=yes'], /--json takes no value/],
    [['--shard-index', '1'], /--shard-index and --shard-count go together/],
    [['--shard-index', '3', '--shard-count', '3'], /--shard-index "3" is not a whole number from 0 to 2/],
    [['--features', 'a', '--method', 'b=ks'], /--method names feature "b", which is not in --features/],
  ])('fails on %j', (extra, message) => {
    expect(() => parseArgs([...base, ...extra], {}, now)).toThrow(InputError);
    expect(() => parseArgs([...base, ...extra], {}, now)).toThrow(message);
  });
});

describe('Pushgateway payload', () => {
  it('encodes grouping-key values with a slash in base64url, as the Pushgateway defines', () => {
    expect(pushUrl({ url: 'http://pg:9091/', namespace: 'mlops', model: 'fraud/v2' }))
      .toBe('http://pg:9091/metrics/job/mlops-drift/namespace/mlops/model@base64/ZnJhdWQvdjI');
  });

  it('gives each shard of an Indexed Job its own group', () => {
    expect(pushUrl({ url: 'http://pg:9091', namespace: 'mlops', model: 'm', shard: 2 }))
      .toBe('http://pg:9091/metrics/job/mlops-drift/namespace/mlops/model/m/shard/2');
    const parsed = parseArgs(['check', '--reference', 'a.csv', '--current', 'b.csv', '--shard-index', '2', '--shard-count', '3',
      '--pushgateway', 'http://pg:9091', '--namespace', 'mlops', '--model', 'm'], {});
    expect(!parsed.help && [parsed.check.shard, parsed.push?.shard]).toEqual([{ index: 2, count: 3 }, 2]);
  });

  it('escapes label values and writes +Inf for an infinite statistic', () => {
    const text = renderMetrics({
      features: [{ feature: 'say "hi"\\\n', method: 'chisquare', statistic: Infinity, pValue: 0, threshold: 0.05, drifted: true }],
      driftShare: 1, drifted: true, rows: { reference: 1, current: 2 }, rowsRead: { reference: 1, current: 2 }, missing: {}, inferredCategorical: {}, mostlyDistinct: [],
    }, 0.5, 1700000000);
    expect(text).toContain('mlops_drift_statistic{feature="say \\"hi\\"\\\\\\n",method="chisquare"} +Inf\n');
    expect(text).not.toContain('mlops_model_quality');
  });
});

describe('runCheck as a library', () => {
  const e2e = path.join(FIXTURES, 'e2e');
  const options = {
    reference: path.join(e2e, 'reference.csv'), current: path.join(e2e, 'current.csv'), categorical: ['channel'],
    method: 'auto' as const, featureMethods: {}, methodThresholds: {}, driftShare: 0.5, correction: 'none' as const,
    positiveLabel: '1', settings: { s3: { region: 'us-east-1' } },
  };

  it('tests every column but label and prediction by default, and computes quality', async () => {
    const result = await runCheck({ ...options, label: 'label', prediction: 'prediction' });
    expect(result.features.map((f) => f.feature)).toEqual(['amount', 'age', 'score', 'channel', 'is_new']);
    expect(result.quality).toEqual(readFixture<{ expected: { quality: Record<string, number> } }>('e2e.json').expected.quality);
  });

  it('computes regression quality and applies a per-feature method', async () => {
    const result = await runCheck({ ...options, features: ['score', 'amount'], featureMethods: { amount: 'psi' }, label: 'score', prediction: 'amount', task: 'regression' });
    expect(result.features.map((f) => [f.feature, f.method])).toEqual([['score', 'ks'], ['amount', 'psi']]);
    expect(Object.keys(result.quality!)).toEqual(['rmse', 'mae']);
  });

  it('checks every n-th feature on a shard, and only shard 0 computes quality', async () => {
    const quality = { label: 'label', prediction: 'prediction' };
    const first = await runCheck({ ...options, ...quality, shard: { index: 0, count: 2 } });
    const second = await runCheck({ ...options, ...quality, shard: { index: 1, count: 2 } });
    expect(first.features.map((f) => f.feature)).toEqual(['amount', 'score', 'is_new']);
    expect(second.features.map((f) => f.feature)).toEqual(['age', 'channel']);
    expect(first.quality).toBeDefined();
    expect(second.quality).toBeUndefined();
    await expect(runCheck({ ...options, features: ['amount'], shard: { index: 1, count: 2 } })).rejects.toThrow('shard 1 of 2 has no feature to check');
  });

  it('fails when only one of label and prediction is given', async () => {
    await expect(runCheck({ ...options, label: 'label' })).rejects.toThrow('--label and --prediction go together');
  });
});

describe('inferred categorical features', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());
  const base = { method: 'auto' as const, featureMethods: {}, methodThresholds: {}, driftShare: 0.5, correction: 'none' as const,
    positiveLabel: '1', settings: { s3: { region: 'us-east-1' } } };
  const csv = (name: string, header: string, rows: string[]) => {
    const file = path.join(tmp.dir, name);
    fs.writeFileSync(file, `${header}\n${rows.join('\n')}\n`);
    return file;
  };

  it('makes a feature numeric in one dataset and text in the other text in both, as --categorical would', async () => {
    // GIVEN "plan" holding only numbers in one dataset and a word among numbers in the other
    const numeric = csv('numeric.csv', 'plan', Array.from({ length: 60 }, (_, i) => String(i % 4)));
    const mixed = csv('mixed.csv', 'plan', Array.from({ length: 50 }, (_, i) => (i === 30 ? 'team' : String(i % 3))));
    for (const [reference, current, dataset] of [[numeric, mixed, 'current'], [mixed, numeric, 'reference']] as const) {
      // WHEN the check infers the type, and when plan is listed as categorical
      const inferred = await runCheck({ ...base, reference, current, categorical: [] });
      const listed = await runCheck({ ...base, reference, current, categorical: ['plan'] });
      // THEN both give the same categorical test and score, and the result says where the text was
      expect(inferred.features).toEqual(listed.features);
      expect(inferred.features[0].method).toBe('chisquare');
      expect(inferred.inferredCategorical).toEqual({ plan: { dataset, row: 31, value: 'team' } });
      expect(listed.inferredCategorical).toEqual({});
    }
  });

  it('names inferred categorical features whose values are mostly distinct (an id column), for the log', async () => {
    const reference = csv('reference.csv', 'id,plan', Array.from({ length: 40 }, (_, i) => `u${i},${['a', 'b'][i % 2]}`));
    const current = csv('current.csv', 'id,plan', Array.from({ length: 30 }, (_, i) => `u${i + 100},${['a', 'b'][i % 2]}`));
    const result = await runCheck({ ...base, reference, current, categorical: [] });
    expect(result.mostlyDistinct).toEqual(['id']);
  });

  it('lets --categorical win over numbers, and gives a numeric feature listed nowhere the numeric tests', async () => {
    const rows = (shift: number) => Array.from({ length: 200 }, (_, i) => `${(i * 3.7 + shift) % 50},${i % 7}`);
    const reference = csv('reference.csv', 'amount,code', rows(0));
    const current = csv('current.csv', 'amount,code', rows(5));
    const inferred = await runCheck({ ...base, reference, current, categorical: [] });
    const listed = await runCheck({ ...base, reference, current, categorical: ['amount'] });
    // integers with at most 10 values are categorical for Evidently; floats numerical
    expect(inferred.features.map((f) => [f.feature, f.method])).toEqual([['amount', 'ks'], ['code', 'chisquare']]);
    expect(listed.features.map((f) => [f.feature, f.method])).toEqual([['amount', 'chisquare'], ['code', 'chisquare']]);
  });

  it('sorts the categories of a column that mixes numbers and words as strings, as Python sorts an object column', () => {
    // "10" < "9" < "x" by code point; with numbers only, 9 < 10 (pandas would have read numbers)
    const mixed = categoricalFeature('v', ['10', '9', 'x'], Int32Array.from([0, 1, 2]), Int32Array.from([0, 1]));
    const numbersOnly = categoricalFeature('v', ['10', '9'], Int32Array.from([0, 1]), Int32Array.from([0, 1]));
    expect(mixed.counts().keys).toEqual(['10', '9', 'x']);
    expect(numbersOnly.counts().keys).toEqual(['9', '10']);
  });
});

describe('missing values (property)', () => {
  it('leaves NaN, NA tokens and infinities out: the result equals the one on the clean data', async () => {
    const tmp = tempDir();
    try {
      const values = fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 40 });
      const holes = fc.array(fc.tuple(fc.nat(), fc.constantFrom('', 'NA', 'nan', 'NaN', 'null', 'inf', '-inf', 'Infinity')), { maxLength: 10 });
      let run = 0;
      await fc.assert(fc.asyncProperty(values, values, holes, async (ref, cur, inserted) => {
        run++;
        const dirty = cur.map(String);
        for (const [at, token] of inserted) dirty.splice(at % (dirty.length + 1), 0, token);
        // A second, always-present column keeps blank cells from making blank lines.
        const csv = (cells: string[]) => `x,k\n${cells.map((c) => `${c},1`).join('\n')}\n`;
        const files = ['ref', 'dirty', 'clean'].map((name) => path.join(tmp.dir, `${name}-${run}.csv`));
        fs.writeFileSync(files[0], csv(ref.map(String)));
        fs.writeFileSync(files[1], csv(dirty));
        fs.writeFileSync(files[2], csv(cur.map(String)));
        const base = { reference: files[0], features: ['x'], categorical: [], method: 'auto' as const, featureMethods: {}, methodThresholds: {},
          driftShare: 0.5, correction: 'none' as const, positiveLabel: '1', settings: { s3: { region: 'us-east-1' } } };
        const withHoles = await runCheck({ ...base, current: files[1] });
        const clean = await runCheck({ ...base, current: files[2] });
        expect(withHoles.features).toEqual(clean.features);
        expect(withHoles.missing.x).toEqual({ reference: 0, current: inserted.length });
      }), { numRuns: 25 });
    } finally {
      tmp.remove();
    }
  });
});
