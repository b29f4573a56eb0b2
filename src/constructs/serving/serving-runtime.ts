import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { Images } from '../core/images';
import { IModelRegistry, ModelReference } from '../core/model-reference';
import { DEFAULT_USER_ID } from '../core/security';
import { invalidProp } from '../core/validation';

/** Metrics a server exports itself, mapped onto the library's serving-metrics contract. */
export interface ServerMetricsOptions {
  /** HTTP path of the Prometheus endpoint. @default '/metrics' */
  readonly path?: string;
  /** Container port of the endpoint. @default - the server's own port */
  readonly port?: number;
  /** Name of the server's request counter, e.g. `flask_http_request_total`. */
  readonly requestsTotal: string;
  /** Label of that counter holding the HTTP status code. @default 'status' */
  readonly statusCodeLabel?: string;
  /** Base name of the server's request-duration histogram in seconds, without `_bucket`. */
  readonly durationHistogram: string;
  /** Name of an in-flight requests gauge, if the server has one. @default - none */
  readonly inFlightGauge?: string;
}

/** Options of the MLflow scoring server (`mlflow models serve`). */
export interface MlflowServingOptions {
  /** The registered model to serve: `registry.model(...)` or a `models:/` URI. */
  readonly model: ModelReference | string;
  /** Registry that holds the model. @default - the registry of `model` */
  readonly registry?: IModelRegistry;
  /** Image with MLflow and the model's Python dependencies. @default Images.MLFLOW */
  readonly image?: string;
  /** Longest a single prediction may take before the server aborts it. @default Duration.seconds(60) */
  readonly requestTimeout?: Duration;
}

/** Options for an image built by `mlflow models build-docker`. */
export interface MlflowImageOptions {
  /** The built image, pinned to a tag or digest. */
  readonly image: string;
  /** Longest a single prediction may take before the server aborts it. @default Duration.seconds(60) */
  readonly requestTimeout?: Duration;
}

/** Options of a custom model-server container (Flask, FastAPI, ...). */
export interface CustomRuntimeOptions {
  /** The image, pinned to a tag or digest. */
  readonly image: string;
  /** Container port the server listens on. */
  readonly port: number;
  /** Entrypoint override. @default - the image's entrypoint */
  readonly command?: string[];
  /** Arguments. @default - the image's cmd */
  readonly args?: string[];
  /** Liveness path: answers 200 while the process is healthy. @default '/health' */
  readonly healthPath?: string;
  /** Readiness path: answers 200 once the model is loaded. @default - healthPath */
  readonly readyPath?: string;
  /** Metrics the server exports itself. @default - none: the metrics proxy sidecar measures traffic */
  readonly metrics?: ServerMetricsOptions;
  /** Directories the server writes to; each gets an emptyDir (the root filesystem is read-only). @default ['/tmp'] */
  readonly writablePaths?: string[];
  /** Environment variable that receives the worker count derived from the CPU limit. @default 'WEB_CONCURRENCY' */
  readonly workersEnvVar?: string;
  /** Non-zero user id the image expects. @default 1000 */
  readonly userId?: number;
}

/** What a runtime contributes to the model-server container, given the pod's sizing. */
export interface RuntimeContainer {
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly env: { name: string; value: string }[];
  /** Container port the server listens on. */
  readonly port: number;
  /** Path for startup and liveness probes. */
  readonly healthPath: string;
  /** Path for the readiness probe. */
  readonly readyPath: string;
  readonly writablePaths: string[];
  readonly userId: number;
  /**
   * True when the server only listens on 127.0.0.1, so probes and clients must go through
   * the metrics proxy in the same pod.
   */
  readonly loopbackOnly?: boolean;
  /** True when the image has a `sleep` binary, so a preStop hook can delay SIGTERM. */
  readonly hasSleep?: boolean;
  /** Present when the server exports metrics itself. */
  readonly metrics?: Required<Omit<ServerMetricsOptions, 'inFlightGauge'>> & { inFlightGauge?: string };
  /** The registry model the server loads at start (`models:/...`), and the registry that resolves it. */
  readonly registryModel?: { readonly uri: string; readonly trackingUri: string };
}

/** Inputs a runtime needs from the ModelService to build its container. */
export interface RuntimeBindContext {
  /** Kind of the construct that binds the runtime, for error messages. */
  readonly kind: string;
  /** Worker processes, derived from the CPU limit. */
  readonly workers: number;
  /** Port the server must listen on (the proxy takes the public one when it is enabled). */
  readonly port: number;
}

/**
 * How a model is served. Use a static factory: `ServingRuntime.mlflow(...)`,
 * `ServingRuntime.mlflowImage(...)` or `ServingRuntime.custom(...)`.
 */
export abstract class ServingRuntime {
  /** The MLflow scoring server loading a registered model from the registry at start. */
  public static mlflow(options: MlflowServingOptions): ServingRuntime {
    return new MlflowServingRuntime(options);
  }

  /**
   * An image built by `mlflow models build-docker`: the model is baked in. The image's nginx
   * front needs a writable root filesystem, so it is disabled and the metrics proxy takes
   * its place in front of the scoring server (which then listens on 127.0.0.1:8000).
   */
  public static mlflowImage(options: MlflowImageOptions): ServingRuntime {
    return new MlflowImageRuntime(options);
  }

  /** Any HTTP model server, e.g. a Flask app with its own `/metrics`. */
  public static custom(options: CustomRuntimeOptions): ServingRuntime {
    return new CustomRuntime(options);
  }

  /** Short name for messages and labels. */
  public abstract readonly kind: string;

  /** The port the server listens on when nothing else is in front of it. */
  public abstract readonly defaultPort: number;

  /**
   * The port the server always listens on (fixed by its image or options), or undefined when
   * it listens on whatever port the ModelService gives it.
   */
  public abstract readonly fixedPort: number | undefined;

  /**
   * True when the server only listens on 127.0.0.1, so probes and clients must go through the
   * metrics proxy in the same pod.
   */
  public abstract readonly loopbackOnly: boolean;

  /** True when the server exports request metrics itself (mapped onto the contract at scrape time). */
  public abstract readonly exportsOwnMetrics: boolean;

  /** The registry the server talks to, if any. */
  public abstract readonly registry: IModelRegistry | undefined;

  /**
   * Checks the options and returns the first problem as [field, value, problem, fix],
   * or undefined. Field names are relative to the `runtime` prop.
   */
  public abstract problems(): [string, unknown, string, string] | undefined;

  /** Builds the container without checking the options; `bind` checks them first. */
  public abstract container(context: RuntimeBindContext): RuntimeContainer;

  /**
   * Checks the options (errors name the owning construct and `runtime.<field>`) and builds the
   * container, as RegistryDatabase, ArtifactStore and DriftData bind to their constructs.
   */
  public bind(scope: Construct, context: RuntimeBindContext): RuntimeContainer {
    const problem = this.problems();
    if (problem) throw invalidProp(context.kind, scope, ...problem);
    return this.container(context);
  }

  /** This runtime with its container image replaced, e.g. by one a Pulumi program builds. */
  public withImage(image: string): ServingRuntime {
    return new ImageOverride(this, image);
  }

  /**
   * This runtime serving another registry model (a shadow challenger), or undefined when the
   * runtime cannot load a model by reference (a built image, a custom server).
   */
  public withModel(_model: ModelReference | string): ServingRuntime | undefined {
    return undefined;
  }
}

/** A runtime with its container image replaced. */
class ImageOverride extends ServingRuntime {
  constructor(private readonly inner: ServingRuntime, private readonly image: string) {
    super();
  }

  public get kind(): string {
    return this.inner.kind;
  }

  public get defaultPort(): number {
    return this.inner.defaultPort;
  }

  public get fixedPort(): number | undefined {
    return this.inner.fixedPort;
  }

  public get loopbackOnly(): boolean {
    return this.inner.loopbackOnly;
  }

  public get exportsOwnMetrics(): boolean {
    return this.inner.exportsOwnMetrics;
  }

  public get registry(): IModelRegistry | undefined {
    return this.inner.registry;
  }

  public withModel(model: ModelReference | string): ServingRuntime | undefined {
    return this.inner.withModel(model)?.withImage(this.image);
  }

  public problems(): [string, unknown, string, string] | undefined {
    return this.inner.problems();
  }

  public container(context: RuntimeBindContext): RuntimeContainer {
    return { ...this.inner.container(context), image: this.image };
  }
}

// Python writes bytecode caches and MLflow/pip caches under HOME; both must land on emptyDirs.
const PYTHON_ENV = [
  { name: 'HOME', value: '/tmp/home' },
  { name: 'PYTHONDONTWRITEBYTECODE', value: '1' },
  { name: 'PYTHONUNBUFFERED', value: '1' },
];

function timeoutProblem(timeout: Duration | undefined): [string, unknown, string, string] | undefined {
  if (timeout === undefined) return undefined;
  const seconds = timeout.toSeconds();
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
    return ['runtime.requestTimeout', `${seconds}s`, 'is not a whole number of seconds between 1 and 3600', 'use e.g. Duration.seconds(60)'];
  }
  return undefined;
}

class MlflowServingRuntime extends ServingRuntime {
  public readonly kind = 'mlflow';
  public readonly defaultPort = 8080;
  public readonly fixedPort = undefined;
  public readonly loopbackOnly = false;
  public readonly exportsOwnMetrics = false;
  public readonly registry: IModelRegistry | undefined;
  private readonly modelUri: unknown;

  constructor(private readonly options: MlflowServingOptions) {
    super();
    const model = options?.model;
    this.modelUri = model instanceof ModelReference ? model.uri : model;
    this.registry = options?.registry ?? (model instanceof ModelReference ? model.registry : undefined);
  }

  public withModel(model: ModelReference | string): ServingRuntime {
    return new MlflowServingRuntime({ ...this.options, model, registry: model instanceof ModelReference ? model.registry ?? this.registry : this.registry });
  }

  public problems(): [string, unknown, string, string] | undefined {
    const uriProblem = ModelReference.problemWithUri(this.modelUri);
    if (uriProblem !== undefined) {
      return ['runtime.model', this.modelUri, 'is not a registry model', uriProblem];
    }
    if (this.registry === undefined) {
      return ['runtime.registry', undefined, `is required to resolve ${this.modelUri}`,
        'pass registry: <your ModelRegistry> or a model from registry.model(...)'];
    }
    return timeoutProblem(this.options.requestTimeout);
  }

  public container(context: RuntimeBindContext): RuntimeContainer {
    return {
      image: this.options.image ?? Images.MLFLOW,
      command: ['mlflow', 'models', 'serve'],
      args: [
        '--model-uri', String(this.modelUri),
        '--env-manager', 'local',
        '-h', '0.0.0.0',
        '--port', String(context.port),
        '--workers', String(context.workers),
        '--timeout', String((this.options.requestTimeout ?? Duration.seconds(60)).toSeconds()),
      ],
      env: [{ name: 'MLFLOW_TRACKING_URI', value: this.registry!.trackingUri }, ...PYTHON_ENV],
      registryModel: { uri: String(this.modelUri), trackingUri: this.registry!.trackingUri },
      port: context.port,
      healthPath: '/ping',
      readyPath: '/ping',
      writablePaths: ['/tmp'],
      userId: DEFAULT_USER_ID,
      hasSleep: true,
    };
  }
}

class MlflowImageRuntime extends ServingRuntime {
  public readonly kind = 'mlflow-image';
  // Fixed by the image's entrypoint (mlflow.models.container): uvicorn on 127.0.0.1:8000
  // once nginx is disabled.
  public readonly defaultPort = 8000;
  public readonly fixedPort = 8000;
  public readonly loopbackOnly = true;
  public readonly exportsOwnMetrics = false;
  public readonly registry = undefined;

  constructor(private readonly options: MlflowImageOptions) {
    super();
  }

  public problems(): [string, unknown, string, string] | undefined {
    if (typeof this.options?.image !== 'string' || this.options.image.length === 0) {
      return ['runtime.image', this.options?.image, 'is required', 'pass the image that `mlflow models build-docker -n <image>` built and pushed'];
    }
    return timeoutProblem(this.options.requestTimeout);
  }

  public container(context: RuntimeBindContext): RuntimeContainer {
    // The image's entrypoint starts the scoring server on 8080 and reads its sizing from env.
    return {
      image: this.options.image,
      env: [
        { name: 'DISABLE_NGINX', value: 'true' },
        { name: 'MLFLOW_MODELS_WORKERS', value: String(context.workers) },
        { name: 'MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT', value: String((this.options.requestTimeout ?? Duration.seconds(60)).toSeconds()) },
        ...PYTHON_ENV,
      ],
      port: this.defaultPort,
      healthPath: '/ping',
      readyPath: '/ping',
      writablePaths: ['/tmp'],
      userId: DEFAULT_USER_ID,
      loopbackOnly: true,
      hasSleep: true,
    };
  }
}

const PROMETHEUS_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function pathProblem(field: string, value: unknown): [string, unknown, string, string] | undefined {
  if (typeof value !== 'string' || !value.startsWith('/') || /\s/.test(value)) {
    return [field, value, 'is not an absolute HTTP path', 'start it with "/", e.g. "/health"'];
  }
  return undefined;
}

function portProblem(field: string, value: unknown): [string, unknown, string, string] | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    return [field, value, 'is not a port number', 'use an integer between 1 and 65535'];
  }
  return undefined;
}

class CustomRuntime extends ServingRuntime {
  public readonly kind = 'custom';
  public readonly registry = undefined;

  constructor(private readonly options: CustomRuntimeOptions) {
    super();
  }

  public readonly loopbackOnly = false;

  public get defaultPort(): number {
    return this.options.port;
  }

  public get fixedPort(): number {
    return this.options.port;
  }

  public get exportsOwnMetrics(): boolean {
    return this.options?.metrics !== undefined;
  }

  public problems(): [string, unknown, string, string] | undefined {
    const o = this.options;
    if (typeof o?.image !== 'string' || o.image.length === 0) {
      return ['runtime.image', o?.image, 'is required', 'pass the model server image, pinned to a version tag'];
    }
    const checks = [
      portProblem('runtime.port', o.port),
      o.healthPath === undefined ? undefined : pathProblem('runtime.healthPath', o.healthPath),
      o.readyPath === undefined ? undefined : pathProblem('runtime.readyPath', o.readyPath),
      o.userId === undefined || (Number.isInteger(o.userId) && o.userId > 0 && o.userId < 2 ** 31) ? undefined
        : ['runtime.userId', o.userId, 'is not a non-zero user id', 'the restricted profile forbids root; use e.g. 1000'] as [string, unknown, string, string],
      ...(o.writablePaths ?? []).map((p, i) => (typeof p === 'string' && /^\/[^\s]*$/.test(p) && p !== '/') ? undefined
        : [`runtime.writablePaths[${i}]`, p, 'is not an absolute directory below /', 'use e.g. "/tmp" or "/var/cache/model"'] as [string, unknown, string, string]),
    ];
    const first = checks.find((c) => c !== undefined);
    if (first) return first;
    const m = o.metrics;
    if (m !== undefined) {
      if (m.path !== undefined) {
        const p = pathProblem('runtime.metrics.path', m.path);
        if (p) return p;
      }
      if (m.port !== undefined) {
        const p = portProblem('runtime.metrics.port', m.port);
        if (p) return p;
      }
      for (const [field, value] of [['requestsTotal', m.requestsTotal], ['durationHistogram', m.durationHistogram], ['inFlightGauge', m.inFlightGauge]] as const) {
        if (field === 'inFlightGauge' && value === undefined) continue;
        if (typeof value !== 'string' || !PROMETHEUS_NAME.test(value)) {
          return [`runtime.metrics.${field}`, value, 'is not a Prometheus metric name', 'use [a-zA-Z_:][a-zA-Z0-9_:]*, e.g. "flask_http_request_total"'];
        }
      }
      if (m.statusCodeLabel !== undefined && !LABEL_NAME.test(m.statusCodeLabel)) {
        return ['runtime.metrics.statusCodeLabel', m.statusCodeLabel, 'is not a Prometheus label name', 'use [a-zA-Z_][a-zA-Z0-9_]*, e.g. "status"'];
      }
    }
    return undefined;
  }

  public container(context: RuntimeBindContext): RuntimeContainer {
    const o = this.options;
    const healthPath = o.healthPath ?? '/health';
    const metrics = o.metrics;
    return {
      image: o.image,
      command: o.command,
      args: o.args,
      env: [{ name: o.workersEnvVar ?? 'WEB_CONCURRENCY', value: String(context.workers) }],
      port: o.port,
      healthPath,
      readyPath: o.readyPath ?? healthPath,
      writablePaths: o.writablePaths ?? ['/tmp'],
      userId: o.userId ?? DEFAULT_USER_ID,
      metrics: metrics === undefined ? undefined : {
        path: metrics.path ?? '/metrics',
        port: metrics.port ?? o.port,
        requestsTotal: metrics.requestsTotal,
        statusCodeLabel: metrics.statusCodeLabel ?? 'status',
        durationHistogram: metrics.durationHistogram,
        inFlightGauge: metrics.inFlightGauge,
      },
    };
  }
}
