import type { Row } from '../inference-log/extract';

/** How two answers' predictions compared, row by row. */
export interface Comparison {
  /** Every row has the same prediction columns, with values equal (or within the tolerance). */
  readonly agree: boolean;
  /** Sum and count of |champion - challenger| over the numeric values compared with a tolerance (none with "equal"). */
  readonly absDifferenceSum: number;
  readonly absDifferenceCount: number;
}

/**
 * Compares the prediction rows of the champion and the challenger (as readPredictionsOf reads
 * them, the same length). With "equal" every value must be the same; with a tolerance,
 * numbers (also inside lists and objects: a tensor output) agree within it, and everything
 * else (labels, booleans, null) must still be equal. Every numeric pair is measured, also
 * after a first disagreement, so the mean difference is over all compared predictions.
 */
export function comparePredictions(champion: readonly Row[], challenger: readonly Row[], tolerance: 'equal' | number): Comparison {
  const acc = { sum: 0, count: 0 };
  let agree = champion.length === challenger.length;
  for (let i = 0; i < Math.min(champion.length, challenger.length); i++) {
    if (!sameValue(champion[i], challenger[i], tolerance, acc)) agree = false;
  }
  return { agree, absDifferenceSum: acc.sum, absDifferenceCount: acc.count };
}

function sameValue(a: unknown, b: unknown, tolerance: 'equal' | number, acc: { sum: number; count: number }): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    if (tolerance === 'equal') return a === b;
    const difference = Math.abs(a - b);
    acc.sum += difference;
    acc.count += 1;
    return difference <= tolerance;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    let same = true;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i], tolerance, acc)) same = false;
    return same;
  }
  if (isObject(a) && isObject(b)) {
    // The keys both have are measured whatever else differs, so that comparing b with a
    // counts what comparing a with b does.
    const keys = Object.keys(a);
    let same = keys.length === Object.keys(b).length;
    for (const key of keys) {
      if (!Object.prototype.hasOwnProperty.call(b, key)) same = false;
      else if (!sameValue(a[key], b[key], tolerance, acc)) same = false;
    }
    return same;
  }
  // Strings, booleans, null; a number against anything else differs.
  return a === b;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
