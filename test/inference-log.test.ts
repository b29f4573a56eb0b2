// The inference log on the construct side (issue 13): what ModelService `inferenceLog` writes into
// the metrics proxy's container, and how a DriftMonitor reads the log (DriftData.inferenceLog).
import { Cron, Duration, Size } from 'cdk8s';
import { DriftData, DriftMonitor, ModelRegistryRef, ModelService, ServingRuntime } from '../src';
import { container, newChart, only, synth } from './support/synth-helpers';
import { validateManifests } from '../src/testing';

const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const champion = () => ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) });
const credentials = {
  s3AccessKeyId: { secretName: 'inference-log-s3', key: 'access-key-id' },
  s3SecretAccessKey: { secretName: 'inference-log-s3', key: 'secret-access-key' },
};
const LOG = { destination: 's3://ml-inference-log/prod', s3EndpointUrl: 'http://seaweedfs.storage.svc:8333', s3Region: 'eu-central-1', ...credentials };

type Env = Array<{ name: string; value?: string; valueFrom?: unknown }>;
const envOf = (env: Env) => Object.fromEntries(env.map((e) => [e.name, e.value ?? e.valueFrom]));

describe('ModelService inferenceLog', () => {
  test('configures the metrics proxy to log to the destination, with the served model and credentials from the Secret', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), inferenceLog: { ...LOG, sampleRatio: 0.25 } });
    const objects = synth(chart);
    const proxy = container(only(objects, 'Deployment'), 'metrics-proxy');
    expect(envOf(proxy.env)).toMatchObject({
      MLOPS_INFERENCE_LOG_URI: 's3://ml-inference-log/prod',
      MLOPS_INFERENCE_LOG_SAMPLE_RATIO: '0.25',
      MLOPS_INFERENCE_LOG_BUFFER_RECORDS: '10000',
      MLOPS_INFERENCE_LOG_FLUSH_BYTES: String(8 * 1024 * 1024),
      MLOPS_INFERENCE_LOG_FLUSH_SECONDS: '60',
      MLOPS_MODEL_URI: 'models:/fraud-detector@champion',
      MLFLOW_TRACKING_URI: 'http://mlflow.mlops.svc.cluster.local:5000',
      MLOPS_POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      AWS_REGION: 'eu-central-1',
      AWS_ENDPOINT_URL: 'http://seaweedfs.storage.svc:8333',
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'inference-log-s3', key: 'access-key-id' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'inference-log-s3', key: 'secret-access-key' } },
    });
    // with room for the log's buffers
    expect(proxy.resources).toEqual({ requests: { cpu: '100m', memory: '192Mi' }, limits: { cpu: '1', memory: '320Mi' } });
    // the model server itself gets none of it
    expect(envOf(container(only(objects, 'Deployment'), 'model-server').env)).not.toHaveProperty('AWS_ACCESS_KEY_ID');
    expect(service.inferenceLog).toEqual({ bucket: 'ml-inference-log', prefix: 'prod', modelName: 'fraud-detector', s3EndpointUrl: LOG.s3EndpointUrl, s3Region: 'eu-central-1', ...credentials });
    validateManifests(objects);
  });

  test('without it the proxy gets no logging variables at all', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion() });
    const names = container(only(synth(chart), 'Deployment'), 'metrics-proxy').env.map((e: { name: string }) => e.name);
    expect(names.filter((n: string) => n.startsWith('MLOPS_INFERENCE_LOG') || n.startsWith('AWS_') || n === 'MLOPS_MODEL_URI')).toEqual([]);
    expect(service.inferenceLog).toBeUndefined();
  });

  test('custom runtimes name where features and predictions are in their bodies', () => {
    const chart = newChart();
    new ModelService(chart, 'ranker', {
      runtime: ServingRuntime.custom({ image: 'ghcr.io/acme/ranker:1.4.2', port: 8000, healthPath: '/health' }),
      inferenceLog: { destination: 's3://ml-inference-log', requestPath: 'data.rows', responsePath: 'result.scores', flushInterval: Duration.seconds(30), flushSize: Size.mebibytes(1) },
    });
    const env = envOf(container(only(synth(chart), 'Deployment'), 'metrics-proxy').env);
    expect(env).toMatchObject({
      MLOPS_INFERENCE_LOG_URI: 's3://ml-inference-log', MLOPS_INFERENCE_LOG_REQUEST_PATH: 'data.rows', MLOPS_INFERENCE_LOG_RESPONSE_PATH: 'result.scores',
      MLOPS_INFERENCE_LOG_FLUSH_SECONDS: '30', MLOPS_INFERENCE_LOG_FLUSH_BYTES: String(1024 * 1024),
    });
    expect(env).not.toHaveProperty('MLOPS_MODEL_URI');
  });

  test.each([
    [{ destination: 'https://bucket/prefix' }, /inferenceLog\.destination \("https:\/\/bucket\/prefix"\) is not an s3:\/\/ location; use s3:\/\/bucket\/prefix/],
    [{ destination: 's3://Bad_Bucket/x' }, /inferenceLog\.destination .* names the bucket "Bad_Bucket", which is not an S3 bucket name/],
    [{ destination: 's3://logs/dt={{ds}}' }, /inferenceLog\.destination .* has a prefix with spaces, empty segments, wildcards or templates; .* the proxy adds model=, version=, dt= and hour=/],
    [{ destination: 's3://logs/p', sampleRatio: 0 }, /inferenceLog\.sampleRatio \(0\) is not a share above 0 and at most 1/],
    [{ destination: 's3://logs/p', sampleRatio: 1.5 }, /inferenceLog\.sampleRatio \(1\.5\)/],
    [{ destination: 's3://logs/p', maxBufferedRecords: 10 }, /inferenceLog\.maxBufferedRecords \(10\) is not a whole number from 100 to 1000000/],
    [{ destination: 's3://logs/p', flushInterval: Duration.hours(2) }, /inferenceLog\.flushInterval .* is not between 5 seconds and 1 hour/],
    [{ destination: 's3://logs/p', s3AccessKeyId: credentials.s3AccessKeyId }, /inferenceLog\.s3SecretAccessKey \(unset\) is missing; give both/],
    [{ destination: 's3://logs/p', requestPath: 'data.rows' }, /inferenceLog\.requestPath \("data\.rows"\) is only for custom runtimes/],
  ])('refuses %j with a message naming the field', (inferenceLog, message) => {
    const chart = newChart();
    expect(() => new ModelService(chart, 'fraud-detector', { runtime: champion(), inferenceLog })).toThrow(message);
    expect(synth(chart)).toEqual([]);
  });

  test('needs the metrics proxy', () => {
    const chart = newChart();
    const runtime = ServingRuntime.custom({ image: 'ghcr.io/acme/ranker:1.4.2', port: 8000, healthPath: '/health', metrics: { requestsTotal: 'flask_http_request_total', durationHistogram: 'flask_http_request_duration_seconds' } });
    expect(() => new ModelService(chart, 'ranker', { runtime, metricsProxy: false, inferenceLog: { destination: 's3://logs/p' } }))
      .toThrow(/inferenceLog \("s3:\/\/logs\/p"\) needs the metrics proxy, which writes the log, but metricsProxy is false/);
  });
});

describe('DriftData.inferenceLog', () => {
  const reference = DriftData.registryModel(registry.model('fraud-detector', { alias: 'champion' }));

  test('an hourly check reads every version\'s records of the hour just ended, with the log\'s storage settings, and tests the output for drift', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), inferenceLog: LOG });
    new DriftMonitor(chart, 'drift', { modelService: service, reference, current: DriftData.inferenceLog(service), schedule: Cron.hourly() });
    const objects = synth(chart);
    const checker = container(only(objects, 'CronJob'), 'drift-check');
    const args: string[] = checker.args;
    expect(args[args.indexOf('--current') + 1]).toBe('s3://ml-inference-log/prod/model=fraud-detector/version=*/dt={{ds}}/hour={{hour}}/*.jsonl.gz');
    expect(args.slice(args.indexOf('--prediction-drift'), args.indexOf('--prediction-drift') + 2)).toEqual(['--prediction-drift', 'prediction']);
    expect(envOf(checker.env)).toMatchObject({
      AWS_REGION: 'eu-central-1', AWS_ENDPOINT_URL: 'http://seaweedfs.storage.svc:8333',
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'inference-log-s3', key: 'access-key-id' } },
    });
    validateManifests(objects);
  });

  test('a daily check reads all hours of the day; predictionDrift can be turned off', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), inferenceLog: { destination: 's3://ml-inference-log' } });
    new DriftMonitor(chart, 'drift', { modelService: service, reference, current: DriftData.inferenceLog(service), schedule: Cron.daily(), predictionDrift: false });
    const args: string[] = container(only(synth(chart), 'CronJob'), 'drift-check').args;
    expect(args[args.indexOf('--current') + 1]).toBe('s3://ml-inference-log/model=fraud-detector/version=*/dt={{ds}}/hour=*/*.jsonl.gz');
    expect(args).not.toContain('--prediction-drift');
  });

  test('fails at synth for a service that logs nothing, and for schedules that are neither hourly nor daily', () => {
    const chart = newChart();
    const silent = new ModelService(chart, 'silent', { runtime: champion() });
    expect(() => new DriftMonitor(chart, 'a', { modelService: silent, reference, current: DriftData.inferenceLog(silent) }))
      .toThrow(/DriftMonitor test\/a: current \("inferenceLog\(mlops\/silent\)"\) reads the inference log of ModelService silent, which logs nothing; set inferenceLog: \{ destination: "s3:\/\/bucket\/prefix" \} on ModelService silent/);
    const logged = new ModelService(chart, 'fraud-detector', { runtime: champion(), inferenceLog: LOG });
    expect(() => new DriftMonitor(chart, 'b', { modelService: logged, reference, current: DriftData.inferenceLog(logged), schedule: Cron.schedule({ minute: '0', hour: '*/6' }) }))
      .toThrow(/current .* is partitioned by the hour \(hour=HH\), but the schedule's period is 21600 s; check it hourly \(Cron.hourly\(\)\) or daily/);
  });

  test('predictionDrift without an inference log needs the prediction column', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion() });
    const data = { reference, current: DriftData.uri('s3://lake/fraud/dt={{ds}}/*.parquet') };
    expect(() => new DriftMonitor(chart, 'a', { modelService: service, ...data, predictionDrift: true }))
      .toThrow(/predictionDrift \(true\) needs the column of the model's output; set predictionColumn/);
    new DriftMonitor(chart, 'b', { modelService: service, name: 'fraud-b', ...data, predictionDrift: true, labelColumn: 'is_fraud', predictionColumn: 'score' });
    const args: string[] = container(only(synth(chart), 'CronJob'), 'drift-check').args;
    expect(args.slice(args.indexOf('--prediction-drift'), args.indexOf('--prediction-drift') + 2)).toEqual(['--prediction-drift', 'score']);
  });
});
