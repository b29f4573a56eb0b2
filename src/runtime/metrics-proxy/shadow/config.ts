import { PROXY_ENV, SHADOW_VARIANT } from '../../../contract';
import { ConfigError } from '../config';
import { DEFAULTS as INFERENCE_LOG_DEFAULTS, parsePath } from '../inference-log/config';

/** Settings of the shadow mirror on the champion's proxy, read by `parseShadowConfig` from the MLOPS_SHADOW_* environment. */
export interface ShadowConfig {
  /** The challenger's Service, `http://host:port` without path (MLOPS_SHADOW_UPSTREAM). */
  readonly upstream: string;
  /** Share of counted requests mirrored, above 0 and at most 1 (MLOPS_SHADOW_SHARE). */
  readonly share: number;
  /** Seconds a mirrored request may take in all; later it counts as challenger_failed (MLOPS_SHADOW_TIMEOUT_SECONDS). */
  readonly timeoutSeconds: number;
  /** Mirrored requests in flight at most; beyond, sampled requests are skipped and counted (MLOPS_SHADOW_MAX_IN_FLIGHT). */
  readonly maxInFlight: number;
  /** "equal": predictions agree only when equal (classification); a number: numeric ones within it agree (MLOPS_SHADOW_TOLERANCE). */
  readonly tolerance: 'equal' | number;
  /**
   * Request and response bodies larger than this are not mirrored or compared. Not in the
   * environment (yet): the inference log's capture limit, so one buffer serves both.
   */
  readonly maxBodyBytes: number;
  /**
   * A custom runtime's predictions in both models' responses, as a dotted path
   * (MLOPS_SHADOW_RESPONSE_PATH); unset: the inference log's path, else MLflow's formats.
   */
  readonly responsePath?: string;
}

/** ModelService `shadow`'s defaults, for a proxy started by hand with only the upstream set. */
export const DEFAULTS = {
  share: 0.1,
  timeoutSeconds: 10,
  maxInFlight: 16,
  tolerance: 'equal',
  maxBodyBytes: INFERENCE_LOG_DEFAULTS.maxBodyBytes,
} as const;

/** Bounds a hand-written environment may not exceed (ModelService stays well within them). */
const MAX_TIMEOUT_SECONDS = 3600;
const MAX_IN_FLIGHT = 1024;

type Env = Readonly<Record<string, string | undefined>>;
type Problem = (name: string, value: string | undefined, what: string, fix: string) => void;

/**
 * Reads and validates the shadow settings: undefined when MLOPS_SHADOW_UPSTREAM is unset or
 * empty (no mirroring, nothing else read); throws a `ConfigError` naming every bad variable
 * otherwise.
 */
export function parseShadowConfig(env: Env): ShadowConfig | undefined {
  const raw = env[PROXY_ENV.shadowUpstream];
  if (raw === undefined || raw.trim() === '') return undefined;

  const problems: string[] = [];
  const problem: Problem = (name, value, what, fix) => {
    problems.push(value === undefined ? `${name} ${what}; ${fix}` : `${name} (${JSON.stringify(value)}) ${what}; ${fix}`);
  };

  const upstream = parseUpstream(raw, problem);
  const share = parseShare(env[PROXY_ENV.shadowShare], problem);
  const timeoutSeconds = parseTimeout(env[PROXY_ENV.shadowTimeoutSeconds], problem);
  const maxInFlight = parseMaxInFlight(env[PROXY_ENV.shadowMaxInFlight], problem);
  const tolerance = parseTolerance(env[PROXY_ENV.shadowTolerance], problem);
  const responsePath = parsePath(PROXY_ENV.shadowResponsePath, env[PROXY_ENV.shadowResponsePath], 'result.scores', problem);
  const variant = env[PROXY_ENV.variant];
  if (variant !== undefined && variant.trim() !== '') {
    problem(PROXY_ENV.shadowUpstream, raw, `is set on a challenger's proxy (${PROXY_ENV.variant}=${variant})`,
      `a challenger has no shadow of its own: unset ${PROXY_ENV.shadowUpstream} or ${PROXY_ENV.variant}`);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    upstream: upstream!,
    share: share!,
    timeoutSeconds: timeoutSeconds!,
    maxInFlight: maxInFlight!,
    tolerance: tolerance!,
    maxBodyBytes: DEFAULTS.maxBodyBytes,
    ...(responsePath !== undefined ? { responsePath } : {}),
  };
}

/**
 * The variant the proxy's serving metrics are labelled with (MLOPS_MODEL_VARIANT): SHADOW_VARIANT
 * on a challenger's proxy, undefined on the champion's; throws a `ConfigError` on another value,
 * which dashboards and alerts would not select.
 */
export function parseVariant(env: Env): typeof SHADOW_VARIANT | undefined {
  const value = env[PROXY_ENV.variant];
  if (value === undefined || value.trim() === '') return undefined;
  if (value.trim() !== SHADOW_VARIANT) {
    throw new ConfigError([`${PROXY_ENV.variant} (${JSON.stringify(value)}) is not a known variant; set it to ${SHADOW_VARIANT} on a shadow challenger's proxy, or unset it on the champion's`]);
  }
  return SHADOW_VARIANT;
}

function parseUpstream(value: string, problem: Problem): string | undefined {
  const name = PROXY_ENV.shadowUpstream;
  const fix = 'set it to the challenger\'s Service, e.g. http://fraud-detector-shadow.mlops.svc:80, or unset it to turn the shadow off';
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    problem(name, value, 'is not a URL', fix);
    return undefined;
  }
  if (url.protocol !== 'http:') {
    problem(name, value, `uses ${url.protocol} but the proxy mirrors in plain http`, fix);
    return undefined;
  }
  // Mirrored requests keep the champion's path and query, so a base path here would be silently ignored.
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    problem(name, value, 'has a path, query or credentials', 'give only scheme, host and port, e.g. http://fraud-detector-shadow:80');
    return undefined;
  }
  return `http://${url.host}`;
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

const numberOf = (value: string): number => (DECIMAL.test(value.trim()) ? Number(value.trim()) : NaN);

function parseShare(value: string | undefined, problem: Problem): number | undefined {
  if (value === undefined) return DEFAULTS.share;
  const share = numberOf(value);
  if (!(share > 0 && share <= 1)) {
    problem(PROXY_ENV.shadowShare, value, 'is not a share above 0 and at most 1',
      `set e.g. 0.1 to mirror one request in ten (1 mirrors all), unset it for ${DEFAULTS.share}, or unset ${PROXY_ENV.shadowUpstream} to mirror none`);
    return undefined;
  }
  return share;
}

function parseTimeout(value: string | undefined, problem: Problem): number | undefined {
  if (value === undefined) return DEFAULTS.timeoutSeconds;
  const seconds = numberOf(value);
  if (!(seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    problem(PROXY_ENV.shadowTimeoutSeconds, value, `is not a positive number of seconds up to ${MAX_TIMEOUT_SECONDS}`,
      `set a number such as ${DEFAULTS.timeoutSeconds} or 2.5, or unset it for ${DEFAULTS.timeoutSeconds}`);
    return undefined;
  }
  return seconds;
}

function parseMaxInFlight(value: string | undefined, problem: Problem): number | undefined {
  if (value === undefined) return DEFAULTS.maxInFlight;
  const count = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!(count >= 1 && count <= MAX_IN_FLIGHT)) {
    problem(PROXY_ENV.shadowMaxInFlight, value, `is not a whole number from 1 to ${MAX_IN_FLIGHT}`,
      `set an integer such as ${DEFAULTS.maxInFlight}, or unset it for ${DEFAULTS.maxInFlight}`);
    return undefined;
  }
  return count;
}

function parseTolerance(value: string | undefined, problem: Problem): 'equal' | number | undefined {
  if (value === undefined || value.trim() === DEFAULTS.tolerance) return DEFAULTS.tolerance;
  const tolerance = numberOf(value);
  if (!Number.isFinite(tolerance)) {
    problem(PROXY_ENV.shadowTolerance, value, 'is neither "equal" nor a non-negative number',
      'set "equal" to compare predictions for equality (classification), or an absolute tolerance such as 0.01 (regression)');
    return undefined;
  }
  return tolerance;
}
