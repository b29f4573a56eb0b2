// Run as a program by s3-put-tls.test.ts, in a process of its own so that NODE_EXTRA_CA_CERTS
// (read once, at start) decides which certificate authorities it trusts, as in the pod: PUTs
// `count` objects through one s3PutObject (one keep-alive pool) to the endpoint in argv and
// prints each PutResult as a JSON line.
import { s3PutObject } from '../../../src/runtime/metrics-proxy/inference-log/s3-put';

async function main(): Promise<void> {
  const [endpoint, count] = process.argv.slice(2);
  const put = s3PutObject({ endpoint, region: 'us-east-1', accessKeyId: 'tls-test-key', secretAccessKey: 'tls-test-secret' }, 'ml-logs', { timeoutMs: 10_000 });
  for (let i = 0; i < Number(count); i++) {
    process.stdout.write(`${JSON.stringify(await put(`tls/object-${i}.jsonl.gz`, Buffer.from([0x1f, 0x8b, i])))}\n`);
  }
}

void main();
