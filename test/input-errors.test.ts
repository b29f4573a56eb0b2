// Mistakes a new user made that passed in silence or with an unclear message (issue 12), each
// now refused at synth with the construct, the field, the value and the fix.
import { Chart, Duration, Size, Testing } from 'cdk8s';
import {
  ArtifactStore, DriftData, DriftMonitor, ModelRegistry, ModelRegistryRef, ModelService, Monitoring, PrometheusAlerts, RegistryDatabase, ServingRuntime,
} from '../src';
import { newChart, only, synth } from './support/synth-helpers';

const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const champion = () => ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) });

describe('a password inside a URI in a plain env value', () => {
  test.each([
    ['a PostgreSQL URI', 'postgresql://mlflow:s3cr3t@pg.databases.svc:5432/mlflow'],
    ['an HTTP URL with credentials', 'https://ci:ghp_abc123@git.example.com/ml/models.git'],
    ['an AMQP URL', 'amqp://guest:guest@rabbitmq:5672/'],
  ])('fails on %s, without printing it', (_, value) => {
    const build = () => new ModelService(newChart(), 'm', { runtime: champion(), env: { FEATURE_STORE_URL: value } });
    expect(build).toThrow(/^ModelService test\/m: env\.FEATURE_STORE_URL \("<redacted>"\) holds a URI with a password \(user:password@host\) written in plain text; put it in a Secret and use secretEnv \/ addSecretEnv, or leave the password out of the URI/);
    expect(build).not.toThrow(value.split('@')[0].split(':').pop()!);
  });

  test('fails in the registry too, which takes env the same way', () => {
    const uri = 'postgresql://reader:hunter2@warehouse:5432/features';
    const inCluster = RegistryDatabase.inCluster({ passwordSecret: { secretName: 'mlflow-postgres', key: 'password' } });
    expect(() => new ModelRegistry(newChart(), 'mlflow', { database: inCluster, artifacts: ArtifactStore.volume({ size: Size.gibibytes(1) }), env: { WAREHOUSE: uri } }))
      .toThrow(/^ModelRegistry test\/mlflow: env\.WAREHOUSE \("<redacted>"\) holds a URI with a password/);
  });

  test('accepts URIs without a password: a user alone, a port, a query with @', () => {
    const chart = newChart();
    expect(() => new ModelService(chart, 'm', {
      runtime: champion(),
      env: {
        DB_URI: 'postgresql://mlflow@pg.databases.svc:5432/mlflow',
        CACHE: 'redis://cache.mlops.svc:6379/0',
        NOTIFY: 'https://hooks.example.com/ml?to=team@example.com',
        MAILTO: 'mailto:team@example.com',
      },
    })).not.toThrow();
  });
});

describe('an S3 location whose bucket is wrong', () => {
  const monitor = (current: string) => () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud', { runtime: champion() });
    new DriftMonitor(chart, 'fraud-drift', { modelService: service, reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri(current) });
  };

  test('fails naming the bucket as what is wrong', () => {
    expect(monitor('s3://b/key.csv')).toThrow(
      /^DriftMonitor test\/fraud-drift: current \("s3:\/\/b\/key\.csv"\) names the bucket "b", which is not an S3 bucket name; use 3 to 63 lowercase letters, digits, "\." and "-"/);
    expect(monitor('s3://Data_Lake/dt={{ds}}/x.parquet')).toThrow(/names the bucket "Data_Lake", which is not an S3 bucket name/);
  });

  test('fails on a bucket without a key', () => {
    expect(monitor('s3://ml-data')).toThrow(/current \("s3:\/\/ml-data"\) has no object key after the bucket "ml-data"; use s3:\/\/ml-data\/<key>/);
    expect(monitor('s3://ml-data/')).toThrow(/has no object key after the bucket "ml-data"/);
  });

  test('the same bucket rule holds for the registry artifact store', () => {
    const inCluster = RegistryDatabase.inCluster({ passwordSecret: { secretName: 'mlflow-postgres', key: 'password' } });
    expect(() => new ModelRegistry(newChart(), 'mlflow', { database: inCluster, artifacts: ArtifactStore.s3({ bucket: 'b' }) }))
      .toThrow(/^ModelRegistry test\/mlflow: artifacts\.bucket \("b"\) is not an S3 bucket name; use 3 to 63 lowercase letters/);
  });
});

describe('a negative Duration', () => {
  // A question of design (README, "Validation"): cdk8s's Duration refuses a negative amount
  // where it is written, before any construct sees it, so the stack trace points at that line.
  test('is refused by cdk8s at the call, with the amount', () => {
    expect(() => Duration.millis(-100)).toThrow('Duration amounts cannot be negative. Received: -100');
  });
  test('a zero objective is refused by the construct, naming the field', () => {
    expect(() => new ModelService(newChart(), 'm', { runtime: champion(), latencyObjective: Duration.millis(0) }))
      .toThrow(/^ModelService test\/m: latencyObjective/);
  });
});

describe('a latency objective the serving metrics cannot measure', () => {
  test('fails above the top histogram bucket (10 s)', () => {
    expect(() => new ModelService(newChart(), 'm', { runtime: champion(), latencyObjective: Duration.seconds(15) }))
      .toThrow(/^ModelService test\/m: latencyObjective \("15s"\) is above the top bucket \(10s\) of the serving latency histogram, so a p99 above it can never be measured; use at most Duration\.seconds\(10\)$/);
  });

  test('fails off a bucket bound, naming the bounds around it', () => {
    expect(() => new ModelService(newChart(), 'm', { runtime: champion(), latencyObjective: Duration.millis(300) }))
      .toThrow(/latencyObjective \("300ms"\) is not a bucket bound of the serving latency histogram \(5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2\.5s, 5s, 10s\), so the p99 the alert compares is an interpolation; use 250ms or 500ms$/);
  });

  test('accepts every bound, and any objective of a runtime that exports its own histogram', () => {
    const chart = newChart();
    for (const ms of [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]) {
      new ModelService(chart, `m${ms}`, { runtime: champion(), latencyObjective: Duration.millis(ms) });
    }
    expect(() => new ModelService(chart, 'own', {
      runtime: ServingRuntime.custom({
        image: 'registry.example.com/churn-flask:2.0.1', port: 5000,
        metrics: { requestsTotal: 'flask_http_request_total', durationHistogram: 'flask_http_request_duration_seconds' },
      }),
      latencyObjective: Duration.millis(300),
    })).not.toThrow();
  });
});

describe('a stack without Monitoring.configure', () => {
  // A kube-prometheus-stack selects ServiceMonitors and rules by a label; without one they are
  // ignored and the stack runs unmonitored, so synth says so instead.
  const bare = () => new Chart(Testing.app(), 'bare', { namespace: 'mlops', disableResourceNameHashes: true });

  test('fails at the first ServiceMonitor, saying what to call', () => {
    expect(() => new ModelService(bare(), 'm', { runtime: champion() })).toThrow(
      /^ModelService bare\/m: serviceMonitorLabels \(unset\) leaves the ServiceMonitor without labels and Monitoring\.configure was not called for this stack; a kube-prometheus-stack Prometheus selects ServiceMonitors by a label such as release: <its release> and ignores the others without a word; call Monitoring\.configure\(chart, \{ serviceMonitorLabels: \{ release: "<your release>" \} \}\) before adding constructs \(a Pulumi component: pass monitoring\), or Monitoring\.configure\(chart, \{ serviceMonitorLabels: \{\} \}\) if your Prometheus selects every ServiceMonitor and rule$/);
  });

  test('fails at the first PrometheusRule of alerts on a service that has its own labels', () => {
    const chart = bare();
    const service = new ModelService(chart, 'm', { runtime: champion(), serviceMonitorLabels: { release: 'prometheus' } });
    expect(() => new PrometheusAlerts(chart, 'alerts', { modelServices: [service] }))
      .toThrow(/^PrometheusAlerts bare\/alerts: ruleLabels \(unset\) leaves the PrometheusRule without labels and Monitoring\.configure was not called/);
  });

  test('synthesizes with labels given on the construct, or with an explicit choice of no labels', () => {
    const chart = bare();
    const labelled = new ModelService(chart, 'labelled', { runtime: champion(), serviceMonitorLabels: { release: 'prometheus' } });
    new PrometheusAlerts(chart, 'alerts', { modelServices: [labelled], ruleLabels: { release: 'prometheus' } });
    expect(() => synth(chart)).not.toThrow();
    const all = bare();
    Monitoring.configure(all, { serviceMonitorLabels: {} });
    new ModelService(all, 'm', { runtime: champion() });
    expect(only(synth(all), 'ServiceMonitor').metadata.labels).not.toHaveProperty('release');
  });
});
