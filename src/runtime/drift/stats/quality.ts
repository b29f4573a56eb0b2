import { accurateSum } from './samples';

/**
 * Model quality on the current data, as scikit-learn 1.9 computes it: accuracy, precision,
 * recall and F1 (binary with a positive label, or macro averages over every class seen in
 * labels or predictions, 0 where a class was never predicted, like zero_division=0), or RMSE
 * and MAE for regression. Rows missing a label or a prediction are left out.
 */

export type Task = 'classification' | 'regression';

export type QualityMetrics = Readonly<Record<string, number>>;

/** Classification metrics from label/prediction class keys of the same rows. */
export function classificationMetrics(labels: readonly string[], predictions: readonly string[], positiveLabel: string): QualityMetrics {
  const n = labels.length;
  const classes = [...new Set([...labels, ...predictions])].sort();
  let correct = 0;
  for (let i = 0; i < n; i++) if (labels[i] === predictions[i]) correct++;
  const accuracy = correct / n;

  const counts = (cls: string) => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < n; i++) {
      const isLabel = labels[i] === cls;
      const isPrediction = predictions[i] === cls;
      if (isLabel && isPrediction) tp++;
      else if (isPrediction) fp++;
      else if (isLabel) fn++;
    }
    const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
    const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
    const f1 = 2 * tp + fp + fn === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
    return { precision, recall, f1 };
  };

  if (classes.length <= 2) {
    const { precision, recall, f1 } = counts(positiveLabel);
    return { accuracy, precision, recall, f1 };
  }
  const perClass = classes.map(counts);
  const mean = (pick: (c: { precision: number; recall: number; f1: number }) => number) => accurateSum(perClass.map(pick)) / perClass.length;
  return { accuracy, precision: mean((c) => c.precision), recall: mean((c) => c.recall), f1: mean((c) => c.f1) };
}

/** RMSE and MAE of predictions against labels (same length, no NaN). */
export function regressionMetrics(labels: Float64Array, predictions: Float64Array): QualityMetrics {
  const n = labels.length;
  const squared = new Float64Array(n);
  const absolute = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = labels[i] - predictions[i];
    squared[i] = d * d;
    absolute[i] = Math.abs(d);
  }
  return { rmse: Math.sqrt(accurateSum(squared) / n), mae: accurateSum(absolute) / n };
}

/**
 * A class key for a label or prediction value, so 1, 1.0 and "1" are one class (pandas would
 * read them as the same number).
 */
export function classKey(value: string): string {
  const trimmed = value.trim();
  if (trimmed !== '' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return String(Number(trimmed));
  return value;
}
