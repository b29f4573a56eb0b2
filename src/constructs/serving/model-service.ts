import { Duration, Lazy, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { BUNDLE_HASH_ANNOTATIONS, BUNDLE_MOUNT, BUNDLES, PROXY_ENV, SERVING_METRICS } from '../../contract';
import { SecretKeySelector, Toleration } from '../core/workload-props';
import { IModelService } from './interfaces';
import { Images } from '../core/images';
import * as k8s from '../core/k8s';
import { Monitoring } from '../core/monitoring';
import { NetworkPeer } from './network-peer';
import { requireMebibytes, requireSeconds, requireStringMap } from '../core/prop-checks';
import { Cpu } from '../core/quantities';
import { loadRuntimeBundle } from '../core/runtime-bundle';
import { RequestRateScalingMetric, ResourceScalingMetric, ScalingMetric } from './scaling-metric';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { RuntimeContainer, ServingRuntime } from './serving-runtime';
import {
  describe, invalidProp, isDnsLabel, isDnsSubdomain, requireDnsLabel, requireDnsSubdomain, requireEnvName,
  requireInteger, requireLabels, requirePinnedImage, resolveNamespace,
} from '../core/validation';
import { ScaledObject as KedaScaledObject } from '../../imports/keda.sh';
import {
  ServiceMonitor, ServiceMonitorSpecEndpoints, ServiceMonitorSpecEndpointsMetricRelabelings,
  ServiceMonitorSpecEndpointsMetricRelabelingsAction, ServiceMonitorSpecEndpointsRelabelingsAction,
} from '../../imports/monitoring.coreos.com';

/** Properties of a ModelService. */
export interface ModelServiceProps {
  /** How the model is served. */
  readonly runtime: ServingRuntime;
  /** Name of the Deployment, Service and the rest; a DNS-1123 label. @default - the construct id */
  readonly name?: string;
  /** Namespace. @default - the chart's namespace */
  readonly namespace?: string;
  /** Value of the `model` label on serving metrics. @default - name */
  readonly modelName?: string;
  /** Replica count; the minimum when autoscaling. @default 2 */
  readonly replicas?: number;
  /** Upper bound for the autoscaler; above `replicas` turns autoscaling on. @default - replicas: no autoscaler */
  readonly maxReplicas?: number;
  /** What the autoscaler watches. @default [ScalingMetric.cpu(70)] */
  readonly scaleOn?: ScalingMetric[];
  /** CPU the scheduler reserves per pod for the model server. @default Cpu.cores(1) */
  readonly cpuRequest?: Cpu;
  /** CPU cap of the model server; the worker count derives from it. @default - cpuRequest */
  readonly cpuLimit?: Cpu;
  /** Memory reserved for the model server. @default Size.gibibytes(2) */
  readonly memoryRequest?: Size;
  /** Memory cap of the model server. @default - memoryRequest */
  readonly memoryLimit?: Size;
  /** Size limit of each writable scratch directory (emptyDir). @default Size.gibibytes(1) */
  readonly scratchSize?: Size;
  /** GPUs per pod. @default 0 */
  readonly gpuCount?: number;
  /** Extended resource name of the GPUs. @default 'nvidia.com/gpu' */
  readonly gpuResourceName?: string;
  /** Node labels the pods require, e.g. a GPU node pool. @default - none */
  readonly nodeSelector?: Record<string, string>;
  /** Taints the pods tolerate. @default - with GPUs, the `gpuResourceName` NoSchedule taint; else none */
  readonly tolerations?: Toleration[];
  /** Spread replicas across zones and nodes (best effort). @default true */
  readonly topologySpread?: boolean;
  /** Plain environment variables of the model server. @default {} */
  readonly env?: Record<string, string>;
  /** Environment variables read from existing Secrets. @default {} */
  readonly secretEnv?: Record<string, SecretKeySelector>;
  /** ServiceAccount the pods run as. @default - the namespace's default */
  readonly serviceAccountName?: string;
  /** Mount an API token; only for servers that call the Kubernetes API. @default false */
  readonly automountServiceAccountToken?: boolean;
  /** Secrets used to pull private images. @default [] */
  readonly imagePullSecrets?: string[];
  /** Longest the model may take to load before the pod is restarted. @default Duration.minutes(10) */
  readonly startupTimeout?: Duration;
  /** Time between SIGTERM and SIGKILL, for in-flight predictions. @default Duration.seconds(30) */
  readonly terminationGracePeriod?: Duration;
  /** Run the metrics proxy sidecar. @default - true unless the runtime exports its own metrics */
  readonly metricsProxy?: boolean;
  /** Image of the metrics proxy (a stock Node.js image). @default Images.NODE */
  readonly metricsProxyImage?: string;
  /** Port of the Service. @default 80 */
  readonly servicePort?: number;
  /** Host name of an Ingress for the service. @default - no Ingress */
  readonly ingressHost?: string;
  /** IngressClass of that Ingress. @default - the cluster's default class */
  readonly ingressClassName?: string;
  /** TLS Secret of that Ingress. @default - no TLS */
  readonly ingressTlsSecretName?: string;
  /** Annotations of that Ingress (controller settings). @default {} */
  readonly ingressAnnotations?: Record<string, string>;
  /** Clients allowed to call the model; set it to get a NetworkPolicy that also lets Prometheus scrape. @default - no NetworkPolicy */
  readonly allowedClients?: NetworkPeer[];
  /** Labels of the ServiceMonitor. @default - Monitoring.of(scope).serviceMonitorLabels */
  readonly serviceMonitorLabels?: Record<string, string>;
  /** Scrape interval. @default - Monitoring.of(scope).scrapeInterval */
  readonly scrapeInterval?: Duration;
  /** Extra labels of every object. @default {} */
  readonly labels?: Record<string, string>;
  /** Extra annotations of the pods. @default {} */
  readonly podAnnotations?: Record<string, string>;
  /** PriorityClass of the pods. @default - the cluster default */
  readonly priorityClassName?: string;
  /** p99 latency objective, used by PrometheusAlerts. @default - none */
  readonly latencyObjective?: Duration;
  /** Error-rate objective as a share of requests (0..1), used by PrometheusAlerts. @default - none */
  readonly errorRateObjective?: number;
  /** Lowest acceptable accuracy (0..1) on labelled production data, used by PrometheusAlerts with a DriftMonitor that checks quality. @default - none */
  readonly accuracyFloor?: number;
}

const KIND = 'ModelService';
// Deployment names end up in pod host names with an 11-character ReplicaSet hash and a
// 6-character pod suffix; 52 keeps those within the 63 characters of a DNS label.
const MAX_NAME_LENGTH = 52;
const MODEL_CONTAINER = 'model-server';
const PROXY_CONTAINER = 'metrics-proxy';
const METRICS_PORT_NAME = 'metrics';
const PROXY_METRICS_PORT = 9090;
/** Annotation carrying the SHA-256 of the metrics proxy bundle; a new bundle rolls the pods. */
export const METRICS_PROXY_HASH_ANNOTATION = BUNDLE_HASH_ANNOTATIONS.metricsProxy;

/**
 * A production model server: Deployment, Service, autoscaler, disruption budget,
 * ServiceMonitor and, optionally, an Ingress and a NetworkPolicy; with uniform serving
 * metrics through a metrics proxy sidecar for runtimes that have none.
 */
export class ModelService extends Construct implements IModelService {
  public readonly name: string;
  public readonly namespace: string;
  public readonly modelName: string;
  public readonly exportsServingMetrics: boolean;
  public readonly latencyObjective?: Duration;
  public readonly errorRateObjective?: number;
  public readonly accuracyFloor?: number;
  /** The runtime's container settings after sizing. */
  public readonly runtimeContainer: RuntimeContainer;
  /** Worker processes per pod, derived from the CPU limit. */
  public readonly workers: number;
  /** Labels that select this service's pods. */
  public readonly selectorLabels: Record<string, string>;
  /** The Deployment. */
  public readonly deployment: k8s.KubeDeployment;
  /** The Service. */
  public readonly service: k8s.KubeService;
  /** The ServiceMonitor, when the pods export serving metrics. */
  public readonly serviceMonitor?: ServiceMonitor;

  private readonly env: k8s.EnvVar[] = [];
  private readonly reservedEnvNames: Map<string, string> = new Map();

  constructor(scope: Construct, id: string, props: ModelServiceProps) {
    super(scope, id);
    const p = props ?? ({} as ModelServiceProps);
    const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(KIND, this, field, value, problem, fix);

    // ---- names
    this.name = requireDnsLabel(KIND, this, 'name', p.name ?? id, MAX_NAME_LENGTH);
    this.namespace = resolveNamespace(KIND, this, p.namespace, 'explicit namespaces keep Service DNS names and metric labels stable');
    this.modelName = p.modelName ?? this.name;
    if (typeof this.modelName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(this.modelName)) {
      throw fail('modelName', this.modelName, 'is not a usable metric label value', 'use at most 63 letters, digits, "_", "." or "-"');
    }

    // ---- runtime
    if (!(p.runtime instanceof ServingRuntime)) {
      throw fail('runtime', p.runtime, 'is required', 'pass e.g. ServingRuntime.mlflow({ model: registry.model("fraud-detector", { alias: "champion" }) })');
    }
    const runtimeProblem = p.runtime.problems();
    if (runtimeProblem) throw fail(...runtimeProblem);

    // ---- replicas and autoscaling
    const replicas = requireInteger(KIND, this, 'replicas', p.replicas ?? 2, 1, 1000);
    const maxReplicas = requireInteger(KIND, this, 'maxReplicas', p.maxReplicas ?? replicas, 1, 1000);
    if (maxReplicas < replicas) {
      throw fail('replicas', replicas, `is above maxReplicas (${maxReplicas})`, 'lower replicas or raise maxReplicas');
    }
    const autoscaled = maxReplicas > replicas;
    if (p.scaleOn !== undefined && !autoscaled) {
      throw fail('maxReplicas', p.maxReplicas, `must be above replicas (${replicas}) when scaleOn is set`, 'raise maxReplicas, or drop scaleOn for a fixed replica count');
    }
    const scaleOn = p.scaleOn ?? [ScalingMetric.cpu(70)];
    if (!Array.isArray(scaleOn) || scaleOn.length === 0) {
      throw fail('scaleOn', scaleOn, 'is empty', 'pass at least one metric, e.g. [ScalingMetric.cpu(70)]');
    }
    const kinds = new Set<string>();
    scaleOn.forEach((metric, i) => {
      if (!(metric instanceof ScalingMetric)) {
        throw fail(`scaleOn[${i}]`, metric, 'is not a ScalingMetric', 'use ScalingMetric.cpu(), .memory() or .requestRate({...})');
      }
      const problem = metric.problems();
      if (problem) throw fail(`scaleOn[${i}] ${problem[0]}`, problem[1], problem[2], problem[3]);
      if (kinds.has(metric.kind)) throw fail(`scaleOn[${i}]`, metric.kind, 'appears twice', 'keep one target per metric');
      kinds.add(metric.kind);
    });

    // ---- resources
    const cpuRequest = p.cpuRequest ?? Cpu.cores(1);
    const cpuLimit = p.cpuLimit ?? cpuRequest;
    for (const [field, cpu] of [['cpuRequest', cpuRequest], ['cpuLimit', cpuLimit]] as const) {
      if (!(cpu instanceof Cpu) || !cpu.isValid) {
        throw fail(field, cpu instanceof Cpu ? `${cpu.millicores} millicores` : cpu, 'is not a positive whole number of millicores', 'use e.g. Cpu.millis(500) or Cpu.cores(2)');
      }
    }
    if (cpuRequest.millicores > cpuLimit.millicores) {
      throw fail('cpuRequest', cpuRequest, `is above cpuLimit (${cpuLimit.toQuantity()})`, 'lower cpuRequest or raise cpuLimit');
    }
    const memoryRequest = p.memoryRequest ?? Size.gibibytes(2);
    const memoryLimit = p.memoryLimit ?? memoryRequest;
    const memRequestMib = requireMebibytes(KIND, this, 'memoryRequest', memoryRequest);
    const memLimitMib = requireMebibytes(KIND, this, 'memoryLimit', memoryLimit);
    if (memRequestMib > memLimitMib) {
      throw fail('memoryRequest', `${memRequestMib}Mi`, `is above memoryLimit (${memLimitMib}Mi)`, 'lower memoryRequest or raise memoryLimit');
    }
    const scratchMib = requireMebibytes(KIND, this, 'scratchSize', p.scratchSize ?? Size.gibibytes(1));
    const gpuCount = requireInteger(KIND, this, 'gpuCount', p.gpuCount ?? 0, 0, 16);
    const gpuResourceName = p.gpuResourceName ?? 'nvidia.com/gpu';
    if (p.gpuResourceName !== undefined && gpuCount === 0) {
      throw fail('gpuCount', p.gpuCount, `is 0 while gpuResourceName is set (${describe(p.gpuResourceName)})`, 'set gpuCount to the GPUs each pod needs, or drop gpuResourceName');
    }
    if (!/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(gpuResourceName)) {
      throw fail('gpuResourceName', gpuResourceName, 'is not an extended resource name', 'use a vendor-prefixed name such as "nvidia.com/gpu"');
    }
    // Worker processes follow the CPU the container may use, never the node's core count
    // (which a Python server would otherwise read from /proc and overcommit).
    this.workers = Math.max(1, Math.floor(cpuLimit.millicores / 1000));

    // ---- probes and timing
    const startupSeconds = requireSeconds(KIND, this, 'startupTimeout', p.startupTimeout ?? Duration.minutes(10), 10, 3600);
    const graceSeconds = requireSeconds(KIND, this, 'terminationGracePeriod', p.terminationGracePeriod ?? Duration.seconds(30), 15, 3600);

    // ---- metrics
    // What the runtime is like on its own port decides whether the proxy goes in front of it.
    const standalone = p.runtime.bind({ workers: this.workers, port: p.runtime.defaultPort });
    const ownMetrics = standalone.metrics;
    const proxied = p.metricsProxy ?? ownMetrics === undefined;
    if (standalone.loopbackOnly && !proxied) {
      throw fail('metricsProxy', p.metricsProxy, `cannot be false for the ${p.runtime.kind} runtime, whose server only listens on 127.0.0.1`,
        'keep the metrics proxy: it is the only way into the pod for clients and probes');
    }
    this.exportsServingMetrics = proxied || ownMetrics !== undefined;
    if (kinds.has('requestRate') && !this.exportsServingMetrics) {
      throw fail('scaleOn', 'requestRate', 'needs serving metrics, but metricsProxy is false and the runtime exports none', 'enable metricsProxy or declare runtime metrics');
    }
    const proxyImage = proxied ? requirePinnedImage(KIND, this, 'metricsProxyImage', p.metricsProxyImage ?? Images.NODE) : undefined;

    // ---- ports: the Service's `http` port always targets the container port named `http`,
    // which is the proxy when it runs, else the model server.
    const servicePort = requireInteger(KIND, this, 'servicePort', p.servicePort ?? 80, 1, 65535);
    const fixedPort = p.runtime.kind === 'mlflow' ? undefined : p.runtime.defaultPort;
    const proxyPort = proxied ? firstFree([8080, 8000, 8888], [fixedPort, PROXY_METRICS_PORT]) : undefined;
    const modelPort = fixedPort ?? (proxied ? 8081 : 8080);
    if (proxied && (modelPort === PROXY_METRICS_PORT)) {
      throw fail('runtime.port', modelPort, `collides with the metrics proxy's metrics port`, 'serve the model on another port, or set metricsProxy: false');
    }
    this.runtimeContainer = p.runtime.bind({ workers: this.workers, port: modelPort });
    requirePinnedImage(KIND, this, 'runtime.image', this.runtimeContainer.image);

    // ---- latency and error objectives
    if (p.latencyObjective !== undefined) {
      const ms = p.latencyObjective.toMilliseconds();
      if (!(ms > 0) || ms > 600_000) throw fail('latencyObjective', `${ms}ms`, 'is not between 0 and 10 minutes', 'use e.g. Duration.millis(500)');
      this.latencyObjective = p.latencyObjective;
    }
    if (p.errorRateObjective !== undefined) {
      if (typeof p.errorRateObjective !== 'number' || !(p.errorRateObjective > 0 && p.errorRateObjective < 1)) {
        throw fail('errorRateObjective', p.errorRateObjective, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.05 for 5 %');
      }
      this.errorRateObjective = p.errorRateObjective;
    }
    if (p.accuracyFloor !== undefined) {
      if (typeof p.accuracyFloor !== 'number' || !(p.accuracyFloor > 0 && p.accuracyFloor < 1)) {
        throw fail('accuracyFloor', p.accuracyFloor, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.9 for 90 % accuracy');
      }
      this.accuracyFloor = p.accuracyFloor;
    }

    // ---- labels
    const extraLabels = p.labels === undefined ? {} : requireLabels(KIND, this, 'labels', p.labels);
    this.selectorLabels = { 'app.kubernetes.io/name': this.name, 'app.kubernetes.io/component': 'model-server' };
    const labels = {
      ...extraLabels,
      ...this.selectorLabels,
      'app.kubernetes.io/part-of': 'mlops',
      'app.kubernetes.io/managed-by': 'mlops-constructs',
    };
    const podAnnotations = p.podAnnotations === undefined ? {} : requireStringMap(KIND, this, 'podAnnotations', p.podAnnotations);
    const monitoring = Monitoring.of(this);
    const serviceMonitorLabels = requireLabels(KIND, this, 'serviceMonitorLabels', p.serviceMonitorLabels ?? monitoring.serviceMonitorLabels);
    const scrapeSeconds = requireSeconds(KIND, this, 'scrapeInterval', p.scrapeInterval ?? monitoring.scrapeInterval, 5, 600);

    // ---- env
    for (const e of this.runtimeContainer.env) {
      this.reservedEnvNames.set(e.name, `the ${p.runtime.kind} runtime`);
      this.env.push({ name: e.name, value: e.value });
    }
    for (const [name, value] of Object.entries(p.env ?? {})) this.addEnv(name, value);
    for (const [name, ref] of Object.entries(p.secretEnv ?? {})) this.addSecretEnv(name, ref);

    // ---- pod-level references
    if (p.serviceAccountName !== undefined) requireDnsSubdomain(KIND, this, 'serviceAccountName', p.serviceAccountName);
    (p.imagePullSecrets ?? []).forEach((s, i) => requireDnsSubdomain(KIND, this, `imagePullSecrets[${i}]`, s));
    if (p.priorityClassName !== undefined) requireDnsSubdomain(KIND, this, 'priorityClassName', p.priorityClassName);
    const nodeSelector = p.nodeSelector === undefined ? undefined : requireLabels(KIND, this, 'nodeSelector', p.nodeSelector);
    const tolerations = (p.tolerations ?? (gpuCount > 0 ? [{ key: gpuResourceName, operator: 'Exists', effect: 'NoSchedule' } as Toleration] : []))
      .map((t, i) => toleration(this, i, t));

    // ---- exposure (validated before any object exists, so a bad prop leaves nothing behind)
    if (p.ingressHost !== undefined) {
      if (typeof p.ingressHost !== 'string' || !isDnsSubdomain(p.ingressHost.replace(/^\*\./, ''))) {
        throw fail('ingressHost', p.ingressHost, 'is not a DNS host name', 'use e.g. "fraud.example.com"');
      }
      if (p.ingressClassName !== undefined) requireDnsSubdomain(KIND, this, 'ingressClassName', p.ingressClassName);
      if (p.ingressTlsSecretName !== undefined) requireDnsSubdomain(KIND, this, 'ingressTlsSecretName', p.ingressTlsSecretName);
      if (p.ingressAnnotations !== undefined) requireStringMap(KIND, this, 'ingressAnnotations', p.ingressAnnotations);
    } else {
      for (const field of ['ingressClassName', 'ingressTlsSecretName', 'ingressAnnotations'] as const) {
        if (p[field] !== undefined) throw fail(field, p[field], 'is set without ingressHost', 'set ingressHost to create the Ingress, or drop the field');
      }
    }
    let peers: ReturnType<NetworkPeer['toPeer']>[] | undefined;
    if (p.allowedClients !== undefined) {
      if (!Array.isArray(p.allowedClients)) throw fail('allowedClients', p.allowedClients, 'is not a list', 'pass e.g. [NetworkPeer.namespace("ingress-nginx")]');
      peers = p.allowedClients.map((peer, i) => {
        if (!(peer instanceof NetworkPeer)) throw fail(`allowedClients[${i}]`, peer, 'is not a NetworkPeer', 'use NetworkPeer.namespace(...) or NetworkPeer.pods(...)');
        const parts = peer.parts();
        if (parts.namespace !== undefined) requireDnsLabel(KIND, this, `allowedClients[${i}] namespace`, parts.namespace);
        if (parts.labels !== undefined) requireLabels(KIND, this, `allowedClients[${i}] labels`, parts.labels);
        return peer.toPeer();
      });
    }
    const metricsOnOwnPort = proxied || (this.runtimeContainer.metrics !== undefined && this.runtimeContainer.metrics.port !== modelPort);
    const metricsPortNumber = proxied ? PROXY_METRICS_PORT : this.runtimeContainer.metrics?.port;
    if (metricsOnOwnPort && metricsPortNumber === servicePort) {
      throw fail('servicePort', servicePort, 'collides with the metrics port', 'choose another servicePort');
    }

    // ---- containers
    const writable = this.runtimeContainer.writablePaths;
    const volumeNames = scratchVolumeNames(writable);
    const volumes: k8s.Volume[] = writable.map((_, i) => ({
      name: volumeNames[i],
      emptyDir: { sizeLimit: k8s.Quantity.fromString(`${scratchMib}Mi`) },
    }));
    const limits: Record<string, k8s.Quantity> = {
      cpu: k8s.Quantity.fromString(cpuLimit.toQuantity()),
      memory: k8s.Quantity.fromString(`${memLimitMib}Mi`),
    };
    if (gpuCount > 0) limits[gpuResourceName] = k8s.Quantity.fromNumber(gpuCount);
    const modelPortName = proxied ? 'model' : 'http';
    const modelPorts: k8s.ContainerPort[] = [{ name: modelPortName, containerPort: modelPort, protocol: 'TCP' }];
    const rc = this.runtimeContainer;
    if (!proxied && rc.metrics && rc.metrics.port !== modelPort) {
      modelPorts.push({ name: METRICS_PORT_NAME, containerPort: rc.metrics.port, protocol: 'TCP' });
    }
    // Kubelet probes reach the pod IP, so a loopback-only server is probed through the proxy.
    const probePortName = rc.loopbackOnly ? 'http' : modelPortName;
    const httpGet = (path: string) => ({ path, port: k8s.IntOrString.fromString(probePortName) });
    const containers: k8s.Container[] = [{
      name: MODEL_CONTAINER,
      image: rc.image,
      imagePullPolicy: 'IfNotPresent',
      command: rc.command,
      args: rc.args,
      env: Lazy.any({ produce: () => [...this.env] }) as unknown as k8s.EnvVar[],
      ports: modelPorts,
      resources: {
        requests: {
          cpu: k8s.Quantity.fromString(cpuRequest.toQuantity()),
          memory: k8s.Quantity.fromString(`${memRequestMib}Mi`),
        },
        limits,
      },
      // Startup allows for downloading and loading the model; liveness only starts after it.
      startupProbe: { httpGet: httpGet(rc.healthPath), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: Math.ceil(startupSeconds / 5) },
      readinessProbe: { httpGet: httpGet(rc.readyPath), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
      livenessProbe: { httpGet: httpGet(rc.healthPath), periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 4 },
      // Behind the proxy, the server must outlive the proxy's 5 s preStop delay and finish the
      // requests it forwards, or a rollout would answer them with 502.
      lifecycle: proxied && rc.hasSleep ? { preStop: { exec: { command: ['sleep', '10'] } } } : undefined,
      securityContext: restrictedContainerSecurityContext(rc.userId),
      volumeMounts: writable.map((path, i) => ({ name: volumeNames[i], mountPath: path })),
    }];

    let bundleHash: string | undefined;
    if (proxied) {
      const bundle = loadRuntimeBundle(BUNDLES.metricsProxy);
      bundleHash = bundle.sha256;
      new k8s.KubeConfigMap(this, 'MetricsProxyBundle', {
        metadata: { name: `${this.name}-metrics-proxy`, namespace: this.namespace, labels: { ...labels, 'app.kubernetes.io/component': 'metrics-proxy' } },
        data: { [BUNDLES.metricsProxy]: bundle.source },
      });
      volumes.push({ name: 'metrics-proxy-bundle', configMap: { name: `${this.name}-metrics-proxy`, defaultMode: 0o444 } });
      containers.push({
        name: PROXY_CONTAINER,
        image: proxyImage!,
        imagePullPolicy: 'IfNotPresent',
        command: ['node', `${BUNDLE_MOUNT}/${BUNDLES.metricsProxy}`],
        env: [
          { name: PROXY_ENV.upstream, value: `http://127.0.0.1:${modelPort}` },
          { name: PROXY_ENV.listenPort, value: String(proxyPort) },
          { name: PROXY_ENV.metricsPort, value: String(PROXY_METRICS_PORT) },
          { name: PROXY_ENV.modelName, value: this.modelName },
          // Requests may take as long as the server allows plus a margin, then the proxy answers 504.
          { name: PROXY_ENV.upstreamTimeoutSeconds, value: String(graceSeconds + 60) },
          // The preStop sleep (5 s) plus the drain stay 5 s inside the grace period, before SIGKILL.
          { name: PROXY_ENV.drainSeconds, value: String(Math.max(1, graceSeconds - 10)) },
          { name: PROXY_ENV.uncountedPaths, value: uniq(['/ping', '/health', '/healthz', '/ready', '/version', '/metrics', rc.healthPath, rc.readyPath]).join(',') },
        ],
        ports: [
          { name: 'http', containerPort: proxyPort!, protocol: 'TCP' },
          { name: METRICS_PORT_NAME, containerPort: PROXY_METRICS_PORT, protocol: 'TCP' },
        ],
        resources: {
          requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') },
          limits: { cpu: k8s.Quantity.fromString('500m'), memory: k8s.Quantity.fromString('128Mi') },
        },
        readinessProbe: { httpGet: { path: '/healthz', port: k8s.IntOrString.fromString(METRICS_PORT_NAME) }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
        livenessProbe: { httpGet: { path: '/healthz', port: k8s.IntOrString.fromString(METRICS_PORT_NAME) }, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 },
        // Keep taking traffic until endpoints controllers and kube-proxy have removed the pod.
        lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
        securityContext: restrictedContainerSecurityContext(),
        volumeMounts: [{ name: 'metrics-proxy-bundle', mountPath: BUNDLE_MOUNT, readOnly: true }],
      });
    }

    const spread: k8s.TopologySpreadConstraint[] = (p.topologySpread ?? true) ? [
      { topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { ...this.selectorLabels } } },
      { topologyKey: 'kubernetes.io/hostname', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { ...this.selectorLabels } } },
    ] : [];

    // ---- Deployment
    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: {
        // With an autoscaler the replica count is its to set; a fixed count here would reset it on every apply.
        replicas: autoscaled ? undefined : replicas,
        revisionHistoryLimit: 5,
        progressDeadlineSeconds: Math.max(600, startupSeconds + 120),
        selector: { matchLabels: { ...this.selectorLabels } },
        // Never below capacity during a rollout: new pods must be ready before old ones go.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0), maxSurge: k8s.IntOrString.fromString('25%') } },
        template: {
          metadata: {
            labels,
            annotations: {
              ...podAnnotations,
              'kubectl.kubernetes.io/default-container': MODEL_CONTAINER,
              ...(bundleHash ? { [METRICS_PROXY_HASH_ANNOTATION]: bundleHash } : {}),
            },
          },
          spec: {
            automountServiceAccountToken: p.automountServiceAccountToken ?? false,
            enableServiceLinks: false,
            serviceAccountName: p.serviceAccountName,
            imagePullSecrets: p.imagePullSecrets?.map((name) => ({ name })),
            priorityClassName: p.priorityClassName,
            terminationGracePeriodSeconds: graceSeconds,
            securityContext: restrictedPodSecurityContext(rc.userId),
            nodeSelector,
            tolerations: tolerations.length > 0 ? tolerations : undefined,
            topologySpreadConstraints: spread.length > 0 ? spread : undefined,
            containers,
            volumes,
          },
        },
      },
    });

    // ---- Service
    const servicePorts: k8s.ServicePort[] = [{ name: 'http', port: servicePort, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }];
    if (metricsOnOwnPort) {
      servicePorts.push({ name: METRICS_PORT_NAME, port: metricsPortNumber!, targetPort: k8s.IntOrString.fromString(METRICS_PORT_NAME), protocol: 'TCP' });
    }
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: { type: 'ClusterIP', selector: { ...this.selectorLabels }, ports: servicePorts },
    });

    // ---- autoscaling
    if (autoscaled) {
      const requestRate = scaleOn.find((m): m is RequestRateScalingMetric => m instanceof RequestRateScalingMetric);
      const resources = scaleOn.filter((m): m is ResourceScalingMetric => m instanceof ResourceScalingMetric);
      if (requestRate) {
        new KedaScaledObject(this, 'ScaledObject', {
          metadata: { name: this.name, namespace: this.namespace, labels },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: this.name },
            minReplicaCount: replicas,
            maxReplicaCount: maxReplicas,
            pollingInterval: 15,
            cooldownPeriod: 300,
            triggers: [
              {
                type: 'prometheus',
                metricType: 'AverageValue',
                metadata: {
                  serverAddress: requestRate.options.prometheusServerAddress,
                  query: `sum(rate(${SERVING_METRICS.requestsTotal}{namespace="${this.namespace}",model="${this.modelName}"}[${requestRate.windowSeconds}s]))`,
                  threshold: String(requestRate.options.requestsPerSecondPerReplica),
                },
              },
              ...resources.map((m) => ({ type: m.kind, metricType: 'Utilization', metadata: { value: String(m.targetUtilization) } })),
            ],
          },
        });
      } else {
        new k8s.KubeHorizontalPodAutoscalerV2(this, 'Autoscaler', {
          metadata: { name: this.name, namespace: this.namespace, labels },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: this.name },
            minReplicas: replicas,
            maxReplicas,
            metrics: resources.map((m) => ({
              type: 'Resource',
              resource: { name: m.kind, target: { type: 'Utilization', averageUtilization: m.targetUtilization } },
            })),
            // Scale up fast on load spikes, down slowly so a short lull does not drop warm replicas.
            behavior: {
              scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 30 }, { type: 'Pods', value: 4, periodSeconds: 30 }] },
              scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] },
            },
          },
        });
      }
    }

    // ---- disruption budget: only with more than one replica, or it would block node drains.
    if (replicas > 1) {
      new k8s.KubePodDisruptionBudget(this, 'DisruptionBudget', {
        metadata: { name: this.name, namespace: this.namespace, labels },
        spec: {
          maxUnavailable: k8s.IntOrString.fromNumber(1),
          selector: { matchLabels: { ...this.selectorLabels } },
          // Pods that never became ready must not block a drain.
          unhealthyPodEvictionPolicy: 'AlwaysAllow',
        },
      });
    }

    // ---- ServiceMonitor
    if (this.exportsServingMetrics) {
      const endpoint: ServiceMonitorSpecEndpoints = proxied
        ? { port: METRICS_PORT_NAME, path: '/metrics', interval: `${scrapeSeconds}s`, scrapeTimeout: `${Math.min(10, scrapeSeconds)}s` }
        : {
          port: metricsOnOwnPort ? METRICS_PORT_NAME : 'http',
          path: rc.metrics!.path,
          interval: `${scrapeSeconds}s`,
          scrapeTimeout: `${Math.min(10, scrapeSeconds)}s`,
          relabelings: [{ action: ServiceMonitorSpecEndpointsRelabelingsAction.REPLACE, targetLabel: 'model', replacement: this.modelName }],
          metricRelabelings: contractRelabelings(rc.metrics!),
        };
      this.serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
        metadata: { name: this.name, namespace: this.namespace, labels: { ...labels, ...serviceMonitorLabels } },
        spec: {
          selector: { matchLabels: { ...this.selectorLabels } },
          endpoints: [endpoint],
        },
      });
    }

    this.createIngress(p, labels);
    this.createNetworkPolicy(peers, monitoring, labels, metricsOnOwnPort);
  }

  private createIngress(p: ModelServiceProps, labels: Record<string, string>): void {
    if (p.ingressHost === undefined) return;
    new k8s.KubeIngress(this, 'Ingress', {
      metadata: { name: this.name, namespace: this.namespace, labels, annotations: p.ingressAnnotations },
      spec: {
        ingressClassName: p.ingressClassName,
        tls: p.ingressTlsSecretName ? [{ hosts: [p.ingressHost], secretName: p.ingressTlsSecretName }] : undefined,
        rules: [{
          host: p.ingressHost,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: this.name, port: { name: 'http' } } } }] },
        }],
      },
    });
  }

  private createNetworkPolicy(
    peers: ReturnType<NetworkPeer['toPeer']>[] | undefined,
    monitoring: ReturnType<typeof Monitoring.of>,
    labels: Record<string, string>,
    metricsOnOwnPort: boolean,
  ): void {
    if (peers === undefined) return;
    const ingress: k8s.NetworkPolicyIngressRule[] = [];
    if (peers.length > 0) ingress.push({ from: peers, ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromString('http') }] });
    if (this.exportsServingMetrics) {
      ingress.push({
        from: [{
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': monitoring.prometheusNamespace } },
          podSelector: { matchLabels: { ...monitoring.prometheusPodLabels } },
        }],
        ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromString(metricsOnOwnPort ? METRICS_PORT_NAME : 'http') }],
      });
    }
    new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      // An empty allow-list still admits Prometheus; every other client is refused.
      spec: { podSelector: { matchLabels: { ...this.selectorLabels } }, policyTypes: ['Ingress'], ingress },
    });
  }

  /** Adds a plain environment variable to the model server; returns the variable. */
  public addEnv(name: string, value: string): k8s.EnvVar {
    this.checkEnvName(`env.${name}`, name);
    if (typeof value !== 'string') {
      throw invalidProp(KIND, this, `env.${name}`, value, 'is not a string', 'quote numbers and booleans, e.g. "4"');
    }
    if (/PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY/i.test(name)) {
      throw invalidProp(KIND, this, `env.${name}`, '<redacted>', 'looks like a secret written in plain text', 'put it in a Secret and use secretEnv / addSecretEnv');
    }
    const env = { name, value };
    this.env.push(env);
    return env;
  }

  /** Adds an environment variable read from an existing Secret; returns the variable. */
  public addSecretEnv(name: string, ref: SecretKeySelector): k8s.EnvVar {
    this.checkEnvName(`secretEnv.${name}`, name);
    requireDnsSubdomain(KIND, this, `secretEnv.${name}.secretName`, ref?.secretName);
    if (typeof ref.key !== 'string' || !/^[-._a-zA-Z0-9]+$/.test(ref.key)) {
      throw invalidProp(KIND, this, `secretEnv.${name}.key`, ref.key, 'is not a valid Secret key', 'use letters, digits, "-", "_" and "."');
    }
    const env = { name, valueFrom: { secretKeyRef: { name: ref.secretName, key: ref.key } } };
    this.env.push(env);
    return env;
  }

  private checkEnvName(field: string, name: string): void {
    requireEnvName(KIND, this, field, name);
    const owner = this.reservedEnvNames.get(name);
    if (owner !== undefined) {
      throw invalidProp(KIND, this, field, name, `is already set by ${owner}`, 'use another name or drop the duplicate');
    }
    this.reservedEnvNames.set(name, field.startsWith('secretEnv') ? 'secretEnv' : 'env');
  }
}

/** Renames a server's own metrics to the contract names at scrape time. */
function contractRelabelings(m: NonNullable<RuntimeContainer['metrics']>): ServiceMonitorSpecEndpointsMetricRelabelings[] {
  const rules: ServiceMonitorSpecEndpointsMetricRelabelings[] = [];
  const replace = ServiceMonitorSpecEndpointsMetricRelabelingsAction.REPLACE;
  if (m.statusCodeLabel !== 'code') {
    rules.push({ action: replace, sourceLabels: ['__name__', m.statusCodeLabel], regex: `${escapeRegex(m.requestsTotal)};(.*)`, targetLabel: 'code', replacement: '$1' });
  }
  rules.push({ action: replace, sourceLabels: ['__name__'], regex: escapeRegex(m.requestsTotal), targetLabel: '__name__', replacement: SERVING_METRICS.requestsTotal });
  rules.push({ action: replace, sourceLabels: ['__name__'], regex: `${escapeRegex(m.durationHistogram)}_(bucket|sum|count)`, targetLabel: '__name__', replacement: `${SERVING_METRICS.requestDurationSeconds}_$1` });
  if (m.inFlightGauge !== undefined) {
    rules.push({ action: replace, sourceLabels: ['__name__'], regex: escapeRegex(m.inFlightGauge), targetLabel: '__name__', replacement: SERVING_METRICS.requestsInFlight });
  }
  return rules;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function toleration(scope: Construct, i: number, t: Toleration): k8s.Toleration {
  if (t === null || typeof t !== 'object' || typeof t.key !== 'string' || t.key.length === 0) {
    throw invalidProp(KIND, scope, `tolerations[${i}].key`, t?.key, 'is required', 'name the taint key, e.g. "nvidia.com/gpu"');
  }
  const operator = t.operator ?? 'Exists';
  if (operator !== 'Exists' && operator !== 'Equal') {
    throw invalidProp(KIND, scope, `tolerations[${i}].operator`, operator, 'is not Exists or Equal', 'use "Exists" or "Equal"');
  }
  if (operator === 'Equal' && t.value === undefined) {
    throw invalidProp(KIND, scope, `tolerations[${i}].value`, undefined, 'is required with operator Equal', 'set value, or use operator "Exists"');
  }
  if (operator === 'Exists' && t.value !== undefined) {
    throw invalidProp(KIND, scope, `tolerations[${i}].value`, t.value, 'must be unset with operator Exists', 'drop value, or use operator "Equal"');
  }
  if (t.effect !== undefined && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
    throw invalidProp(KIND, scope, `tolerations[${i}].effect`, t.effect, 'is not a taint effect', 'use NoSchedule, PreferNoSchedule or NoExecute');
  }
  return { key: t.key, operator, value: t.value, effect: t.effect };
}

function scratchVolumeNames(paths: string[]): string[] {
  const used = new Set<string>();
  return paths.map((path) => {
    const base = `scratch-${path.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')}`.slice(0, 55).replace(/-+$/, '');
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}-${n}`;
    used.add(name);
    return isDnsLabel(name) ? name : `scratch-${used.size}`;
  });
}

function firstFree(candidates: number[], taken: (number | undefined)[]): number {
  return candidates.find((c) => !taken.includes(c))!;
}

function uniq<T>(values: T[]): T[] {
  return [...new Set(values)];
}
