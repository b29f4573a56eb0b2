import { type LoadOptions, loadTable, peekColumns } from './io/dataset';
import { DataMissingError, InputError, NotFoundError } from './errors';
import { type QualityMetrics, type Task, classKey, classificationMetrics, regressionMetrics } from './stats/quality';
import { type FeatureSamples, categoricalFeature, distinctSorted, numericFeature } from './stats/samples';
import { sortFloat64 } from './stats/sort';
import type { Format, SourceSettings } from './io/sources';
import { METHOD_INFO, type DriftMethod, defaultMethod, evidentlyColumnType, isDrifted, runTest } from './stats/stattests';
import { type Column, type ColumnKind, type ColumnRequest, Dictionary, type Sampling, type Table, numbersToText } from './io/table';

/**
 * The drift check as a library function: load both datasets (only the needed columns), score
 * each feature with its test, decide per feature and for the dataset, and compute model
 * quality when labels are given. It never prints or pushes; main.ts does that, and only
 * after this returned, so a failure can never be mistaken for "no drift".
 */

export type Correction = 'none' | 'bonferroni' | 'fdr';

export interface CheckOptions {
  readonly reference: string;
  readonly current: string;
  /** Features to test; default every reference column except label and prediction. */
  readonly features?: readonly string[];
  /**
   * Columns holding categories (read as text). Every other feature's type is inferred from
   * the data: categorical when its values are not all numbers (see table.ts, `auto`).
   */
  readonly categorical: readonly string[];
  /** 'auto' picks per feature as Evidently does. */
  readonly method: DriftMethod | 'auto';
  /** Per-feature method overrides. */
  readonly featureMethods: Readonly<Record<string, DriftMethod>>;
  /** Threshold for every method, overriding the defaults. */
  readonly threshold?: number;
  /** Per-method thresholds (after `threshold`). */
  readonly methodThresholds: Partial<Record<DriftMethod, number>>;
  /** Share of drifted features at which the dataset counts as drifted (Evidently: 0.5). */
  readonly driftShare: number;
  readonly correction: Correction;
  readonly label?: string;
  readonly prediction?: string;
  /** The model's output column, tested for drift like a feature (it must be in both datasets). */
  readonly predictionDrift?: string;
  readonly task?: Task;
  /** Positive class for binary classification metrics. */
  readonly positiveLabel: string;
  readonly sampling?: Sampling;
  readonly format?: Format;
  /**
   * One pod of an Indexed Job: only features index, index+count, ... are checked, and only
   * shard 0 computes quality (the others would push the same numbers again).
   */
  readonly shard?: { readonly index: number; readonly count: number };
  readonly settings: SourceSettings;
}

export interface FeatureResult {
  readonly feature: string;
  readonly method: DriftMethod;
  readonly statistic: number;
  readonly pValue: number | null;
  readonly threshold: number;
  readonly drifted: boolean;
}

export interface CheckResult {
  readonly features: readonly FeatureResult[];
  readonly driftShare: number;
  readonly drifted: boolean;
  readonly rows: { readonly reference: number; readonly current: number };
  /** Rows read before sampling. */
  readonly rowsRead: { readonly reference: number; readonly current: number };
  /** Missing or non-finite values left out, per feature. */
  readonly missing: Readonly<Record<string, { readonly reference: number; readonly current: number }>>;
  /**
   * Features not listed as categorical that the data made categorical, each with the first
   * value that is not a number and where it was (for the log: a stray token in a numeric
   * column shows here).
   */
  readonly inferredCategorical: Readonly<Record<string, { readonly dataset: 'reference' | 'current'; readonly row: number; readonly value: string }>>;
  /**
   * Categorical features whose current values are mostly distinct (over half of the rows),
   * such as identifiers, timestamps or free text: Evidently would not test them as
   * categories, and nearly every value is new, so they nearly always "drift". For the log.
   */
  readonly mostlyDistinct: readonly string[];
  readonly quality?: QualityMetrics;
}

export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  const load: LoadOptions = { format: options.format, sampling: options.sampling, settings: options.settings };
  if ((options.label === undefined) !== (options.prediction === undefined)) {
    throw new InputError('--label and --prediction go together: give both columns for quality metrics, or neither');
  }
  const output = options.predictionDrift;
  const listed = [options.label, options.prediction, output].filter((c): c is string => c !== undefined);
  const referenceColumns = options.features === undefined || output !== undefined ? await peekColumns(options.reference, load) : [];
  let allFeatures = options.features ?? referenceColumns.filter((c) => !listed.includes(c));
  if (output !== undefined) {
    if (!referenceColumns.includes(output)) {
      throw new InputError(`--prediction-drift ${output}: the reference ${options.reference} has no column ${JSON.stringify(output)} to compare the model's output with; ` +
        `store the model's predictions on the reference data in a column ${output} (as the example training does), or drop --prediction-drift`);
    }
    allFeatures = [...allFeatures.filter((c) => c !== output), output];
  }
  if (allFeatures.length === 0) throw new InputError(`${options.reference}: no feature columns to check`);
  const shard = options.shard;
  const features = shard ? allFeatures.filter((_, j) => j % shard.count === shard.index) : allFeatures;
  if (features.length === 0) {
    throw new InputError(`shard ${shard!.index} of ${shard!.count} has no feature to check (${allFeatures.length} features listed); list more features or use fewer shards`);
  }
  const withQuality = options.label !== undefined && (!shard || shard.index === 0);
  const special = withQuality ? listed : [];

  // One request per column; a text dictionary shared by both datasets keeps codes comparable.
  const categorical = new Set(options.categorical);
  const kinds = new Map<string, ColumnKind>();
  for (const f of features) kinds.set(f, categorical.has(f) ? 'text' : 'auto');
  for (const c of special) if (!kinds.has(c)) kinds.set(c, options.task === 'regression' ? 'number' : 'text');
  const requests: ColumnRequest[] = [...kinds].map(([name, kind]) => ({ name, kind }));
  const dictionaries = requests.map((r) => (r.kind !== 'number' ? new Dictionary() : undefined));

  // Quality is measured on the current data only: the reference (the training data logged with
  // the model) needs the features, not the label or the model's predictions.
  const isFeature = (r: ColumnRequest) => features.includes(r.name);
  const reference = await loadTable(options.reference, requests.filter(isFeature), dictionaries.filter((_, i) => isFeature(requests[i])),
    { ...load, sampling: seeded(options.sampling, 1) });
  if (reference.rows === 0) throw new InputError(`reference dataset ${options.reference} has no rows`);
  // A feature the reference made categorical is read as text in the current data from the start.
  const currentRequests = requests.map((r) => (r.kind === 'auto' && reference.columns.get(r.name)!.kind === 'text' ? { name: r.name, kind: 'text' as const } : r));
  const loaded = await loadCurrent(options.current, () => loadTable(options.current, currentRequests, dictionaries, { ...load, sampling: seeded(options.sampling, 2) }));
  if (loaded.rows === 0) throw new InputError(`current dataset ${options.current} has no rows`);
  const [referenceTable, current] = unifyInferred(reference, loaded, requests, dictionaries);

  // Quality first: the drift tests below sort columns in place, which breaks row alignment.
  const quality = withQuality && options.label && options.prediction
    ? qualityOf(current, options.label, options.prediction, options.task ?? 'classification', options.positiveLabel, options.current)
    : undefined;

  const missing: Record<string, { reference: number; current: number }> = {};
  // One sort scratch for every column, instead of a fresh one per sort.
  let scratch: Float64Array | undefined;
  const sortScratch = () => (scratch ??= new Float64Array(Math.max(referenceTable.rows, current.rows)));
  const mostlyDistinct: string[] = [];
  const scored = features.map((name) => {
    const { samples, missingRef, missingCur } = featureSamples(name, referenceTable, current, options, sortScratch);
    missing[name] = { reference: missingRef, current: missingCur };
    const forced = options.featureMethods[name] ?? (options.method === 'auto' ? undefined : options.method);
    const method = forced ?? defaultMethod(samples);
    const info = METHOD_INFO[method];
    // Evidently checks the column type only for a method the user names; its own default
    // choice may run chisquare or z on a numerical column with few values.
    if (forced && !info.columnTypes.includes(samples.type)) {
      const fits = (Object.keys(METHOD_INFO) as DriftMethod[]).filter((m) => METHOD_INFO[m].columnTypes.includes(samples.type));
      throw new InputError(`feature ${JSON.stringify(name)} is ${samples.type}, but method ${method} needs a ${info.columnTypes.join(' or ')} column; use ${fits.join(', ')} or auto`);
    }
    const outcome = runTest(method, samples);
    const threshold = options.methodThresholds[method] ?? options.threshold ?? info.defaultThreshold;
    if (samples.type === 'categorical' && !samples.numeric && samples.nCur > 1 && samples.distinct() > samples.nCur / 2) mostlyDistinct.push(name);
    return { feature: name, method, outcome, threshold };
  });

  const results = decide(scored, options.correction);
  const driftedCount = results.filter((r) => r.drifted).length;
  const share = driftedCount / results.length;
  return {
    features: results,
    driftShare: share,
    drifted: share >= options.driftShare,
    rows: { reference: reference.rows, current: current.rows },
    rowsRead: { reference: reference.rowsRead, current: current.rowsRead },
    missing,
    inferredCategorical: inferredCategorical(features, reference, loaded),
    mostlyDistinct,
    ...(quality ? { quality } : {}),
  };
}

/**
 * After both loads, an inferred feature that is numeric in one dataset and text in the other
 * is text in both (pandas would give the pair no common numeric dtype either): the numeric
 * side's values become text codes in the shared dictionary.
 */
function unifyInferred(reference: Table, current: Table, requests: readonly ColumnRequest[], dictionaries: readonly (Dictionary | undefined)[]): [Table, Table] {
  const refColumns = new Map(reference.columns);
  const curColumns = new Map(current.columns);
  requests.forEach((r, i) => {
    if (r.kind !== 'auto') return;
    const ref = refColumns.get(r.name)!;
    const cur = curColumns.get(r.name)!;
    if (ref.kind === 'number' && cur.kind === 'text') refColumns.set(r.name, numbersToText(ref, dictionaries[i]!));
    else if (ref.kind === 'text' && cur.kind === 'number') curColumns.set(r.name, numbersToText(cur, dictionaries[i]!));
  });
  return [{ ...reference, columns: refColumns }, { ...current, columns: curColumns }];
}

function inferredCategorical(features: readonly string[], reference: Table, current: Table): CheckResult['inferredCategorical'] {
  const out: Record<string, { dataset: 'reference' | 'current'; row: number; value: string }> = {};
  for (const f of features) {
    const ref = reference.textSwitches?.get(f);
    const cur = current.textSwitches?.get(f);
    if (ref) out[f] = { dataset: 'reference', ...ref };
    else if (cur) out[f] = { dataset: 'current', ...cur };
  }
  return out;
}

/**
 * The current dataset, where a missing object means "not there yet" (exit 3, retried) rather
 * than bad input: a scheduled check may start before its period's data has landed. A missing
 * reference, or a missing MLflow artifact (logged once, never late), stays bad input.
 */
async function loadCurrent(uri: string, load: () => Promise<Table>): Promise<Table> {
  try {
    return await load();
  } catch (err) {
    if (err instanceof NotFoundError && !/^(runs|models):\//.test(uri)) {
      throw new DataMissingError(`current dataset ${uri} is not there (yet): ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** Each dataset gets its own stream of random numbers from the one seed. */
function seeded(sampling: Sampling | undefined, stream: number): Sampling | undefined {
  return sampling ? { size: sampling.size, seed: (Math.imul(sampling.seed ^ 0x9e3779b9, 0x85ebca6b) + stream) | 0 } : undefined;
}

interface Scored {
  readonly feature: string;
  readonly method: DriftMethod;
  readonly outcome: { readonly statistic: number; readonly pValue: number | null };
  readonly threshold: number;
}

/**
 * Per-feature verdicts. Without correction each test keeps Evidently's comparison. With
 * many features the p-value tests can be corrected: Bonferroni divides each threshold by the
 * number m of p-value tests; FDR (Benjamini-Hochberg) finds the largest rank k with
 * p_(k) <= k/m * alpha and flags the k smallest p-values, reporting k/m * alpha (alpha/m
 * when nothing is flagged) as the threshold they were held to. Distances are never corrected.
 */
export function decide(scored: readonly Scored[], correction: Correction): FeatureResult[] {
  const withP = scored.filter((s) => s.outcome.pValue !== null);
  const m = withP.length;
  const adjusted = new Map<Scored, number>();
  if (correction === 'bonferroni') {
    for (const s of withP) adjusted.set(s, s.threshold / m);
  } else if (correction === 'fdr') {
    const ranked = [...withP].sort((a, b) => a.outcome.pValue! - b.outcome.pValue!);
    let k = 0;
    ranked.forEach((s, i) => {
      if (s.outcome.pValue! <= ((i + 1) / m) * s.threshold) k = i + 1;
    });
    for (const s of withP) adjusted.set(s, (Math.max(k, 1) / m) * s.threshold);
  }
  return scored.map((s) => {
    const corrected = adjusted.get(s);
    const threshold = corrected ?? s.threshold;
    const drifted = corrected !== undefined ? s.outcome.pValue! <= corrected : isDrifted(s.method, s.outcome, threshold);
    return { feature: s.feature, method: s.method, statistic: s.outcome.statistic, pValue: s.outcome.pValue, threshold, drifted };
  });
}

/** A feature's two samples without missing values, typed as Evidently would type it. */
function featureSamples(name: string, reference: Table, current: Table, options: CheckOptions, scratch: () => Float64Array) {
  const ref = reference.columns.get(name)!;
  const cur = current.columns.get(name)!;
  if (ref.kind === 'number' && cur.kind === 'number') {
    const refValues = compactFinite(ref.values);
    const curValues = compactFinite(cur.values);
    ensureValues(name, refValues.length, ref.values.length, curValues.length, cur.values.length, options);
    sortFloat64(refValues, scratch());
    sortFloat64(curValues, scratch());
    const type = evidentlyColumnType({ text: false, integer: cur.integer, distinct: distinctSorted(curValues) });
    return {
      samples: numericFeature(name, type, refValues, curValues, ref.integer && cur.integer),
      missingRef: ref.values.length - refValues.length,
      missingCur: cur.values.length - curValues.length,
    };
  }
  const refCodes = compactCodes(ref);
  const curCodes = compactCodes(cur);
  ensureValues(name, refCodes.length, reference.rows, curCodes.length, current.rows, options);
  const dictionary = (ref as Extract<Column, { kind: 'text' }>).dictionary.values;
  return {
    samples: categoricalFeature(name, dictionary, refCodes, curCodes) as FeatureSamples,
    missingRef: reference.rows - refCodes.length,
    missingCur: current.rows - curCodes.length,
  };
}

function ensureValues(name: string, refKept: number, refRows: number, curKept: number, curRows: number, options: CheckOptions): void {
  if (refKept === 0) throw new InputError(`feature ${JSON.stringify(name)} has no values in the reference data ${options.reference} (all ${refRows} rows missing or not finite)`);
  if (curKept === 0) throw new InputError(`feature ${JSON.stringify(name)} has no values in the current data ${options.current} (all ${curRows} rows missing or not finite)`);
}

/** The finite values, moved to the front in place (no copy of a large column). */
function compactFinite(values: Float64Array): Float64Array {
  let kept = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v === 0) values[kept++] = v; // finite: not NaN, not +-Infinity
  }
  return values.subarray(0, kept);
}

function compactCodes(column: Column): Int32Array {
  if (column.kind !== 'text') throw new Error('text column expected');
  const codes = column.codes;
  let kept = 0;
  for (let i = 0; i < codes.length; i++) if (codes[i] >= 0) codes[kept++] = codes[i];
  return codes.subarray(0, kept);
}

/** Quality of predictions on the current rows that have both a label and a prediction. */
function qualityOf(current: Table, label: string, prediction: string, task: Task, positiveLabel: string, where: string): QualityMetrics {
  const labels = current.columns.get(label)!;
  const predictions = current.columns.get(prediction)!;
  if (task === 'regression') {
    if (labels.kind !== 'number' || predictions.kind !== 'number') {
      throw new InputError(`--task regression needs numeric --label and --prediction columns, but one of ${label}, ${prediction} is listed in --categorical`);
    }
    const y: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < labels.values.length; i++) {
      const a = labels.values[i];
      const b = predictions.values[i];
      if (Number.isFinite(a) && Number.isFinite(b)) {
        y.push(a);
        p.push(b);
      }
    }
    if (y.length === 0) throw new InputError(`${where}: no row has both a ${label} and a ${prediction} value`);
    return regressionMetrics(Float64Array.from(y), Float64Array.from(p));
  }
  const keyOf = (column: Column, i: number): string | undefined => {
    if (column.kind === 'number') return Number.isNaN(column.values[i]) ? undefined : String(column.values[i]);
    const code = column.codes[i];
    return code < 0 ? undefined : classKey(column.dictionary.values[code]);
  };
  const y: string[] = [];
  const p: string[] = [];
  for (let i = 0; i < current.rows; i++) {
    const a = keyOf(labels, i);
    const b = keyOf(predictions, i);
    if (a !== undefined && b !== undefined) {
      y.push(a);
      p.push(b);
    }
  }
  if (y.length === 0) throw new InputError(`${where}: no row has both a ${label} and a ${prediction} value`);
  return classificationMetrics(y, p, classKey(positiveLabel));
}
