import { createHash } from 'crypto';
import { Duration, Size } from 'cdk8s';
import {
  Cpu, METRICS_PROXY_HASH_ANNOTATION, ModelRegistryRef, ModelService, Monitoring, NetworkPeer, ScalingMetric, ServingRuntime,
} from '../src';
import { redactGenerated } from '../src/testing';
import { container, newChart, only, synth } from './support/synth-helpers';

const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const champion = () => ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) });

describe('ModelService with the MLflow runtime', () => {
  test('synthesizes Deployment, Service, PDB, ServiceMonitor and proxy ConfigMap with stable names', () => {
    // GIVEN
    const chart = newChart();
    // WHEN
    new ModelService(chart, 'fraud-detector', { runtime: champion() });
    const objects = synth(chart);
    // THEN
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/fraud-detector-metrics-proxy',
      'Deployment/fraud-detector',
      'NetworkPolicy/fraud-detector',
      'PodDisruptionBudget/fraud-detector',
      'Service/fraud-detector',
      'ServiceMonitor/fraud-detector',
    ]);
    expect(objects.every((o) => o.metadata.namespace === 'mlops')).toBe(true);
    expect(redactGenerated(objects)).toMatchSnapshot();
  });

  test('runs mlflow models serve on the registry model with workers from the CPU limit', () => {
    // GIVEN
    const chart = newChart();
    // WHEN
    new ModelService(chart, 'fraud-detector', { runtime: champion(), cpuRequest: Cpu.millis(1500), cpuLimit: Cpu.cores(3) });
    const server = container(only(synth(chart), 'Deployment'), 'model-server');
    // THEN
    expect(server.command).toEqual(['mlflow', 'models', 'serve']);
    expect(server.args).toEqual(expect.arrayContaining(['--model-uri', 'models:/fraud-detector@champion', '--env-manager', 'local', '-h', '0.0.0.0']));
    expect(server.args[server.args.indexOf('--workers') + 1]).toBe('3');
    expect(server.args[server.args.indexOf('--port') + 1]).toBe('8081');
    expect(server.env).toContainEqual({ name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow.mlops.svc.cluster.local:5000' });
    expect(server.resources).toEqual({ requests: { cpu: '1500m', memory: '2048Mi' }, limits: { cpu: '3', memory: '2048Mi' } });
  });

  test('derives at least one worker from a fractional CPU limit', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), cpuRequest: Cpu.millis(250), cpuLimit: Cpu.millis(500) });
    const server = container(only(synth(chart), 'Deployment'), 'model-server');
    expect(server.args[server.args.indexOf('--workers') + 1]).toBe('1');
  });

  test('routes the Service through the metrics proxy, whose hash rolls the pods', () => {
    // GIVEN
    const chart = newChart();
    // WHEN
    new ModelService(chart, 'fraud-detector', { runtime: champion() });
    const objects = synth(chart);
    const deployment = only(objects, 'Deployment');
    const proxy = container(deployment, 'metrics-proxy');
    const bundle = only(objects, 'ConfigMap').data['metrics-proxy.js'];
    // THEN the Service's http port targets the proxy, which forwards to the model server
    expect(only(objects, 'Service').spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    expect(proxy.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ]);
    expect(proxy.env).toContainEqual({ name: 'MLOPS_PROXY_UPSTREAM', value: 'http://127.0.0.1:8081' });
    expect(proxy.env).toContainEqual({ name: 'MLOPS_MODEL_NAME', value: 'fraud-detector' });
    expect(proxy.command).toEqual(['node', '/opt/mlops/metrics-proxy.js']);
    expect(proxy.image).toMatch(/^node:\d+\.\d+\.\d+-alpine/);
    expect(bundle.length).toBeGreaterThan(1000);
    expect(deployment.spec.template.metadata.annotations[METRICS_PROXY_HASH_ANNOTATION])
      .toBe(createHash('sha256').update(bundle).digest('hex'));
  });

  test('ServiceMonitor scrapes the proxy metrics port with the stack-wide release label', () => {
    // GIVEN
    const chart = newChart();
    Monitoring.configure(chart, { serviceMonitorLabels: { release: 'kube-prometheus-stack' }, scrapeInterval: Duration.seconds(15) });
    // WHEN
    new ModelService(chart, 'fraud-detector', { runtime: champion() });
    const objects = synth(chart);
    const monitor = only(objects, 'ServiceMonitor');
    const service = only(objects, 'Service');
    // THEN
    expect(monitor.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }]);
    expect(service.spec.ports.map((p: any) => p.name)).toContain(monitor.spec.endpoints[0].port);
    for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels)) {
      expect(service.metadata.labels[key]).toBe(value);
    }
  });

  test('rolls out without dropping below capacity and probes the model server', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), startupTimeout: Duration.minutes(15) });
    const deployment = only(synth(chart), 'Deployment');
    const server = container(deployment, 'model-server');
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: '25%' });
    expect(server.startupProbe).toMatchObject({ httpGet: { path: '/ping', port: 'model' }, periodSeconds: 5 });
    // 15 minutes of model loading before the kubelet gives up
    expect(server.startupProbe.periodSeconds * server.startupProbe.failureThreshold).toBe(900);
    expect(server.readinessProbe.httpGet).toEqual({ path: '/ping', port: 'model' });
    expect(server.livenessProbe.httpGet).toEqual({ path: '/ping', port: 'model' });
    expect(deployment.spec.progressDeadlineSeconds).toBeGreaterThan(900);
  });

  test('applies the restricted security profile with writable emptyDirs', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), scratchSize: Size.gibibytes(4) });
    const pod = only(synth(chart), 'Deployment').spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    for (const c of pod.containers) {
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] },
      });
    }
    expect(pod.volumes).toContainEqual({ name: 'scratch-tmp', emptyDir: { sizeLimit: '4096Mi' } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'scratch-tmp', mountPath: '/tmp' });
    expect(pod.containers[0].env).toContainEqual({ name: 'HOME', value: '/tmp/home' });
  });
});

describe('ModelService scaling', () => {
  test('fixed replicas: no autoscaler, replica count on the Deployment', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), replicas: 3 });
    const objects = synth(chart);
    expect(only(objects, 'Deployment').spec.replicas).toBe(3);
    expect(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')).toHaveLength(0);
  });

  test('HPA on CPU and memory leaves the replica count to the autoscaler', () => {
    // GIVEN
    const chart = newChart();
    // WHEN
    new ModelService(chart, 'm', { runtime: champion(), replicas: 2, maxReplicas: 8, scaleOn: [ScalingMetric.cpu(60), ScalingMetric.memory(75)] });
    const objects = synth(chart);
    const hpa = only(objects, 'HorizontalPodAutoscaler');
    // THEN
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 8, scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'm' } });
    expect(hpa.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
      { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 75 } } },
    ]);
    expect(only(objects, 'Deployment').spec.replicas).toBeUndefined();
  });

  test('CPU targets above 100 % of the request, which a limit above the request allows', () => {
    // GIVEN a 1-core request with a 2-core limit, scaled at 150 % of the request
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), maxReplicas: 6, cpuRequest: Cpu.cores(1), cpuLimit: Cpu.cores(2), scaleOn: [ScalingMetric.cpu(150)] });
    // WHEN / THEN the HPA targets 150 %
    expect(only(synth(chart), 'HorizontalPodAutoscaler').spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 150 } } },
    ]);
  });

  test('request-rate scaling uses a KEDA ScaledObject on the contract metric instead of an HPA', () => {
    // GIVEN
    const chart = newChart();
    // WHEN
    new ModelService(chart, 'fraud-detector', {
      runtime: champion(),
      replicas: 2,
      maxReplicas: 20,
      scaleOn: [ScalingMetric.requestRate({ requestsPerSecondPerReplica: 25, prometheusServerAddress: 'http://prometheus-operated.monitoring.svc:9090' }), ScalingMetric.cpu(80)],
    });
    const objects = synth(chart);
    const scaled = only(objects, 'ScaledObject');
    // THEN
    expect(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(scaled.apiVersion).toBe('keda.sh/v1alpha1');
    expect(scaled.spec).toMatchObject({ minReplicaCount: 2, maxReplicaCount: 20, scaleTargetRef: { name: 'fraud-detector' } });
    expect(scaled.spec.triggers[0]).toEqual({
      type: 'prometheus',
      metricType: 'AverageValue',
      metadata: {
        serverAddress: 'http://prometheus-operated.monitoring.svc:9090',
        query: 'sum(rate(mlops_inference_requests_total{namespace="mlops",model="fraud-detector",variant=""}[120s]))',
        threshold: '25',
      },
    });
    expect(scaled.spec.triggers[1]).toEqual({ type: 'cpu', metricType: 'Utilization', metadata: { value: '80' } });
  });

  test('no PodDisruptionBudget for a single replica, which would block node drains', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), replicas: 1 });
    expect(synth(chart).filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(0);
  });

  test('PodDisruptionBudget keeps all but one replica', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), replicas: 3 });
    expect(only(synth(chart), 'PodDisruptionBudget').spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'm', 'app.kubernetes.io/component': 'model-server' } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });
});

describe('ModelService placement, env and exposure', () => {
  test('GPUs: extended resource limit, default toleration and node selector', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), gpuCount: 2, nodeSelector: { 'cloud.example.com/pool': 'gpu' } });
    const pod = only(synth(chart), 'Deployment').spec.template.spec;
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe(2);
    expect(pod.containers[1].resources.limits['nvidia.com/gpu']).toBeUndefined();
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.nodeSelector).toEqual({ 'cloud.example.com/pool': 'gpu' });
  });

  test('GPUs: one scoring worker by default, however many cores, so the model is not loaded once per worker', () => {
    // GIVEN a 1-GPU server with 4 cores, and the same with workers set
    const chart = newChart();
    new ModelService(chart, 'gpu', { runtime: champion(), gpuCount: 1, cpuRequest: Cpu.cores(4) });
    new ModelService(chart, 'gpu-two', { runtime: champion(), gpuCount: 1, cpuRequest: Cpu.cores(4), workers: 2 });
    new ModelService(chart, 'flask', {
      runtime: ServingRuntime.custom({ image: 'registry.example.com/vision-flask:3.2.0', port: 5000 }), gpuCount: 1, cpuRequest: Cpu.cores(4),
    });

    // WHEN synthesized
    const objects = synth(chart);
    const workersOf = (name: string) => {
      const server = container(only(objects, 'Deployment', name), 'model-server');
      return server.args ? server.args[server.args.indexOf('--workers') + 1] : server.env.find((e: any) => e.name === 'WEB_CONCURRENCY').value;
    };

    // THEN one worker each, unless workers says otherwise
    expect([workersOf('gpu'), workersOf('gpu-two'), workersOf('flask')]).toEqual(['1', '2', '1']);
  });

  test('workers overrides the count from the CPU limit', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'm', { runtime: champion(), cpuRequest: Cpu.cores(4), workers: 3 });
    const server = container(only(synth(chart), 'Deployment'), 'model-server');
    expect(server.args[server.args.indexOf('--workers') + 1]).toBe('3');
    expect(service.workers).toBe(3);
  });

  test('spreads replicas across zones and nodes, unless turned off', () => {
    const spread = newChart();
    new ModelService(spread, 'm', { runtime: champion() });
    expect(only(synth(spread), 'Deployment').spec.template.spec.topologySpreadConstraints.map((c: any) => c.topologyKey))
      .toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
    const packed = newChart();
    new ModelService(packed, 'm', { runtime: champion(), topologySpread: false });
    expect(only(synth(packed), 'Deployment').spec.template.spec.topologySpreadConstraints).toBeUndefined();
  });

  test('env, secret references, service account and pull secrets; secrets only by reference', () => {
    // GIVEN
    const chart = newChart();
    const service = new ModelService(chart, 'm', {
      runtime: champion(),
      env: { FEATURE_FLAGS: 'fast' },
      secretEnv: { AWS_SECRET_ACCESS_KEY: { secretName: 'model-store', key: 'secret-key' } },
      serviceAccountName: 'model-reader',
      imagePullSecrets: ['registry-creds'],
    });
    // WHEN a late addition
    const added = service.addEnv('LOG_LEVEL', 'info');
    const pod = only(synth(chart), 'Deployment').spec.template.spec;
    // THEN
    expect(added).toEqual({ name: 'LOG_LEVEL', value: 'info' });
    expect(pod.containers[0].env).toEqual(expect.arrayContaining([
      { name: 'FEATURE_FLAGS', value: 'fast' },
      { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'model-store', key: 'secret-key' } } },
      { name: 'LOG_LEVEL', value: 'info' },
    ]));
    expect(pod.serviceAccountName).toBe('model-reader');
    expect(pod.imagePullSecrets).toEqual([{ name: 'registry-creds' }]);
  });

  test('Ingress with class and TLS to the Service http port', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), ingressHost: 'fraud.example.com', allowedClients: [NetworkPeer.namespace('ingress-nginx')], ingressClassName: 'nginx', ingressTlsSecretName: 'fraud-tls' });
    const ingress = only(synth(chart), 'Ingress');
    expect(ingress.spec).toEqual({
      ingressClassName: 'nginx',
      tls: [{ hosts: ['fraud.example.com'], secretName: 'fraud-tls' }],
      rules: [{ host: 'fraud.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'm', port: { name: 'http' } } } }] } }],
    });
  });

  test('NetworkPolicy allows the listed clients on http and Prometheus on metrics only', () => {
    // GIVEN
    const chart = newChart();
    Monitoring.configure(chart, { prometheusNamespace: 'observability' });
    // WHEN
    new ModelService(chart, 'm', { runtime: champion(), allowedClients: [NetworkPeer.namespace('ingress-nginx'), NetworkPeer.pods({ app: 'checkout' })] });
    const policy = only(synth(chart), 'NetworkPolicy');
    // THEN
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toEqual([
      {
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
          { podSelector: { matchLabels: { app: 'checkout' } } },
        ],
        ports: [{ protocol: 'TCP', port: 'http' }],
      },
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }],
        ports: [{ protocol: 'TCP', port: 'metrics' }],
      },
    ]);
  });
});

describe('ModelService with other runtimes', () => {
  test('build-docker image: nginx off, scoring server behind the proxy, probes through it', () => {
    // GIVEN
    const chart = newChart();
    // WHEN
    new ModelService(chart, 'm', { runtime: ServingRuntime.mlflowImage({ image: 'registry.example.com/fraud:1.2.0' }), cpuLimit: Cpu.cores(4), cpuRequest: Cpu.cores(2) });
    const deployment = only(synth(chart), 'Deployment');
    const server = container(deployment, 'model-server');
    const proxy = container(deployment, 'metrics-proxy');
    // THEN
    expect(server.command).toBeUndefined();
    expect(server.env).toEqual(expect.arrayContaining([
      { name: 'DISABLE_NGINX', value: 'true' },
      { name: 'MLFLOW_MODELS_WORKERS', value: '4' },
    ]));
    expect(proxy.env).toContainEqual({ name: 'MLOPS_PROXY_UPSTREAM', value: 'http://127.0.0.1:8000' });
    expect(server.startupProbe.httpGet).toEqual({ path: '/ping', port: 'http' });
  });

  test('custom server with its own metrics: no proxy, metrics renamed to the contract at scrape', () => {
    // GIVEN
    const chart = newChart();
    // WHEN
    new ModelService(chart, 'churn', {
      runtime: ServingRuntime.custom({
        image: 'registry.example.com/churn-flask:2.0.1',
        port: 5000,
        healthPath: '/healthz',
        readyPath: '/ready',
        metrics: { requestsTotal: 'flask_http_request_total', durationHistogram: 'flask_http_request_duration_seconds' },
      }),
    });
    const objects = synth(chart);
    const deployment = only(objects, 'Deployment');
    const monitor = only(objects, 'ServiceMonitor');
    // THEN
    expect(deployment.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['model-server']);
    expect(objects.filter((o) => o.kind === 'ConfigMap')).toHaveLength(0);
    expect(container(deployment, 'model-server').env).toContainEqual({ name: 'WEB_CONCURRENCY', value: '1' });
    expect(container(deployment, 'model-server').readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http' });
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(monitor.spec.endpoints[0].relabelings).toEqual([{ action: 'replace', targetLabel: 'model', replacement: 'churn' }]);
    expect(monitor.spec.endpoints[0].metricRelabelings).toEqual([
      { action: 'replace', sourceLabels: ['__name__', 'status'], regex: 'flask_http_request_total;(.*)', targetLabel: 'code', replacement: '$1' },
      { action: 'replace', sourceLabels: ['__name__'], regex: 'flask_http_request_total', targetLabel: '__name__', replacement: 'mlops_inference_requests_total' },
      { action: 'replace', sourceLabels: ['__name__'], regex: 'flask_http_request_duration_seconds_(bucket|sum|count)', targetLabel: '__name__', replacement: 'mlops_inference_request_duration_seconds_$1' },
    ]);
  });

  test('custom server without metrics gets the proxy in front of its own port', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: ServingRuntime.custom({ image: 'registry.example.com/m:1.0.0', port: 8080 }) });
    const deployment = only(synth(chart), 'Deployment');
    expect(container(deployment, 'metrics-proxy').ports[0]).toEqual({ name: 'http', containerPort: 8000, protocol: 'TCP' });
    expect(container(deployment, 'metrics-proxy').env).toContainEqual({ name: 'MLOPS_PROXY_UPSTREAM', value: 'http://127.0.0.1:8080' });
  });
});

describe('ModelService validation', () => {
  const cases: [string, () => void, RegExp][] = [
    ['fails on a name that is not DNS-1123', () => new ModelService(newChart(), 'Fraud_Detector', { runtime: champion() }),
      /^ModelService test\/Fraud_Detector: name \("Fraud_Detector"\) is not a DNS-1123 label/],
    ['fails on min replicas above max', () => new ModelService(newChart(), 'm', { runtime: champion(), replicas: 5, maxReplicas: 2 }),
      /^ModelService test\/m: replicas \(5\) is above maxReplicas \(2\); lower replicas or raise maxReplicas$/],
    ['fails on a missing model URI', () => new ModelService(newChart(), 'm', { runtime: ServingRuntime.mlflow({ model: '', registry }) }),
      /runtime\.model \(""\) is not a registry model; a model URI is required/],
    ['fails on a model URI that is not a registry URI', () => new ModelService(newChart(), 'm', { runtime: ServingRuntime.mlflow({ model: 's3://bucket/model', registry }) }),
      /runtime\.model \("s3:\/\/bucket\/model"\) is not a registry model/],
    ['fails on a registry model without a registry', () => new ModelService(newChart(), 'm', { runtime: ServingRuntime.mlflow({ model: 'models:/fraud/3' }) }),
      /runtime\.registry \(unset\) is required to resolve models:\/fraud\/3/],
    ['fails on a GPU resource name without GPUs', () => new ModelService(newChart(), 'm', { runtime: champion(), gpuResourceName: 'amd.com/gpu' }),
      /gpuCount \(unset\) is 0 while gpuResourceName is set/],
    ['fails on a fractional GPU count', () => new ModelService(newChart(), 'm', { runtime: champion(), gpuCount: 0.5 }),
      /gpuCount \(0\.5\) is not an integer between 0 and 16/],
    ['fails on a CPU request above the limit', () => new ModelService(newChart(), 'm', { runtime: champion(), cpuRequest: Cpu.cores(2), cpuLimit: Cpu.cores(1) }),
      /cpuRequest \(2\) is above cpuLimit \(1\); lower cpuRequest or raise cpuLimit/],
    ['fails on an unpinned image', () => new ModelService(newChart(), 'm', { runtime: ServingRuntime.custom({ image: 'example/model:latest', port: 8080 }) }),
      /runtime\.image \("example\/model:latest"\) is not pinned to a version/],
    ['fails on scaleOn without room to scale', () => new ModelService(newChart(), 'm', { runtime: champion(), scaleOn: [ScalingMetric.cpu()] }),
      /maxReplicas \(unset\) must be above replicas \(2\) when scaleOn is set/],
    ['fails on a plain-text secret in env', () => new ModelService(newChart(), 'm', { runtime: champion(), env: { DB_PASSWORD: 'hunter2' } }),
      /env\.DB_PASSWORD \("<redacted>"\) looks like a secret written in plain text; put it in a Secret/],
    ['fails on an env var the runtime sets', () => new ModelService(newChart(), 'm', { runtime: champion(), env: { MLFLOW_TRACKING_URI: 'http://elsewhere' } }),
      /env\.MLFLOW_TRACKING_URI \("MLFLOW_TRACKING_URI"\) is already set by the mlflow runtime/],
    ['fails on a missing namespace', () => new ModelService(newChart(null), 'm', { runtime: champion() }),
      /namespace \(unset\) is not set on the ModelService or its Chart/],
    ['fails on a TLS secret without an ingress host', () => new ModelService(newChart(), 'm', { runtime: champion(), ingressTlsSecretName: 'tls' }),
      /ingressTlsSecretName \("tls"\) is set without ingressHost/],
    ['fails on request-rate scaling without metrics', () => new ModelService(newChart(), 'm', {
      runtime: ServingRuntime.custom({ image: 'example/m:1.0.0', port: 8080 }), metricsProxy: false, maxReplicas: 4,
      scaleOn: [ScalingMetric.requestRate({ requestsPerSecondPerReplica: 10, prometheusServerAddress: 'http://prometheus:9090' })],
    }), /scaleOn \("requestRate"\) needs serving metrics/],
    ['fails on the build-docker image without its proxy', () => new ModelService(newChart(), 'm', { runtime: ServingRuntime.mlflowImage({ image: 'example/m:1.0.0' }), metricsProxy: false }),
      /metricsProxy \(false\) cannot be false for the mlflow-image runtime/],
    ['fails on an error objective outside 0..1', () => new ModelService(newChart(), 'm', { runtime: champion(), errorRateObjective: 5 }),
      /errorRateObjective \(5\) is not a share between 0 and 1/],
    ['fails on a CPU target the limit can never reach', () => new ModelService(newChart(), 'm', { runtime: champion(), maxReplicas: 4, scaleOn: [ScalingMetric.cpu(150)] }),
      /^ModelService test\/m: scaleOn\[0\] cpu target utilization \(150\) is above what a pod can use: its cpuLimit \(1000m\) is 100 % of its request \(1000m\); raise cpuLimit to at least 1500m, or lower the target to 100 or less$/],
    ['fails on a memory target the limit can never reach', () => new ModelService(newChart(), 'm', {
      runtime: champion(), maxReplicas: 4, memoryRequest: Size.gibibytes(2), memoryLimit: Size.gibibytes(3), scaleOn: [ScalingMetric.memory(160)],
    }), /scaleOn\[0\] memory target utilization \(160\) is above what a pod can use: its memoryLimit \(3072Mi\) is 150 % of its request \(2048Mi\); raise memoryLimit to at least 3277Mi/],
    ['fails on a target that is not a whole percentage', () => new ModelService(newChart(), 'm', { runtime: champion(), maxReplicas: 4, scaleOn: [ScalingMetric.cpu(0)] }),
      /scaleOn\[0\] cpu target utilization \(0\) is not a whole percentage of the request between 1 and 1000/],
    ['fails on zero workers', () => new ModelService(newChart(), 'm', { runtime: champion(), workers: 0 }),
      /^ModelService test\/m: workers \(0\) is not an integer between 1 and 64/],
    ['fails on a startup timeout too short to load a model', () => new ModelService(newChart(), 'm', { runtime: champion(), startupTimeout: Duration.seconds(2) }),
      /startupTimeout \("2s"\) is not a whole number of seconds between 10 and 3600/],
  ];

  test.each(cases)('%s', (_name, build, message) => {
    expect(build).toThrow(message);
  });

  test('fails when Monitoring.configure comes after constructs were added', () => {
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion() });
    expect(() => Monitoring.configure(chart, { serviceMonitorLabels: { release: 'x' } })).toThrow(/configure\(\) was called after constructs were added \(m\)/);
  });

  test('a failed construct leaves nothing half-written in the chart', () => {
    const chart = newChart();
    // GIVEN a prop checked last (exposure) WHEN it is bad
    expect(() => new ModelService(chart, 'm', { runtime: champion(), allowedClients: [NetworkPeer.namespace('Not_A_Namespace')] })).toThrow(/allowedClients\[0\] namespace/);
    // THEN the construct threw before creating any Kubernetes object
    expect(synth(chart)).toEqual([]);
  });
});
