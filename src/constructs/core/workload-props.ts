import { Duration, Size } from 'cdk8s';
import { Cpu } from './quantities';

/** A key of an existing Kubernetes Secret. The value is never written into a manifest. */
export interface SecretKeySelector {
  /** Name of the Secret in the namespace of the pods that read it. */
  readonly secretName: string;
  /** Key inside the Secret. */
  readonly key: string;
}

/** A taint the pods tolerate. */
export interface Toleration {
  /** Taint key. */
  readonly key: string;
  /** 'Exists' matches any value; 'Equal' needs `value`. @default 'Exists' */
  readonly operator?: 'Exists' | 'Equal';
  /** Taint value, with operator 'Equal'. @default - none */
  readonly value?: string;
  /** Taint effect. @default - all effects */
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

// Prop interfaces that the workload constructs extend, so a field means the same thing, is
// checked by the same code (core/workload.ts) and lands in the same place of the pod spec
// everywhere. Defaults differ between constructs and are written where each one is named.

/** CPU and memory of the main container: requests the scheduler reserves, limits the kernel enforces. */
export interface ResourceProps {
  /** CPU reserved per pod. @default - ModelService Cpu.cores(1), ModelRegistry Cpu.millis(500), in-cluster PostgreSQL Cpu.millis(500) */
  readonly cpuRequest?: Cpu;
  /** CPU cap; worker counts derive from it. @default - ModelService cpuRequest, ModelRegistry Cpu.cores(2), in-cluster PostgreSQL cpuRequest (Guaranteed QoS) */
  readonly cpuLimit?: Cpu;
  /** Memory reserved per pod. @default - ModelService Size.gibibytes(2), ModelRegistry Size.gibibytes(1), in-cluster PostgreSQL Size.gibibytes(1) */
  readonly memoryRequest?: Size;
  /** Memory cap. @default - ModelService memoryRequest, ModelRegistry Size.gibibytes(2), in-cluster PostgreSQL memoryRequest (Guaranteed QoS) */
  readonly memoryLimit?: Size;
}

/** An Ingress in front of the construct's Service (its `http` port, path `/`). */
export interface IngressProps {
  /** Host name of an Ingress for the service. @default - no Ingress */
  readonly ingressHost?: string;
  /** IngressClass of that Ingress. @default - the cluster's default class */
  readonly ingressClassName?: string;
  /** TLS Secret of that Ingress. @default - no TLS */
  readonly ingressTlsSecretName?: string;
  /** Annotations of that Ingress (controller settings, e.g. a body-size limit). @default {} */
  readonly ingressAnnotations?: Record<string, string>;
}

/** Environment of the main container. Values that look like secrets must come from a Secret. */
export interface EnvProps {
  /** Plain environment variables. @default {} */
  readonly env?: Record<string, string>;
  /** Environment variables read from existing Secrets. @default {} */
  readonly secretEnv?: Record<string, SecretKeySelector>;
}

/** Settings of the pods that every long-running workload of this library offers. */
export interface PodProps {
  /** ServiceAccount the pods run as (e.g. for workload identity). @default - the namespace's default */
  readonly serviceAccountName?: string;
  /** Secrets used to pull private images. @default [] */
  readonly imagePullSecrets?: string[];
  /** PriorityClass of the pods. @default - the cluster default */
  readonly priorityClassName?: string;
  /** Extra annotations of the pods. @default {} */
  readonly podAnnotations?: Record<string, string>;
  /** Extra labels of every object. @default {} */
  readonly labels?: Record<string, string>;
}

/** Where the scheduler may put the pods. */
export interface PodPlacementProps {
  /** Node labels the pods require, e.g. a GPU node pool. @default - none */
  readonly nodeSelector?: Record<string, string>;
  /** Taints the pods tolerate. @default - none (ModelService: with GPUs, the GPU resource's NoSchedule taint) */
  readonly tolerations?: Toleration[];
  /** Spread replicas across zones and nodes (best effort). @default true */
  readonly topologySpread?: boolean;
}

/** How Prometheus scrapes the construct's metrics. */
export interface ScrapeProps {
  /** Labels of the ServiceMonitor. @default - Monitoring.of(scope).serviceMonitorLabels */
  readonly serviceMonitorLabels?: Record<string, string>;
  /** Scrape interval. @default - Monitoring.of(scope).scrapeInterval */
  readonly scrapeInterval?: Duration;
}
