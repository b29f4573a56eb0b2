#!/usr/bin/env node
// Runs as root inside the rehearsal's "node" network namespace (see cluster.ts) and plays two
// parts:
//  - kube-proxy: for every Service port it listens on <clusterIP>:<port> and forwards each
//    connection to a ready endpoint <podIP>:<targetPort>, round robin. Endpoints are re-read
//    from a JSON file on every connection, so the harness adds and removes pods by rewriting it
//    (atomically). No ready endpoint: the connection is closed at once (kube-proxy rejects it).
//  - gateway: the test process lives outside the namespace; it connects to a Unix socket
//    (a file, so reachable from any namespace), writes "host:port\n" and gets a byte pipe to
//    that address as seen from inside, names resolved through the namespace's /etc/hosts.
// Without `services` in the config (the node agent's mode, test/node/), the Services are the
// keys of the endpoints file: listeners are opened and closed as keys come and go (the file is
// polled every 200 ms), an empty list meaning a Service without ready endpoints.
// Usage: node kube-proxy.js <config.json>; prints "ready" once every listener is bound.
'use strict';

const fs = require('node:fs');
const net = require('node:net');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

function endpointsOf(key) {
  try {
    return JSON.parse(fs.readFileSync(config.endpointsFile, 'utf8'))[key] || [];
  } catch {
    return [];
  }
}

function pipe(a, b) {
  a.pipe(b);
  b.pipe(a);
  const close = () => { a.destroy(); b.destroy(); };
  a.on('error', close);
  b.on('error', close);
  a.on('close', () => b.end());
  b.on('close', () => a.end());
}

const next = new Map();
const listening = [];
const listeners = new Map();

function listen(svc) {
  const key = `${svc.ip}:${svc.port}`;
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const endpoints = endpointsOf(key);
    if (endpoints.length === 0) {
      client.destroy();
      return;
    }
    const i = (next.get(key) || 0) % endpoints.length;
    next.set(key, i + 1);
    const upstream = net.connect({ host: endpoints[i].ip, port: endpoints[i].port, allowHalfOpen: true });
    pipe(client, upstream);
  });
  listeners.set(key, server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(svc.port, svc.ip, resolve);
  });
}

if (config.services) {
  for (const svc of config.services) listening.push(listen(svc));
} else {
  const sync = () => {
    let keys;
    try {
      keys = Object.keys(JSON.parse(fs.readFileSync(config.endpointsFile, 'utf8')));
    } catch {
      return;
    }
    for (const key of keys) {
      if (listeners.has(key)) continue;
      const colon = key.lastIndexOf(':');
      listen({ ip: key.slice(0, colon), port: Number(key.slice(colon + 1)) }).then(
        () => process.stdout.write(`listening ${key}\n`),
        (err) => {
          listeners.delete(key);
          process.stderr.write(`kube-proxy: ${key}: ${err.message}\n`);
        },
      );
    }
    for (const [key, server] of listeners) {
      if (!keys.includes(key)) {
        listeners.delete(key);
        server.close();
      }
    }
  };
  sync();
  setInterval(sync, 200);
}

const gateway = net.createServer({ allowHalfOpen: true }, (client) => {
  let head = Buffer.alloc(0);
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl < 0) {
      if (head.length > 1024) client.destroy();
      return;
    }
    client.off('data', onData);
    client.pause();
    const target = head.subarray(0, nl).toString('utf8').trim();
    const rest = head.subarray(nl + 1);
    const colon = target.lastIndexOf(':');
    const host = target.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(target.slice(colon + 1));
    const upstream = net.connect({ host, port, allowHalfOpen: true });
    upstream.on('error', () => client.destroy());
    upstream.once('connect', () => {
      if (rest.length > 0) upstream.write(rest);
      pipe(client, upstream);
      client.resume();
    });
  };
  client.on('data', onData);
  client.on('error', () => client.destroy());
});
try { fs.unlinkSync(config.gatewaySocket); } catch { /* not there */ }
listening.push(new Promise((resolve, reject) => {
  gateway.once('error', reject);
  gateway.listen(config.gatewaySocket, resolve);
}));

Promise.all(listening).then(
  () => process.stdout.write('ready\n'),
  (err) => {
    process.stderr.write(`kube-proxy: ${err.message}\n`);
    process.exit(1);
  },
);
process.on('SIGTERM', () => process.exit(0));
