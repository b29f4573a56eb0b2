import { ConfigError, parseConfig } from './config';
import { createInferenceLog, type InferenceLog, parseInferenceLogConfig, resolveModelVersion } from './inference-log';
import { type LogEvent, startMetricsProxy } from './proxy';
import { createShadow, parseShadowConfig, parseVariant, type Shadow } from './shadow';

/** Of the grace period left after the drain (the pod's preStop sleep and drain come first), what the shadow and the log get. */
const SHADOW_CLOSE_MS = 2_000;
const LOG_CLOSE_MS = 3_000;

/** Every part's settings, with the problems of all parts in one ConfigError. */
function parseAll(env: NodeJS.ProcessEnv) {
  const problems: string[] = [];
  const attempt = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      return undefined;
    }
  };
  const config = attempt(() => parseConfig(env));
  const inferenceLog = attempt(() => parseInferenceLogConfig(env));
  const shadow = attempt(() => parseShadowConfig(env));
  const variant = attempt(() => parseVariant(env));
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: config!, inferenceLog, shadow, variant };
}

/**
 * The sidecar's entry point: reads the MLOPS_* environment, serves until SIGTERM or SIGINT,
 * drains and exits 0. Exits 2 on bad configuration, 1 when it cannot start.
 */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let settings;
  try {
    settings = parseAll(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`metrics-proxy: ${err.message}\n`);
    process.exit(2);
  }

  const log = (event: LogEvent): void => {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', program: 'metrics-proxy', ...event })}\n`);
  };

  const { config } = settings;

  // The served version labels the log's records and keys and mlops_model_info; resolving it never fails the start.
  let inferenceLog: InferenceLog | undefined;
  if (settings.inferenceLog) {
    const resolved = await resolveModelVersion(env);
    if (resolved.error !== undefined) log({ event: 'model_version_unresolved', level: 'warn', version: resolved.version, error: resolved.error });
    inferenceLog = createInferenceLog(settings.inferenceLog, { modelName: config.modelName, version: resolved.version, log });
  }
  const shadow: Shadow | undefined = settings.shadow
    ? createShadow(settings.shadow, { modelName: config.modelName, responsePath: settings.shadow.responsePath ?? settings.inferenceLog?.responsePath, log })
    : undefined;

  let proxy;
  try {
    proxy = await startMetricsProxy(config, { log, inferenceLog, shadow, variant: settings.variant });
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
    ...(settings.inferenceLog ? { inferenceLog: `s3://${settings.inferenceLog.bucket}/${settings.inferenceLog.prefix}`, sampleRatio: settings.inferenceLog.sampleRatio } : {}),
    ...(settings.shadow ? { shadow: settings.shadow.upstream, shadowShare: settings.shadow.share } : {}),
    ...(settings.variant ? { variant: settings.variant } : {}),
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
    // The drain first: mirrors and records of the last requests are made as they finish. Then
    // the shadow, whose answers join the log's records, then the log.
    proxy.close()
      .then(() => shadow?.close(SHADOW_CLOSE_MS))
      .then(() => inferenceLog?.close(LOG_CLOSE_MS))
      .then(
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
