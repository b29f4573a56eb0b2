import { Duration, Lazy, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { IModelService, InferenceLogLocation, ShadowInfo } from './interfaces';
import { RequestRateScalingMetric, ResourceScalingMetric, ScalingMetric } from './scaling-metric';
import { RuntimeContainer, ServingRuntime } from './serving-runtime';
import { checkInferenceLog, CheckedInferenceLog, InferenceLogProps } from './inference-log';
import { CheckedShadow, checkShadow, shadowProxyEnv, ShadowProps } from './shadow';
import { BUNDLE_HASH_ANNOTATIONS, BUNDLES, PROXY_DURATION_BUCKETS, PROXY_ENV, SERVING_METRICS, SHADOW_VARIANT } from '../../contract';
import { ScaledObject as KedaScaledObject } from '../../imports/keda.sh';
import {
  ServiceMonitor, ServiceMonitorSpecEndpoints, ServiceMonitorSpecEndpointsMetricRelabelings,
  ServiceMonitorSpecEndpointsMetricRelabelingsAction, ServiceMonitorSpecEndpointsRelabelingsAction,
} from '../../imports/monitoring.coreos.com';
import { Cluster, serviceHostName } from '../core/cluster';
import { Images } from '../core/images';
import * as k8s from '../core/k8s';
import { claimObjectNames } from '../core/object-names';
import { addIngressPolicy, NetworkPeer, openEgressReason, prometheusPeer, requireIngressClients, requirePeers } from '../core/network-policy';
import { annotateScannerExceptions, ScannerException } from '../core/scanner-annotations';
import { requireMebibytes, requireSeconds } from '../core/prop-checks';
import { Cpu } from '../core/quantities';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import {
  describe, invalidProp, isDnsLabel, requireDnsLabel, requireInteger, requireLabels, requirePinnedImage, resolveNamespace,
} from '../core/validation';
import {
  addBundleConfigMap, addClusterIpService, addDisruptionBudget, addIngress, addServiceMonitor, basePodSpec, BundleMount,
  CheckedPodProps, EnvBuilder, fixedResources, namedServicePort, ObjectMeta, requireIngress, requirePodProps, requireResources,
  requireScrape, resourceRequirements, Resources, Scrape, scrapeTiming, WorkloadLabels, workloadLabels,
} from '../core/workload';
import { EnvProps, IngressProps, PodPlacementProps, PodProps, ResourceProps, ScrapeProps, SecretKeySelector, Toleration } from '../core/workload-props';

/** Properties of a ModelService. */
export interface ModelServiceProps extends ResourceProps, EnvProps, PodProps, PodPlacementProps, IngressProps, ScrapeProps {
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
  /** Size limit of each writable scratch directory (emptyDir). @default Size.gibibytes(1) */
  readonly scratchSize?: Size;
  /** GPUs per pod. @default 0 */
  readonly gpuCount?: number;
  /** Extended resource name of the GPUs. @default 'nvidia.com/gpu' */
  readonly gpuResourceName?: string;
  /**
   * Scoring worker processes per pod; each loads its own copy of the model (into GPU memory
   * too, with GPUs). @default - 1 with GPUs, else the whole cores of the CPU limit (at least 1)
   */
  readonly workers?: number;
  /** Mount an API token; only for servers that call the Kubernetes API. @default false */
  readonly automountServiceAccountToken?: boolean;
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
  /** Clients allowed to call the model through its NetworkPolicy, which always lets Prometheus scrape; list the ingress controller's namespace with an Ingress. @default [NetworkPeer.ownNamespace()] */
  readonly allowedClients?: NetworkPeer[];
  /** p99 latency objective, used by PrometheusAlerts. @default - none */
  readonly latencyObjective?: Duration;
  /** Error-rate objective as a share of requests (0..1), used by PrometheusAlerts. @default - none */
  readonly errorRateObjective?: number;
  /** Lowest acceptable accuracy (0..1) on labelled production data, used by PrometheusAlerts with a DriftMonitor that checks quality. @default - none */
  readonly accuracyFloor?: number;
  /**
   * Log a sampled share of requests with their predictions to S3-compatible storage, where a
   * DriftMonitor reads them (`DriftData.inferenceLog(service)`). Written by the metrics proxy,
   * so it needs it; never slows or fails a request (records are dropped and counted instead).
   * @default - nothing is logged
   */
  readonly inferenceLog?: InferenceLogProps;
  /**
   * A challenger model shadowing this one: its own Deployment and Service (`<name>-shadow`,
   * reachable only from this service's pods), to which the metrics proxy mirrors a sampled
   * share of requests after answering them, comparing the challenger's predictions with the
   * champion's (`mlops_shadow_comparisons_total`) and logging both with the inference log.
   * @default - no shadow
   */
  readonly shadow?: ShadowProps;
}

/** Marks the challenger a ModelService creates for its `shadow`: its proxy labels its metrics with the variant. */
const VARIANT = Symbol('mlops-constructs.variant');
type InternalProps = ModelServiceProps & { readonly [VARIANT]?: string };
/** A shadow's Deployment is named `<name>-shadow`, within MAX_NAME_LENGTH. */
const SHADOW_SUFFIX = '-shadow';

const KIND = 'ModelService';
// Deployment names end up in pod host names with an 11-character ReplicaSet hash and a
// 6-character pod suffix; 52 keeps those within the 63 characters of a DNS label.
const MAX_NAME_LENGTH = 52;
const MODEL_CONTAINER = 'model-server';
const PROXY_CONTAINER = 'metrics-proxy';
const METRICS_PORT_NAME = 'metrics';
const PROXY_METRICS_PORT = 9090;
/** Liveness of the model server: restarted only after 6 missed checks 20 s apart, each given 10 s. */
const LIVENESS_TIMING = { periodSeconds: 20, timeoutSeconds: 10, failureThreshold: 6 } as const;
/** Annotation carrying the SHA-256 of the metrics proxy bundle; a new bundle rolls the pods. */
export const METRICS_PROXY_HASH_ANNOTATION = BUNDLE_HASH_ANNOTATIONS.metricsProxy;

/** Replica counts and what the autoscaler watches. */
interface Scaling {
  readonly replicas: number;
  readonly maxReplicas: number;
  readonly autoscaled: boolean;
  readonly scaleOn: ScalingMetric[];
}

/** How traffic and metrics reach the pod: the proxy (or not) and every port. */
interface Exposure {
  readonly proxied: boolean;
  readonly proxyImage?: string;
  readonly servicePort: number;
  readonly proxyPort?: number;
  readonly modelPort: number;
  /** True when metrics have a container port of their own (the proxy's, or the server's second port). */
  readonly metricsOnOwnPort: boolean;
  readonly metricsPortNumber?: number;
}

/** Every prop after its check: what the objects are built from. */
interface Checked {
  readonly scaling: Scaling;
  readonly resources: Resources;
  readonly scratchMib: number;
  readonly gpuCount: number;
  readonly gpuResourceName: string;
  readonly startupSeconds: number;
  readonly graceSeconds: number;
  readonly exposure: Exposure;
  readonly labels: WorkloadLabels;
  readonly pod: CheckedPodProps;
  readonly scrape: Scrape;
  readonly nodeSelector?: Record<string, string>;
  readonly tolerations: k8s.Toleration[];
  readonly ingress?: IngressProps & { ingressHost: string };
  readonly peers: k8s.NetworkPolicyPeer[];
  /** The proxy's inference-log variables, when it logs. */
  readonly inferenceLogEnv?: k8s.EnvVar[];
  readonly shadow?: CheckedShadow;
}

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
  public readonly inferenceLog?: InferenceLogLocation;
  public readonly shadow?: ShadowInfo;
  /** The challenger's own service, when `shadow` is set. */
  public readonly challenger?: ModelService;
  private readonly variant?: string;
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

  private readonly env = new EnvBuilder(KIND, this, 'put it in a Secret and use secretEnv / addSecretEnv');

  constructor(scope: Construct, id: string, props: ModelServiceProps) {
    super(scope, id);
    const p = (props ?? {}) as InternalProps;
    this.variant = p[VARIANT];

    // ---- validate: every prop is checked before any object exists, so a bad prop leaves nothing behind
    this.name = requireDnsLabel(KIND, this, 'name', p.name ?? id, MAX_NAME_LENGTH);
    this.namespace = resolveNamespace(KIND, this, p.namespace, 'explicit namespaces keep Service DNS names and metric labels stable');
    this.modelName = this.checkModelName(p.modelName ?? this.name);
    if (!(p.runtime instanceof ServingRuntime)) {
      throw this.fail('runtime', p.runtime, 'is required', 'pass e.g. ServingRuntime.mlflow({ model: registry.model("fraud-detector", { alias: "champion" }) })');
    }
    const runtimeProblem = p.runtime.problems();
    if (runtimeProblem) throw this.fail(...runtimeProblem);
    const scaling = this.checkScaling(p);
    const resources = requireResources(KIND, this, {
      cpuRequest: p.cpuRequest ?? Cpu.cores(1), cpuLimit: p.cpuLimit ?? p.cpuRequest ?? Cpu.cores(1),
      memoryRequest: p.memoryRequest ?? Size.gibibytes(2), memoryLimit: p.memoryLimit ?? p.memoryRequest ?? Size.gibibytes(2),
    }, '', (cpu) => cpu);
    this.checkScalingTargets(scaling, resources);
    this.workers = this.checkWorkers(p, resources);
    const exposure = this.checkExposure(p, scaling);
    this.exportsServingMetrics = exposure.proxied || p.runtime.exportsOwnMetrics;
    this.runtimeContainer = p.runtime.bind(this, { kind: KIND, workers: this.workers, port: exposure.modelPort });
    requirePinnedImage(KIND, this, 'runtime.image', this.runtimeContainer.image);
    ({ latencyObjective: this.latencyObjective, errorRateObjective: this.errorRateObjective, accuracyFloor: this.accuracyFloor } = this.checkObjectives(p, exposure.proxied));
    const inferenceLog = this.checkInferenceLog(p, exposure);
    this.inferenceLog = inferenceLog?.location;
    const shadow = this.checkShadow(p, exposure, inferenceLog);
    const checked = { ...this.check(p, scaling, resources, exposure), inferenceLogEnv: inferenceLog?.env, shadow };
    this.selectorLabels = checked.labels.selector;

    // ---- build and emit, in the order the objects appear in the manifests
    // The challenger first: its props are checked in its constructor, before this service writes anything.
    if (shadow) {
      this.challenger = this.addChallenger(p, shadow, checked.labels.selector);
      this.shadow = { name: this.challenger.name, agreementFloor: shadow.agreementFloor, regression: shadow.tolerance !== undefined };
    }
    const meta: ObjectMeta = { name: this.name, namespace: this.namespace, labels: checked.labels.labels };
    const proxyBundle = exposure.proxied
      ? addBundleConfigMap(this, 'MetricsProxyBundle', {
        name: `${this.name}-metrics-proxy`, namespace: this.namespace, labels: { ...meta.labels, 'app.kubernetes.io/component': 'metrics-proxy' },
      }, BUNDLES.metricsProxy, 'metrics-proxy-bundle')
      : undefined;
    this.deployment = this.addDeployment(p, checked, meta, proxyBundle);
    this.service = addClusterIpService(this, meta, this.selectorLabels, this.servicePorts(checked.exposure));
    this.addAutoscaler(checked.scaling, meta);
    addDisruptionBudget(this, meta, this.selectorLabels, scaling.replicas);
    this.serviceMonitor = this.addServiceMonitor(checked, meta);
    if (checked.ingress) addIngress(this, meta, checked.ingress);
    this.addNetworkPolicy(checked, meta);
    claimObjectNames(KIND, this);
  }

  /** Adds a plain environment variable to the model server; returns the variable. */
  public addEnv(name: string, value: string): k8s.EnvVar {
    return this.env.plain(name, value);
  }

  /** Adds an environment variable read from an existing Secret; returns the variable. */
  public addSecretEnv(name: string, ref: SecretKeySelector): k8s.EnvVar {
    return this.env.secret(name, ref);
  }

  // ---- validation -------------------------------------------------------------------------

  private fail(field: string, value: unknown, problem: string, fix: string): Error {
    return invalidProp(KIND, this, field, value, problem, fix);
  }

  private checkModelName(modelName: unknown): string {
    if (typeof modelName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(modelName)) {
      throw this.fail('modelName', modelName, 'is not a usable metric label value', 'use at most 63 letters, digits, "_", "." or "-"');
    }
    return modelName;
  }

  private checkScaling(p: ModelServiceProps): Scaling {
    const replicas = requireInteger(KIND, this, 'replicas', p.replicas ?? 2, 1, 1000);
    const maxReplicas = requireInteger(KIND, this, 'maxReplicas', p.maxReplicas ?? replicas, 1, 1000);
    if (maxReplicas < replicas) {
      throw this.fail('replicas', replicas, `is above maxReplicas (${maxReplicas})`, 'lower replicas or raise maxReplicas');
    }
    const autoscaled = maxReplicas > replicas;
    if (p.scaleOn !== undefined && !autoscaled) {
      throw this.fail('maxReplicas', p.maxReplicas, `must be above replicas (${replicas}) when scaleOn is set`, 'raise maxReplicas, or drop scaleOn for a fixed replica count');
    }
    const scaleOn = p.scaleOn ?? [ScalingMetric.cpu(70)];
    if (!Array.isArray(scaleOn) || scaleOn.length === 0) {
      throw this.fail('scaleOn', scaleOn, 'is empty', 'pass at least one metric, e.g. [ScalingMetric.cpu(70)]');
    }
    const kinds = new Set<string>();
    scaleOn.forEach((metric, i) => {
      if (!(metric instanceof ScalingMetric)) {
        throw this.fail(`scaleOn[${i}]`, metric, 'is not a ScalingMetric', 'use ScalingMetric.cpu(), .memory() or .requestRate({...})');
      }
      const problem = metric.problems();
      if (problem) throw this.fail(`scaleOn[${i}] ${problem[0]}`, problem[1], problem[2], problem[3]);
      if (kinds.has(metric.kind)) throw this.fail(`scaleOn[${i}]`, metric.kind, 'appears twice', 'keep one target per metric');
      kinds.add(metric.kind);
    });
    return { replicas, maxReplicas, autoscaled, scaleOn };
  }

  /**
   * A CPU or memory target the pods can never reach (above what the limit allows, as a share
   * of the request) would keep the autoscaler from ever scaling out.
   */
  private checkScalingTargets(scaling: Scaling, resources: Resources): void {
    scaling.scaleOn.forEach((metric, i) => {
      if (!(metric instanceof ResourceScalingMetric)) return;
      const [request, limit, unit] = metric.kind === 'cpu'
        ? [resources.cpu.request.millicores, resources.cpu.limit.millicores, 'm']
        : [resources.memory.request, resources.memory.limit, 'Mi'];
      const reachable = Math.floor((limit / request) * 100);
      if (metric.targetUtilization > reachable) {
        const field = metric.kind === 'cpu' ? 'cpuLimit' : 'memoryLimit';
        const needed = Math.ceil((request * metric.targetUtilization) / 100);
        throw this.fail(`scaleOn[${i}] ${metric.kind} target utilization`, metric.targetUtilization,
          `is above what a pod can use: its ${field} (${limit}${unit}) is ${reachable} % of its request (${request}${unit})`,
          `raise ${field} to at least ${needed}${unit}, or lower the target to ${reachable} or less`);
      }
    });
  }

  /** Scoring workers: each is a process with its own copy of the model. */
  private checkWorkers(p: ModelServiceProps, resources: Resources): number {
    if (p.workers !== undefined) return requireInteger(KIND, this, 'workers', p.workers, 1, 64);
    // With GPUs one process, so the model is not loaded onto the same device once per worker.
    if (typeof p.gpuCount === 'number' && p.gpuCount > 0) return 1;
    // Otherwise the CPU the container may use, never the node's core count (which a Python
    // server would read from /proc and overcommit).
    return Math.max(1, Math.floor(resources.cpu.limit.millicores / 1000));
  }

  /**
   * Whether the proxy goes in front of the server and which ports everything takes. The
   * Service's `http` port always targets the container port named `http`: the proxy when it
   * runs, else the model server.
   */
  private checkExposure(p: ModelServiceProps, scaling: Scaling): Exposure {
    const runtime = p.runtime;
    const proxied = p.metricsProxy ?? !runtime.exportsOwnMetrics;
    if (runtime.loopbackOnly && !proxied) {
      throw this.fail('metricsProxy', p.metricsProxy, `cannot be false for the ${runtime.kind} runtime, whose server only listens on 127.0.0.1`,
        'keep the metrics proxy: it is the only way into the pod for clients and probes');
    }
    if (scaling.scaleOn.some((m) => m.kind === 'requestRate') && !(proxied || runtime.exportsOwnMetrics)) {
      throw this.fail('scaleOn', 'requestRate', 'needs serving metrics, but metricsProxy is false and the runtime exports none', 'enable metricsProxy or declare runtime metrics');
    }
    const proxyImage = proxied ? requirePinnedImage(KIND, this, 'metricsProxyImage', p.metricsProxyImage ?? Images.NODE) : undefined;
    const servicePort = requireInteger(KIND, this, 'servicePort', p.servicePort ?? 80, 1, 65535);
    const fixedPort = runtime.fixedPort;
    const proxyPort = proxied ? firstFree([8080, 8000, 8888], [fixedPort, PROXY_METRICS_PORT]) : undefined;
    const modelPort = fixedPort ?? (proxied ? 8081 : 8080);
    if (proxied && (modelPort === PROXY_METRICS_PORT)) {
      throw this.fail('runtime.port', modelPort, `collides with the metrics proxy's metrics port`, 'serve the model on another port, or set metricsProxy: false');
    }
    return { proxied, proxyImage, servicePort, proxyPort, modelPort, metricsOnOwnPort: false };
  }

  private checkInferenceLog(p: ModelServiceProps, exposure: Exposure): CheckedInferenceLog | undefined {
    if (p.inferenceLog === undefined) return undefined;
    if (!exposure.proxied) {
      throw this.fail('inferenceLog', p.inferenceLog.destination, 'needs the metrics proxy, which writes the log, but metricsProxy is false',
        'remove metricsProxy: false, or leave inferenceLog unset');
    }
    return checkInferenceLog(KIND, this, p.inferenceLog, this.modelName, p.runtime.kind === 'custom');
  }

  private checkShadow(p: InternalProps, exposure: Exposure, inferenceLog: CheckedInferenceLog | undefined): CheckedShadow | undefined {
    if (p.shadow === undefined) return undefined;
    if (this.variant !== undefined) throw this.fail('shadow', '<set>', 'is set on a challenger', 'a shadow has no shadow of its own');
    if (!exposure.proxied) {
      throw this.fail('shadow', '<set>', 'needs the metrics proxy, which mirrors the requests, but metricsProxy is false', 'remove metricsProxy: false, or leave shadow unset');
    }
    if (this.name.length + SHADOW_SUFFIX.length > MAX_NAME_LENGTH) {
      throw this.fail('name', this.name, `is too long for a shadow, whose Deployment is named ${this.name}${SHADOW_SUFFIX} (at most ${MAX_NAME_LENGTH} characters)`,
        `shorten the name to ${MAX_NAME_LENGTH - SHADOW_SUFFIX.length} characters`);
    }
    return checkShadow(KIND, this, p.shadow, p.runtime, inferenceLog);
  }

  /**
   * The challenger: this service's pod settings with the challenger's runtime and replicas, no
   * autoscaler, Ingress, objectives or log of its own, reachable only from this service's pods.
   */
  private addChallenger(p: ModelServiceProps, shadow: CheckedShadow, championSelector: Record<string, string>): ModelService {
    const props: InternalProps = {
      ...p,
      name: `${this.name}${SHADOW_SUFFIX}`,
      namespace: this.namespace,
      modelName: this.modelName,
      runtime: shadow.runtime,
      replicas: shadow.replicas,
      maxReplicas: undefined,
      scaleOn: undefined,
      ingressHost: undefined,
      ingressClassName: undefined,
      ingressTlsSecretName: undefined,
      ingressAnnotations: undefined,
      allowedClients: [NetworkPeer.pods(championSelector)],
      latencyObjective: undefined,
      errorRateObjective: undefined,
      accuracyFloor: undefined,
      inferenceLog: undefined,
      shadow: undefined,
      [VARIANT]: SHADOW_VARIANT,
    };
    return new ModelService(this, 'Shadow', props);
  }

  private checkObjectives(p: ModelServiceProps, proxied: boolean): Pick<IModelService, 'latencyObjective' | 'errorRateObjective' | 'accuracyFloor'> {
    if (p.latencyObjective !== undefined) {
      const ms = p.latencyObjective.toMilliseconds();
      if (!(ms > 0) || ms > 600_000) throw this.fail('latencyObjective', `${ms}ms`, 'is not between 0 and 10 minutes', 'use e.g. Duration.millis(500)');
      // The proxy's histogram measures p99 only at its bucket bounds: above the top one the
      // quantile can never exceed it, and between two it is an interpolation the alert would
      // fire on. A runtime's own histogram has buckets the construct does not know.
      if (proxied && !PROXY_DURATION_BUCKETS.includes(ms / 1000)) {
        const seconds = PROXY_DURATION_BUCKETS.map((b) => b * 1000);
        const top = seconds[seconds.length - 1];
        const below = seconds.filter((b) => b < ms).pop();
        const above = seconds.find((b) => b > ms);
        const show = (b: number) => (b < 1000 ? `${b}ms` : `${b / 1000}s`);
        if (ms > top) {
          throw this.fail('latencyObjective', show(ms), `is above the top bucket (${show(top)}) of the serving latency histogram, so a p99 above it can never be measured`,
            `use at most Duration.seconds(${top / 1000})`);
        }
        throw this.fail('latencyObjective', show(ms), `is not a bucket bound of the serving latency histogram (${seconds.map(show).join(', ')}), so the p99 the alert compares is an interpolation`,
          `use ${[below, above].filter((b) => b !== undefined).map((b) => show(b!)).join(' or ')}`);
      }
    }
    if (p.errorRateObjective !== undefined && (typeof p.errorRateObjective !== 'number' || !(p.errorRateObjective > 0 && p.errorRateObjective < 1))) {
      throw this.fail('errorRateObjective', p.errorRateObjective, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.05 for 5 %');
    }
    if (p.accuracyFloor !== undefined && (typeof p.accuracyFloor !== 'number' || !(p.accuracyFloor > 0 && p.accuracyFloor < 1))) {
      throw this.fail('accuracyFloor', p.accuracyFloor, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.9 for 90 % accuracy');
    }
    return { latencyObjective: p.latencyObjective, errorRateObjective: p.errorRateObjective, accuracyFloor: p.accuracyFloor };
  }

  /** The remaining props: sizing, timing, labels, environment, placement and exposure. */
  private check(p: ModelServiceProps, scaling: Scaling, resources: Resources, exposure: Exposure): Checked {
    const scratchMib = requireMebibytes(KIND, this, 'scratchSize', p.scratchSize ?? Size.gibibytes(1));
    const gpuCount = requireInteger(KIND, this, 'gpuCount', p.gpuCount ?? 0, 0, 16);
    const gpuResourceName = p.gpuResourceName ?? 'nvidia.com/gpu';
    if (p.gpuResourceName !== undefined && gpuCount === 0) {
      throw this.fail('gpuCount', p.gpuCount, `is 0 while gpuResourceName is set (${describe(p.gpuResourceName)})`, 'set gpuCount to the GPUs each pod needs, or drop gpuResourceName');
    }
    if (!/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(gpuResourceName)) {
      throw this.fail('gpuResourceName', gpuResourceName, 'is not an extended resource name', 'use a vendor-prefixed name such as "nvidia.com/gpu"');
    }
    const startupSeconds = requireSeconds(KIND, this, 'startupTimeout', p.startupTimeout ?? Duration.minutes(10), 10, 3600);
    const graceSeconds = requireSeconds(KIND, this, 'terminationGracePeriod', p.terminationGracePeriod ?? Duration.seconds(30), 15, 3600);

    const pod = requirePodProps(KIND, this, p);
    const labels = workloadLabels(this.name, 'model-server', pod.extraLabels);
    const scrape = requireScrape(KIND, this, p);

    for (const e of this.runtimeContainer.env) this.env.reserve({ name: e.name, value: e.value }, `the ${p.runtime.kind} runtime`);
    this.env.addProps(p);

    const nodeSelector = p.nodeSelector === undefined ? undefined : requireLabels(KIND, this, 'nodeSelector', p.nodeSelector);
    const tolerations = (p.tolerations ?? (gpuCount > 0 ? [{ key: gpuResourceName, operator: 'Exists', effect: 'NoSchedule' } as Toleration] : []))
      .map((t, i) => toleration(this, i, t));

    const ingress = requireIngress(KIND, this, p, { wildcard: true, hostFix: 'use e.g. "fraud.example.com"' });
    // Without a list, clients in the model's own namespace (and Prometheus) get in; an ingress
    // controller or clients elsewhere must be listed.
    requireIngressClients(KIND, this, ingress?.ingressHost, p.allowedClients);
    const peers = requirePeers(KIND, this, 'allowedClients', p.allowedClients ?? [NetworkPeer.ownNamespace()]);
    const ownMetrics = this.runtimeContainer.metrics;
    const metricsOnOwnPort = exposure.proxied || (ownMetrics !== undefined && ownMetrics.port !== exposure.modelPort);
    const metricsPortNumber = exposure.proxied ? PROXY_METRICS_PORT : ownMetrics?.port;
    if (metricsOnOwnPort && metricsPortNumber === exposure.servicePort) {
      throw this.fail('servicePort', exposure.servicePort, 'collides with the metrics port', 'choose another servicePort');
    }
    return {
      scaling, resources, scratchMib, gpuCount, gpuResourceName, startupSeconds, graceSeconds,
      exposure: { ...exposure, metricsOnOwnPort, metricsPortNumber },
      labels, pod, scrape, nodeSelector, tolerations, ingress, peers,
    };
  }

  // ---- build -------------------------------------------------------------------------------

  /** The model server container, and the emptyDirs of the directories it writes to. */
  private modelContainer(c: Checked): { container: k8s.Container; volumes: k8s.Volume[] } {
    const rc = this.runtimeContainer;
    const { proxied, modelPort } = c.exposure;
    const writable = rc.writablePaths;
    const volumeNames = scratchVolumeNames(writable);
    const volumes: k8s.Volume[] = writable.map((_, i) => ({
      name: volumeNames[i],
      emptyDir: { sizeLimit: k8s.Quantity.fromString(`${c.scratchMib}Mi`) },
    }));
    const modelPortName = proxied ? 'model' : 'http';
    const modelPorts: k8s.ContainerPort[] = [{ name: modelPortName, containerPort: modelPort, protocol: 'TCP' }];
    if (!proxied && rc.metrics && rc.metrics.port !== modelPort) {
      modelPorts.push({ name: METRICS_PORT_NAME, containerPort: rc.metrics.port, protocol: 'TCP' });
    }
    // Kubelet probes reach the pod IP, so a loopback-only server is probed through the proxy.
    const probePortName = rc.loopbackOnly ? 'http' : modelPortName;
    const httpGet = (path: string) => ({ path, port: k8s.IntOrString.fromString(probePortName) });
    const container: k8s.Container = {
      name: MODEL_CONTAINER,
      image: rc.image,
      imagePullPolicy: 'IfNotPresent',
      command: rc.command,
      args: rc.args,
      // Lazy, so variables added with addEnv() after construction land too.
      env: Lazy.any({ produce: () => this.env.list }) as unknown as k8s.EnvVar[],
      ports: modelPorts,
      resources: resourceRequirements(c.resources, c.gpuCount > 0 ? { [c.gpuResourceName]: k8s.Quantity.fromNumber(c.gpuCount) } : {}),
      // Startup allows for downloading and loading the model; liveness only starts after it.
      startupProbe: { httpGet: httpGet(rc.healthPath), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: Math.ceil(c.startupSeconds / 5) },
      readinessProbe: { httpGet: httpGet(rc.readyPath), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
      // Under overload every worker is busy and health checks queue behind predictions:
      // readiness takes the pod out of the Service within ~10 s so it can drain, while
      // liveness, which restarts it (and reloads the model), waits for 2 minutes without an
      // answer within 10 s: a deadlock, not a busy server.
      livenessProbe: { httpGet: httpGet(rc.healthPath), ...LIVENESS_TIMING },
      // Behind the proxy, the server must outlive the proxy's 5 s preStop delay and finish the
      // requests it forwards, or a rollout would answer them with 502.
      lifecycle: proxied && rc.hasSleep ? { preStop: { exec: { command: ['sleep', '10'] } } } : undefined,
      securityContext: restrictedContainerSecurityContext(rc.userId),
      volumeMounts: writable.map((path, i) => ({ name: volumeNames[i], mountPath: path })),
    };
    return { container, volumes };
  }

  /** The metrics proxy sidecar in front of the model server. */
  private proxyContainer(c: Checked, bundle: BundleMount): k8s.Container {
    const rc = this.runtimeContainer;
    const { modelPort, proxyPort } = c.exposure;
    const grace = c.graceSeconds;
    return {
      name: PROXY_CONTAINER,
      image: c.exposure.proxyImage!,
      imagePullPolicy: 'IfNotPresent',
      command: bundle.command,
      env: [
        { name: PROXY_ENV.upstream, value: `http://127.0.0.1:${modelPort}` },
        { name: PROXY_ENV.listenPort, value: String(proxyPort) },
        { name: PROXY_ENV.metricsPort, value: String(PROXY_METRICS_PORT) },
        { name: PROXY_ENV.modelName, value: this.modelName },
        // Requests may take as long as the server allows plus a margin, then the proxy answers 504.
        { name: PROXY_ENV.upstreamTimeoutSeconds, value: String(grace + 60) },
        // The preStop sleep (5 s) plus the drain stay 5 s inside the grace period, before SIGKILL.
        { name: PROXY_ENV.drainSeconds, value: String(Math.max(1, grace - 10)) },
        { name: PROXY_ENV.uncountedPaths, value: uniq(['/ping', '/health', '/healthz', '/ready', '/version', '/metrics', rc.healthPath, rc.readyPath]).join(',') },
        ...(c.inferenceLogEnv ? [...this.servedModelEnv(), ...c.inferenceLogEnv] : []),
        ...(this.variant ? [{ name: PROXY_ENV.variant, value: this.variant }] : []),
        ...(c.shadow ? shadowProxyEnv(c.shadow, `http://${serviceHostName(`${this.name}${SHADOW_SUFFIX}`, this.namespace, Cluster.of(this).clusterDomain)}:${c.exposure.servicePort}`) : []),
      ],
      ports: [
        { name: 'http', containerPort: proxyPort!, protocol: 'TCP' },
        { name: METRICS_PORT_NAME, containerPort: PROXY_METRICS_PORT, protocol: 'TCP' },
      ],
      // The inference log holds up to ~70 MiB (lines, bodies waiting to be parsed, uploads in flight).
      resources: resourceRequirements(c.inferenceLogEnv || c.shadow ? fixedResources(100, 192, 1000, 320) : fixedResources(50, 64, 500, 128)),
      readinessProbe: { httpGet: { path: '/healthz', port: k8s.IntOrString.fromString(METRICS_PORT_NAME) }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
      livenessProbe: { httpGet: { path: '/healthz', port: k8s.IntOrString.fromString(METRICS_PORT_NAME) }, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 },
      // Keep taking traffic until endpoints controllers and kube-proxy have removed the pod.
      lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
      securityContext: restrictedContainerSecurityContext(),
      volumeMounts: [bundle.mount],
    };
  }

  /** What tells the proxy the served version: the registry model it resolves at start (a pinned version or an alias). */
  private servedModelEnv(): k8s.EnvVar[] {
    const model = this.runtimeContainer.registryModel;
    if (model === undefined) return [];
    return [{ name: PROXY_ENV.modelUri, value: model.uri }, { name: PROXY_ENV.trackingUri, value: model.trackingUri }];
  }

  private servicePorts(exposure: Exposure): k8s.ServicePort[] {
    const ports = [{ ...namedServicePort('http', exposure.servicePort) }];
    if (exposure.metricsOnOwnPort) ports.push(namedServicePort(METRICS_PORT_NAME, exposure.metricsPortNumber!));
    return ports;
  }

  // ---- emit --------------------------------------------------------------------------------

  private addDeployment(p: ModelServiceProps, c: Checked, meta: ObjectMeta, bundle: BundleMount | undefined): k8s.KubeDeployment {
    const model = this.modelContainer(c);
    const containers = [model.container];
    const volumes = model.volumes;
    if (bundle) {
      volumes.push(bundle.volume);
      containers.push(this.proxyContainer(c, bundle));
    }
    const selector = this.selectorLabels;
    const spread: k8s.TopologySpreadConstraint[] = (p.topologySpread ?? true) ? [
      { topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { ...selector } } },
      { topologyKey: 'kubernetes.io/hostname', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { ...selector } } },
    ] : [];
    const deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: meta.name, namespace: meta.namespace, labels: meta.labels },
      spec: {
        // With an autoscaler the replica count is its to set; a fixed count here would reset it on every apply.
        replicas: c.scaling.autoscaled ? undefined : c.scaling.replicas,
        revisionHistoryLimit: 5,
        progressDeadlineSeconds: Math.max(600, c.startupSeconds + 120),
        selector: { matchLabels: { ...selector } },
        // Never below capacity during a rollout: new pods must be ready before old ones go.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0), maxSurge: k8s.IntOrString.fromString('25%') } },
        template: {
          metadata: {
            labels: meta.labels,
            annotations: {
              ...c.pod.podAnnotations,
              'kubectl.kubernetes.io/default-container': MODEL_CONTAINER,
              ...(bundle ? { [METRICS_PROXY_HASH_ANNOTATION]: bundle.sha256 } : {}),
            },
          },
          spec: {
            ...basePodSpec({
              ...p,
              terminationGracePeriodSeconds: c.graceSeconds,
              securityContext: restrictedPodSecurityContext(this.runtimeContainer.userId),
            }),
            nodeSelector: c.nodeSelector,
            tolerations: c.tolerations.length > 0 ? c.tolerations : undefined,
            topologySpreadConstraints: spread.length > 0 ? spread : undefined,
            containers,
            volumes,
          },
        },
      },
    });
    this.annotateScannerExceptions(deployment, c, containers, spread.length > 0);
    return deployment;
  }

  /** What checkov and kube-score flag in this Deployment on purpose, with the reasons (core/scanner-annotations.ts). */
  private annotateScannerExceptions(deployment: k8s.KubeDeployment, c: Checked, containers: k8s.Container[], spread: boolean): void {
    const rc = this.runtimeContainer;
    const more: ScannerException[] = [];
    if (rc.healthPath === rc.readyPath) {
      more.push({
        kubeScore: ['pod-probes-identical'],
        reason: `${rc.healthPath} is the server's one health check; liveness gives it ${LIVENESS_TIMING.failureThreshold} x ${LIVENESS_TIMING.periodSeconds} s with a ${LIVENESS_TIMING.timeoutSeconds} s timeout against readiness' 2 x 5 s, so a busy server leaves the Service and is not restarted`,
      });
    }
    if (spread && c.scaling.maxReplicas > 1) {
      more.push({
        kubeScore: ['deployment-has-host-podantiaffinity'],
        reason: 'replicas spread over zones and hosts by topologySpreadConstraints (ScheduleAnyway), which unlike a required anti-affinity never leaves a replica unschedulable',
      });
    }
    if (this.variant !== undefined && c.scaling.replicas < 2) {
      more.push({
        kubeScore: ['deployment-replicas'],
        reason: 'a shadow challenger answers only mirrored copies of requests that no client waits for, so one replica is enough and its outage costs no answer',
      });
    }
    annotateScannerExceptions(deployment, { containers, securityContext: restrictedPodSecurityContext(rc.userId) }, {
      lowUserId: `uid ${rc.userId} is the unprivileged user the images ship (node in the Node.js image of the metrics proxy) or the runtime declares; the restricted profile needs only a non-zero uid`,
      secretEnv: 'serving runtimes take credentials (MLflow tracking, S3) from environment variables only; secretEnv references a Secret key, never its value',
      openEgress: openEgressReason(this, 'the registry or model store the server loads from, the inference log bucket and a shadow'),
      more,
    });
  }

  private addAutoscaler(s: Scaling, meta: ObjectMeta): void {
    if (!s.autoscaled) return;
    const requestRate = s.scaleOn.find((m): m is RequestRateScalingMetric => m instanceof RequestRateScalingMetric);
    const resources = s.scaleOn.filter((m): m is ResourceScalingMetric => m instanceof ResourceScalingMetric);
    const metadata = { name: meta.name, namespace: meta.namespace, labels: meta.labels };
    const scaleTargetRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: this.name };
    if (requestRate) {
      new KedaScaledObject(this, 'ScaledObject', {
        metadata,
        spec: {
          scaleTargetRef,
          minReplicaCount: s.replicas,
          maxReplicaCount: s.maxReplicas,
          pollingInterval: 15,
          cooldownPeriod: 300,
          triggers: [
            {
              type: 'prometheus',
              metricType: 'AverageValue',
              metadata: {
                serverAddress: requestRate.options.prometheusServerAddress,
                // variant="": the champion's own requests, not a shadow challenger's mirrored ones.
                query: `sum(rate(${SERVING_METRICS.requestsTotal}{namespace="${this.namespace}",model="${this.modelName}",variant=""}[${requestRate.windowSeconds}s]))`,
                threshold: String(requestRate.options.requestsPerSecondPerReplica),
              },
            },
            ...resources.map((m) => ({ type: m.kind, metricType: 'Utilization', metadata: { value: String(m.targetUtilization) } })),
          ],
        },
      });
      return;
    }
    new k8s.KubeHorizontalPodAutoscalerV2(this, 'Autoscaler', {
      metadata,
      spec: {
        scaleTargetRef,
        minReplicas: s.replicas,
        maxReplicas: s.maxReplicas,
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

  private addServiceMonitor(c: Checked, meta: ObjectMeta): ServiceMonitor | undefined {
    if (!this.exportsServingMetrics) return undefined;
    const rc = this.runtimeContainer;
    const timing = scrapeTiming(c.scrape.seconds);
    const endpoint: ServiceMonitorSpecEndpoints = c.exposure.proxied
      ? { port: METRICS_PORT_NAME, path: '/metrics', ...timing }
      : {
        port: c.exposure.metricsOnOwnPort ? METRICS_PORT_NAME : 'http',
        path: rc.metrics!.path,
        ...timing,
        relabelings: [{ action: ServiceMonitorSpecEndpointsRelabelingsAction.REPLACE, targetLabel: 'model', replacement: this.modelName }],
        metricRelabelings: contractRelabelings(rc.metrics!),
      };
    return addServiceMonitor(this, meta, c.scrape.monitorLabels, this.selectorLabels, [endpoint]);
  }

  private addNetworkPolicy(c: Checked, meta: ObjectMeta): void {
    addIngressPolicy(this, meta, this.selectorLabels, () => [
      { from: c.peers, ports: ['http'] },
      // Prometheus scrapes only the metrics port; with metrics on `http` that is the API too.
      ...(this.exportsServingMetrics ? [{ from: [prometheusPeer(this)], ports: [c.exposure.metricsOnOwnPort ? METRICS_PORT_NAME : 'http'] }] : []),
    ]);
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
