/** One JSON log line of a bundled runtime program (metrics proxy, promotion relay); `event` says what happened. */
export interface LogEvent {
  readonly event: string;
  readonly level?: 'info' | 'warn' | 'error';
  readonly [field: string]: unknown;
}
