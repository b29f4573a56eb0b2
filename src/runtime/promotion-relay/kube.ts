import * as fs from 'node:fs';
import * as path from 'node:path';
import { excerpt, request } from './http';

/** An apiserver call failed; `status` 0 when there was no answer. */
export class KubeError extends Error {
  constructor(message: string, public readonly status: number) {
    super(message);
  }

  /** 5xx, 429, a conflict or no answer: worth another try. */
  public get retryable(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429 || this.status === 409;
  }
}

const FIELD_MANAGER = 'mlops-promotion-relay';

/**
 * The few apiserver calls the relay makes, with the pod's service account: its token (read at
 * every call, since the kubelet rotates it) and CA from the mounted directory.
 */
export class KubeClient {
  private readonly server: string;

  constructor(private readonly accountDir: string, server?: string) {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
    const resolved = server ?? (host ? `https://${host.includes(':') ? `[${host}]` : host}:${port}` : undefined);
    if (resolved === undefined) throw new Error('no apiserver: KUBERNETES_SERVICE_HOST is not set (not in a pod?) and no API URL was given');
    this.server = resolved.replace(/\/+$/, '');
  }

  public deploymentPath(namespace: string, name: string): string {
    return `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`;
  }

  /** The Deployment, or undefined when it does not exist. */
  public async getDeployment(namespace: string, name: string): Promise<any | undefined> {
    try {
      return await this.call('GET', this.deploymentPath(namespace, name));
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** A strategic merge patch. */
  public patchDeployment(namespace: string, name: string, patch: unknown): Promise<any> {
    return this.call('PATCH', this.deploymentPath(namespace, name), patch, 'application/strategic-merge-patch+json');
  }

  /** Server-side apply of a whole Deployment: creates it or brings it to `object`, idempotently. */
  public applyDeployment(namespace: string, object: any): Promise<any> {
    return this.call('PATCH', `${this.deploymentPath(namespace, object.metadata.name)}?fieldManager=${FIELD_MANAGER}&force=true`, object, 'application/apply-patch+yaml');
  }

  /** Deletes a Deployment and, in the background, its ReplicaSets and pods; gone already is fine. */
  public async deleteDeployment(namespace: string, name: string): Promise<void> {
    try {
      await this.call('DELETE', this.deploymentPath(namespace, name), { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' });
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 404)) throw err;
    }
  }

  /** An Event on a Deployment, for `kubectl describe` and event exporters. Best effort: a refused Event is returned as an error, never thrown. */
  public async event(namespace: string, deployment: any, type: 'Normal' | 'Warning', reason: string, message: string): Promise<Error | undefined> {
    const now = new Date().toISOString();
    try {
      await this.call('POST', `/api/v1/namespaces/${namespace}/events`, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${deployment.metadata.name}.promotion-`, namespace },
        involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name, namespace, uid: deployment.metadata.uid },
        reason,
        message: message.slice(0, 1000),
        type,
        source: { component: FIELD_MANAGER },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  private async call(method: string, apiPath: string, body?: unknown, contentType = 'application/json'): Promise<any> {
    let token: string;
    let ca: Buffer;
    try {
      token = fs.readFileSync(path.join(this.accountDir, 'token'), 'utf8').trim();
      ca = fs.readFileSync(path.join(this.accountDir, 'ca.crt'));
    } catch (err) {
      throw new KubeError(`cannot read the service account's token and CA in ${this.accountDir}: ${(err as Error).message} (is automountServiceAccountToken on?)`, 0);
    }
    let answer;
    try {
      answer = await request(`${this.server}${apiPath}`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        ca,
        timeoutMs: 30_000,
      });
    } catch (err) {
      throw new KubeError(`${method} ${apiPath.split('?')[0]}: ${(err as Error).message}`, 0);
    }
    if (answer.status < 200 || answer.status > 299) {
      let message = excerpt(answer.body);
      try {
        message = JSON.parse(answer.body).message ?? message;
      } catch {
        // not a Status object: keep the excerpt
      }
      throw new KubeError(`${method} ${apiPath.split('?')[0]} answered ${answer.status}: ${message}`, answer.status);
    }
    return JSON.parse(answer.body);
  }
}
