// The inference log's PUTs over https, as to AWS S3: the proxy's own client (upstream.ts)
// checks the store's certificate against the trusted authorities and the host name (SNI sent),
// and keeps one TLS connection for consecutive PUTs. The store is an https server on loopback
// with a certificate for "localhost" from a test authority made with openssl; the client runs
// in a process of its own (put-over-tls.ts) so that NODE_EXTRA_CA_CERTS decides what it trusts.
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { closeServer } from '../http-helpers';

interface SeenPut {
  readonly method: string;
  readonly url: string;
  readonly host: string | undefined;
  readonly servername: string | false | null;
  readonly remotePort: number | undefined;
}

const PROGRAM = path.join(__dirname, 'put-over-tls.ts');

describe('putObject over https', () => {
  let dir: string;
  let server: https.Server;
  let port: number;
  const seen: SeenPut[] = [];

  beforeAll(async () => {
    // GIVEN a test authority and a certificate it signed for DNS name localhost only
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-s3-tls-'));
    const at = (f: string) => path.join(dir, f);
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '1', '-subj', '/CN=mlops-constructs test CA');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('store.key'), '-out', at('store.csr'), '-subj', '/CN=localhost');
    fs.writeFileSync(at('san.ext'), 'subjectAltName=DNS:localhost\n');
    openssl('x509', '-req', '-in', at('store.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('store.pem'), '-days', '1', '-extfile', at('san.ext'));
    // AND an https store on loopback that answers every PUT with 200
    server = https.createServer({ key: fs.readFileSync(at('store.key')), cert: fs.readFileSync(at('store.pem')) }, (req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, host: req.headers.host, servername: (req.socket as TLSSocket).servername, remotePort: req.socket.remotePort });
        res.writeHead(200, { 'content-length': '0' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await closeServer(server);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen.length = 0;
  });

  /** The PutResults of `count` PUTs to `endpoint` from a process trusting `ca` (a PEM file) besides the system's authorities. */
  const putFrom = (endpoint: string, count: number, ca?: string): Promise<any[]> => new Promise((resolve, reject) => {
    execFile(process.execPath, ['-r', 'ts-node/register/transpile-only', PROGRAM, endpoint, String(count)], {
      env: { PATH: process.env.PATH, ...(ca ? { NODE_EXTRA_CA_CERTS: ca } : {}) }, timeout: 60_000,
    }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${PROGRAM} failed: ${err.message}\n${stderr}`));
      else resolve(stdout.trim().split('\n').map((line) => JSON.parse(line)));
    });
  });

  test('stores over a verified TLS connection, sending the host name, and keeps one connection for consecutive PUTs', async () => {
    const results = await putFrom(`https://localhost:${port}`, 2, path.join(dir, 'ca.pem'));
    expect(results).toEqual([{ ok: true, status: 200, retryable: false }, { ok: true, status: 200, retryable: false }]);
    expect(seen.map((s) => [s.method, s.url, s.host, s.servername])).toEqual([
      ['PUT', '/ml-logs/tls/object-0.jsonl.gz', `localhost:${port}`, 'localhost'],
      ['PUT', '/ml-logs/tls/object-1.jsonl.gz', `localhost:${port}`, 'localhost'],
    ]);
    expect(seen[1].remotePort).toBe(seen[0].remotePort);
  });

  test('fails without sending anything when the store\'s authority is not trusted', async () => {
    const [result] = await putFrom(`https://localhost:${port}`, 1);
    expect(result).toEqual(expect.objectContaining({ ok: false, error: expect.stringMatching(/self[- ]signed certificate in certificate chain|unable to (get local issuer|verify)/i) }));
    expect(seen).toEqual([]);
  });

  test('fails without sending anything when the certificate does not name the host it was reached by', async () => {
    const [result] = await putFrom(`https://127.0.0.1:${port}`, 1, path.join(dir, 'ca.pem'));
    expect(result).toEqual(expect.objectContaining({ ok: false, error: expect.stringMatching(/IP: 127\.0\.0\.1 is not in the cert's list|altnames/i) }));
    expect(seen).toEqual([]);
  });
});
