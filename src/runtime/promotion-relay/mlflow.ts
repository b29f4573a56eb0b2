import { excerpt, request } from './http';

/** An MLflow tracking server the relay talks to. */
export interface MlflowServer {
  readonly trackingUri: string;
  readonly auth?: { readonly username: string; readonly password: string };
}

/** The MLflow REST call failed; `retryable` for 5xx, 429 and network errors. */
export class MlflowError extends Error {
  constructor(message: string, public readonly retryable: boolean) {
    super(message);
  }
}

/** The event the relay subscribes to, as MLflow's REST API spells it. */
export const ALIAS_CREATED_EVENT = { entity: 'MODEL_VERSION_ALIAS', action: 'CREATED' } as const;

async function call(server: MlflowServer, method: string, path: string, body?: unknown): Promise<any> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (server.auth) headers.authorization = `Basic ${Buffer.from(`${server.auth.username}:${server.auth.password}`).toString('base64')}`;
  let answer;
  try {
    answer = await request(`${server.trackingUri}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs: 15_000 });
  } catch (err) {
    throw new MlflowError(`MLflow at ${server.trackingUri} did not answer ${method} ${path.split('?')[0]}: ${(err as Error).message}`, true);
  }
  if (answer.status < 200 || answer.status > 299) {
    throw new MlflowError(`MLflow answered ${method} ${path.split('?')[0]} with ${answer.status}: ${excerpt(answer.body)}`,
      answer.status >= 500 || answer.status === 429);
  }
  return answer.body === '' ? {} : JSON.parse(answer.body);
}

/** What registerWebhook did. */
export interface Registration {
  readonly webhookId: string;
  readonly created: boolean;
}

/**
 * Creates the webhook `name`, or updates the one of that name (URL, event, secret, status
 * ACTIVE): idempotent, so every relay start re-registers, and a secret rotated in its Secret
 * reaches MLflow with the next start.
 */
export async function registerWebhook(server: MlflowServer, name: string, url: string, secret: string, description: string): Promise<Registration> {
  let existing: any;
  let pageToken: string | undefined;
  do {
    const page = await call(server, 'GET', `/api/2.0/mlflow/webhooks?max_results=100${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ''}`);
    existing = (page.webhooks ?? []).find((w: any) => w.name === name) ?? existing;
    pageToken = page.next_page_token || undefined;
  } while (existing === undefined && pageToken !== undefined);
  const fields = { name, url, events: [ALIAS_CREATED_EVENT], secret, status: 'ACTIVE', description };
  if (existing !== undefined) {
    await call(server, 'PATCH', `/api/2.0/mlflow/webhooks/${encodeURIComponent(existing.webhook_id)}`, fields);
    return { webhookId: existing.webhook_id, created: false };
  }
  const created = await call(server, 'POST', '/api/2.0/mlflow/webhooks', fields);
  return { webhookId: created.webhook.webhook_id, created: true };
}

/** The version an alias points at now; MlflowError (not retryable) when the alias or model does not exist. */
export async function resolveAlias(server: MlflowServer, model: string, alias: string): Promise<string> {
  const answer = await call(server, 'GET', `/api/2.0/mlflow/registered-models/alias?name=${encodeURIComponent(model)}&alias=${encodeURIComponent(alias)}`);
  const version = answer.model_version?.version;
  if (typeof version !== 'string') throw new MlflowError(`MLflow's answer for ${model}@${alias} has no model_version.version`, false);
  return version;
}
