import { ConfigError, parseConfig } from './config';
import { type LogEvent, startRelay } from './relay';

/**
 * The relay's entry point: reads the MLOPS_PROMOTION_* environment, serves until SIGTERM or
 * SIGINT. Exits 2 on bad configuration, 1 when it cannot start. A step in progress at SIGTERM
 * is left as it is: each leaves its state in the cluster, and the next relay resumes it.
 */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`promotion-relay: ${err.message.split('\n').join('\npromotion-relay: ')}\n`);
    process.exit(2);
  }
  const log = (event: LogEvent): void => {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', program: 'promotion-relay', ...event })}\n`);
  };
  let relay;
  try {
    relay = await startRelay(config, { log });
  } catch (err) {
    log({ event: 'failed', level: 'error', error: (err as Error).message });
    process.exit(1);
  }
  log({ event: 'started', port: relay.port, webhook: config.webhookUrl, models: config.models.map((m) => m.name) });
  const stop = (signal: NodeJS.Signals): void => {
    log({ event: 'stopping', signal });
    relay.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`promotion-relay: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
