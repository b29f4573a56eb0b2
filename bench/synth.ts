// `npm run bench:synth`: time and peak memory to synthesize N ModelServices, against a
// baseline of N plain cdk8s-plus Deployment+Service pairs built by this same script.
// Each measurement runs in a fresh child process (forked from this file), so peak RSS
// belongs to that case alone; the median of REPEATS runs is reported.
import { fork } from 'child_process';
import { App, Chart, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Cpu, ModelRegistryRef, ModelService, Monitoring, ServingRuntime } from '../src';

const SIZES = [10, 100, 500];
const REPEATS = 3;

interface Sample { readonly ms: number; readonly maxRssMiB: number; readonly objects: number; readonly yamlBytes: number }

function buildModelServices(chart: Chart, n: number): void {
  const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
  for (let i = 0; i < n; i++) {
    new ModelService(chart, `model-${i}`, {
      runtime: ServingRuntime.mlflow({ model: registry.model(`model-${i}`, { alias: 'champion' }) }),
      replicas: 2,
      maxReplicas: 6,
      cpuRequest: Cpu.cores(1),
      memoryRequest: Size.gibibytes(2),
    });
  }
}

function buildBaseline(chart: Chart, n: number): void {
  for (let i = 0; i < n; i++) {
    const deployment = new kplus.Deployment(chart, `model-${i}`, {
      metadata: { name: `model-${i}` },
      replicas: 2,
      containers: [{
        image: 'ghcr.io/mlflow/mlflow:v3.17.2-full',
        command: ['mlflow', 'models', 'serve'],
        args: ['--model-uri', `models:/model-${i}@champion`, '--env-manager', 'local', '-h', '0.0.0.0', '--port', '8080'],
        portNumber: 8080,
        envVariables: { MLFLOW_TRACKING_URI: kplus.EnvValue.fromValue('http://mlflow.mlops.svc.cluster.local:5000') },
      }],
    });
    deployment.exposeViaService({ name: `model-${i}`, ports: [{ port: 80, targetPort: 8080 }] });
  }
}

function runCase(kind: string, n: number): Sample {
  const started = process.hrtime.bigint();
  const app = new App({ outdir: '/tmp/mlops-bench-unused' });
  const chart = new Chart(app, 'bench', { namespace: 'mlops', disableResourceNameHashes: true });
  Monitoring.configure(chart, { serviceMonitorLabels: { release: 'kube-prometheus-stack' } });
  if (kind === 'modelservice') buildModelServices(chart, n);
  else buildBaseline(chart, n);
  // Synthesis to YAML text, as `cdk8s synth` does, without touching the disk.
  const yaml = app.synthYaml();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ms, maxRssMiB: process.resourceUsage().maxRSS / 1024, objects: chart.toJson().length, yamlBytes: Buffer.byteLength(yaml) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function measure(kind: string, n: number): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--child', kind, String(n)], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: Sample | undefined;
    child.on('message', (m) => { result = m as Sample; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`bench child ${kind} n=${n} exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const rows: string[][] = [['n', 'baseline ms', 'ModelService ms', 'time ratio', 'baseline peak RSS MiB', 'ModelService peak RSS MiB', 'RSS ratio', 'objects (base/ms)']];
  for (const n of SIZES) {
    const base: Sample[] = [];
    const ours: Sample[] = [];
    for (let r = 0; r < REPEATS; r++) {
      // Interleaved so machine noise hits both alike.
      base.push(await measure('baseline', n));
      ours.push(await measure('modelservice', n));
    }
    const bMs = median(base.map((s) => s.ms));
    const oMs = median(ours.map((s) => s.ms));
    const bRss = median(base.map((s) => s.maxRssMiB));
    const oRss = median(ours.map((s) => s.maxRssMiB));
    rows.push([String(n), bMs.toFixed(0), oMs.toFixed(0), (oMs / bMs).toFixed(2), bRss.toFixed(0), oRss.toFixed(0), (oRss / bRss).toFixed(2), `${base[0].objects}/${ours[0].objects}`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padStart(widths[i])).join('  '));
  console.log(`median of ${REPEATS} runs per cell, each in a fresh Node ${process.version} process; ModelService synthesizes a Deployment with the proxy sidecar, Service, HPA, PDB, ServiceMonitor and proxy ConfigMap per model, the baseline a cdk8s-plus Deployment and Service`);
}

if (process.argv[2] === '--child') {
  const sample = runCase(process.argv[3], Number(process.argv[4]));
  process.send!(sample, () => process.exit(0));
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
