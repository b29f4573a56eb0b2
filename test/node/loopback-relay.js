// Runs inside a network namespace (test/node/monitoring.ts starts it there): each
// 127.0.0.1:<port> of the namespace is forwarded to the Unix socket <dir>/<port>.sock, where the
// test process, outside the namespace, dials 127.0.0.1:<port> of the machine. Prints "ready"
// once every port listens.
'use strict';
const net = require('net');
const path = require('path');

const [dir, ...ports] = process.argv.slice(2);
let listening = 0;
for (const port of ports) {
  const server = net.createServer((inbound) => {
    const outbound = net.connect(path.join(dir, `${port}.sock`));
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    const end = () => { inbound.destroy(); outbound.destroy(); };
    for (const s of [inbound, outbound]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  server.listen(Number(port), '127.0.0.1', () => {
    if (++listening === ports.length) process.stdout.write('ready\n');
  });
}
process.on('SIGTERM', () => process.exit(0));
