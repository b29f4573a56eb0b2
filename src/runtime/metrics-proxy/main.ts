import { ConfigError, parseConfig } from './config';
import { type LogEvent, startMetricsProxy } from './proxy';

/**
 * The sidecar's entry point: reads the MLOPS_* environment, serves until SIGTERM or SIGINT,
 * drains and exits 0. Exits 2 on bad configuration, 1 when it cannot start.
 */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`metrics-proxy: ${err.message}\n`);
    process.exit(2);
  }

  const log = (event: LogEvent): void => {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', program: 'metrics-proxy', ...event })}\n`);
  };

  let proxy;
  try {
    proxy = await startMetricsProxy(config, { log });
  } catch (err) {
    log({ event: 'failed', level: 'error', error: (err as Error).message });
    process.exit(1);
  }
  log({
    event: 'started',
    model: config.modelName,
    upstream: config.upstream,
    listenPort: proxy.listenPort,
    metricsPort: proxy.metricsPort,
    upstreamTimeoutSeconds: config.upstreamTimeoutSeconds,
    drainSeconds: config.drainSeconds,
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second signal is an operator insisting; Kubernetes itself sends one SIGTERM.
      log({ event: 'forced', level: 'warn', signal });
      process.exit(1);
    }
    stopping = true;
    log({ event: 'stopping', signal, drainSeconds: config.drainSeconds });
    proxy.close().then(
      () => process.exit(0),
      (err: Error) => {
        log({ event: 'failed', level: 'error', error: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`metrics-proxy: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
