import * as fc from 'fast-check';
import { shortestPeriodSeconds } from '../../src/constructs/drift/cron-schedule';
import { type WallClock, dataPeriod, previousFireTimes, wallClock } from '../../src/runtime/drift/schedule';
import { parseCron } from '../../src/shared/cron';

/**
 * Which period a scheduled drift run reads: the one that has just ended (Airflow's ds), in the
 * CronJob's time zone, found from the schedule the DriftMonitor passes.
 */

const at = (iso: string) => new Date(iso);

describe('the data period of a scheduled run', () => {
  it.each([
    // schedule, time zone, run time (UTC), {{ds}}, {{hour}}
    ['0 0 * * *', 'Etc/UTC', '2024-06-02T00:00:03Z', '2024-06-01', '00'],
    ['0 0 * * *', 'Etc/UTC', '2024-06-02T00:09:59Z', '2024-06-01', '00'], // started late, within its deadline
    ['@daily', 'Etc/UTC', '2024-03-01T00:00:01Z', '2024-02-29', '00'], // leap day
    ['0 0 * * *', 'Etc/UTC', '2025-01-01T00:00:01Z', '2024-12-31', '00'], // new year
    ['0 * * * *', 'Etc/UTC', '2024-06-02T13:00:04Z', '2024-06-02', '12'],
    ['0 * * * *', 'Etc/UTC', '2024-06-02T00:00:04Z', '2024-06-01', '23'], // the hour before midnight
    ['30 2 * * *', 'Etc/UTC', '2024-06-02T02:30:10Z', '2024-06-01', '02'],
    ['0 0 * * *', 'Europe/Berlin', '2024-06-01T22:00:02Z', '2024-06-01', '00'], // Berlin midnight (UTC+2)
    ['0 0 * * *', 'America/New_York', '2024-06-02T04:00:02Z', '2024-06-01', '00'], // New York midnight (UTC-4)
    ['0 0 * * *', 'Asia/Kolkata', '2024-06-01T18:30:02Z', '2024-06-01', '00'], // a half-hour offset
    ['0 9 * * 1-5', 'Etc/UTC', '2024-06-03T09:00:05Z', '2024-05-31', '09'], // Monday reads Friday
    ['0 0 1 * *', 'Etc/UTC', '2024-03-01T00:00:05Z', '2024-02-01', '00'], // monthly
    ['0 0 * * 0', 'Etc/UTC', '2024-06-02T00:00:05Z', '2024-05-26', '00'], // weekly, Sunday
    ['0 * * * *', 'Europe/Berlin', '2024-03-31T01:00:03Z', '2024-03-31', '01'], // 03:00 CEST: 02:00 never happened, the hour is 01
    ['0 * * * *', 'Europe/Berlin', '2024-10-27T01:00:03Z', '2024-10-27', '01'], // the second 02:00 of the night clocks go back
    ['0 * * * *', 'Europe/Berlin', '2024-10-27T02:00:03Z', '2024-10-27', '02'], // 03:00 CET: the (repeated) hour 02
  ])('%s in %s, run at %s, reads %s hour %s', (schedule, timeZone, now, ds, hour) => {
    expect(dataPeriod({ schedule, timeZone, periodsBack: 1, now: at(now) })).toMatchObject({ ds, hour });
  });

  it('reads the period the run starts with periodsBack 0, and further back with more', () => {
    const run = { schedule: '0 0 * * *', timeZone: 'Etc/UTC', now: at('2024-06-02T00:00:03Z') };
    expect([0, 1, 2, 7].map((periodsBack) => dataPeriod({ ...run, periodsBack }).ds)).toEqual(['2024-06-02', '2024-06-01', '2024-05-31', '2024-05-26']);
  });

  it('says which period it chose, for the log', () => {
    expect(dataPeriod({ schedule: '0 0 * * *', timeZone: 'Europe/Berlin', periodsBack: 1, now: at('2024-06-01T22:00:02Z') }).source)
      .toBe('the period from 2024-06-01 00:00 Europe/Berlin, 1 before the run scheduled at 2024-06-02 00:00');
  });

  it('without a schedule, is the run\'s own date and hour in the time zone', () => {
    expect(dataPeriod({ timeZone: 'Etc/UTC', periodsBack: 1, now: at('2024-06-02T00:30:00Z') })).toMatchObject({ ds: '2024-06-02', hour: '00' });
    expect(dataPeriod({ timeZone: 'America/New_York', periodsBack: 1, now: at('2024-06-02T00:30:00Z') })).toMatchObject({ ds: '2024-06-01', hour: '20' });
  });

  it('is the start of the interval that ends at the latest fire time, for any schedule and run time (property)', () => {
    // A brute-force oracle: walk back minute by minute over UTC wall-clock times.
    const minuteOf = (c: WallClock) => Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute) / 60_000;
    const fires = (spec: ReturnType<typeof parseCron>, minute: number) => {
      const d = new Date(minute * 60_000);
      const dom = spec.daysOfMonth.has(d.getUTCDate());
      const dow = spec.daysOfWeek.has(d.getUTCDay());
      return spec.minutes.has(d.getUTCMinutes()) && spec.hours.has(d.getUTCHours()) && spec.months.has(d.getUTCMonth() + 1)
        && (spec.dayFieldsBothRestricted ? dom || dow : dom && dow);
    };
    const field = (max: number, min = 0) => fc.oneof(
      fc.constant('*'),
      fc.integer({ min, max }).map(String),
      fc.tuple(fc.integer({ min, max }), fc.integer({ min: 1, max: 6 })).map(([a, step]) => `${a}/${step}`),
      fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 3 }).map((xs) => xs.join(',')),
    );
    const schedule = fc.tuple(field(59), field(23), fc.oneof(fc.constant('*'), fc.integer({ min: 1, max: 28 }).map(String)), fc.constant('*'), fc.oneof(fc.constant('*'), field(6)))
      .map((parts) => parts.join(' '));
    const now = fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true });
    fc.assert(fc.property(schedule, now, fc.integer({ min: 0, max: 2 }), (expression, instant, back) => {
      const spec = parseCron(expression);
      const found = previousFireTimes(spec, wallClock(instant, 'Etc/UTC'), back + 1);
      let minute = Math.floor(instant.getTime() / 60_000);
      const expected: number[] = [];
      for (let steps = 0; expected.length < back + 1 && steps < 70 * 24 * 60; steps++, minute--) if (fires(spec, minute)) expected.push(minute);
      if (expected.length < back + 1) return; // fires too rarely for the oracle's window
      expect(found.map(minuteOf)).toEqual(expected);
    }), { numRuns: 200 });
  });
});

describe('the cron parser both sides share (src/shared/cron.ts)', () => {
  it('agrees with the period the DriftMonitor sizes its deadlines by', () => {
    // The shortest gap between consecutive fire times equals shortestPeriodSeconds for simple schedules
    for (const [expression, seconds] of [['0 * * * *', 3600], ['0 0 * * *', 86_400], ['*/15 * * * *', 900]] as const) {
      expect(shortestPeriodSeconds(expression)).toBe(seconds);
      const [a, b] = previousFireTimes(parseCron(expression), wallClock(at('2024-06-02T12:00:00Z'), 'Etc/UTC'), 2);
      const gap = (Date.UTC(a.year, a.month - 1, a.day, a.hour, a.minute) - Date.UTC(b.year, b.month - 1, b.day, b.hour, b.minute)) / 1000;
      expect(gap).toBe(seconds);
    }
  });
});
