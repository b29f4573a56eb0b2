/**
 * The cron dialect of Kubernetes CronJobs: the five standard fields (minute hour day-of-month
 * month day-of-week) with `*`, lists, ranges and steps, month and day names, and the
 * @-macros. One parser for both sides: the DriftMonitor sizes deadlines and the staleness
 * alert from it at synth time, and the drift checker finds the period a run reads from it.
 * Plain code with no imports, so the runtime bundles can take it (docs/architecture.md).
 */

const FIELDS: { name: string; min: number; max: number; names?: string[] }[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};

/** A parsed schedule: the allowed values of each field. */
export interface ParsedCron {
  readonly minutes: Set<number>;
  readonly hours: Set<number>;
  readonly daysOfMonth: Set<number>;
  readonly months: Set<number>;
  readonly daysOfWeek: Set<number>;
  /** Cron's rule: when both day fields are restricted, either may match. */
  readonly dayFieldsBothRestricted: boolean;
}

/** Parses a cron expression; throws with the field and the reason when it is not valid. */
export function parseCron(expression: string): ParsedCron {
  const text = MACROS[expression.trim()] ?? expression.trim();
  const parts = text.split(/\s+/);
  if (parts.length !== 5) {
    throw new Error(`"${expression}" has ${parts.length} fields; a Kubernetes CronJob schedule has 5 (minute hour day-of-month month day-of-week)`);
  }
  const sets = parts.map((part, i) => parseField(part, FIELDS[i]));
  const daysOfWeek = new Set([...sets[4]].map((d) => (d === 7 ? 0 : d)));
  return {
    minutes: sets[0], hours: sets[1], daysOfMonth: sets[2], months: sets[3], daysOfWeek,
    dayFieldsBothRestricted: parts[2] !== '*' && parts[4] !== '*',
  };
}

function parseField(part: string, field: typeof FIELDS[number]): Set<number> {
  const values = new Set<number>();
  for (const item of part.split(',')) {
    const [range, stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`${field.name} "${part}": step "${stepText}" is not a positive integer`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = field.min;
      hi = field.max;
    } else {
      const [a, b] = range.split('-');
      lo = value(a, field, part);
      hi = b === undefined ? (stepText === undefined ? lo : field.max) : value(b, field, part);
    }
    if (lo > hi) throw new Error(`${field.name} "${part}": range ${lo}-${hi} is empty`);
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return values;
}

function value(text: string, field: typeof FIELDS[number], part: string): number {
  const byName = field.names?.indexOf(text.toUpperCase()) ?? -1;
  const n = byName >= 0 ? byName + (field.name === 'month' ? 1 : 0) : Number(text);
  if (text === '' || !Number.isInteger(n) || n < field.min || n > field.max) {
    throw new Error(`${field.name} "${part}": "${text}" is not between ${field.min} and ${field.max}`);
  }
  return n;
}
