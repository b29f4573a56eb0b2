import { Duration } from 'cdk8s';

/**
 * What the autoscaler watches. CPU and memory use a Kubernetes HorizontalPodAutoscaler;
 * request rate (from the serving metrics in Prometheus) uses a KEDA ScaledObject instead,
 * which then carries the CPU and memory targets too.
 */
export abstract class ScalingMetric {
  /**
   * Average CPU use as a percentage of the CPU request; above 100 when the limit is above the
   * request (the pods may then use more than they asked for). @param targetUtilization @default 70
   */
  public static cpu(targetUtilization: number = 70): ScalingMetric {
    return new ResourceScalingMetric('cpu', targetUtilization);
  }

  /** Average memory use as a percentage of the memory request. @param targetUtilization @default 80 */
  public static memory(targetUtilization: number = 80): ScalingMetric {
    return new ResourceScalingMetric('memory', targetUtilization);
  }

  /** Inference requests per second per replica, read from Prometheus by KEDA. */
  public static requestRate(options: RequestRateScalingOptions): ScalingMetric {
    return new RequestRateScalingMetric(options);
  }

  /** 'cpu', 'memory' or 'requestRate'. */
  public abstract readonly kind: 'cpu' | 'memory' | 'requestRate';

  /** The first problem as [field, value, problem, fix], relative to this metric, or undefined. */
  public abstract problems(): [string, unknown, string, string] | undefined;
}

/** Options of `ScalingMetric.requestRate`. */
export interface RequestRateScalingOptions {
  /** Requests per second one replica should serve; KEDA adds replicas above it. */
  readonly requestsPerSecondPerReplica: number;
  /** In-cluster Prometheus URL KEDA queries, e.g. `http://prometheus-operated.monitoring.svc:9090`. */
  readonly prometheusServerAddress: string;
  /** Rate window of the query. @default Duration.minutes(2) */
  readonly window?: Duration;
}

/** @internal */
export class ResourceScalingMetric extends ScalingMetric {
  constructor(public readonly kind: 'cpu' | 'memory', public readonly targetUtilization: number) {
    super();
  }

  public problems(): [string, unknown, string, string] | undefined {
    const v = this.targetUtilization;
    if (!Number.isInteger(v) || v < 1 || v > 1000) {
      return [`${this.kind} target utilization`, v, 'is not a whole percentage of the request between 1 and 1000', 'use e.g. ScalingMetric.cpu(70)'];
    }
    return undefined;
  }
}

/** @internal */
export class RequestRateScalingMetric extends ScalingMetric {
  public readonly kind = 'requestRate';
  constructor(public readonly options: RequestRateScalingOptions) {
    super();
  }

  public get windowSeconds(): number {
    return (this.options.window ?? Duration.minutes(2)).toSeconds();
  }

  public problems(): [string, unknown, string, string] | undefined {
    const o = this.options;
    if (typeof o?.requestsPerSecondPerReplica !== 'number' || !(o.requestsPerSecondPerReplica > 0) || !Number.isFinite(o.requestsPerSecondPerReplica)) {
      return ['requestRate.requestsPerSecondPerReplica', o?.requestsPerSecondPerReplica, 'is not a positive number', 'use the rate one replica sustains within its latency objective, e.g. 20'];
    }
    let url: URL | undefined;
    try {
      url = new URL(o.prometheusServerAddress);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      return ['requestRate.prometheusServerAddress', o.prometheusServerAddress, 'is not an http(s) URL', 'use e.g. "http://prometheus-operated.monitoring.svc:9090"'];
    }
    const w = this.windowSeconds;
    if (!Number.isInteger(w) || w < 30 || w > 3600) {
      return ['requestRate.window', `${w}s`, 'is not between 30 seconds and 1 hour', 'use e.g. Duration.minutes(2); shorter windows are noisy'];
    }
    return undefined;
  }
}
