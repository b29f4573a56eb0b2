import { createHash } from 'crypto';
import { Cron, Duration, Size } from 'cdk8s';
import {
  Cpu, DRIFT_CHECKER_HASH_ANNOTATION, DriftCheckerBundle, DriftData, DriftMonitor, DriftTest, ModelRegistryRef, ModelService, ModelTask,
  MultipleTestingCorrection, Pushgateway, ServingRuntime,
} from '../src';
import { shortestPeriodSeconds } from '../src/constructs/drift/cron-schedule';
import { container, newChart, only, synth } from './support/synth-helpers';
import { redactGenerated, validateManifests } from '../src/testing';

const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');

function modelService(chart: ReturnType<typeof newChart>): ModelService {
  return new ModelService(chart, 'fraud-detector', {
    runtime: ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) }),
  });
}

describe('DriftMonitor', () => {
  test('hourly CronJob running the bundled checker, with a Pushgateway for the chart', () => {
    // GIVEN
    const chart = newChart();
    const service = modelService(chart);
    // WHEN
    const monitor = new DriftMonitor(chart, 'drift', {
      modelService: service,
      reference: DriftData.registryModel(registry.model('fraud-detector', { alias: 'champion' })),
      current: DriftData.uri('s3://lake/fraud/dt={{ds}}/*.parquet'),
      schedule: Cron.hourly(),
    });
    const objects = synth(chart);
    const cronJob = only(objects, 'CronJob');
    const checker = container(cronJob, 'drift-check');
    // THEN
    expect(redactGenerated(objects.filter((o) => !o.metadata.name.startsWith('fraud-detector') || o.kind === 'CronJob' || o.metadata.name === 'mlops-drift-checker'))).toMatchSnapshot();
    expect(cronJob.metadata.name).toBe('fraud-detector-drift');
    expect(cronJob.spec).toMatchObject({
      schedule: '0 * * * *', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 360,
      successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3,
    });
    expect(cronJob.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 3600 });
    expect(checker.command).toEqual(['node', '/opt/mlops/mlops-drift.js']);
    expect(checker.args).toEqual([
      'check', '--reference', 'models:/fraud-detector@champion', '--current', 's3://lake/fraud/dt={{ds}}/*.parquet',
      '--schedule', '0 * * * *', '--time-zone', 'Etc/UTC',
      '--method', 'auto', '--drift-share', '0.5',
      '--pushgateway', 'http://pushgateway.mlops.svc.cluster.local:9091', '--namespace', 'mlops', '--model', 'fraud-detector', '--json',
    ]);
    expect(checker.env).toEqual(expect.arrayContaining([
      { name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow.mlops.svc.cluster.local:5000' },
      { name: 'NODE_OPTIONS', value: '--max-old-space-size=768' },
    ]));
    expect(monitor.schedulePeriod.toSeconds()).toBe(3600);
    expect(monitor.pushgatewayJob).toBe('pushgateway');
    const bundle = only(objects, 'ConfigMap', 'mlops-drift-checker').data['mlops-drift.js'];
    expect(cronJob.spec.jobTemplate.spec.template.metadata.annotations[DRIFT_CHECKER_HASH_ANNOTATION]).toBe(createHash('sha256').update(bundle).digest('hex'));
    expect(Buffer.byteLength(bundle)).toBeLessThan(1024 * 1024);
  });

  test('bad input fails the job at once instead of retrying', () => {
    const chart = newChart();
    new DriftMonitor(chart, 'drift', { modelService: modelService(chart), reference: DriftData.uri('https://data.example.com/ref.csv'), current: DriftData.uri('https://data.example.com/{{ds}}.csv') });
    const job = only(synth(chart), 'CronJob').spec.jobTemplate.spec;
    expect(job.podFailurePolicy.rules[0]).toMatchObject({ action: 'FailJob', onExitCodes: { containerName: 'drift-check', operator: 'In', values: [2] } });
    expect(job.template.spec.restartPolicy).toBe('Never');
  });

  test('current data not there yet (exit 3) is retried within backoffLimit, never failed at once', () => {
    // GIVEN a daily monitor  WHEN synthesized
    const chart = newChart();
    new DriftMonitor(chart, 'drift', {
      modelService: modelService(chart), schedule: Cron.daily(), backoffLimit: 4,
      reference: DriftData.uri('https://data.example.com/ref.csv'), current: DriftData.uri('https://data.example.com/dt={{ds}}/hour={{hour}}.csv'),
    });
    const job = only(synth(chart), 'CronJob').spec.jobTemplate.spec;
    // THEN exit 3 counts against backoffLimit (a retry), and no rule fails the Job on it
    const rules = job.podFailurePolicy.rules as Array<{ action: string; onExitCodes: { values: number[] } }>;
    expect(rules.filter((r) => r.onExitCodes.values.includes(3)).map((r) => r.action)).toEqual(['Count']);
    expect(rules.filter((r) => r.action === 'FailJob').flatMap((r) => r.onExitCodes.values)).toEqual([2]);
    expect(job.backoffLimit).toBe(4);
  });

  test('the checker gets the schedule and time zone, so {{ds}} is the period that has just ended', () => {
    const chart = newChart();
    const monitor = new DriftMonitor(chart, 'drift', {
      modelService: modelService(chart), schedule: Cron.daily(), timeZone: 'Europe/Berlin', dataPeriodsBack: 2,
      reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/dt={{ds}}/c.csv'),
    });
    expect(monitor.checkerArgs.slice(5, 11)).toEqual(['--schedule', '0 0 * * *', '--time-zone', 'Europe/Berlin', '--periods-back', '2']);
    const other = newChart();
    expect(() => new DriftMonitor(other, 'drift', {
      modelService: modelService(other), dataPeriodsBack: -1,
      reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/c.csv'),
    })).toThrow(/dataPeriodsBack/);
  });

  test('one Pushgateway per chart, scraped with honorLabels', () => {
    // GIVEN two monitors in one chart
    const chart = newChart();
    const service = modelService(chart);
    new DriftMonitor(chart, 'a', { modelService: service, name: 'a-drift', reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/c.csv') });
    new DriftMonitor(chart, 'b', { modelService: service, name: 'b-drift', reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/c.csv') });
    // WHEN
    const objects = synth(chart);
    // THEN
    expect(objects.filter((o) => o.kind === 'Deployment' && o.metadata.name === 'pushgateway')).toHaveLength(1);
    expect(only(objects, 'ServiceMonitor', 'pushgateway').spec.endpoints[0]).toMatchObject({ port: 'http', honorLabels: true });
  });

  test('every option lands in the checker arguments, S3 credentials by reference only', () => {
    // GIVEN
    const chart = newChart();
    const monitor = new DriftMonitor(chart, 'drift', {
      modelService: modelService(chart),
      reference: DriftData.uri('s3://lake/fraud/reference.csv'),
      current: DriftData.uri('s3://lake/fraud/dt={{ds}}/part.csv'),
      features: ['amount', 'merchant', 'hour'],
      categoricalFeatures: ['merchant'],
      test: DriftTest.ks(0.01),
      driftShare: 0.3,
      correction: MultipleTestingCorrection.FDR,
      labelColumn: 'is_fraud',
      predictionColumn: 'predicted',
      task: ModelTask.CLASSIFICATION,
      sampleRows: 100000,
      sampleSeed: 7,
      s3EndpointUrl: 'http://minio.storage.svc:9000',
      s3AccessKeyId: { secretName: 'lake-credentials', key: 'access-key' },
      s3SecretAccessKey: { secretName: 'lake-credentials', key: 'secret-key' },
      pushgateway: Pushgateway.fromUrl('http://pushgateway.monitoring.svc:9091'),
      cpuRequest: Cpu.cores(1), cpuLimit: Cpu.cores(2), memory: Size.gibibytes(4),
    });
    const objects = synth(chart);
    const checker = container(only(objects, 'CronJob'), 'drift-check');
    // THEN
    expect(checker.args).toEqual([
      'check', '--reference', 's3://lake/fraud/reference.csv', '--current', 's3://lake/fraud/dt={{ds}}/part.csv',
      '--schedule', '0 * * * *', '--time-zone', 'Etc/UTC',
      '--features', 'amount,merchant,hour', '--categorical', 'merchant', '--method', 'ks', '--threshold', '0.01',
      '--drift-share', '0.3', '--correction', 'fdr', '--label', 'is_fraud', '--prediction', 'predicted', '--task', 'classification',
      '--sample', '100000', '--seed', '7',
      '--pushgateway', 'http://pushgateway.monitoring.svc:9091', '--namespace', 'mlops', '--model', 'fraud-detector', '--json',
    ]);
    expect(checker.env).toEqual(expect.arrayContaining([
      { name: 'AWS_ENDPOINT_URL', value: 'http://minio.storage.svc:9000' },
      { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'lake-credentials', key: 'access-key' } } },
      { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'lake-credentials', key: 'secret-key' } } },
    ]));
    expect(objects.some((o) => o.metadata.name === 'pushgateway')).toBe(false);
    expect(monitor.qualityMetrics).toEqual(['accuracy', 'precision', 'recall', 'f1']);
    expect(monitor.reportsQuality).toBe(true);
    expect(validateManifests(objects, { externalSecrets: ['lake-credentials'] })).toEqual([]);
  });

  test('parallelism: an Indexed Job whose pods split the features by completion index', () => {
    const chart = newChart();
    new DriftMonitor(chart, 'drift', {
      modelService: modelService(chart), parallelism: 3, features: ['a', 'b', 'c', 'd'],
      reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/c.csv'),
    });
    const cronJob = only(synth(chart), 'CronJob');
    const checker = container(cronJob, 'drift-check');
    expect(cronJob.spec.jobTemplate.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 3 });
    expect(checker.args.join(' ')).toContain('--shard-index $(MLOPS_DRIFT_SHARD_INDEX) --shard-count 3');
    expect(checker.env).toContainEqual({ name: 'MLOPS_DRIFT_SHARD_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } });
  });

  test('deadlines follow the schedule', () => {
    const chart = newChart();
    const monitor = new DriftMonitor(chart, 'drift', {
      modelService: modelService(chart), schedule: Cron.schedule({ minute: '*/15' }), timeZone: 'Europe/Berlin',
      reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/c.csv'),
    });
    const spec = only(synth(chart), 'CronJob').spec;
    expect(monitor.schedulePeriod.toMinutes()).toBe(15);
    expect(spec.startingDeadlineSeconds).toBe(90);
    expect(spec.jobTemplate.spec.activeDeadlineSeconds).toBe(900);
    expect(spec.timeZone).toBe('Europe/Berlin');
  });
});

describe('the checker ConfigMap', () => {
  const data = { reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/{{ds}}.csv') };
  const checkerVolumes = (objects: ReturnType<typeof synth>) => objects.filter((o) => o.kind === 'CronJob')
    .map((o) => o.spec.jobTemplate.spec.template.spec.volumes.find((v: { configMap?: unknown }) => v.configMap).configMap.name);

  test('is one per namespace and chart, mounted by every monitor there', () => {
    // GIVEN two models in the chart's namespace and one in another
    const chart = newChart();
    const fraud = modelService(chart);
    const churn = new ModelService(chart, 'churn', { runtime: ServingRuntime.mlflow({ model: registry.model('churn', { version: 3 }) }) });
    const staging = new ModelService(chart, 'ranker', { namespace: 'ml-staging', runtime: ServingRuntime.mlflow({ model: registry.model('ranker', { version: 1 }) }) });
    // WHEN each gets a drift check, the first model two
    new DriftMonitor(chart, 'fraud-daily', { modelService: fraud, name: 'fraud-daily', ...data });
    new DriftMonitor(chart, 'fraud-hourly', { modelService: fraud, name: 'fraud-hourly', ...data });
    new DriftMonitor(chart, 'churn-drift', { modelService: churn, ...data });
    new DriftMonitor(chart, 'ranker-drift', { modelService: staging, ...data, pushgateway: Pushgateway.fromUrl('http://pushgateway.mlops.svc:9091') });
    const objects = synth(chart);
    // THEN one ConfigMap with the checker per namespace, and all four CronJobs mount theirs
    const bundles = objects.filter((o) => o.kind === 'ConfigMap' && o.data?.['mlops-drift.js'] !== undefined);
    expect(bundles.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort()).toEqual(['ml-staging/mlops-drift-checker', 'mlops/mlops-drift-checker']);
    expect(checkerVolumes(objects)).toEqual(['mlops-drift-checker', 'mlops-drift-checker', 'mlops-drift-checker', 'mlops-drift-checker']);
    validateManifests(objects);
  });

  test('can be one the user declares, in the monitor\'s namespace', () => {
    const chart = newChart();
    const bundle = new DriftCheckerBundle(chart, 'checker', { namespace: 'mlops', name: 'drift-program' });
    new DriftMonitor(chart, 'drift', { modelService: modelService(chart), ...data, checkerBundle: bundle });
    const objects = synth(chart);
    expect(objects.filter((o) => o.kind === 'ConfigMap' && o.data?.['mlops-drift.js'] !== undefined).map((o) => o.metadata.name)).toEqual(['drift-program']);
    expect(checkerVolumes(objects)).toEqual(['drift-program']);
  });

  test('of another namespace is refused before anything is written', () => {
    const chart = newChart();
    const service = modelService(chart);
    const before = synth(chart).length;
    expect(() => new DriftMonitor(chart, 'drift', { modelService: service, ...data, checkerBundle: { namespace: 'other', configMapName: 'mlops-drift-checker' } })).toThrow(
      /^DriftMonitor test\/drift: checkerBundle \("other\/mlops-drift-checker"\) is in namespace other, but the check runs in mlops, and a pod mounts only ConfigMaps of its own namespace; pass a bundle of namespace mlops, or leave checkerBundle unset for the chart's$/);
    expect(synth(chart)).toHaveLength(before);
  });
});

describe('cron periods', () => {
  test.each([
    ['0 * * * *', 3600], ['*/15 * * * *', 900], ['0 0 * * *', 86400], ['30 2 * * 1-5', 86400],
    ['0 0 * * 0', 7 * 86400], ['0 9,17 * * *', 8 * 3600], ['0 0 1 * *', 28 * 86400], ['@hourly', 3600],
  ])('%s fires at least every %i s', (expression, seconds) => {
    expect(shortestPeriodSeconds(expression)).toBe(seconds);
  });

  test.each([['0 * * *'], ['61 * * * *'], ['0 0 30 2 *'], ['*/0 * * * *']])('fails on %s', (expression) => {
    expect(() => shortestPeriodSeconds(expression)).toThrow();
  });
});

describe('DriftMonitor validation', () => {
  const base = (chart: ReturnType<typeof newChart>) => ({
    modelService: modelService(chart), reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/c.csv'),
  });
  const cases: [string, (chart: ReturnType<typeof newChart>) => object, RegExp][] = [
    ['fails on a local path the pod cannot read', (c) => ({ ...base(c), current: DriftData.uri('/data/today.csv') }), /current \("\/data\/today.csv"\) is not a dataset location the checker can read from a pod/],
    ['fails on an unknown template variable', (c) => ({ ...base(c), current: DriftData.uri('https://d.example.com/{{date}}.csv') }), /uses \{\{date\}\}; the template variables are \{\{ds\}\} .* and \{\{hour\}\}/],
    ['fails on a label without a prediction column', (c) => ({ ...base(c), labelColumn: 'y' }), /predictionColumn \(unset\) is required when the other quality column is set/],
    ['fails on a threshold outside 0..1', (c) => ({ ...base(c), test: DriftTest.ks(5) }), /test threshold \(5\) is not between 0 and 1/],
    ['fails on parallelism without listed features', (c) => ({ ...base(c), parallelism: 4 }), /parallelism \(4\) needs at least as many listed features \(none listed\)/],
    ['fails on a run longer than the schedule period', (c) => ({ ...base(c), activeDeadline: Duration.hours(2) }), /activeDeadline \("7200s"\) is longer than the schedule period \(3600s\)/],
    ['fails on an unknown time zone', (c) => ({ ...base(c), timeZone: 'Mars/Olympus' }), /timeZone \("Mars\/Olympus"\) is not an IANA time zone/],
    ['fails on one S3 key without the other', (c) => ({ ...base(c), s3AccessKeyId: { secretName: 's', key: 'k' } }), /s3SecretAccessKey \(unset\) is required with the other S3 key/],
    ['fails on a categorical column that is not a feature', (c) => ({ ...base(c), features: ['a'], categoricalFeatures: ['b'] }), /categoricalFeatures \(\["b"\]\) are not in features/],
    ['fails on a bad cron expression', (c) => ({ ...base(c), schedule: Cron.schedule({ minute: '75' }) }), /schedule \("75 \* \* \* \*"\) is not a usable cron schedule/],
  ];
  test.each(cases)('%s', (_name, props, message) => {
    const chart = newChart();
    expect(() => new DriftMonitor(chart, 'drift', props(chart) as any)).toThrow(message);
  });
});
