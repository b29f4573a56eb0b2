// prometheus-operator v0.93.0 (built by scripts/setup-kubernetes.sh from its Go module) on the
// real control plane, watching the reference stack's namespace: a Prometheus resource that
// selects by the stack's `release` label turns the synthesized ServiceMonitors and
// PrometheusRules into a real scrape and rule configuration, and promtool accepts the rules
// the operator wrote.
//
// What differs from a cluster: the operator runs as a process beside the control plane, with
// the test's admin certificate instead of its chart's ServiceAccount and RBAC. The Prometheus
// StatefulSet it creates is not run here: this test reads the generated configuration Secret
// and rules ConfigMaps. The end-to-end test (reference-stack.test.ts, with monitoring.ts) runs
// Prometheus from that Secret on the node and follows an alert to a webhook.
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { parse } from 'yaml';
import { ALERT_NAMES } from '../../src/contract';
import { cacheDir } from '../controlplane/binaries';
import { ControlPlane, startControlPlane, waitFor } from '../controlplane/cluster';
import { SynthesizedStack, applyStrict, cdk8sSynth, createRestrictedNamespace, installCrds } from '../controlplane/stack-checks';

const VERSION = 'v0.93.0';
const NS = 'mlops';
const OPERATOR = path.join(cacheDir(), `prometheus-operator-${VERSION}`, 'bin', 'operator');

describe('prometheus-operator turns the reference stack\'s ServiceMonitors and PrometheusRules into Prometheus configuration', () => {
  let cp: ControlPlane;
  let synth: SynthesizedStack;
  let operator: ChildProcess;
  let operatorLog = '';
  let work: string;

  beforeAll(async () => {
    if (!fs.existsSync(OPERATOR)) throw new Error(`${OPERATOR} is missing; run bash scripts/setup-kubernetes.sh`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-promop-'));
    cp = await startControlPlane({ name: 'mlops-promop' });
    await installCrds(cp);
    await createRestrictedNamespace(cp, NS);
    synth = await cdk8sSynth();
    const applied = await applyStrict(cp, synth.files);
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    const pki = path.join(cp.dir, 'pki');
    operator = spawn(OPERATOR, [
      `--apiserver=${cp.server}`, `--ca-file=${path.join(pki, 'ca.crt')}`, `--cert-file=${path.join(pki, 'admin.crt')}`, `--key-file=${path.join(pki, 'admin.key')}`,
      `--namespaces=${NS}`, '--web.listen-address=127.0.0.1:0', '--log-level=info',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (b: Buffer) => { operatorLog += b.toString('utf8'); };
    operator.stdout!.on('data', collect);
    operator.stderr!.on('data', collect);
  });

  afterAll(async () => {
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator.once('exit', r));
      operator.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
      operator.kill('SIGKILL');
    }
    await cp?.stop();
    if (synth) fs.rmSync(synth.dir, { recursive: true, force: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('a Prometheus selecting release=kube-prometheus-stack gets a scrape job per ServiceMonitor endpoint and every rule of the stack', async () => {
    // GIVEN the applied reference stack and a Prometheus resource selecting its release label
    const prometheus = {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'Prometheus', metadata: { name: 'mlops', namespace: NS },
      spec: {
        replicas: 1,
        serviceMonitorSelector: { matchLabels: { release: 'kube-prometheus-stack' } },
        ruleSelector: { matchLabels: { release: 'kube-prometheus-stack' } },
        securityContext: { runAsNonRoot: true, runAsUser: 65534, fsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
      },
    };
    await cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(prometheus) });

    // WHEN the operator has reconciled it
    let config: any;
    await waitFor(async () => {
      if (operator.exitCode !== null) throw new Error(`operator exited ${operator.exitCode}:\n${operatorLog.slice(-3000)}`);
      const secret = await cp.kubectl(['get', 'secret', 'prometheus-mlops', '-n', NS, '-o', 'json']);
      if (secret.code !== 0) return false;
      const gz = JSON.parse(secret.stdout).data?.['prometheus.yaml.gz'];
      if (!gz) return false;
      config = parse(zlib.gunzipSync(Buffer.from(gz, 'base64')).toString('utf8'));
      return (config.scrape_configs ?? []).length >= 5;
    }, 120_000, `the operator's configuration Secret prometheus-mlops (operator log: ${operatorLog.slice(-500)})`);

    // THEN there is one scrape job per ServiceMonitor endpoint, discovering the stack's namespace
    const jobs = config.scrape_configs.map((j: any) => j.job_name).sort();
    expect(jobs).toEqual([
      'serviceMonitor/mlops/fraud-detector-shadow/0', 'serviceMonitor/mlops/fraud-detector/0', 'serviceMonitor/mlops/mlflow/0',
      'serviceMonitor/mlops/promotion/0', 'serviceMonitor/mlops/pushgateway/0',
    ]);
    for (const job of config.scrape_configs) {
      expect(job.kubernetes_sd_configs[0]).toMatchObject({ namespaces: { names: [NS] } });
    }
    // AND the fraud-detector job keeps the Service port the ServiceMonitor names (the proxy's metrics port)
    const fraud = config.scrape_configs.find((j: any) => j.job_name === 'serviceMonitor/mlops/fraud-detector/0');
    expect(JSON.stringify(fraud.relabel_configs)).toContain('"regex":"metrics"');
    // AND the rule files are the operator's ConfigMaps, holding every PrometheusRule of the stack
    expect(config.rule_files.every((f: string) => /^\/etc\/prometheus\/rules\/prometheus-mlops-rulefiles-\d+\/\*\.yaml$/.test(f))).toBe(true);
    const ruleMaps = (await cp.getJson(['configmaps', '-n', NS])).items.filter((c: any) => /^prometheus-mlops-rulefiles-\d+$/.test(c.metadata.name));
    expect(ruleMaps.length).toBeGreaterThan(0);
    const data: Record<string, string> = {};
    for (const m of ruleMaps) {
      expect(config.rule_files).toContain(`/etc/prometheus/rules/${m.metadata.name}/*.yaml`);
      Object.assign(data, m.data);
    }
    const rules = { data };
    const files = Object.keys(rules.data).sort();
    expect(files.map((f) => f.replace(/-[0-9a-f-]{36}\.yaml$/, ''))).toEqual(['mlops-fraud-detector-alerts', 'mlops-fraud-detector-drift-alerts', 'mlops-mlflow-alerts', 'mlops-promotion-alerts']);
    for (const f of files) fs.writeFileSync(path.join(work, f), rules.data[f]);
    const checked = execFileSync('promtool', ['check', 'rules', ...files.map((f) => path.join(work, f))], { encoding: 'utf8' });
    expect(checked).not.toMatch(/FAILED/);
    const alerts = new Set(files.flatMap((f) => parse(rules.data[f]).groups.flatMap((g: any) => g.rules.map((r: any) => r.alert)).filter((a: unknown) => a !== undefined)));
    for (const name of ['ModelHighLatency', 'ModelHighErrorRate', 'ModelDriftDetected', 'ModelDriftCheckFailed', 'ModelRegistryDown']) expect(alerts).toContain(name);
    expect([...alerts].every((a) => (ALERT_NAMES as readonly string[]).includes(a))).toBe(true);
    // AND the operator made the StatefulSet that would run Prometheus with this configuration
    const sts = await cp.getJson(['statefulset', 'prometheus-mlops', '-n', NS]);
    expect(sts.spec.template.spec.containers.map((c: any) => c.name)).toEqual(expect.arrayContaining(['prometheus', 'config-reloader']));
  });
});
