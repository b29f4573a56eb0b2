import { type ParseArgsConfig, parseArgs as nodeParseArgs } from 'node:util';
import { CHECKER_COMMAND, CHECKER_FLAGS, CHECKER_VALUE_FLAGS } from '../../contract';
import type { CheckOptions, Correction } from './check';
import { InputError } from './errors';
import { mlflowSettings } from './io/mlflow';
import type { PushTarget } from './push';
import type { Task } from './stats/quality';
import { s3Settings } from './io/s3';
import type { Format } from './io/sources';
import { METHODS, type DriftMethod } from './stats/stattests';
import { type DataPeriod, dataPeriod, renderTemplate, wallClock } from './schedule';

/** The command line of `mlops-drift check` (flags: CHECKER_FLAGS in src/contract.ts; docs/architecture.md, "Contracts"). */
export const USAGE = `usage: mlops-drift check --reference <uri> --current <uri> [options]

Compares a current dataset with a reference dataset feature by feature and prints the result.
A URI is a path (a * or ? wildcard allowed in the last segment), http(s)://..., s3://bucket/key,
runs:/<run_id>/<artifact path>, or models:/<name>@<alias> (the reference dataset logged under
the artifact directory reference/ of the model version's run). {{ds}} in a URI becomes a
date (YYYY-MM-DD) and {{hour}} an hour (00-23): with --schedule, those of the start of the
schedule period that has just ended (as Airflow's ds); without, the run's own date and hour.

  --features a,b          features to test (default: every reference column except label/prediction)
  --categorical c,d       columns that hold categories; every other feature is categorical when
                          its values are not all numbers (Parquet: string and boolean columns)
  --method m              auto (default: Evidently's choice per feature), ks, chisquare, z,
                          wasserstein, jensenshannon or psi; feature=method pairs override per
                          feature, e.g. --method auto,amount=psi
  --threshold x           threshold for every method, or method=x pairs, e.g. ks=0.01,psi=0.2
                          (defaults: 0.05 for ks, chisquare, z; 0.1 for the distances)
  --drift-share x         dataset drift when this share of features drifted (default 0.5)
  --correction c          none (default), bonferroni or fdr (Benjamini-Hochberg) for p-values
  --label col --prediction col
                          also compute model quality on the current data
  --prediction-drift col  also test the model's output column for drift, like a feature (prediction
                          drift; the column must be in both datasets)
  --task t                classification (default) or regression
  --positive-label v      positive class for binary classification metrics (default 1)
  --sample n              use a seeded uniform sample of at most n rows per dataset
  --seed s                seed for --sample (default 0)
  --format f              csv, jsonl or parquet (default: from each file's extension)
  --s3-endpoint url       S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL);
                          credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
  --tracking-uri url      MLflow tracking server for runs:/ and models:/ (default: MLFLOW_TRACKING_URI)
  --schedule "m h dom mon dow"
                          the CronJob's schedule: {{ds}}/{{hour}} name the period that has just
                          ended (a daily run at 00:00 reads yesterday)
  --time-zone tz          IANA time zone of the schedule and of {{ds}} (default Etc/UTC)
  --periods-back n        with --schedule: 1 (default) the period just ended, 2 the one before,
                          0 the period the run starts
  --date YYYY-MM-DD[THH]  the date (and hour) {{ds}} ({{hour}}) stand for, instead of the above
  --now time              the run time (ISO 8601, e.g. 2024-06-02T00:00:05Z) instead of the
                          clock, for tests and reruns
  --pushgateway url --namespace ns --model name
                          push the drift metrics to a Pushgateway (all three together)
  --shard-index i --shard-count n
                          check only features i, i+n, i+2n, ... of the list (one pod of an
                          Indexed Job); pushes go to the group with shard="i" added
  --json                  print one JSON object instead of a table

Exit status: 0 when the check ran (drift or not), 2 on bad input or usage, 3 when the current
dataset is not there (yet: a 404, no such file, nothing matching), 1 on any other failure.`;

export interface CliOptions {
  readonly check: CheckOptions;
  /** What {{ds}} and {{hour}} stood for, and why. */
  readonly period: DataPeriod;
  readonly push?: PushTarget;
  readonly json: boolean;
}

export type Parsed = { readonly help: true } | ({ readonly help: false } & CliOptions);

/** The flag names come from the contract: DriftMonitor writes the same names into the CronJob's args. */
const F = CHECKER_FLAGS;
const BOOLEAN_FLAGS: readonly string[] = [F.json, F.help];

const OPTIONS: ParseArgsConfig['options'] = Object.fromEntries([
  ...CHECKER_VALUE_FLAGS.map((name) => [name, { type: 'string' as const }]),
  ...BOOLEAN_FLAGS.map((name) => [name, { type: 'boolean' as const }]),
]);
const isValueFlag = (name: string) => CHECKER_VALUE_FLAGS.includes(name);
const isBooleanFlag = (name: string) => BOOLEAN_FLAGS.includes(name);

/** Parses argv (without node and script); throws InputError with the problem and the usage. */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv, now: Date = new Date()): Parsed {
  const args = [...argv];
  if (args.includes(`--${F.help}`) || args.includes('-h')) return { help: true };
  if (args.length === 0) throw usage('no command given');
  const command = args.shift();
  if (command !== CHECKER_COMMAND) throw usage(`unknown command ${JSON.stringify(command)}; the only command is ${CHECKER_COMMAND}`);
  const { values, flags } = readOptions(args);

  const required = (name: string) => {
    const value = values.get(name);
    if (value === undefined || value.trim() === '') throw usage(`--${name} is required`);
    return value;
  };
  const list = (name: string) => (values.get(name) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

  const period = runPeriod(values, now);
  const { method, featureMethods } = parseMethod(values.get(F.method));
  const { threshold, methodThresholds } = parseThreshold(values.get(F.threshold));

  const driftShare = number(F.driftShare, values.get(F.driftShare), 0.5, (x) => x >= 0 && x <= 1, 'a share between 0 and 1');
  const correction = oneOf(F.correction, values.get(F.correction) ?? 'none', ['none', 'bonferroni', 'fdr']) as Correction;
  const task = oneOf(F.task, values.get(F.task) ?? 'classification', ['classification', 'regression']) as Task;
  const format = values.has(F.format) ? (oneOf(F.format, values.get(F.format)!, ['csv', 'jsonl', 'parquet']) as Format) : undefined;
  const sample = values.has(F.sample) ? number(F.sample, values.get(F.sample), 0, (x) => Number.isInteger(x) && x >= 1, 'a whole number of rows >= 1') : undefined;
  const seed = number(F.seed, values.get(F.seed), 0, (x) => Number.isInteger(x) && Math.abs(x) < 2 ** 31, 'a whole number');
  if (values.has(F.seed) && sample === undefined) throw usage(`--${F.seed} only makes sense with --${F.sample}`);

  const pushFlags = [F.pushgateway, F.namespace, F.model].filter((f) => values.has(f));
  if (pushFlags.length > 0 && pushFlags.length < 3) throw usage(`--${F.pushgateway}, --${F.namespace} and --${F.model} go together`);
  if (values.has(F.pushgateway)) {
    try {
      const url = new URL(values.get(F.pushgateway)!);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw usage(`--${F.pushgateway} ${JSON.stringify(values.get(F.pushgateway))} is not an http(s) URL`);
    }
  }
  const endpoint = values.get(F.s3Endpoint);
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) throw usage(`--${F.s3Endpoint} ${JSON.stringify(endpoint)} is not an http(s) URL`);

  const shardFlags = [F.shardIndex, F.shardCount].filter((f) => values.has(f));
  if (shardFlags.length === 1) throw usage(`--${F.shardIndex} and --${F.shardCount} go together`);
  const shardCount = number(F.shardCount, values.get(F.shardCount), 1, (x) => Number.isInteger(x) && x >= 1 && x <= 1000, 'a whole number from 1 to 1000');
  const shardIndex = number(F.shardIndex, values.get(F.shardIndex), 0, (x) => Number.isInteger(x) && x >= 0 && x < shardCount, `a whole number from 0 to ${shardCount - 1} (below --${F.shardCount})`);
  const shard = shardCount > 1 ? { index: shardIndex, count: shardCount } : undefined;

  const features = values.has(F.features) ? list(F.features) : undefined;
  if (features && features.length === 0) throw usage(`--${F.features} is empty`);
  for (const f of Object.keys(featureMethods)) {
    if (features && !features.includes(f)) throw usage(`--${F.method} names feature ${JSON.stringify(f)}, which is not in --${F.features}`);
  }

  return {
    help: false,
    json: flags.has(F.json),
    period,
    push: values.has(F.pushgateway)
      ? { url: values.get(F.pushgateway)!, namespace: required(F.namespace), model: required(F.model), ...(shard ? { shard: shard.index } : {}) }
      : undefined,
    check: {
      reference: renderTemplate(required(F.reference), period),
      current: renderTemplate(required(F.current), period),
      features,
      categorical: list(F.categorical),
      method,
      featureMethods,
      threshold,
      methodThresholds,
      driftShare,
      correction,
      label: values.get(F.label),
      prediction: values.get(F.prediction),
      predictionDrift: values.get(F.predictionDrift),
      task,
      positiveLabel: values.get(F.positiveLabel) ?? '1',
      sampling: sample !== undefined ? { size: sample, seed } : undefined,
      format,
      shard,
      settings: { s3: s3Settings(env, endpoint), mlflow: mlflowSettings(env, values.get(F.trackingUri)) },
    },
  };
}

/** {{ds}} and {{hour}}: from --date, or from the schedule (or the run time) in the time zone. */
function runPeriod(values: ReadonlyMap<string, string>, clock: Date): DataPeriod {
  const timeZone = values.get(F.timeZone) ?? 'Etc/UTC';
  const periodsBack = number(F.periodsBack, values.get(F.periodsBack), 1, (x) => Number.isInteger(x) && x >= 0 && x <= 1000, 'a whole number from 0 to 1000');
  if (values.has(F.periodsBack) && !values.has(F.schedule)) throw usage(`--${F.periodsBack} only makes sense with --${F.schedule}`);
  const nowText = values.get(F.now);
  const now = nowText === undefined ? clock : new Date(nowText);
  // An offset is required: without one, the time would be read in the machine's zone.
  if (nowText !== undefined && (!/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(nowText) || Number.isNaN(now.getTime()))) {
    throw usage(`--${F.now} ${JSON.stringify(nowText)} is not a time with an offset like 2024-06-02T00:00:05Z`);
  }
  wallClock(now, timeZone); // a bad zone is bad input even when --date makes it unused
  const date = values.get(F.date);
  if (date !== undefined) {
    const match = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}))?$/.exec(date);
    if (!match || Number.isNaN(Date.parse(`${match[1]}T00:00:00Z`)) || (match[2] !== undefined && Number(match[2]) > 23)) {
      throw usage(`--${F.date} ${JSON.stringify(date)} is not a date like 2024-05-31 (or 2024-05-31T13 with an hour)`);
    }
    return { ds: match[1], hour: match[2], source: `--${F.date}` };
  }
  return dataPeriod({ schedule: values.get(F.schedule), timeZone, periodsBack, now });
}

/**
 * node:util parseArgs in its lenient mode, which hands back every token, so the messages stay
 * ours and name the argument: only `--name` and `--name=value` of the known long options, each
 * value option at most once, and a value that is not the next option.
 */
function readOptions(args: readonly string[]): { values: Map<string, string>; flags: Set<string> } {
  const { tokens } = nodeParseArgs({ args: [...args], options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (const token of tokens) {
    const arg = args[token.index];
    if (token.kind !== 'option' || !LONG_OPTION.test(arg)) throw usage(`unexpected argument ${JSON.stringify(arg)}`);
    const { name, value, inlineValue } = token;
    if (isBooleanFlag(name)) {
      if (value !== undefined) throw usage(`--${name} takes no value`);
      flags.add(name);
    } else if (isValueFlag(name)) {
      if (value === undefined || (!inlineValue && value.startsWith('--'))) throw usage(`--${name} needs a value`);
      if (values.has(name)) throw usage(`--${name} is given twice`);
      values.set(name, value);
    } else {
      throw usage(`unknown option --${name}`);
    }
  }
  return { values, flags };
}

const LONG_OPTION = /^--[a-z0-9-]+(?:=.*)?$/s;

function usage(problem: string): InputError {
  return new InputError(`${problem}\n\n${USAGE}`);
}

function oneOf(name: string, value: string, allowed: readonly string[]): string {
  if (!allowed.includes(value)) throw usage(`--${name} ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  return value;
}

function number(name: string, text: string | undefined, fallback: number, ok: (x: number) => boolean, what: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !ok(value)) throw usage(`--${name} ${JSON.stringify(text)} is not ${what}`);
  return value;
}

const isMethod = (m: string): m is DriftMethod => (METHODS as readonly string[]).includes(m);

function parseMethod(text: string | undefined): { method: DriftMethod | 'auto'; featureMethods: Record<string, DriftMethod> } {
  let method: DriftMethod | 'auto' = 'auto';
  const featureMethods: Record<string, DriftMethod> = {};
  for (const part of (text ?? 'auto').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = part.lastIndexOf('=');
    const name = eq < 0 ? part : part.slice(eq + 1);
    if (name !== 'auto' && !isMethod(name)) throw usage(`--${F.method}: ${JSON.stringify(name)} is not auto or one of ${METHODS.join(', ')}`);
    if (eq < 0) method = name as DriftMethod | 'auto';
    else if (name === 'auto') throw usage(`--${F.method}: ${JSON.stringify(part)}: a feature needs a concrete method`);
    else featureMethods[part.slice(0, eq)] = name as DriftMethod;
  }
  return { method, featureMethods };
}

function parseThreshold(text: string | undefined): { threshold?: number; methodThresholds: Partial<Record<DriftMethod, number>> } {
  let threshold: number | undefined;
  const methodThresholds: Partial<Record<DriftMethod, number>> = {};
  for (const part of (text ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    const value = Number(eq < 0 ? part : part.slice(eq + 1));
    if (!Number.isFinite(value) || value < 0) throw usage(`--${F.threshold}: ${JSON.stringify(part)} is not a threshold >= 0`);
    if (eq < 0) threshold = value;
    else {
      const m = part.slice(0, eq);
      if (!isMethod(m)) throw usage(`--${F.threshold}: ${JSON.stringify(m)} is not one of ${METHODS.join(', ')}`);
      methodThresholds[m] = value;
    }
  }
  return { threshold, methodThresholds };
}
