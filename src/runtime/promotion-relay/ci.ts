import type { PromotionModelConfig } from '../../contract';
import { excerpt, request } from './http';

/** A promotion as CI receives it: MLflow's model_version_alias.created payload, the version as the registry resolves it now. */
export interface Promotion {
  readonly name: string;
  readonly alias: string;
  readonly version: string;
}

/** One delivery attempt failed; `retryable` unless the CI system refused it for good (401, 403, 404, 422...). */
export class CiError extends Error {
  constructor(message: string, public readonly retryable: boolean) {
    super(message);
  }
}

/**
 * The request of a CI action: for GitHub a repository_dispatch (POST
 * /repos/<owner>/<repo>/dispatches, 204 on success) with `client_payload` the promotion, the
 * shape examples/ci/mlops-stack.yml reads; for any other CI system a JSON POST of
 * `{event, name, alias, version}`, with a bearer token when one is given.
 */
export function ciRequest(ci: NonNullable<PromotionModelConfig['ci']>, token: string | undefined, p: Promotion): { headers: Record<string, string>; body: string } {
  const payload = { name: p.name, alias: p.alias, version: p.version };
  if (ci.kind === 'github') {
    return {
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${token}`,
        'x-github-api-version': '2022-11-28',
        'content-type': 'application/json',
        // GitHub refuses requests without a User-Agent.
        'user-agent': 'mlops-constructs-promotion-relay',
      },
      body: JSON.stringify({ event_type: ci.eventType, client_payload: payload }),
    };
  }
  return {
    headers: { 'content-type': 'application/json', 'user-agent': 'mlops-constructs-promotion-relay', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ event: ci.eventType, ...payload }),
  };
}

/** One attempt at the CI action; throws CiError with the reason. */
export async function dispatch(ci: NonNullable<PromotionModelConfig['ci']>, token: string | undefined, p: Promotion): Promise<void> {
  const { headers, body } = ciRequest(ci, token, p);
  const where = `${ci.kind === 'github' ? 'repository_dispatch to' : 'CI webhook'} ${new URL(ci.url).host}${new URL(ci.url).pathname}`;
  let answer;
  try {
    answer = await request(ci.url, { method: 'POST', headers, body, timeoutMs: 15_000 });
  } catch (err) {
    throw new CiError(`${where} got no answer: ${(err as Error).message}`, true);
  }
  if (answer.status >= 200 && answer.status <= 299) return;
  const retryable = answer.status >= 500 || answer.status === 429 || answer.status === 408;
  const hint = answer.status === 401 ? ' (the token is wrong or expired)'
    : answer.status === 404 ? ' (no such repository, or the token may not see it: it needs contents write on the repository)'
      : answer.status === 403 ? ' (the token lacks permission, or a rate limit)' : '';
  throw new CiError(`${where} answered ${answer.status}${hint}: ${excerpt(answer.body)}`, retryable);
}
