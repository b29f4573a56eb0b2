// The names that cross a boundary: between the constructs that write a manifest, the runtime
// programs that run from it (src/runtime), the alert rules and dashboards that query what those
// programs export, and the users who type them into Grafana, Alertmanager routes and kubectl.
// Each name is written here once and imported on every side; renaming one is a breaking change
// (docs/architecture.md, "Contracts").
//
// This module is plain data: the runtime bundles import it, so it must not import cdk8s,
// constructs or anything else.

/** Serving metrics, uniform for every runtime (exported by the metrics proxy, or mapped at scrape time). */
export const SERVING_METRICS = {
  /** Counter, labels `model`, `code`. */
  requestsTotal: 'mlops_inference_requests_total',
  /** Histogram in seconds (`_bucket`, `_sum`, `_count`), label `model`. */
  requestDurationSeconds: 'mlops_inference_request_duration_seconds',
  /** Gauge, label `model`. */
  requestsInFlight: 'mlops_inference_requests_in_flight',
} as const;

/** Inference-log metrics, exported by the metrics proxy next to SERVING_METRICS when ModelService `inferenceLog` is set. */
export const INFERENCE_LOG_METRICS = {
  /**
   * Counter, labels `model`, `outcome` (INFERENCE_LOG_OUTCOMES): every sampled request's rows,
   * by what became of them. Unsampled requests are not counted here.
   */
  recordsTotal: 'mlops_inference_log_records_total',
  /** Counter, labels `model`, `part` ("request" or "response"): bodies the proxy could not read as a known format; logged without features. */
  unparsedTotal: 'mlops_inference_log_unparsed_total',
  /** Counter, label `model`: objects written to storage. */
  objectsTotal: 'mlops_inference_log_objects_total',
  /** Gauge, label `model`: records waiting in the proxy's bounded buffer. */
  bufferedRecords: 'mlops_inference_log_buffered_records',
} as const;

/** Values of LABELS.outcome on INFERENCE_LOG_METRICS.recordsTotal. */
export const INFERENCE_LOG_OUTCOMES = {
  /** In an object the storage acknowledged. */
  written: 'written',
  /** The buffer was full (storage slow or down): dropped so inference never waits. */
  droppedBufferFull: 'dropped_buffer_full',
  /** Uploads of its object failed past the retries (or at shutdown past the drain time). */
  droppedUploadFailed: 'dropped_upload_failed',
} as const;

/**
 * Shadow-challenger metrics, exported by the champion's metrics proxy (ModelService `shadow`).
 * The challenger's own latency and errors are the SERVING_METRICS of its pods' proxy, which
 * carry LABELS.variant = SHADOW_VARIANT; the champion's series have no `variant` label.
 */
export const SHADOW_METRICS = {
  /** Counter, labels `model`, `outcome` (SHADOW_OUTCOMES): every mirrored request, by how its answers compared. */
  comparisonsTotal: 'mlops_shadow_comparisons_total',
  /** Counter, labels `model`, `reason` (SHADOW_SKIP_REASONS): requests sampled for the shadow but not mirrored. */
  skippedTotal: 'mlops_shadow_skipped_total',
  /** Counters, label `model`: sum and count of |champion - challenger| over compared numeric predictions (regression). */
  absDifferenceSum: 'mlops_shadow_abs_difference_sum',
  absDifferenceCount: 'mlops_shadow_abs_difference_count',
} as const;

/** Values of LABELS.outcome on SHADOW_METRICS.comparisonsTotal. */
export const SHADOW_OUTCOMES = {
  /** Every prediction of the request equal (classification) or within the tolerance (regression). */
  agree: 'agree',
  disagree: 'disagree',
  /** The challenger answered with an error, timed out or could not be reached. */
  challengerFailed: 'challenger_failed',
  /** The champion failed, or either answer could not be read as predictions of the same rows. */
  incomparable: 'incomparable',
} as const;

/** Values of LABELS.reason on SHADOW_METRICS.skippedTotal: why a sampled request was not mirrored. */
export const SHADOW_SKIP_REASONS = {
  /** maxInFlight mirrors were in flight already. */
  inFlightLimit: 'in_flight_limit',
  /** The request's body is larger than the proxy captures (1 MiB), so there is nothing whole to send. */
  bodyTooLarge: 'body_too_large',
} as const;

/** Value of LABELS.variant on the challenger's serving metrics. */
export const SHADOW_VARIANT = 'challenger';

/** Gauge 1, labels `model`, `version`: the model version the pod serves (resolved from the registry at pod start when served by alias). */
export const MODEL_INFO_METRIC = 'mlops_model_info';

/**
 * Column names of an inference-log record besides the features (their own names) and the
 * predictions (INFERENCE_LOG_COLUMNS.prediction, or prediction_<i> for several outputs per row).
 * Meta columns start with an underscore so they cannot collide with a feature named like them.
 */
export const INFERENCE_LOG_COLUMNS = {
  timestamp: '_timestamp',
  model: '_model',
  version: '_version',
  code: '_code',
  latencySeconds: '_latency_seconds',
  /** One id per logged request; the rows of one batch request share it. */
  requestId: '_request_id',
  /** Set to "request" or "response" when that body could not be parsed (the row then has no features or no predictions). */
  unparsed: '_unparsed',
  prediction: 'prediction',
  /** The shadow challenger's prediction of the row (challenger_prediction_<i|key> for several), when the request was mirrored. */
  challengerPrediction: 'challenger_prediction',
  /** The challenger's HTTP code (0 when it failed to answer), when the request was mirrored. */
  challengerCode: '_challenger_code',
} as const;

/** Drift metrics, pushed to a Pushgateway by every drift run under the grouping key of DRIFT_PUSH_JOB. */
export const DRIFT_METRICS = {
  /** Labels `feature`, `method`; only for tests that have a p-value. */
  pValue: 'mlops_drift_p_value',
  /** Labels `feature`, `method`. */
  statistic: 'mlops_drift_statistic',
  /** 0 or 1, labels `feature`, `method`. */
  detected: 'mlops_drift_detected',
  /** Share of features drifted, 0..1. */
  share: 'mlops_drift_share',
  /** 0 or 1. */
  datasetDrifted: 'mlops_drift_dataset_drifted',
  /** Label `dataset` ("reference" or "current"). */
  rows: 'mlops_drift_rows',
  lastSuccessTimestampSeconds: 'mlops_drift_last_success_timestamp_seconds',
  checkDurationSeconds: 'mlops_drift_check_duration_seconds',
  /** Label `metric` (accuracy, f1, rmse, mae...), when label and prediction columns are checked. */
  modelQuality: 'mlops_model_quality',
  /**
   * 1 when the last run found no current data (exit CHECKER_EXIT_CODES.dataMissing; pushed
   * alone, so the last real verdict stays), 0 after a run that checked.
   */
  dataMissing: 'mlops_drift_data_missing',
} as const;

/** Label names of the contract metrics and of the alerts. */
export const LABELS = {
  /** The model a series or alert is about: ModelService `modelName`. */
  model: 'model',
  /** HTTP status code sent to the client. */
  code: 'code',
  /** Kubernetes namespace of the model (a drift grouping key; added by Prometheus on scrape). */
  namespace: 'namespace',
  /** Scrape job (the Service name) or, on pushed series, DRIFT_PUSH_JOB. */
  job: 'job',
  feature: 'feature',
  method: 'method',
  /** "reference" or "current" on DRIFT_METRICS.rows. */
  dataset: 'dataset',
  /** Quality metric name on DRIFT_METRICS.modelQuality. */
  metric: 'metric',
  /** Index of the pod of an Indexed drift Job; each shard pushes its own group. */
  shard: 'shard',
  /** Alert severity: critical, warning or info. */
  severity: 'severity',
  /** What became of inference-log records (INFERENCE_LOG_OUTCOMES). */
  outcome: 'outcome',
  /** Model version on MODEL_INFO_METRIC. */
  version: 'version',
  /** "request" or "response" on INFERENCE_LOG_METRICS.unparsedTotal. */
  part: 'part',
  /** SHADOW_VARIANT on the serving metrics of a shadow challenger; absent on the champion's. */
  variant: 'variant',
  /** Why a sampled request was not mirrored (SHADOW_SKIP_REASONS). */
  reason: 'reason',
} as const;

/** The grouping-key `job` of every drift run's push to the Pushgateway. */
export const DRIFT_PUSH_JOB = 'mlops-drift';

/** Values of LABELS.dataset on DRIFT_METRICS.rows. */
export const DRIFT_DATASETS = ['reference', 'current'] as const;

/** The alert names of the contract; every alert carries `severity`, `namespace` (and `model` where one model is concerned). */
export const ALERT_NAMES = [
  'ModelHighLatency', 'ModelHighErrorRate', 'ModelTrafficDrop', 'ModelReplicasUnavailable', 'ModelAccuracyDrop',
  'ModelDriftDetected', 'ModelFeatureDrift', 'ModelDriftCheckStale', 'ModelDriftCheckFailed', 'ModelRegistryDown',
  'ModelErrorBudgetBurn', 'ModelInferenceLogDropping', 'ModelShadowErrors', 'ModelShadowDisagreement', 'ModelPromotionFailed',
  'ModelPromotionWebhookUnregistered',
] as const;

/**
 * Upper bounds, in seconds, of the proxy's request-duration histogram (+Inf implied): the only
 * latencies a p99 objective on its metrics can be measured at (ModelService checks them).
 */
export const PROXY_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Environment variables the metrics proxy reads (set by ModelService, read by src/runtime/metrics-proxy). */
export const PROXY_ENV = {
  upstream: 'MLOPS_PROXY_UPSTREAM',
  listenPort: 'MLOPS_PROXY_LISTEN_PORT',
  metricsPort: 'MLOPS_PROXY_METRICS_PORT',
  bindAddress: 'MLOPS_PROXY_BIND_ADDRESS',
  modelName: 'MLOPS_MODEL_NAME',
  buckets: 'MLOPS_PROXY_BUCKETS',
  uncountedPaths: 'MLOPS_PROXY_UNCOUNTED_PATHS',
  upstreamTimeoutSeconds: 'MLOPS_PROXY_UPSTREAM_TIMEOUT_SECONDS',
  drainSeconds: 'MLOPS_PROXY_DRAIN_SECONDS',
  /** The served model version, when known at synth time (a pinned version). */
  modelVersion: 'MLOPS_MODEL_VERSION',
  /** The model URI the server loads (models:/name@alias): the proxy resolves the alias to a version at start. */
  modelUri: 'MLOPS_MODEL_URI',
  /** MLflow tracking server the proxy resolves the alias with (the same name the MLflow client reads). */
  trackingUri: 'MLFLOW_TRACKING_URI',
  /** The pod's name (downward API): part of each inference-log object's key. */
  podName: 'MLOPS_POD_NAME',
  /** s3://bucket/prefix of the inference log; unset turns logging off. */
  inferenceLogUri: 'MLOPS_INFERENCE_LOG_URI',
  /** Share of counted requests logged, 0..1. */
  inferenceLogSampleRatio: 'MLOPS_INFERENCE_LOG_SAMPLE_RATIO',
  /** Records buffered at most; beyond, records are dropped and counted. */
  inferenceLogBufferRecords: 'MLOPS_INFERENCE_LOG_BUFFER_RECORDS',
  /** An object is written when its uncompressed records reach this many bytes... */
  inferenceLogFlushBytes: 'MLOPS_INFERENCE_LOG_FLUSH_BYTES',
  /** ...or when its oldest record is this many seconds old. */
  inferenceLogFlushSeconds: 'MLOPS_INFERENCE_LOG_FLUSH_SECONDS',
  /** For a custom runtime: dotted path to the feature rows in the request body (e.g. data.rows). */
  inferenceLogRequestPath: 'MLOPS_INFERENCE_LOG_REQUEST_PATH',
  /** For a custom runtime: dotted path to the predictions in the response body (e.g. result.scores). */
  inferenceLogResponsePath: 'MLOPS_INFERENCE_LOG_RESPONSE_PATH',
  /** On a challenger's proxy: SHADOW_VARIANT, added as LABELS.variant to its serving metrics. */
  variant: 'MLOPS_MODEL_VARIANT',
  /** On the champion's proxy: the challenger's Service, http://host:port; unset turns mirroring off. */
  shadowUpstream: 'MLOPS_SHADOW_UPSTREAM',
  /** Share of counted requests mirrored to the challenger, 0..1. */
  shadowShare: 'MLOPS_SHADOW_SHARE',
  /** Seconds a mirrored request may take before it counts as challenger_failed. */
  shadowTimeoutSeconds: 'MLOPS_SHADOW_TIMEOUT_SECONDS',
  /** Mirrored requests in flight at most; beyond, sampled requests are skipped and counted. */
  shadowMaxInFlight: 'MLOPS_SHADOW_MAX_IN_FLIGHT',
  /** How predictions compare: "equal" (classification) or an absolute tolerance such as "0.01" (regression). */
  shadowTolerance: 'MLOPS_SHADOW_TOLERANCE',
  /**
   * For a custom runtime: dotted path to the predictions in both models' responses; unset
   * falls back to MLOPS_INFERENCE_LOG_RESPONSE_PATH, then to MLflow's formats.
   */
  shadowResponsePath: 'MLOPS_SHADOW_RESPONSE_PATH',
} as const;

/** The inference log's object keys: `<prefix>/model=<m>/version=<v>/dt=YYYY-MM-DD/hour=HH/<pod>-<seq>.jsonl.gz` (UTC). */
export const INFERENCE_LOG_LAYOUT = {
  model: 'model',
  version: 'version',
  date: 'dt',
  hour: 'hour',
  suffix: '.jsonl.gz',
  /** The version segment when the version could not be resolved. */
  unknownVersion: 'unknown',
} as const;

/** Paths the metrics proxy serves on its metrics port: ModelService scrapes the one and probes the other. */
export const PROXY_PATHS = {
  metrics: '/metrics',
  health: '/healthz',
} as const;

/**
 * Environment variables of the drift checker's container (set by DriftMonitor, read by
 * src/runtime/drift). The AWS and MLflow names are those of the AWS SDKs and the MLflow
 * client, so a checker run by hand reads the same variables.
 */
export const CHECKER_ENV = {
  /** The Indexed Job's completion index, substituted into `--shard-index $(...)`. */
  shardIndex: 'MLOPS_DRIFT_SHARD_INDEX',
  /** MLflow tracking server for runs:/ and models:/ URIs (default of `--tracking-uri`). */
  trackingUri: 'MLFLOW_TRACKING_URI',
  trackingToken: 'MLFLOW_TRACKING_TOKEN',
  trackingUsername: 'MLFLOW_TRACKING_USERNAME',
  trackingPassword: 'MLFLOW_TRACKING_PASSWORD',
  /** S3 endpoint override (default of `--s3-endpoint`; AWS_ENDPOINT_URL_S3 wins over it). */
  s3Endpoint: 'AWS_ENDPOINT_URL',
  s3EndpointS3: 'AWS_ENDPOINT_URL_S3',
  region: 'AWS_REGION',
  defaultRegion: 'AWS_DEFAULT_REGION',
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  sessionToken: 'AWS_SESSION_TOKEN',
} as const;

/**
 * File names of the bundled runtime programs: in assets/ (written by scripts/bundle-runtime.js),
 * as the ConfigMap key and under the mount directory in the pod.
 */
export const BUNDLES = {
  metricsProxy: 'metrics-proxy.js',
  driftChecker: 'mlops-drift.js',
  promotionRelay: 'promotion-relay.js',
} as const;

/** Where a runtime bundle's ConfigMap is mounted in its container. */
export const BUNDLE_MOUNT = '/opt/mlops';

/** The drift checker's one command. */
export const CHECKER_COMMAND = 'check';

/**
 * The drift checker's flags (`mlops-drift check --<flag>`): the option names the DriftMonitor
 * writes into the CronJob's args and the checker's argument parser accepts.
 */
export const CHECKER_FLAGS = {
  reference: 'reference',
  current: 'current',
  features: 'features',
  categorical: 'categorical',
  method: 'method',
  threshold: 'threshold',
  driftShare: 'drift-share',
  correction: 'correction',
  label: 'label',
  prediction: 'prediction',
  /** A column of the model's output in both datasets, tested for drift like a feature (prediction drift). */
  predictionDrift: 'prediction-drift',
  task: 'task',
  positiveLabel: 'positive-label',
  sample: 'sample',
  seed: 'seed',
  format: 'format',
  s3Endpoint: 's3-endpoint',
  trackingUri: 'tracking-uri',
  date: 'date',
  /** The CronJob's schedule: {{ds}} and {{hour}} name the period that has just ended. */
  schedule: 'schedule',
  /** The CronJob's time zone (IANA), in which the period and its date are taken. */
  timeZone: 'time-zone',
  /** Which period back from the run's own scheduled time (default 1, the one just ended). */
  periodsBack: 'periods-back',
  /** The run time, instead of the clock (for tests and reruns). */
  now: 'now',
  pushgateway: 'pushgateway',
  namespace: 'namespace',
  model: 'model',
  shardIndex: 'shard-index',
  shardCount: 'shard-count',
  json: 'json',
  help: 'help',
} as const;

/**
 * The drift checker's exit codes. The DriftMonitor's Job fails at once on badInput (retrying
 * cannot fix it) and retries the others within its backoffLimit: dataMissing is the current
 * dataset not (yet) there (S3 NoSuchKey or 404, HTTP 404, no such file, no file matching).
 */
export const CHECKER_EXIT_CODES = {
  /** The check ran (drift or not). */
  ran: 0,
  /** Anything else: an unreachable source or Pushgateway, a server error. */
  failed: 1,
  /** Bad arguments or bad data (including a missing reference dataset). */
  badInput: 2,
  /** The current dataset is not there yet. */
  dataMissing: 3,
} as const;

/** The flags of CHECKER_FLAGS that take a value (the others are booleans). */
export const CHECKER_VALUE_FLAGS: readonly string[] = Object.values(CHECKER_FLAGS).filter((f) => f !== CHECKER_FLAGS.json && f !== CHECKER_FLAGS.help);

/** Annotations that carry a bundle's SHA-256 on the pod template, so a new bundle rolls the pods. */
export const BUNDLE_HASH_ANNOTATIONS = {
  metricsProxy: 'mlops-constructs.io/metrics-proxy-sha256',
  driftChecker: 'mlops-constructs.io/drift-checker-sha256',
  promotionRelay: 'mlops-constructs.io/promotion-relay-sha256',
} as const;

// ---- promotion relay (ModelPromotion, src/runtime/promotion-relay) ---------------------------

/** Environment variables of the promotion relay's container (set by ModelPromotion, read by src/runtime/promotion-relay). */
export const PROMOTION_ENV = {
  /** JSON of the relay's settings: webhook name and URL, models, aliases and actions (no secrets). */
  config: 'MLOPS_PROMOTION_CONFIG',
  /** The HMAC secret MLflow signs deliveries with, from a Secret. */
  webhookSecret: 'MLOPS_PROMOTION_WEBHOOK_SECRET',
  /** Port the relay listens on for deliveries, /metrics and /healthz. */
  listenPort: 'MLOPS_PROMOTION_LISTEN_PORT',
  /** Namespace of the relay and of the Deployments it rolls (downward API). */
  namespace: 'MLOPS_PROMOTION_NAMESPACE',
  /** MLflow tracking server the relay registers its webhook with and resolves aliases at (the MLflow client's name). */
  trackingUri: 'MLFLOW_TRACKING_URI',
  trackingUsername: 'MLFLOW_TRACKING_USERNAME',
  trackingPassword: 'MLFLOW_TRACKING_PASSWORD',
  /** Where the service account token, CA and namespace are mounted (for tests run outside a pod). */
  serviceAccountDir: 'MLOPS_PROMOTION_SERVICEACCOUNT_DIR',
  /** The apiserver's URL, instead of https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (for tests run outside a pod). */
  kubernetesApi: 'MLOPS_PROMOTION_KUBERNETES_API',
} as const;

/** Metrics the promotion relay exports on its /metrics. */
export const PROMOTION_METRICS = {
  /** Counter, label `outcome` (PROMOTION_DELIVERY_OUTCOMES): every request to the webhook path, by what became of it. */
  deliveriesTotal: 'mlops_promotion_deliveries_total',
  /** Counter, labels `model`, `action` (ci, rollout, canary), `outcome` (succeeded, failed, unchanged). */
  actionsTotal: 'mlops_promotion_actions_total',
  /** Counter, labels `model`, `action`: attempts that failed and were retried (CI delivery, API calls). */
  retriesTotal: 'mlops_promotion_retries_total',
  /** Gauge, label `model`: 1 while the model's last promotion failed (CI past its retries, a refused rollout, a stopped canary), else 0. */
  failed: 'mlops_promotion_failed',
  /** Gauge, labels `model`, `version`: 1 while a canary of that version bakes. */
  canaryActive: 'mlops_promotion_canary_active',
  /** Gauge: 1 once the relay's webhook is registered in MLflow (created or updated), 0 until then. */
  webhookRegistered: 'mlops_promotion_webhook_registered',
  /** Gauge, label `model`: Unix time of the model's last successful promotion. */
  lastSuccessTimestampSeconds: 'mlops_promotion_last_success_timestamp_seconds',
} as const;

/** Values of LABELS.outcome on PROMOTION_METRICS.deliveriesTotal. */
export const PROMOTION_DELIVERY_OUTCOMES = {
  accepted: 'accepted',
  /** Missing delivery id, timestamp or signature header. */
  missingHeaders: 'missing_headers',
  /** Timestamp outside the tolerance (a replay of an old delivery, or a clock far off). */
  stale: 'stale',
  /** Signature does not match the body (tampered, or signed with another secret). */
  badSignature: 'bad_signature',
  /** A delivery id seen before, within the tolerance. */
  replayed: 'replayed',
  /** Not JSON, or not MLflow's envelope. */
  badRequest: 'bad_request',
  /** Not a model_version_alias.created event. */
  ignoredEvent: 'ignored_event',
  /** A model or alias the relay is not configured for. */
  unknownModel: 'unknown_model',
  /** Body above the size limit. */
  tooLarge: 'too_large',
} as const;

/** Annotations the promotion relay writes on the Deployments it rolls. */
export const PROMOTION_ANNOTATIONS = {
  /** On the pod template: the registry version the pods serve. */
  modelVersion: 'mlops-constructs.io/model-version',
  /** On a canary Deployment: the Deployment it is the canary of. */
  canaryOf: 'mlops-constructs.io/canary-of',
  /** On a canary Deployment: the version it bakes. */
  canaryVersion: 'mlops-constructs.io/canary-version',
  /** On a canary Deployment: when its bake started (RFC 3339). */
  canaryStarted: 'mlops-constructs.io/canary-started',
  /** On a canary Deployment: "baking", "failed" (with canaryReason) or "promoted". */
  canaryStatus: 'mlops-constructs.io/canary-status',
  canaryReason: 'mlops-constructs.io/canary-reason',
} as const;

/** `app.kubernetes.io/component` of the relay's pods: the registry admits them (API) and delivers to them (egress). */
export const PROMOTION_RELAY_COMPONENT = 'promotion-relay';

/** The pod label that tells a canary's pods from the stable ones (its Deployment selects on it). */
export const CANARY_TRACK_LABEL = 'mlops-constructs.io/track';

/** Labels of PROMOTION_METRICS besides LABELS.model, LABELS.outcome and LABELS.version. */
export const PROMOTION_LABELS = {
  action: 'action',
} as const;

/** The relay's settings, as ModelPromotion writes them into PROMOTION_ENV.config (JSON; secrets stay in Secret-backed variables). */
export interface PromotionRelayConfig {
  /** Name of the relay's webhook in MLflow: created, or updated when one of that name exists. */
  readonly webhookName: string;
  /** URL MLflow delivers to: the relay's Service, path PROMOTION_WEBHOOK_PATH. */
  readonly webhookUrl: string;
  /** Deliveries whose timestamp is further than this from the relay's clock are refused. */
  readonly toleranceSeconds: number;
  /** Retries of a failing CI delivery or API call: attempts in all, first delay, longest delay. */
  readonly retry: { readonly attempts: number; readonly baseSeconds: number; readonly maxSeconds: number };
  readonly models: readonly PromotionModelConfig[];
}

/** One registered model the relay acts on; exactly one of `ci` or `rollout`. */
export interface PromotionModelConfig {
  /** Registered model name. */
  readonly name: string;
  /** Aliases whose creation is a promotion (e.g. champion). */
  readonly aliases: readonly string[];
  readonly ci?: {
    /** github: a repository_dispatch; webhook: a JSON POST to any CI system. */
    readonly kind: 'github' | 'webhook';
    /** The dispatches URL (https://api.github.com/repos/<owner>/<repo>/dispatches) or the webhook's. */
    readonly url: string;
    /** event_type of the dispatch (github) or `event` of the body (webhook). */
    readonly eventType: string;
    /** Variable holding the token (from a Secret); none sends no Authorization header (webhook only). */
    readonly tokenEnv?: string;
  };
  readonly rollout?: {
    /** The ModelService Deployment (in the relay's namespace) whose pod template is pinned to the version. */
    readonly deployment: string;
    /** The serving metrics' `model` label of that service. */
    readonly metricModel: string;
    readonly canary?: {
      /** Canary replicas as a share of the stable Deployment's (at least one pod). */
      readonly replicaShare: number;
      readonly bakeSeconds: number;
      readonly intervalSeconds: number;
      /** How long the canary's pods may take to become ready. */
      readonly readyTimeoutSeconds: number;
      readonly prometheusUrl: string;
      /** Largest 5xx share of the canary's requests; unset skips the check. */
      readonly errorRateObjective?: number;
      /** Largest p99 latency of the canary's requests, seconds; unset skips the check. */
      readonly latencyObjectiveSeconds?: number;
      /** Requests the canary must have served by the end of the bake, else it is not promoted. */
      readonly minRequests: number;
    };
  };
}

/** Paths the promotion relay serves. */
export const PROMOTION_PATHS = {
  webhook: '/webhook',
  metrics: '/metrics',
  health: '/healthz',
} as const;

/** MLflow's webhook headers (mlflow/webhooks/constants.py, MLflow 3). */
export const MLFLOW_WEBHOOK_HEADERS = {
  signature: 'x-mlflow-signature',
  timestamp: 'x-mlflow-timestamp',
  deliveryId: 'x-mlflow-delivery-id',
} as const;
