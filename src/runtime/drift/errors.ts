import { CHECKER_EXIT_CODES } from '../../contract';

/**
 * The ways a drift check can fail, kept apart because the exit code tells the CronJob (and
 * the user reading its logs) whose fault it is and whether a retry can help: exit 2 for
 * input the user must fix (bad arguments, a missing column, an empty dataset, a missing
 * reference), exit 3 for current data that is not there yet (retried), exit 1 for
 * everything else (an unreachable source or Pushgateway, a server error). All stop the run
 * before any result is printed or pushed, so a failed check never reads as "no drift".
 */

/** Bad arguments or bad data: exit 2. The message names the input and, for data, the position. */
export class InputError extends Error {
  readonly exitCode: number = CHECKER_EXIT_CODES.badInput;
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * A named object that does not exist (HTTP or S3 404, no such file, nothing matching a
 * pattern). Bad input (exit 2) where it is found; the check turns it into DataMissingError
 * when it is the current dataset.
 */
export class NotFoundError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The current dataset is not there (yet): exit 3, which the DriftMonitor's Job retries. */
export class DataMissingError extends Error {
  readonly exitCode = CHECKER_EXIT_CODES.dataMissing;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataMissingError';
  }
}

/** Anything that is not the input's fault (network, server, Pushgateway): exit 1. */
export class RunError extends Error {
  readonly exitCode = CHECKER_EXIT_CODES.failed;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RunError';
  }
}

/** The exit code for an error thrown by the check: 2 for input errors, 3 for missing current data, 1 for the rest. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof DataMissingError) return CHECKER_EXIT_CODES.dataMissing;
  return err instanceof InputError ? CHECKER_EXIT_CODES.badInput : CHECKER_EXIT_CODES.failed;
}

/** A position in a data file as people and editors read it: `file:line:column`. */
export function at(file: string, line: number, column: number): string {
  return `${file}:${line}:${column}`;
}
