import { isIP } from 'node:net';
import { PROXY_DURATION_BUCKETS, PROXY_ENV } from '../../contract';

/** Settings of the metrics proxy, read by `parseConfig` from the MLOPS_* environment. */
export interface MetricsProxyConfig {
  /** Model server in the same pod, `http://host:port` (MLOPS_PROXY_UPSTREAM). */
  readonly upstream: string;
  /** Port that receives inference traffic; 0 picks a free port (MLOPS_PROXY_LISTEN_PORT). */
  readonly listenPort: number;
  /** Port that serves /metrics and /healthz; 0 picks a free port (MLOPS_PROXY_METRICS_PORT). */
  readonly metricsPort: number;
  /** IP address both ports bind to; undefined binds all interfaces (MLOPS_PROXY_BIND_ADDRESS). */
  readonly bindAddress?: string;
  /** Value of the `model` label (MLOPS_MODEL_NAME). */
  readonly modelName: string;
  /** Histogram upper bounds in seconds, strictly increasing, without +Inf (MLOPS_PROXY_BUCKETS). */
  readonly buckets: readonly number[];
  /** Request paths forwarded but not counted, matched exactly without the query (MLOPS_PROXY_UNCOUNTED_PATHS). */
  readonly uncountedPaths: readonly string[];
  /** Seconds the upstream may stay silent before the client gets 504 (MLOPS_PROXY_UPSTREAM_TIMEOUT_SECONDS). */
  readonly upstreamTimeoutSeconds: number;
  /** Seconds in-flight requests get to finish after SIGTERM (MLOPS_PROXY_DRAIN_SECONDS). */
  readonly drainSeconds: number;
}

/** The environment variables `parseConfig` reads (the contract's names; DEFAULTS below has their defaults). */
const ENV = PROXY_ENV;

export const DEFAULTS = {
  listenPort: 8080,
  metricsPort: 9090,
  buckets: PROXY_DURATION_BUCKETS,
  uncountedPaths: ['/ping', '/health', '/healthz', '/ready', '/version', '/metrics'] as readonly string[],
  upstreamTimeoutSeconds: 60,
  drainSeconds: 20,
} as const;

/** Every problem found in the environment, one line each, so a user fixes them in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid metrics proxy configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads and validates the proxy settings; throws a `ConfigError` naming each bad variable. */
export function parseConfig(env: Env): MetricsProxyConfig {
  const problems: string[] = [];
  const problem = (name: string, value: string | undefined, what: string, fix: string) => {
    problems.push(value === undefined ? `${name} ${what}; ${fix}` : `${name} (${JSON.stringify(value)}) ${what}; ${fix}`);
  };

  const upstream = parseUpstream(env[ENV.upstream], problem);
  const listenPort = parsePort(ENV.listenPort, env[ENV.listenPort], DEFAULTS.listenPort, problem);
  const metricsPort = parsePort(ENV.metricsPort, env[ENV.metricsPort], DEFAULTS.metricsPort, problem);
  if (listenPort !== undefined && listenPort !== 0 && listenPort === metricsPort) {
    problems.push(`${ENV.listenPort} and ${ENV.metricsPort} are both ${listenPort}; give them different ports`);
  }
  if (upstream && listenPort !== undefined && listenPort !== 0 && isLoopback(upstream.hostname) && upstream.port === listenPort) {
    problem(ENV.upstream, env[ENV.upstream], `points at the proxy's own ${ENV.listenPort} ${listenPort}`,
      'set it to the port the model server listens on');
  }

  const bindAddress = env[ENV.bindAddress];
  if (bindAddress !== undefined && isIP(bindAddress) === 0) {
    problem(ENV.bindAddress, bindAddress, 'is not an IP address', 'set an address such as 0.0.0.0, :: or 127.0.0.1, or unset it to bind all interfaces');
  }

  const modelName = env[ENV.modelName];
  if (modelName === undefined || modelName.trim() === '') {
    problem(ENV.modelName, modelName, modelName === undefined ? 'is not set' : 'is empty', 'set it to the model name used as the `model` label');
  }

  const buckets = parseBuckets(env[ENV.buckets], problem);
  const uncountedPaths = parseUncountedPaths(env[ENV.uncountedPaths], problem);
  const upstreamTimeoutSeconds = parseSeconds(ENV.upstreamTimeoutSeconds, env[ENV.upstreamTimeoutSeconds],
    DEFAULTS.upstreamTimeoutSeconds, false, problem);
  const drainSeconds = parseSeconds(ENV.drainSeconds, env[ENV.drainSeconds], DEFAULTS.drainSeconds, true, problem);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    upstream: upstream!.href,
    listenPort: listenPort!,
    metricsPort: metricsPort!,
    ...(bindAddress !== undefined ? { bindAddress } : {}),
    modelName: modelName!,
    buckets: buckets!,
    uncountedPaths: uncountedPaths!,
    upstreamTimeoutSeconds: upstreamTimeoutSeconds!,
    drainSeconds: drainSeconds!,
  };
}

type Problem = (name: string, value: string | undefined, what: string, fix: string) => void;

interface Upstream { readonly href: string; readonly hostname: string; readonly port: number }

function parseUpstream(value: string | undefined, problem: Problem): Upstream | undefined {
  const fix = 'set it to the model server in the pod, e.g. http://127.0.0.1:8081';
  if (value === undefined || value.trim() === '') {
    problem(ENV.upstream, value, value === undefined ? 'is not set' : 'is empty', fix);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problem(ENV.upstream, value, 'is not a URL', fix);
    return undefined;
  }
  if (url.protocol !== 'http:') {
    problem(ENV.upstream, value, `uses ${url.protocol} but the proxy speaks plain http to the model server`, fix);
    return undefined;
  }
  // Requests keep their own path and query, so a base path or query here would be silently ignored.
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    problem(ENV.upstream, value, 'has a path, query or credentials', 'give only scheme, host and port, e.g. http://127.0.0.1:8081');
    return undefined;
  }
  return { href: `http://${url.host}`, hostname: url.hostname, port: url.port === '' ? 80 : Number(url.port) };
}

function parsePort(name: string, value: string | undefined, fallback: number, problem: Problem): number | undefined {
  if (value === undefined) return fallback;
  const port = /^\d{1,5}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    problem(name, value, 'is not a port number', `set an integer from 0 (any free port) to 65535, or unset it for ${fallback}`);
    return undefined;
  }
  return port;
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseSeconds(name: string, value: string | undefined, fallback: number, zeroAllowed: boolean,
  problem: Problem): number | undefined {
  if (value === undefined) return fallback;
  const seconds = DECIMAL.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isFinite(seconds) || seconds < 0 || (!zeroAllowed && seconds === 0)) {
    problem(name, value, `is not a ${zeroAllowed ? 'non-negative' : 'positive'} number of seconds`,
      `set a number such as ${fallback} or 2.5, or unset it for ${fallback}`);
    return undefined;
  }
  return seconds;
}

function parseBuckets(value: string | undefined, problem: Problem): readonly number[] | undefined {
  if (value === undefined) return DEFAULTS.buckets;
  const fix = `list positive upper bounds in seconds in increasing order, e.g. ${DEFAULTS.buckets.join(',')} (+Inf is implied)`;
  const parts = value.split(',').map((part) => part.trim());
  const buckets: number[] = [];
  for (const part of parts) {
    const bound = DECIMAL.test(part) ? Number(part) : NaN;
    if (!Number.isFinite(bound) || bound <= 0) {
      problem(ENV.buckets, value, `has ${JSON.stringify(part)}, which is not a positive number`, fix);
      return undefined;
    }
    if (buckets.length > 0 && bound <= buckets[buckets.length - 1]) {
      problem(ENV.buckets, value, `is not strictly increasing at ${part} (after ${buckets[buckets.length - 1]})`, fix);
      return undefined;
    }
    buckets.push(bound);
  }
  return buckets;
}

function parseUncountedPaths(value: string | undefined, problem: Problem): readonly string[] | undefined {
  if (value === undefined) return DEFAULTS.uncountedPaths;
  // An empty value is a deliberate choice: count every request.
  const paths = value.split(',').map((path) => path.trim()).filter((path) => path !== '');
  const bad = paths.find((path) => !path.startsWith('/') || /[?#\s]/.test(path));
  if (bad !== undefined) {
    problem(ENV.uncountedPaths, value, `has ${JSON.stringify(bad)}, which is not a plain path`,
      `list paths that start with / and have no query, e.g. ${DEFAULTS.uncountedPaths.join(',')}, or set it empty to count every request`);
    return undefined;
  }
  return paths;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
}
