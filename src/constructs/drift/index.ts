// drift/: DriftMonitor (the scheduled drift check), the Pushgateway it pushes to, cron schedules.
export * from './checker-bundle';
export * from './drift-data';
export * from './drift-monitor';
export * from './interfaces';
export * from './pushgateway';
