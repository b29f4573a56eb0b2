import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundledProgram } from './bundled-program';
import { FIXTURES, type DriftRun, readFixture, runDrift, tempDir } from './drift-support';
import { closeServer, listenOnLoopback, unusedPort } from './http-helpers';

/**
 * The bundled checker as the CronJob runs it: `node assets/mlops-drift.js check ...`, reading
 * real files and real HTTP, judged by its stdout, stderr and exit code.
 */

const program = bundledProgram('mlops-drift.js', 'src/runtime/drift');
const E2E = path.join(FIXTURES, 'e2e');

interface E2eFixture {
  readonly features: string[];
  readonly categorical: string[];
  readonly label: string;
  readonly prediction: string;
  readonly expected: {
    readonly features: Array<{ feature: string; method: string; score: number; threshold: number; drifted: boolean }>;
    readonly driftShare: number;
    readonly drifted: boolean;
    readonly rows: { reference: number; current: number };
    readonly quality: Record<string, number>;
  };
}
const e2e = readFixture<E2eFixture>('e2e.json');
const featureArgs = ['--features', e2e.features.join(','), '--categorical', e2e.categorical.join(',')];

function json(run: DriftRun): Record<string, unknown> {
  if (run.code !== 0) throw new Error(`mlops-drift exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/** The result Evidently's DataDriftPreset gave on the same files (see make_drift_fixtures.py e2e). */
function expectEvidentlyResult(output: Record<string, unknown>): void {
  const features = output.features as Array<Record<string, unknown>>;
  expect(features.map((f) => [f.feature, f.method, f.drifted, f.threshold]))
    .toEqual(e2e.expected.features.map((f) => [f.feature, f.method, f.drifted, f.threshold]));
  e2e.expected.features.forEach((expected, i) => {
    const score = (features[i].pValue ?? features[i].statistic) as number;
    expect(Math.abs(score - expected.score)).toBeLessThanOrEqual(1e-10);
  });
  expect(output.driftShare).toBe(e2e.expected.driftShare);
  expect(output.drifted).toBe(e2e.expected.drifted);
  expect(output.rows).toEqual(e2e.expected.rows);
}

/** A failed run: the exit code, nothing on stdout (so no "drifted": false anywhere), a message on stderr. */
function expectFailure(run: DriftRun, code: 1 | 2 | 3, message: RegExp): void {
  expect({ code: run.code, stdout: run.stdout }).toEqual({ code, stdout: '' });
  expect(run.stderr).toMatch(message);
}

describe('mlops-drift check (bundled)', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  const write = (name: string, text: string) => {
    const file = path.join(tmp.dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('prints exactly the contract JSON, with Evidently\'s methods, scores and verdicts', async () => {
    // GIVEN the e2e CSV pair  WHEN the check runs with --json
    const output = json(await runDrift(program, ['check', '--reference', path.join(E2E, 'reference.csv'),
      '--current', path.join(E2E, 'current.csv'), ...featureArgs, '--json']));

    // THEN the object has exactly the contract's fields, and the values are Evidently's
    expect(Object.keys(output).sort()).toEqual(['driftShare', 'drifted', 'features', 'quality', 'rows']);
    expect(output.quality).toBeNull();
    for (const f of output.features as Array<Record<string, unknown>>) {
      expect(Object.keys(f).sort()).toEqual(['drifted', 'feature', 'method', 'pValue', 'statistic', 'threshold']);
    }
    expect(Object.keys(output.rows as object).sort()).toEqual(['current', 'reference']);
    expectEvidentlyResult(output);
  });

  it('prints the quality metrics with --json, as the text output does (scikit-learn\'s values)', async () => {
    // GIVEN the e2e CSV pair with its label and prediction columns
    const args = ['check', '--reference', path.join(E2E, 'reference.csv'), '--current', path.join(E2E, 'current.csv'),
      ...featureArgs, '--label', e2e.label, '--prediction', e2e.prediction];

    // WHEN the check runs with --json, and without
    const output = json(await runDrift(program, [...args, '--json']));
    const text = await runDrift(program, args);

    // THEN the JSON carries every metric the table shows, with scikit-learn's values
    const quality = output.quality as Record<string, number>;
    expect(Object.keys(quality).sort()).toEqual(Object.keys(e2e.expected.quality).sort());
    for (const [metric, expected] of Object.entries(e2e.expected.quality)) {
      expect(Math.abs(quality[metric] - expected)).toBeLessThanOrEqual(1e-12);
      expect(text.stdout).toContain(`${metric} ${expected.toPrecision(4)}`);
    }
    // AND the contract's other fields are unchanged
    expectEvidentlyResult(output);
  });

  it('measures quality on the current data only: a reference without label and prediction columns (the training data) is enough', async () => {
    // GIVEN the e2e reference without its label and prediction columns, as the training data a
    // model logs (examples/training) has no predictions
    const tmp = tempDir();
    try {
      const [header, ...rows] = fs.readFileSync(path.join(E2E, 'reference.csv'), 'utf8').trimEnd().split('\n');
      const keep = header.split(',').map((c, i) => [c, i] as const).filter(([c]) => c !== e2e.label && c !== e2e.prediction).map(([, i]) => i);
      const pick = (line: string) => keep.map((i) => line.split(',')[i]).join(',');
      const reference = path.join(tmp.dir, 'training.csv');
      fs.writeFileSync(reference, [pick(header), ...rows.map(pick)].join('\n') + '\n');

      // WHEN checked with the label and prediction columns of the current data
      const output = json(await runDrift(program, ['check', '--reference', reference, '--current', path.join(E2E, 'current.csv'),
        ...featureArgs, '--label', e2e.label, '--prediction', e2e.prediction, '--json']));

      // THEN the check runs and its quality is scikit-learn's on the current data
      for (const [metric, expected] of Object.entries(e2e.expected.quality)) {
        expect((output.quality as Record<string, number>)[metric]).toBeCloseTo(expected, 12);
      }
      expectEvidentlyResult(output);
    } finally {
      tmp.remove();
    }
  });

  it('tests the model\'s output for drift with --prediction-drift, as if it were one more feature; a reference without it is bad input (exit 2)', async () => {
    const reference = path.join(E2E, 'reference.csv');
    const current = path.join(E2E, 'current.csv');
    // WHEN the output column is checked for drift, and the same column is listed as a plain feature
    const withOutput = json(await runDrift(program, ['check', '--reference', reference, '--current', current, ...featureArgs, '--prediction-drift', e2e.prediction, '--json']));
    const asFeature = json(await runDrift(program, ['check', '--reference', reference, '--current', current,
      '--features', [...e2e.features, e2e.prediction].join(','), '--categorical', e2e.categorical.join(','), '--json']));
    // THEN it is the last tested column, with the same test and result as the plain feature
    const features = withOutput.features as Array<Record<string, unknown>>;
    expect(features.map((f) => f.feature)).toEqual([...e2e.features, e2e.prediction]);
    expect(features[features.length - 1]).toEqual((asFeature.features as Array<Record<string, unknown>>).find((f) => f.feature === e2e.prediction));
    expect(withOutput.driftShare).toBe(asFeature.driftShare);

    // AND a reference without the output column (training data) fails at once, saying what to do
    const [header, ...rows] = fs.readFileSync(reference, 'utf8').trimEnd().split('\n');
    const keep = header.split(',').map((c, i) => [c, i] as const).filter(([c]) => c !== e2e.prediction).map(([, i]) => i);
    const pick = (line: string) => keep.map((i) => line.split(',')[i]).join(',');
    const training = path.join(tmp.dir, 'training.csv');
    fs.writeFileSync(training, [pick(header), ...rows.map(pick)].join('\n') + '\n');
    expectFailure(await runDrift(program, ['check', '--reference', training, '--current', current, ...featureArgs, '--prediction-drift', e2e.prediction]), 2,
      new RegExp(`--prediction-drift ${e2e.prediction}: the reference .*training\\.csv has no column "${e2e.prediction}" to compare the model's output with; store the model's predictions on the reference data`));
  });

  it('infers the categorical features without --categorical, in CSV, Parquet and JSON Lines, to Evidently\'s result', async () => {
    // GIVEN the e2e files, whose text column "channel" Evidently typed from pandas' dtypes
    const pairs = [['reference.csv', 'current.csv'], ['reference.parquet', 'current.zstd.parquet'], ['reference.parquet', 'current.jsonl'], ['reference.csv', 'current.jsonl']];
    for (const [reference, current] of pairs) {
      // WHEN the check runs as a DriftMonitor with its defaults does: no --features, no --categorical
      const output = json(await runDrift(program, ['check', '--reference', path.join(E2E, reference), '--current', path.join(E2E, current),
        '--label', e2e.label, '--prediction', e2e.prediction, '--json']));
      // THEN the features, their methods (chisquare for the text column) and scores are Evidently's
      expectEvidentlyResult(output);
    }
  });

  it('types Parquet columns from the schema and JSON Lines from the JSON types: a string column of digits stays categorical', async () => {
    // GIVEN pyarrow-written files: code (strings "1".."3"), flag (bool), level (int64, 5 values), amount (float64), plan (strings)
    const dir = path.join(FIXTURES, 'inference');
    const dtypes = readFixture<{ parquetDtypes: Record<string, string> }>('inference.json').parquetDtypes;
    expect(dtypes).toEqual({ code: 'str', flag: 'bool', level: 'int64', amount: 'float64', plan: 'str' });
    // WHEN checked with no --categorical
    const parquet = json(await runDrift(program, ['check', '--reference', path.join(dir, 'reference.parquet'), '--current', path.join(dir, 'current.parquet'), '--json']));
    const jsonl = json(await runDrift(program, ['check', '--reference', path.join(dir, 'reference.jsonl'), '--current', path.join(dir, 'current.jsonl'), '--json']));
    // THEN Evidently's choice per type: strings and booleans categorical, integers with few values categorical, floats numerical
    expect((parquet.features as Array<Record<string, unknown>>).map((f) => [f.feature, f.method]))
      .toEqual([['code', 'chisquare'], ['flag', 'z'], ['level', 'chisquare'], ['amount', 'ks'], ['plan', 'chisquare']]);
    expect(jsonl).toEqual(parquet);
  });

  it('runs on a text column listed nowhere, picking a categorical test for it and numeric ones for the rest (exit 0, not 2)', async () => {
    // GIVEN the new user's files: a text column "plan" beside a numeric "amount", and no --categorical
    const plans = ['free', 'team', 'pro'];
    const rows = (n: number, shift: number) => Array.from({ length: n }, (_, i) => `${(i * 7.3 + shift) % 100},${plans[(i + shift) % 3]}`);
    const reference = write('reference.csv', `amount,plan\n${rows(300, 0).join('\n')}\n`);
    const current = write('current.csv', `amount,plan\n${rows(200, 1).join('\n')}\n`);

    // WHEN the check runs
    const run = await runDrift(program, ['check', '--reference', reference, '--current', current, '--json']);

    // THEN it ran: plan got Evidently's categorical choice, amount the numeric one
    const output = json(run);
    const methods = (output.features as Array<Record<string, unknown>>).map((f) => [f.feature, f.method]);
    expect(methods).toEqual([['amount', 'ks'], ['plan', 'chisquare']]);
    // AND the log says which column the data made categorical, and why
    expect(run.stderr).toMatch(/"inferredCategorical":\{"plan":\{"dataset":"reference","row":1,"value":"free"\}\}/);
  });

  it('reads Parquet (snappy; zstd in several row groups) and JSON Lines to the same result', async () => {
    const parquet = json(await runDrift(program, ['check', '--reference', path.join(E2E, 'reference.parquet'),
      '--current', path.join(E2E, 'current.zstd.parquet'), ...featureArgs, '--json']));
    const jsonl = json(await runDrift(program, ['check', '--reference', path.join(E2E, 'reference.parquet'),
      '--current', path.join(E2E, 'current.jsonl'), ...featureArgs, '--json']));
    expectEvidentlyResult(parquet);
    expect(jsonl).toEqual(parquet);
  });

  it('reads over HTTP from a local server, gzip included, to the same result', async () => {
    // GIVEN a plain node:http server with the CSVs (current gzipped)
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/data/reference.csv') res.end(fs.readFileSync(path.join(E2E, 'reference.csv')));
      else if (req.url === '/data/current.csv.gz') res.end(gzipSync(fs.readFileSync(path.join(E2E, 'current.csv'))));
      else {
        res.statusCode = 404;
        res.end('not here');
      }
    });
    const port = await listenOnLoopback(server);
    try {
      // WHEN the check reads both over HTTP
      const output = json(await runDrift(program, ['check', '--reference', `http://127.0.0.1:${port}/data/reference.csv`,
        '--current', `http://127.0.0.1:${port}/data/current.csv.gz`, ...featureArgs, '--json']));
      // THEN the result is the one from local files
      expectEvidentlyResult(output);
      expect(seen.sort()).toEqual(['/data/current.csv.gz', '/data/reference.csv']);

      // AND a 404 on the current data is "not there yet" (exit 3) naming the URL
      const missing = await runDrift(program, ['check', '--reference', `http://127.0.0.1:${port}/data/reference.csv`,
        '--current', `http://127.0.0.1:${port}/data/none.csv`, ...featureArgs, '--json']);
      expectFailure(missing, 3, /current dataset http:\/\/127\.0\.0\.1:\d+\/data\/none\.csv is not there \(yet\): GET http:\/\/127\.0\.0\.1:\d+\/data\/none\.csv: 404/);
      // AND on the reference it is bad input (exit 2): the reference never arrives later
      const noReference = await runDrift(program, ['check', '--reference', `http://127.0.0.1:${port}/data/none.csv`,
        '--current', `http://127.0.0.1:${port}/data/current.csv.gz`, ...featureArgs, '--json']);
      expectFailure(noReference, 2, /GET http:\/\/127\.0\.0\.1:\d+\/data\/none\.csv: 404/);
    } finally {
      await closeServer(server);
    }
  });

  it('reads a glob of files as one dataset, with {{ds}} from --date', async () => {
    // GIVEN the current CSV split in two files under a dated directory
    const lines = fs.readFileSync(path.join(E2E, 'current.csv'), 'utf8').trimEnd().split('\n');
    const dir = path.join(tmp.dir, 'dt=2024-05-31');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'part-0.csv'), `${[lines[0], ...lines.slice(1, 120)].join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'part-1.csv'), `${[lines[0], ...lines.slice(120)].join('\r\n')}\r\n`);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not data');

    // WHEN the current URI is a template with a wildcard
    const output = json(await runDrift(program, ['check', '--reference', path.join(E2E, 'reference.csv'),
      '--current', path.join(tmp.dir, 'dt={{ds}}', '*.csv'), '--date', '2024-05-31', ...featureArgs, '--json']));

    // THEN both parts were read, in order, as one dataset
    expectEvidentlyResult(output);
  });

  it('fails with file:line:column on a value that is not a number where numbers are required (exit 2)', async () => {
    // A regression label must be numeric; a feature's type would be inferred instead.
    const reference = write('reference.csv', 'a,b,p\n1,2,2\n3,4,4\n5,6,6\n');
    const current = write('current.csv', 'a,b,p\n1,2,2\n"3",4,4\n5,"x y",5\n');
    const run = await runDrift(program, ['check', '--reference', reference, '--current', current, '--features', 'a',
      '--label', 'b', '--prediction', 'p', '--task', 'regression', '--json']);
    expectFailure(run, 2, new RegExp(`${current.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:3: column "b": "x y" is not a number`));
  });

  it('exits 3 when the current file or partition is not there (yet), and 2 when the reference is missing', async () => {
    const reference = path.join(E2E, 'reference.csv');
    const file = path.join(tmp.dir, 'dt=2024-06-01', 'current.csv');
    const glob = path.join(tmp.dir, 'dt=2024-06-01', '*.csv');
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', file, ...featureArgs, '--json']), 3,
      /current dataset .*current\.csv is not there \(yet\): .*current\.csv: no such file/);
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', glob, ...featureArgs, '--json']), 3,
      /is not there \(yet\): .*cannot list/);
    fs.mkdirSync(path.dirname(file));
    const run = await runDrift(program, ['check', '--reference', reference, '--current', glob, ...featureArgs, '--json']);
    expectFailure(run, 3, /is not there \(yet\): .*\*\.csv: no file matches/);
    expect(run.stderr).toMatch(/"event":"failed","exitCode":3/);
    expectFailure(await runDrift(program, ['check', '--reference', file, '--current', reference, ...featureArgs, '--json']), 2,
      /current\.csv: no such file/);
  });

  it('fails on a missing column, naming the file and the columns it has (exit 2)', async () => {
    const reference = write('reference.csv', 'a,b\n1,2\n');
    const current = write('current.csv', 'a,c\n1,2\n');
    const run = await runDrift(program, ['check', '--reference', reference, '--current', current, '--features', 'a,b', '--json']);
    expectFailure(run, 2, /current\.csv:1:1: column "b" not found \(columns: a, c\)/);
  });

  it('reads JSON Lines whose objects have different keys (an inference log\'s unparsed record first), and fails on a column no object has', async () => {
    const reference = write('reference.csv', `a,b\n${Array.from({ length: 50 }, (_, i) => `${i},${i % 5}`).join('\n')}\n`);
    const lines = [
      JSON.stringify({ _timestamp: '2024-06-01T10:00:00Z', _code: 200, _unparsed: 'request', prediction: 1 }),
      ...Array.from({ length: 50 }, (_, i) => JSON.stringify({ _timestamp: '2024-06-01T10:00:01Z', _code: 200, a: i, b: i % 5, prediction: 0 })),
    ];
    const current = write('current.jsonl', `${lines.join('\n')}\n`);
    const run = await runDrift(program, ['check', '--reference', reference, '--current', current, '--features', 'a,b', '--json']);
    const output = json(run);
    // the record without features is a row with both missing, not an error
    expect(output.rows).toEqual({ reference: 50, current: 51 });
    expect(run.stderr).toContain('"missing":{"a":{"reference":0,"current":1},"b":{"reference":0,"current":1}}');
    expect((output.features as Array<{ drifted: boolean }>).map((f) => f.drifted)).toEqual([false, false]);
    const without = write('without.jsonl', `${lines.map((l) => l.replace(/"b":\d+,/, '')).join('\n')}\n`);
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', without, '--features', 'a,b']), 2,
      /without\.jsonl:1:1: column "b" not found \(columns: _timestamp, _code, _unparsed, prediction, a\)/);
  });

  it('fails on an empty dataset: header only, or an empty file (exit 2)', async () => {
    const reference = write('reference.csv', 'a,b\n1,2\n3,4\n');
    const headerOnly = write('header-only.csv', 'a,b\n');
    const empty = write('empty.csv', '');
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', headerOnly, '--json']), 2,
      /current dataset .*header-only\.csv has no rows/);
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', empty, '--json']), 2,
      /empty\.csv: the file is empty/);
    expectFailure(await runDrift(program, ['check', '--reference', empty, '--current', reference, '--json']), 2,
      /empty\.csv: the file is empty/);
  });

  it('fails on a feature with no values at all (exit 2)', async () => {
    const reference = write('reference.csv', 'a,b\n1,2\n3,4\n');
    const current = write('current.csv', 'a,b\n1,\n3,NA\n');
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', current, '--json']), 2,
      /feature "b" has no values in the current data .* \(all 2 rows missing or not finite\)/);
  });

  it('fails with exit 1 on an unreachable http source, and never prints a result', async () => {
    const port = await unusedPort();
    const run = await runDrift(program, ['check', '--reference', path.join(E2E, 'reference.csv'),
      '--current', `http://127.0.0.1:${port}/current.csv`, ...featureArgs, '--json']);
    expectFailure(run, 1, /GET http:\/\/127\.0\.0\.1:\d+\/current\.csv: connect ECONNREFUSED/);
    expect(run.stderr).toMatch(/"event":"failed","exitCode":1/);
  });

  it('fails with exit 2 and the usage on bad arguments', async () => {
    const reference = path.join(E2E, 'reference.csv');
    expectFailure(await runDrift(program, ['check', '--reference', reference]), 2, /--current is required[\s\S]*usage: mlops-drift check/);
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', reference, '--bogus']), 2, /unknown option --bogus/);
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', reference, '--method', 'tt']), 2,
      /--method: "tt" is not auto or one of ks, chisquare, z, wasserstein, jensenshannon, psi/);
    expectFailure(await runDrift(program, ['check', '--reference', reference, '--current', reference, '--pushgateway', 'http://x']), 2,
      /--pushgateway, --namespace and --model go together/);
    expectFailure(await runDrift(program, []), 2, /usage: mlops-drift check/);
    const help = await runDrift(program, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: mlops-drift check --reference <uri> --current <uri>/);
  });

  it('fails when a forced method does not fit the column type (exit 2)', async () => {
    const run = await runDrift(program, ['check', '--reference', path.join(E2E, 'reference.csv'),
      '--current', path.join(E2E, 'current.csv'), ...featureArgs, '--method', 'ks', '--json']);
    expectFailure(run, 2, /feature "channel" is categorical, but method ks needs a numerical column; use chisquare, z, jensenshannon, psi or auto/);
  });

  it('leaves out and counts missing and non-finite values', async () => {
    // GIVEN a current file with blanks, NA tokens and inf, and the same file without those rows
    const reference = write('reference.csv', `x\n${Array.from({ length: 50 }, (_, i) => i / 7).join('\n')}\n`);
    const values = Array.from({ length: 40 }, (_, i) => String((i * 3) / 11));
    const dirty = [...values.slice(0, 10), '', 'NA', ...values.slice(10, 30), 'nan', 'inf', '-Infinity', ...values.slice(30)];
    const withMissing = write('dirty.csv', `x\n${dirty.join('\n')}\n`);
    const clean = write('clean.csv', `x\n${values.join('\n')}\n`);

    // WHEN both are checked against the reference
    const dirtyRun = await runDrift(program, ['check', '--reference', reference, '--current', withMissing, '--json']);
    const cleanRun = await runDrift(program, ['check', '--reference', reference, '--current', clean, '--json']);

    // THEN the scores are the same, the rows count every row (the blank line of this one-column
    // file is no row, as in pandas), and the log counts the 4 values left out
    const dirtyOut = json(dirtyRun);
    const cleanOut = json(cleanRun);
    expect(dirtyOut.features).toEqual(cleanOut.features);
    expect(dirtyOut.rows).toEqual({ reference: 50, current: 44 });
    expect(dirtyRun.stderr).toMatch(/"missing":\{"x":\{"reference":0,"current":4\}\}/);
  });

  it('samples rows deterministically with --sample and --seed', async () => {
    const args = ['check', '--reference', path.join(E2E, 'reference.csv'), '--current', path.join(E2E, 'current.csv'), ...featureArgs, '--json', '--sample', '100'];
    const a = json(await runDrift(program, [...args, '--seed', '7']));
    const b = json(await runDrift(program, [...args, '--seed', '7']));
    const c = json(await runDrift(program, [...args, '--seed', '8']));
    expect(a.rows).toEqual({ reference: 100, current: 100 });
    expect(b).toEqual(a);
    expect(c.features).not.toEqual(a.features);
  });

  it('prints a readable table without --json', async () => {
    const run = await runDrift(program, ['check', '--reference', path.join(E2E, 'reference.csv'), '--current', path.join(E2E, 'current.csv'), ...featureArgs]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^feature\s+method\s+statistic\s+p-value\s+threshold\s+drifted\n/);
    expect(run.stdout).toMatch(/drifted features: 3 of 5 \(0\.60\); dataset drift: yes/);
  });
});
