import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { send, unusedPort, waitFor } from './http-helpers';

/** Debian's prometheus-pushgateway, installed by scripts/setup-debian.sh. */
export const PUSHGATEWAY_BINARY = '/usr/bin/prometheus-pushgateway';

/** A real Pushgateway on a loopback port. */
export interface Pushgateway {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts the real Pushgateway on a free loopback port and waits until it is ready. `args`
 * gets that port and returns the command line (default: no persistence, warnings only).
 */
export async function startPushgateway(
  args: (port: number) => string[] = (port) => [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', '--log.level=warn'],
): Promise<Pushgateway> {
  if (!fs.existsSync(PUSHGATEWAY_BINARY)) {
    throw new Error(`${PUSHGATEWAY_BINARY} is missing: this test runs the real Pushgateway; install it with scripts/setup-debian.sh`);
  }
  const port = await unusedPort();
  const child: ChildProcess = spawn(PUSHGATEWAY_BINARY, args(port), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    await waitFor('the Pushgateway to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus-pushgateway exited ${child.exitCode}: ${stderr}`);
      return (await send(port, '/-/ready').catch(() => ({ status: 0 }))).status === 200;
    }, 15_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${port}`, port, stop };
}
