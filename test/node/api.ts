/**
 * A small client of the apiserver for the node agent: one identity (a client certificate), JSON
 * in and out, and client certificates issued by the test cluster's CA for the identities a
 * node runs with (system:node:<name> in system:nodes for the kubelet, system:kube-proxy).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as path from 'path';

/** An error answer of the apiserver. */
export class ApiError extends Error {
  constructor(message: string, public readonly status: number) {
    super(message);
    this.name = 'ApiError';
  }
}

export class ApiClient {
  private readonly agent: https.Agent;

  constructor(private readonly server: string, credentials: { ca: Buffer; cert: Buffer; key: Buffer }) {
    this.agent = new https.Agent({ ...credentials, keepAlive: true, maxSockets: 16 });
  }

  public get<T = any>(url: string): Promise<T> {
    return this.request('GET', url);
  }

  /** GET that resolves to undefined on 404. */
  public async find<T = any>(url: string): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', url);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  public request<T = any>(method: string, url: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(`${this.server}${url}`, {
        method,
        agent: this.agent,
        timeout: 30_000,
        headers: { Accept: 'application/json', ...(payload ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {}) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 300) reject(new ApiError(`${method} ${url}: ${res.statusCode} ${text.slice(0, 500)}`, res.statusCode ?? 0));
          else resolve(text ? JSON.parse(text) : undefined);
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  public close(): void {
    this.agent.destroy();
  }
}

/**
 * A client certificate for `subject` (e.g. `/O=system:nodes/CN=system:node:n1`) signed by the
 * CA in `pki` (ca.crt, ca.key, as test/controlplane/cluster.ts writes them), into `dir`.
 */
export function issueClientCertificate(pki: string, dir: string, name: string, subject: string): { ca: Buffer; cert: Buffer; key: Buffer } {
  const cnf = path.join(dir, 'openssl.cnf');
  fs.writeFileSync(cnf, '[req]\ndistinguished_name = dn\n[dn]\n');
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-config', cnf,
    '-CA', path.join(pki, 'ca.crt'), '-CAkey', path.join(pki, 'ca.key'), '-keyout', key, '-out', crt, '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=clientAuth',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { ca: fs.readFileSync(path.join(pki, 'ca.crt')), cert: fs.readFileSync(crt), key: fs.readFileSync(key) };
}

/** metav1.Time: RFC 3339 in seconds. */
export function apiTime(at = new Date()): string {
  return at.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(at = new Date()): string {
  return at.toISOString().replace(/(\.\d{3})Z$/, '$1000Z');
}
