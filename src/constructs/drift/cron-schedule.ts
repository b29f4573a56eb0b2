/**
 * How often a CronJob schedule fires (parsed by src/shared/cron.ts, the parser the drift
 * checker uses too). Used to size deadlines and the "check is stale" alert window.
 */

import { ParsedCron, parseCron } from '../../shared/cron';

function matchesDay(cron: ParsedCron, date: Date): boolean {
  const dom = cron.daysOfMonth.has(date.getUTCDate());
  const dow = cron.daysOfWeek.has(date.getUTCDay());
  const month = cron.months.has(date.getUTCMonth() + 1);
  if (!month) return false;
  return cron.dayFieldsBothRestricted ? dom || dow : dom && dow;
}

/**
 * The shortest gap between two runs, in seconds, over the next four years from a fixed start
 * (so the answer does not depend on when synth runs). Throws when the schedule never fires.
 */
export function shortestPeriodSeconds(expression: string): number {
  const cron = parseCron(expression);
  const minutesOfDay: number[] = [];
  for (const h of [...cron.hours].sort((a, b) => a - b)) {
    for (const m of [...cron.minutes].sort((a, b) => a - b)) minutesOfDay.push(h * 60 + m);
  }
  const start = Date.UTC(2024, 0, 1);
  let previous: number | undefined;
  let shortest = Infinity;
  for (let day = 0; day < 4 * 366; day++) {
    const date = new Date(start + day * 86_400_000);
    if (!matchesDay(cron, date)) continue;
    for (const minute of minutesOfDay) {
      const at = start + day * 86_400_000 + minute * 60_000;
      if (previous !== undefined) shortest = Math.min(shortest, (at - previous) / 1000);
      previous = at;
    }
  }
  if (previous === undefined) throw new Error(`"${expression}" never fires (e.g. February 30th)`);
  // A schedule that fires once in four years has no gap to measure; call it four years.
  return Number.isFinite(shortest) ? shortest : 4 * 365 * 86_400;
}
