/**
 * Real Prometheus, Alertmanager and Pushgateway (Debian packages, scripts/setup-debian.sh)
 * configured from SYNTHESIZED objects, for the alerting rehearsal.
 *
 * What differs from a cluster with kube-prometheus-stack, on purpose and only here:
 * - Scrape jobs. The Prometheus Operator turns a ServiceMonitor into a kubernetes_sd job
 *   that finds the Service's endpoints. Here each ServiceMonitor endpoint becomes a job with
 *   a static loopback target (the port the test started the program on) carrying the
 *   target labels the operator adds (`namespace`, `service`, `pod`, `container`,
 *   `endpoint`, and `job` = the Service name); then the ServiceMonitor's own `relabelings`,
 *   `metricRelabelings`, `path` and `honorLabels` apply unchanged.
 * - Intervals. `scrape_interval` and `evaluation_interval` are 1 s instead of the
 *   ServiceMonitor's interval and Prometheus's default, so the test takes seconds, not
 *   minutes. Rate windows ([5m], [1h]) in the rules are NOT changed.
 * - `for:`. Every rule's `for` is divided by FOR_DIVISOR (60): 10m -> 10s, 5m -> 5s, 2h -> 2m.
 *   That is the only change to the synthesized rules (see `rehearsalRuleFile`).
 * - Alertmanager. The stack's Alertmanager routing is not part of this library; here one
 *   route sends every alert, grouped by all labels, to a webhook the test listens on, with
 *   group_wait and group_interval 1 s.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { Program, Rehearsal, freePort, waitReady } from './programs';

/** Rule `for:` durations are divided by this in the rehearsal (and only that changes). */
export const FOR_DIVISOR = 60;
/** Scrape and rule evaluation interval of the rehearsal Prometheus. */
export const REHEARSAL_INTERVAL = '1s';

/** Where a ServiceMonitor endpoint's target runs on this machine, and the pod it stands for. */
export interface LocalTarget {
  /** The Service the ServiceMonitor selects (its name becomes `job`). */
  readonly service: string;
  /** `127.0.0.1:<port>` of the program that serves this endpoint's port. */
  readonly address: string;
  /** Name of the pod it stands for (`pod` target label). */
  readonly pod: string;
  /** Container that owns the port (`container` target label). */
  readonly container: string;
}

const RELABEL_FIELDS: Record<string, string> = {
  sourceLabels: 'source_labels', separator: 'separator', targetLabel: 'target_label', regex: 'regex',
  modulus: 'modulus', replacement: 'replacement', action: 'action',
};

function relabelConfig(rule: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rule)) {
    const name = RELABEL_FIELDS[key];
    if (name === undefined) throw new Error(`relabeling field ${key} has no translation in the rehearsal harness`);
    out[name] = key === 'action' ? String(value).toLowerCase() : value;
  }
  return out;
}

/**
 * The scrape jobs the Prometheus Operator would generate for a synthesized ServiceMonitor,
 * with a static loopback target instead of service discovery (see the file comment).
 */
export function scrapeJobs(serviceMonitor: any, target: LocalTarget): Record<string, unknown>[] {
  const { namespace, name } = serviceMonitor.metadata;
  return (serviceMonitor.spec.endpoints as any[]).map((endpoint, i) => {
    if (endpoint.port === undefined) throw new Error(`ServiceMonitor ${namespace}/${name} endpoint ${i} has no port name; the harness maps named ports only`);
    return {
      job_name: `serviceMonitor/${namespace}/${name}/${i}`,
      honor_labels: endpoint.honorLabels ?? false,
      scrape_interval: REHEARSAL_INTERVAL,
      scrape_timeout: REHEARSAL_INTERVAL,
      metrics_path: endpoint.path ?? '/metrics',
      scheme: endpoint.scheme ?? 'http',
      static_configs: [{
        targets: [target.address],
        labels: { namespace, service: target.service, pod: target.pod, container: target.container, endpoint: endpoint.port },
      }],
      relabel_configs: [
        // The operator's job label: the Service name (no jobLabel in these ServiceMonitors).
        { target_label: 'job', replacement: target.service, action: 'replace' },
        ...((endpoint.relabelings ?? []) as Record<string, unknown>[]).map(relabelConfig),
      ],
      metric_relabel_configs: ((endpoint.metricRelabelings ?? []) as Record<string, unknown>[]).map(relabelConfig),
    };
  });
}

/** Seconds of a Prometheus duration such as `10m`, `1h30m`, `90s`. */
export function durationSeconds(duration: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  let total = 0;
  const re = /(\d+)(ms|s|m|h|d|w|y)/g;
  let consumed = '';
  for (let m = re.exec(duration); m !== null; m = re.exec(duration)) {
    total += Number(m[1]) * units[m[2]];
    consumed += m[0];
  }
  if (consumed !== duration) throw new Error(`"${duration}" is not a Prometheus duration`);
  return total;
}

/**
 * A synthesized PrometheusRule as a rule file, with every `for:` divided by FOR_DIVISOR
 * (at least 1 s). Nothing else changes: names, expressions, labels and annotations are the
 * synthesized ones.
 */
export function rehearsalRuleFile(prometheusRule: any): { groups: any[] } {
  return {
    groups: (prometheusRule.spec.groups as any[]).map((group) => ({
      ...group,
      rules: (group.rules as any[]).map((rule) => rule.for === undefined ? rule : {
        ...rule,
        for: `${Math.max(1, Math.round(durationSeconds(rule.for) / FOR_DIVISOR))}s`,
      }),
    })),
  };
}

/** One alert as Alertmanager's webhook delivers it. */
export interface ReceivedAlert {
  readonly status: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly startsAt: string;
  /** When the webhook received it (ms since the epoch). */
  readonly receivedAt: number;
}

/** An HTTP server standing for the team's paging endpoint: keeps every alert Alertmanager posts. */
export async function startAlertSink(rehearsal: Rehearsal): Promise<{ url: string; alerts: ReceivedAlert[] }> {
  const sink = await listenAlertSink();
  rehearsal.onClose(() => sink.close());
  return { url: `http://127.0.0.1:${sink.port}/alerts`, alerts: sink.alerts };
}

/** The paging endpoint on the machine's loopback (an ephemeral port): keeps every alert posted to it; close() it. */
export async function listenAlertSink(): Promise<{ port: number; alerts: ReceivedAlert[]; close(): Promise<void> }> {
  const alerts: ReceivedAlert[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
      for (const alert of body.alerts ?? []) alerts.push({ ...alert, receivedAt: Date.now() });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { port, alerts, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export interface MonitoringStack {
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  readonly prometheus: Program;
  readonly alertmanager: Program;
  /** An instant query; the result vector. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** A range query over [start, end] at 1 s steps; the result matrix. */
  queryRange(promql: string, start: number, end: number): Promise<Array<{ metric: Record<string, string>; values: Array<[number, string]> }>>;
  /** Rules as Prometheus loaded and evaluates them (`/api/v1/rules`). */
  rules(): Promise<any[]>;
}

/** Starts Alertmanager (webhook to `sinkUrl`) and Prometheus with these scrape jobs and rule files. */
export async function startMonitoring(rehearsal: Rehearsal, options: {
  scrapeJobs: Record<string, unknown>[];
  rules: any[];
  sinkUrl: string;
}): Promise<MonitoringStack> {
  const amPort = await freePort();
  const amDir = path.join(rehearsal.dir, 'alertmanager');
  fs.mkdirSync(amDir);
  fs.writeFileSync(path.join(amDir, 'alertmanager.yml'), yaml.dump({
    route: {
      receiver: 'webhook',
      group_by: ['...'],
      group_wait: '1s',
      group_interval: '1s',
      repeat_interval: '1h',
    },
    receivers: [{ name: 'webhook', webhook_configs: [{ url: options.sinkUrl, send_resolved: false }] }],
  }));
  const alertmanager = rehearsal.start('alertmanager', 'prometheus-alertmanager', [
    `--config.file=${path.join(amDir, 'alertmanager.yml')}`,
    `--storage.path=${path.join(amDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${amPort}`,
    '--cluster.listen-address=', // no HA mesh: a single instance
  ]);
  const alertmanagerUrl = `http://127.0.0.1:${amPort}`;

  const promPort = await freePort();
  const promDir = path.join(rehearsal.dir, 'prometheus');
  fs.mkdirSync(path.join(promDir, 'rules'), { recursive: true });
  const ruleFiles = options.rules.map((rule) => {
    const file = path.join(promDir, 'rules', `${rule.metadata.namespace}-${rule.metadata.name}.yaml`);
    fs.writeFileSync(file, yaml.dump(rehearsalRuleFile(rule), { lineWidth: -1 }));
    return file;
  });
  fs.writeFileSync(path.join(promDir, 'prometheus.yml'), yaml.dump({
    global: { scrape_interval: REHEARSAL_INTERVAL, evaluation_interval: REHEARSAL_INTERVAL },
    rule_files: ruleFiles,
    alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
    scrape_configs: options.scrapeJobs,
  }, { lineWidth: -1 }));
  const prometheus = rehearsal.start('prometheus', 'prometheus', [
    `--config.file=${path.join(promDir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(promDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  const prometheusUrl = `http://127.0.0.1:${promPort}`;
  await Promise.all([waitReady(alertmanager, `${alertmanagerUrl}/-/ready`), waitReady(prometheus, `${prometheusUrl}/-/ready`)]);

  const api = async (pathAndQuery: string) => {
    const res = await fetch(`${prometheusUrl}${pathAndQuery}`, { signal: AbortSignal.timeout(5000) });
    const body = await res.json() as { status: string; data: any; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${pathAndQuery}: ${body.error}`);
    return body.data;
  };
  return {
    prometheusUrl,
    alertmanagerUrl,
    prometheus,
    alertmanager,
    query: async (promql) => (await api(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    queryRange: async (promql, start, end) => (await api(`/api/v1/query_range?query=${encodeURIComponent(promql)}&start=${start}&end=${end}&step=1`)).result,
    rules: async () => (await api('/api/v1/rules')).groups,
  };
}

/** Starts a Pushgateway on a free loopback port; returns its address. */
export async function startPushgateway(rehearsal: Rehearsal): Promise<{ url: string; address: string; program: Program }> {
  const port = await freePort();
  const program = rehearsal.start('pushgateway', 'prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${port}`]);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(program, `${url}/-/ready`);
  return { url, address: `127.0.0.1:${port}`, program };
}
