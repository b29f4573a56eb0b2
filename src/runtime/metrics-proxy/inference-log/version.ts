import { CHECKER_ENV, INFERENCE_LOG_LAYOUT, PROXY_ENV } from '../../../contract';

/**
 * The model version a pod serves, resolved once at start: MLOPS_MODEL_VERSION when the
 * manifest pins it; the number of a `models:/<name>/<n>` URI; for `models:/<name>@<alias>`,
 * the version the alias points at now, asked of the MLflow registry (the model server loaded
 * its model moments before, through the same alias). When it cannot be found the version is
 * INFERENCE_LOG_LAYOUT.unknownVersion and the reason is returned: the proxy logs it and serves
 * on, since a missing label must not take the model down.
 */

export interface ResolvedVersion {
  readonly version: string;
  /** Where it came from: the pinned variable, the URI itself, the registry, or nowhere. */
  readonly source: 'pinned' | 'uri' | 'registry' | 'unknown';
  /** Why the version is unknown; only with source 'unknown'. */
  readonly error?: string;
}

export interface ResolveVersionOptions {
  /** Milliseconds each registry request may take. @default 2000 */
  readonly timeoutMs?: number;
  /** Registry requests at most, for no answer or a 5xx. @default 3 */
  readonly attempts?: number;
  /** Wait before the second attempt, doubled for each next one. @default 500 */
  readonly backoffMs?: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Resolves the served version; never throws. */
export async function resolveModelVersion(env: Env, options: ResolveVersionOptions = {}): Promise<ResolvedVersion> {
  const pinned = env[PROXY_ENV.modelVersion]?.trim();
  if (pinned) return { version: pinned, source: 'pinned' };
  const unknown = (error: string): ResolvedVersion => ({ version: INFERENCE_LOG_LAYOUT.unknownVersion, source: 'unknown', error });

  const uri = env[PROXY_ENV.modelUri]?.trim();
  if (!uri) return unknown(`neither ${PROXY_ENV.modelVersion} nor ${PROXY_ENV.modelUri} is set`);
  const match = /^models:\/([^/@]+)(?:@([^/]+)|\/(\d+))\/?$/.exec(uri);
  if (!match) return unknown(`${PROXY_ENV.modelUri} (${JSON.stringify(uri)}) is not models:/<name>@<alias> or models:/<name>/<version>`);
  const [, name, alias, number] = match;
  if (number !== undefined) return { version: number, source: 'uri' };

  const trackingUri = env[PROXY_ENV.trackingUri]?.trim().replace(/\/+$/, '');
  if (!trackingUri) return unknown(`${uri} names an alias, but ${PROXY_ENV.trackingUri} is not set to ask the registry for its version`);
  const url = `${trackingUri}/api/2.0/mlflow/registered-models/alias?name=${encodeURIComponent(name)}&alias=${encodeURIComponent(alias)}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = env[CHECKER_ENV.trackingToken];
  const username = env[CHECKER_ENV.trackingUsername];
  if (token) headers.authorization = `Bearer ${token}`;
  else if (username) headers.authorization = `Basic ${Buffer.from(`${username}:${env[CHECKER_ENV.trackingPassword] ?? ''}`).toString('base64')}`;

  const attempts = Math.max(1, options.attempts ?? 3);
  const timeoutMs = options.timeoutMs ?? 2000;
  let delay = options.backoffMs ?? 500;
  let lastError = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
      const text = await response.text();
      if (response.ok) {
        const version = versionOf(text);
        if (version !== undefined) return { version, source: 'registry' };
        return unknown(`GET ${url}: the answer has no model_version.version (${text.slice(0, 200)})`);
      }
      lastError = `GET ${url}: ${response.status} ${response.statusText}${text ? ` (${text.trim().slice(0, 200)})` : ''}`;
      // 4xx: no such model or alias, or refused credentials; asking again cannot help.
      if (response.status < 500 && response.status !== 429) return unknown(lastError);
    } catch (err) {
      const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : causeOf(err);
      lastError = `GET ${url}: ${reason}`;
    }
    if (attempt < attempts) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
    }
  }
  return unknown(`${lastError} (after ${attempts} attempts)`);
}

function versionOf(text: string): string | undefined {
  try {
    const version = (JSON.parse(text) as { model_version?: { version?: unknown } }).model_version?.version;
    if ((typeof version === 'string' && version.trim() !== '') || typeof version === 'number') return String(version).trim();
  } catch { /* not JSON: no version */ }
  return undefined;
}

/** fetch's "fetch failed" hides the reason (ECONNREFUSED, ENOTFOUND) in its cause. */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
