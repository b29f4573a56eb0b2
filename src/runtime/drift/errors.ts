/**
 * The two ways a drift check can fail, kept apart because the exit code tells the CronJob
 * (and the user reading its logs) whose fault it is: exit 2 for input the user must fix
 * (bad arguments, a missing column, a value that is not a number, an empty dataset), exit 1
 * for everything else (an unreachable source or Pushgateway, a server error). Both stop the
 * run before any result is printed or pushed, so a failed check never reads as "no drift".
 */

/** Bad arguments or bad data: exit 2. The message names the input and, for data, the position. */
export class InputError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Anything that is not the input's fault (network, server, Pushgateway): exit 1. */
export class RunError extends Error {
  readonly exitCode = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RunError';
  }
}

/** The exit code for an error thrown by the check: 2 for input errors, 1 for the rest. */
export function exitCodeOf(err: unknown): 1 | 2 {
  return err instanceof InputError ? 2 : 1;
}

/** A position in a data file as people and editors read it: `file:line:column`. */
export function at(file: string, line: number, column: number): string {
  return `${file}:${line}:${column}`;
}
