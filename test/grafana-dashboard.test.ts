import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import * as ts from 'typescript';
import { ReferenceStack } from '../examples/reference-stack';
import { DRIFT_METRICS, INFERENCE_LOG_METRICS, ModelDashboard, ModelService, PrometheusAlerts, SERVING_METRICS, ServingRuntime, SHADOW_METRICS } from '../src';
import { newChart, only, synth } from './support/synth-helpers';

const ROOT = path.join(__dirname, '..');

/** The dashboards (parsed JSON) of a synthesized stack. */
function dashboardsOf(objects: any[]): any[] {
  return objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1').map((c) => JSON.parse(Object.values<string>(c.data)[0]));
}

/** The reference stack (examples/) and a stack with the other service shapes: its own metrics, none at all. */
function stacks(): Array<{ name: string; objects: any[]; constructs: ModelDashboard[] }> {
  const reference = new ReferenceStack(Testing.app(), 'mlops');
  const chart = newChart('serving');
  const ranker = new ModelService(chart, 'ranker', {
    runtime: ServingRuntime.custom({
      image: 'registry.example.com/ml/ranker:2.3.1', port: 8000,
      metrics: { requestsTotal: 'http_requests_total', durationHistogram: 'http_request_duration_seconds' },
    }),
    metricsProxy: false,
    errorRateObjective: 0.01,
  });
  const alerts = new PrometheusAlerts(chart, 'alerts', {
    modelServices: [ranker, { name: 'batch', namespace: 'serving', modelName: 'batch', exportsServingMetrics: false }],
  });
  return [
    { name: 'the reference stack', objects: Testing.synth(reference), constructs: reference.alerts.dashboards },
    { name: 'a stack with its own metrics and none', objects: synth(chart), constructs: alerts.dashboards },
  ];
}

/** Every query of a dashboard: panel title and expression. */
function queries(dashboard: any): Array<{ panel: string; expr: string }> {
  return dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => ({ panel: p.title, expr: t.expr })));
}

/**
 * Series of kube-state-metrics (part of kube-prometheus-stack, which the README requires) that
 * the Replicas panel reads; ModelReplicasUnavailable reads the same exporter.
 */
const KUBE_STATE_METRICS = ['kube_deployment_status_replicas_available', 'kube_deployment_status_replicas_unavailable', 'kube_deployment_spec_replicas'];

/** Grafana's range-interval macro, as Prometheus would see it once Grafana has filled it in. */
const GRAFANA_MACROS: Record<string, string> = { $__rate_interval: '5m' };

/** Metric names a PromQL expression selects (after promtool has parsed it: no need for a full parser). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  return [...bare.matchAll(/(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()/g)].map((m) => m[1]).filter((name) => !keywords.has(name.toLowerCase()));
}

function promtool(args: string[], cwd: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`promtool could not run (${run.error.message}); install it with "bash scripts/setup-debian.sh"`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/**
 * The SDK's types as the JSON wire format has them: string enums become their values, the
 * SDK's marker methods (`_implementsDataqueryVariant`) and `any` have no JSON counterpart.
 */
const WIRE_TYPES = `
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

type Method = (...args: never[]) => unknown;
type Wire<T> = 0 extends 1 & T ? unknown
  : T extends Method ? never
  : T extends string ? \`\${T}\`
  : T extends number | boolean | null | undefined ? T
  : T extends readonly (infer U)[] ? Wire<U>[]
  : { [K in keyof T as T[K] extends Method ? never : K]: Wire<T[K]> };

/** A time series panel with its plugin's options and field config and Prometheus queries, where dashboard.Panel has any. */
type TimeseriesPanel = Omit<dashboard.Panel, 'type' | 'targets' | 'options' | 'fieldConfig'> & {
  type: 'timeseries';
  targets?: prometheus.Dataquery[];
  options?: timeseries.Options;
  fieldConfig?: Omit<dashboard.FieldConfigSource, 'defaults'> & { defaults: Omit<dashboard.FieldConfig, 'custom'> & { custom?: timeseries.FieldConfig } };
};
export type Model = Wire<Omit<dashboard.Dashboard, 'panels'> & { panels?: (dashboard.RowPanel | TimeseriesPanel)[] }>;
export type { common };
`;

/**
 * Type-checks each JSON text as the SDK's Dashboard type with the TypeScript compiler and the
 * library's own tsconfig (so the SDK resolves as the build resolves it). Object literals get
 * excess-property checks, so a field the SDK does not declare is an error, as is a value
 * outside an enum. Returns the diagnostics per JSON text.
 */
function typeCheck(jsons: string[]): string[][] {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), { noEmit: true }, {
    ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); },
  });
  if (!config) throw new Error('tsconfig.json did not parse');
  // Virtual files next to the tests, so node_modules resolves as for any test file.
  const files = new Map<string, string>([[path.join(ROOT, 'test', '__wire-types.ts'), WIRE_TYPES]]);
  jsons.forEach((json, i) => files.set(path.join(ROOT, 'test', `__dashboard-${i}.ts`), `import { Model } from './__wire-types';\nexport const model: Model = ${json};\n`));
  const host = ts.createCompilerHost(config.options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(path.resolve(f)) || fileExists.call(host, f);
  host.readFile = (f) => files.get(path.resolve(f)) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) => {
    const text = files.get(path.resolve(f));
    return text === undefined ? getSourceFile.call(host, f, language, ...rest) : ts.createSourceFile(f, text, language);
  };
  const program = ts.createProgram([...files.keys()], { ...config.options, rootDir: ROOT, noEmit: true, noUnusedLocals: false }, host);
  const format = (d: ts.Diagnostic) => ts.flattenDiagnosticMessageText(d.messageText, '\n');
  const global = [...program.getGlobalDiagnostics(), ...program.getOptionsDiagnostics()].map(format);
  if (global.length > 0) throw new Error(`the type check could not run: ${global.join('; ')}`);
  const wireProblems = ts.getPreEmitDiagnostics(program, program.getSourceFile(path.join(ROOT, 'test', '__wire-types.ts'))).map(format);
  if (wireProblems.length > 0) throw new Error(`the wire types do not compile against the SDK: ${wireProblems.join('; ')}`);
  return jsons.map((_, i) => ts.getPreEmitDiagnostics(program, program.getSourceFile(path.join(ROOT, 'test', `__dashboard-${i}.ts`))).map(format));
}

/** A copy without the SDK's function-valued variant markers, which JSON cannot carry and Grafana does not read. */
function withoutFunctions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutFunctions);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v !== 'function').map(([k, v]) => [k, withoutFunctions(v)]));
}

describe('ModelDashboard', () => {
  test('round-trips through the SDK\'s types without loss', () => {
    // GIVEN every dashboard of the reference stack and of a stack with the other service shapes
    const built = stacks().flatMap(({ objects, constructs }) => constructs.map((construct) => ({
      construct,
      text: Object.values<string>(only(objects, 'ConfigMap', construct.name).data)[0],
    })));
    expect(built.length).toBe(3);
    // WHEN the ConfigMap JSON is parsed back
    const parsed = built.map(({ text }) => JSON.parse(text));
    // THEN it is exactly what the SDK's builders built (nothing undefined, non-finite or class-only lost on the way) ...
    expect(parsed).toStrictEqual(built.map(({ construct }) => withoutFunctions(construct.dashboard)));
    // ... and type-checks as the SDK's Dashboard, with no field the SDK does not declare
    expect(typeCheck(built.map(({ text }) => text))).toEqual(built.map(() => []));
  });

  test('fails the SDK type check on a field Grafana\'s schema does not have, or a value outside its enum', () => {
    // GIVEN the reference dashboard with an unknown field in a panel and a legend mode Grafana does not know
    const dashboards = dashboardsOf(stacks()[0].objects);
    const broken = structuredClone(dashboards[0]);
    const panel = broken.panels.find((p: any) => p.type === 'timeseries');
    panel.fieldConfig.defaults.colour = 'red';
    panel.options.legend.displayMode = 'grid';
    broken.templating.list[0].hide = 7;
    // WHEN
    const [problems] = typeCheck([JSON.stringify(broken)]);
    // THEN the check names each
    expect(problems.join('\n')).toMatch(/'"colour"' does not exist/);
    expect(problems.join('\n')).toMatch(/"grid"/);
    expect(problems.join('\n')).toMatch(/Type '7' is not assignable/);
  });

  test.each(stacks().map((stack) => [stack.name, stack.objects] as const))('every panel query of %s parses with promtool and reads only metrics the stack exports', (_name, objects) => {
    // GIVEN the dashboards, with Grafana's macros filled in as Grafana would
    const dashboards = dashboardsOf(objects);
    expect(dashboards.length).toBeGreaterThan(0);
    const all = dashboards.flatMap((d) => queries(d).map((q) => ({ ...q, dashboard: d.uid as string })));
    const exprs = all.map(({ expr }) => expr.replace(/\$__\w+/g, (macro) => GRAFANA_MACROS[macro] ?? macro));
    for (const expr of exprs) expect(expr).not.toContain('$');
    // WHEN promtool parses each as a recording rule
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-dashboard-queries-'));
    try {
      const file = path.join(dir, 'dashboard-queries.yaml');
      fs.writeFileSync(file, yaml.dump({ groups: [{ name: 'dashboard-queries', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] }, { lineWidth: -1 }));
      const { status, output } = promtool(['check', 'rules', file], dir);
      // THEN every query parses ...
      expect(output).toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // ... and selects only contract metrics, or the kube-state-metrics series of the Deployment
    const exported = new Set<string>([
      ...Object.values(SERVING_METRICS), `${SERVING_METRICS.requestDurationSeconds}_bucket`, ...Object.values(DRIFT_METRICS), ...KUBE_STATE_METRICS,
      ...Object.values(INFERENCE_LOG_METRICS), ...Object.values(SHADOW_METRICS),
    ]);
    const foreign = all.flatMap(({ dashboard, panel }, i) => metricNames(exprs[i]).filter((m) => !exported.has(m)).map((m) => `${dashboard} "${panel}": ${m}`));
    expect(foreign).toEqual([]);
    expect(all.flatMap((_, i) => metricNames(exprs[i])).length).toBeGreaterThan(0);
  });
});
