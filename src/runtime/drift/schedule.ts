import { InputError } from './errors';
import { type ParsedCron, parseCron } from '../../shared/cron';

/**
 * Which data a scheduled run reads. Like Airflow's `ds`, a run reads the schedule period that
 * has just ended, not the one it starts: a daily run at 00:00 on 2024-06-02 reads
 * 2024-06-01, an hourly run at 13:00 reads the hour from 12:00. The period is found from the
 * CronJob's own schedule and time zone (the flags the DriftMonitor passes), on the local
 * wall clock of that zone, so `{{ds}}` and `{{hour}}` are the local date and hour the
 * partition is named after. Where clocks change: a time skipped when they go forward never
 * fires (the period before the gap runs up to the first time after it); in the hour repeated
 * when they go back, both runs read the hour before, and the run after reads the repeated one.
 *
 * The cron dialect is the one Kubernetes CronJobs accept, parsed by src/shared/cron.ts, the
 * same parser the DriftMonitor uses at synth time.
 */

/** A local wall-clock time in some zone, to the minute. */
export interface WallClock {
  readonly year: number;
  /** 1..12 */
  readonly month: number;
  /** 1..31 */
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
}

/** The wall clock of `instant` in an IANA time zone (Node's Intl; no time-zone data shipped). */
export function wallClock(instant: Date, timeZone: string): WallClock {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric',
    });
  } catch {
    throw new InputError(`time zone ${JSON.stringify(timeZone)} is not an IANA time zone such as Etc/UTC or Europe/Berlin`);
  }
  const parts = Object.fromEntries(format.formatToParts(instant).map((p) => [p.type, p.value]));
  return { year: Number(parts.year), month: Number(parts.month), day: Number(parts.day), hour: Number(parts.hour), minute: Number(parts.minute) };
}

const utcMinutes = (c: WallClock) => Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute);

/**
 * Whether a wall-clock time happens in the zone: not in the hour skipped when clocks go
 * forward, when a CronJob does not fire (its next run is the first time after the gap).
 */
function exists(clock: WallClock, timeZone: string): boolean {
  const target = utcMinutes(clock);
  let guess = target;
  for (let i = 0; i < 3; i++) {
    const diff = utcMinutes(wallClock(new Date(guess), timeZone)) - target;
    if (diff === 0) return true;
    guess -= diff;
  }
  return false;
}

function dayMatches(cron: ParsedCron, year: number, month: number, day: number): boolean {
  if (!cron.months.has(month)) return false;
  const dom = cron.daysOfMonth.has(day);
  const dow = cron.daysOfWeek.has(new Date(Date.UTC(year, month - 1, day)).getUTCDay());
  return cron.dayFieldsBothRestricted ? dom || dow : dom && dow;
}

/** How far back the search for fire times goes: the longest gap cron can express, with room. */
const SEARCH_DAYS = 4 * 366 + 31;

/**
 * The last `count` fire times at or before `now` on the local wall clock, newest first:
 * [0] is the run's own scheduled time, [1] the start of the period that has just ended.
 */
export function previousFireTimes(cron: ParsedCron, now: WallClock, count: number, timeZone = 'Etc/UTC'): WallClock[] {
  const fixedOffset = timeZone === 'Etc/UTC' || timeZone === 'UTC';
  const minutesOfDay: number[] = [];
  for (const h of [...cron.hours].sort((a, b) => b - a)) {
    for (const m of [...cron.minutes].sort((a, b) => b - a)) minutesOfDay.push(h * 60 + m);
  }
  const nowMinute = now.hour * 60 + now.minute;
  const out: WallClock[] = [];
  const today = Date.UTC(now.year, now.month - 1, now.day);
  for (let back = 0; back <= SEARCH_DAYS && out.length < count; back++) {
    const date = new Date(today - back * 86_400_000);
    const [year, month, day] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    if (!dayMatches(cron, year, month, day)) continue;
    for (const minute of minutesOfDay) {
      if (back === 0 && minute > nowMinute) continue;
      const fire = { year, month, day, hour: Math.floor(minute / 60), minute: minute % 60 };
      if (!fixedOffset && !exists(fire, timeZone)) continue;
      out.push(fire);
      if (out.length === count) break;
    }
  }
  return out;
}

/** What the URI templates stand for. */
export interface DataPeriod {
  /** `{{ds}}`: YYYY-MM-DD. */
  readonly ds: string;
  /** `{{hour}}`: HH (00-23), when known. */
  readonly hour?: string;
  /** How the period was found, for the log. */
  readonly source: string;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * The period a run at `now` reads: with a schedule, the start of the period `periodsBack`
 * periods before the run's own scheduled time (1: the period that has just ended; 0: the one
 * the run starts); without one, the run's own date and hour. All in `timeZone`.
 */
export function dataPeriod(options: { schedule?: string; timeZone: string; periodsBack: number; now: Date }): DataPeriod {
  const clock = wallClock(options.now, options.timeZone);
  if (options.schedule === undefined) {
    return { ds: `${clock.year}-${pad(clock.month)}-${pad(clock.day)}`, hour: pad(clock.hour), source: `the run time in ${options.timeZone}` };
  }
  let cron: ParsedCron;
  try {
    cron = parseCron(options.schedule);
  } catch (err) {
    throw new InputError(`--schedule ${JSON.stringify(options.schedule)}: ${(err as Error).message}`);
  }
  const fires = previousFireTimes(cron, clock, options.periodsBack + 1, options.timeZone);
  if (fires.length < options.periodsBack + 1) {
    throw new InputError(`--schedule ${JSON.stringify(options.schedule)} does not fire ${options.periodsBack + 1} times in the ${SEARCH_DAYS} days before ${options.now.toISOString()}`);
  }
  const start = fires[options.periodsBack];
  const when = (c: WallClock) => `${c.year}-${pad(c.month)}-${pad(c.day)} ${pad(c.hour)}:${pad(c.minute)}`;
  return {
    ds: `${start.year}-${pad(start.month)}-${pad(start.day)}`,
    hour: pad(start.hour),
    source: `the period from ${when(start)} ${options.timeZone}, ${options.periodsBack} before the run scheduled at ${when(fires[0])}`,
  };
}

/** Replaces {{ds}} and {{hour}} (spaces allowed inside the braces); throws when {{hour}} is used but unknown. */
export function renderTemplate(uri: string, period: { readonly ds: string; readonly hour?: string }): string {
  const withDate = uri.replace(/\{\{\s*ds\s*\}\}/g, period.ds);
  if (!/\{\{\s*hour\s*\}\}/.test(withDate)) return withDate;
  if (period.hour === undefined) throw new InputError(`${uri} uses {{hour}}, but --date gives no hour; pass --date YYYY-MM-DDTHH`);
  return withDate.replace(/\{\{\s*hour\s*\}\}/g, period.hour);
}
