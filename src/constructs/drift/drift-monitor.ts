import { Cron, Duration, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { shortestPeriodSeconds } from './cron-schedule';
import { DriftData, DriftDataBinding, INFERENCE_LOG_PREDICTION_COLUMN } from './drift-data';
import { IDriftMonitor } from './interfaces';
import { IPushgateway, Pushgateway } from './pushgateway';
import { checkerMount, DriftCheckerBundle, IDriftCheckerBundle } from './checker-bundle';
import { BUNDLE_HASH_ANNOTATIONS, CHECKER_COMMAND, CHECKER_ENV, CHECKER_EXIT_CODES, CHECKER_FLAGS } from '../../contract';
import { Images } from '../core/images';
import * as k8s from '../core/k8s';
import { requireCpuPair, requireSecretRef, requireSeconds } from '../core/prop-checks';
import { Cpu } from '../core/quantities';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { claimObjectNames } from '../core/object-names';
import { invalidProp, isHttpUrl, requireDnsLabel, requireDnsSubdomain, requireInteger, requireLabels, requirePinnedImage } from '../core/validation';
import { addIngressPolicy, openEgressReason } from '../core/network-policy';
import { annotateScannerExceptions } from '../core/scanner-annotations';
import { basePodSpec, ObjectMeta, resourceRequirements, Resources, secretKeyRef, workloadLabels } from '../core/workload';
import { PodProps, SecretKeySelector } from '../core/workload-props';
import { IModelService } from '../serving/interfaces';

/** A statistical test per feature, with its drift threshold. */
export class DriftTest {
  /** Per column, the test Evidently's defaults pick (by type, cardinality and size). */
  public static auto(): DriftTest {
    return new DriftTest('auto', undefined);
  }

  /** Two-sample Kolmogorov-Smirnov (numeric); drift when p < threshold. @param threshold @default 0.05 */
  public static ks(threshold?: number): DriftTest {
    return new DriftTest('ks', threshold);
  }

  /** Chi-square on category frequencies (categorical); drift when p < threshold. @default 0.05 */
  public static chiSquare(threshold?: number): DriftTest {
    return new DriftTest('chisquare', threshold);
  }

  /** Two-proportion z-test (binary categorical); drift when p < threshold. @default 0.05 */
  public static z(threshold?: number): DriftTest {
    return new DriftTest('z', threshold);
  }

  /** Wasserstein distance normed by the reference std (numeric); drift when above threshold. @default 0.1 */
  public static wasserstein(threshold?: number): DriftTest {
    return new DriftTest('wasserstein', threshold);
  }

  /** Jensen-Shannon distance; drift when above threshold. @default 0.1 */
  public static jensenShannon(threshold?: number): DriftTest {
    return new DriftTest('jensenshannon', threshold);
  }

  /** Population stability index; drift when above threshold. @default 0.1 */
  public static psi(threshold?: number): DriftTest {
    return new DriftTest('psi', threshold);
  }

  private constructor(
    /** The checker's `--method` value. */
    public readonly method: string,
    /** The `--threshold` value, if not the test's default. */
    public readonly threshold: number | undefined,
  ) {}
}

/** What a model predicts, for quality metrics on labelled data. */
export enum ModelTask {
  /** accuracy, precision, recall, f1 */
  CLASSIFICATION = 'classification',
  /** rmse, mae */
  REGRESSION = 'regression',
}

/** How p-values are corrected when many features are tested at once. */
export enum MultipleTestingCorrection {
  NONE = 'none',
  /** Bonferroni: each p-value multiplied by the number of features. */
  BONFERRONI = 'bonferroni',
  /** Benjamini-Hochberg false discovery rate. */
  FDR = 'fdr',
}

/** Properties of a DriftMonitor. */
export interface DriftMonitorProps extends Pick<PodProps, 'serviceAccountName' | 'labels'> {
  /** The model whose production data is checked. */
  readonly modelService: IModelService;
  /** The dataset the model was trained or validated on. */
  readonly reference: DriftData;
  /**
   * Production data of one schedule period, usually a template: `{{ds}}` (YYYY-MM-DD) and
   * `{{hour}}` (HH) name the start of the period that has just ended, as Airflow's `ds`.
   */
  readonly current: DriftData;
  /** When checks run. @default Cron.hourly() */
  readonly schedule?: Cron;
  /** IANA time zone of the schedule, and of `{{ds}}` and `{{hour}}`. @default 'Etc/UTC' */
  readonly timeZone?: string;
  /**
   * Which schedule period a run reads: 1 the one that has just ended (a daily run at 00:00
   * reads yesterday), 2 the one before (data that lands a period late), 0 the period the
   * run starts. @default 1
   */
  readonly dataPeriodsBack?: number;
  /** Name of the CronJob. @default - `<model service name>-drift` */
  readonly name?: string;
  /** Columns to check. @default - every column both datasets share, except label and prediction */
  readonly features?: string[];
  /** Columns to treat as categorical. @default - inferred per feature by the checker: categorical when its values are not all numbers (Parquet: string and boolean columns) */
  readonly categoricalFeatures?: string[];
  /** Test per feature. @default DriftTest.auto() */
  readonly test?: DriftTest;
  /** Share of drifted features at which the dataset counts as drifted. @default 0.5 */
  readonly driftShare?: number;
  /** p-value correction for many features. @default MultipleTestingCorrection.NONE */
  readonly correction?: MultipleTestingCorrection;
  /** Column with the true label, for quality metrics. @default - no quality metrics */
  readonly labelColumn?: string;
  /** Column with the model's prediction, for quality metrics. @default - no quality metrics */
  readonly predictionColumn?: string;
  /** Kind of model, for quality metrics. @default ModelTask.CLASSIFICATION */
  readonly task?: ModelTask;
  /** Rows sampled from each dataset (seeded); very large inputs stay fast. @default - every row */
  readonly sampleRows?: number;
  /** Seed of that sampling. @default 1 */
  readonly sampleSeed?: number;
  /**
   * Test the model's output for drift too (prediction drift), as one more feature named after
   * its column: `predictionColumn`, or `prediction` when the current data is
   * `DriftData.inferenceLog(service)`. The reference must hold the model's predictions on it
   * in that column; a run whose reference has none fails at once (exit 2), saying so.
   * @default - true when the current data is an inference log, else false
   */
  readonly predictionDrift?: boolean;
  /** Where results go. @default - the chart's Pushgateway (`Pushgateway.of(chart)`), created on first use */
  readonly pushgateway?: IPushgateway;
  /**
   * The ConfigMap with the checker program, in the model's namespace.
   * @default - the chart's bundle in that namespace (`DriftCheckerBundle.of(chart, namespace)`), created on first use
   */
  readonly checkerBundle?: IDriftCheckerBundle;
  /** S3 endpoint override, e.g. MinIO's in-cluster URL. @default - AWS */
  readonly s3EndpointUrl?: string;
  /** S3 region. @default 'us-east-1' */
  readonly s3Region?: string;
  /** Secret key holding the S3 access key id. @default - none: anonymous, or the pod's workload identity */
  readonly s3AccessKeyId?: SecretKeySelector;
  /** Secret key holding the S3 secret access key. @default - none */
  readonly s3SecretAccessKey?: SecretKeySelector;
  /** Pods that split the features between them (an Indexed Job). @default 1 */
  readonly parallelism?: number;
  /** How late a missed run may still start. @default - a tenth of the schedule period, at most 10 minutes */
  readonly startingDeadline?: Duration;
  /** Longest one run may take before it is stopped. @default - the schedule period, at most 1 hour */
  readonly activeDeadline?: Duration;
  /** Retries of a failed run, including current data not there yet (exit 3); bad input (exit 2) is never retried. @default 2 */
  readonly backoffLimit?: number;
  /** Finished jobs kept for inspection. @default 3 */
  readonly successfulJobsHistoryLimit?: number;
  /** Failed jobs kept for inspection. @default 3 */
  readonly failedJobsHistoryLimit?: number;
  /** CPU request. @default Cpu.millis(500) */
  readonly cpuRequest?: Cpu;
  /** CPU limit. @default Cpu.cores(1) */
  readonly cpuLimit?: Cpu;
  /** Memory request and limit; the checker's heap is sized from it. @default Size.gibibytes(1) */
  readonly memory?: Size;
  /** Image that runs the checker (a stock Node.js image). @default Images.NODE */
  readonly image?: string;
}

const KIND = 'DriftMonitor';
/** Annotation carrying the SHA-256 of the checker bundle. */
export const DRIFT_CHECKER_HASH_ANNOTATION = BUNDLE_HASH_ANNOTATIONS.driftChecker;
const COLUMN = /^[^\s,][^,]*$/;
const CONTAINER = 'drift-check';

/** When checks run and how long a run may take, in seconds. */
interface Schedule {
  readonly schedule: Cron;
  readonly periodSeconds: number;
  readonly timeZone: string;
  readonly periodsBack: number;
  readonly startingDeadline: number;
  readonly activeDeadline: number;
  readonly backoffLimit: number;
  readonly successfulHistory: number;
  readonly failedHistory: number;
}

/** What one run checks, as the checker's options. */
interface Check {
  readonly reference: DriftDataBinding;
  readonly current: DriftDataBinding;
  readonly features?: string[];
  readonly categorical?: string[];
  readonly test: DriftTest;
  readonly correction: MultipleTestingCorrection;
  readonly task: ModelTask;
  readonly sampleRows?: number;
  readonly sampleSeed: number;
  /** The model's output column tested for drift, if any. */
  readonly predictionDrift?: string;
}

/** The job pods: image, sizing, data access. */
interface Pods {
  readonly image: string;
  readonly resources: Resources;
  readonly usesS3: boolean;
  readonly extraLabels: Record<string, string>;
  readonly s3AccessKeyId?: SecretKeySelector;
  readonly s3SecretAccessKey?: SecretKeySelector;
  readonly s3EndpointUrl?: string;
  readonly s3Region: string;
}

/**
 * A scheduled drift check of a model's production data against its reference data: a
 * CronJob running the bundled `mlops-drift` checker on a stock Node image, pushing the
 * contract drift metrics to a Pushgateway.
 */
export class DriftMonitor extends Construct implements IDriftMonitor {
  public readonly name: string;
  public readonly namespace: string;
  public readonly modelName: string;
  public readonly schedulePeriod: Duration;
  public readonly reportsQuality: boolean;
  public readonly qualityMetrics: string[];
  public readonly pushgatewayJob: string;
  public readonly driftShare: number;
  public readonly shardCount: number;
  /** The CronJob. */
  public readonly cronJob: k8s.KubeCronJob;
  /** The arguments of the checker, as the container runs them. */
  public readonly checkerArgs: string[];

  constructor(scope: Construct, id: string, props: DriftMonitorProps) {
    super(scope, id);
    const p = props ?? ({} as DriftMonitorProps);

    // ---- validate
    const service = p.modelService;
    if (service === undefined || typeof service.name !== 'string' || typeof service.namespace !== 'string') {
      throw this.fail('modelService', service, 'is required', 'pass the ModelService whose data is checked');
    }
    this.name = requireDnsLabel(KIND, this, 'name', p.name ?? `${service.name}-drift`, 52);
    this.namespace = service.namespace;
    this.modelName = service.modelName;
    const schedule = this.checkSchedule(p);
    this.schedulePeriod = Duration.seconds(schedule.periodSeconds);
    const check = this.checkCheck(p);
    this.reportsQuality = p.labelColumn !== undefined;
    this.qualityMetrics = !this.reportsQuality ? [] : check.task === ModelTask.CLASSIFICATION ? ['accuracy', 'precision', 'recall', 'f1'] : ['rmse', 'mae'];
    this.driftShare = this.checkDriftShare(p);
    this.shardCount = requireInteger(KIND, this, 'parallelism', p.parallelism ?? 1, 1, 100);
    if (this.shardCount > 1 && (check.features === undefined || check.features.length < this.shardCount)) {
      throw this.fail('parallelism', this.shardCount, `needs at least as many listed features (${check.features?.length ?? 'none listed'})`, 'list features explicitly, or lower parallelism');
    }
    const pods = this.checkPods(p, check);
    const checker = p.checkerBundle;
    if (checker !== undefined && checker.namespace !== this.namespace) {
      throw this.fail('checkerBundle', `${checker.namespace}/${checker.configMapName}`,
        `is in namespace ${checker.namespace}, but the check runs in ${this.namespace}, and a pod mounts only ConfigMaps of its own namespace`,
        `pass a bundle of namespace ${this.namespace}, or leave checkerBundle unset for the chart's`);
    }

    // ---- build and emit (the chart's Pushgateway first, when this is its first user)
    const pushgateway = p.pushgateway ?? Pushgateway.of(this);
    if (pushgateway instanceof Pushgateway) pushgateway.addClientNamespace(this.namespace);
    this.pushgatewayJob = pushgateway.serviceName;
    this.checkerArgs = this.args(p, check, schedule, pushgateway);
    const env = this.env(p, check, pods);
    const { selector, labels } = workloadLabels(this.name, 'drift-check', pods.extraLabels);
    const meta: ObjectMeta = { name: this.name, namespace: this.namespace, labels };
    const bundle = checkerMount(p.checkerBundle ?? DriftCheckerBundle.of(this, this.namespace));

    this.cronJob = new k8s.KubeCronJob(this, 'Resource', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: {
        schedule: schedule.schedule.expressionString,
        timeZone: schedule.timeZone,
        // A run that overlaps the next would read the same data twice and race on the push.
        concurrencyPolicy: 'Forbid',
        startingDeadlineSeconds: schedule.startingDeadline,
        successfulJobsHistoryLimit: schedule.successfulHistory,
        failedJobsHistoryLimit: schedule.failedHistory,
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: schedule.backoffLimit,
            activeDeadlineSeconds: schedule.activeDeadline,
            ...(this.shardCount > 1 ? { completionMode: 'Indexed', completions: this.shardCount, parallelism: this.shardCount } : {}),
            // Exit 2 is bad input or usage: retrying cannot fix it, so the job fails at once.
            // Exit 3 is current data not there yet: retried (counted against backoffLimit),
            // as is exit 1 by default. (onPodConditions is required by the 1.28 schema; empty
            // means "match on exit codes only".)
            podFailurePolicy: {
              rules: [
                { action: 'FailJob', onExitCodes: { containerName: CONTAINER, operator: 'In', values: [CHECKER_EXIT_CODES.badInput] }, onPodConditions: [] },
                { action: 'Count', onExitCodes: { containerName: CONTAINER, operator: 'In', values: [CHECKER_EXIT_CODES.dataMissing] }, onPodConditions: [] },
              ],
            },
            template: {
              metadata: { labels, annotations: { [DRIFT_CHECKER_HASH_ANNOTATION]: bundle.sha256 } },
              spec: {
                restartPolicy: 'Never',
                ...basePodSpec({ serviceAccountName: p.serviceAccountName, securityContext: restrictedPodSecurityContext() }),
                containers: [{
                  name: CONTAINER,
                  image: pods.image,
                  imagePullPolicy: 'IfNotPresent',
                  command: bundle.command,
                  args: this.checkerArgs,
                  env,
                  resources: resourceRequirements(pods.resources),
                  securityContext: restrictedContainerSecurityContext(),
                  volumeMounts: [bundle.mount, { name: 'tmp', mountPath: '/tmp' }],
                }],
                volumes: [bundle.volume, { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('1Gi') } }],
              },
            },
          },
        },
      },
    });
    annotateScannerExceptions(this.cronJob, this.cronJob.toJson().spec.jobTemplate.spec.template.spec, {
      lowUserId: 'uid 1000 is the node user of the official Node.js image that runs the checker',
      secretEnv: pods.s3AccessKeyId ? 'the checker takes the S3 keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as the AWS SDKs do' : undefined,
      openEgress: openEgressReason(this, 'the datasets (S3, HTTP), the registry and the Pushgateway'),
    });
    // The check listens on nothing: its policy admits no one.
    addIngressPolicy(this, meta, selector, () => []);
    claimObjectNames(KIND, this);
  }

  // ---- validation -------------------------------------------------------------------------

  private fail(field: string, value: unknown, problem: string, fix: string): Error {
    return invalidProp(KIND, this, field, value, problem, fix);
  }

  private checkSchedule(p: DriftMonitorProps): Schedule {
    const schedule = p.schedule ?? Cron.hourly();
    if (!(schedule instanceof Cron)) throw this.fail('schedule', schedule, 'is not a Cron', 'use e.g. Cron.hourly() or Cron.schedule({ minute: "0", hour: "*/6" })');
    let periodSeconds: number;
    try {
      periodSeconds = shortestPeriodSeconds(schedule.expressionString);
    } catch (e) {
      throw this.fail('schedule', schedule.expressionString, `is not a usable cron schedule (${(e as Error).message})`, 'use five fields: minute hour day-of-month month day-of-week');
    }
    const timeZone = p.timeZone ?? 'Etc/UTC';
    try {
      new Intl.DateTimeFormat('en-US', { timeZone });
    } catch {
      throw this.fail('timeZone', timeZone, 'is not an IANA time zone', 'use e.g. "Etc/UTC" or "Europe/Berlin"');
    }
    const startingDeadline = requireSeconds(KIND, this, 'startingDeadline', p.startingDeadline ?? Duration.seconds(Math.max(10, Math.min(600, Math.floor(periodSeconds / 10)))), 10, periodSeconds);
    const activeDeadline = requireSeconds(KIND, this, 'activeDeadline', p.activeDeadline ?? Duration.seconds(Math.min(3600, periodSeconds)), 30, 7 * 86_400);
    if (activeDeadline > periodSeconds) {
      throw this.fail('activeDeadline', `${activeDeadline}s`, `is longer than the schedule period (${periodSeconds}s)`, 'shorten it, or run less often: with concurrency Forbid a slow run would skip the next');
    }
    return {
      schedule, periodSeconds, timeZone, startingDeadline, activeDeadline,
      periodsBack: requireInteger(KIND, this, 'dataPeriodsBack', p.dataPeriodsBack ?? 1, 0, 100),
      backoffLimit: requireInteger(KIND, this, 'backoffLimit', p.backoffLimit ?? 2, 0, 10),
      successfulHistory: requireInteger(KIND, this, 'successfulJobsHistoryLimit', p.successfulJobsHistoryLimit ?? 3, 0, 100),
      failedHistory: requireInteger(KIND, this, 'failedJobsHistoryLimit', p.failedJobsHistoryLimit ?? 3, 0, 100),
    };
  }

  private bindData(field: 'reference' | 'current', data: unknown): DriftDataBinding {
    if (!(data instanceof DriftData)) {
      throw this.fail(field, data, 'is required', 'use DriftData.uri("s3://...") or DriftData.registryModel(registry.model(...))');
    }
    return data.bind(this, { kind: KIND, field, schedulePeriodSeconds: this.schedulePeriod.toSeconds() });
  }

  private checkCheck(p: DriftMonitorProps): Check {
    const reference = this.bindData('reference', p.reference);
    const current = this.bindData('current', p.current);
    const features = columns(this, 'features', p.features);
    const categorical = columns(this, 'categoricalFeatures', p.categoricalFeatures);
    if (features && categorical) {
      const missing = categorical.filter((c) => !features.includes(c));
      if (missing.length > 0) throw this.fail('categoricalFeatures', missing, 'are not in features', 'add them to features or drop them here');
    }
    const test = p.test ?? DriftTest.auto();
    if (!(test instanceof DriftTest)) throw this.fail('test', test, 'is not a DriftTest', 'use e.g. DriftTest.ks(0.05)');
    if (test.threshold !== undefined && !(Number.isFinite(test.threshold) && test.threshold > 0 && test.threshold < 1)) {
      throw this.fail('test threshold', test.threshold, 'is not between 0 and 1 (exclusive)', 'use e.g. DriftTest.ks(0.05) or DriftTest.wasserstein(0.1)');
    }
    const correction = p.correction ?? MultipleTestingCorrection.NONE;
    if (!Object.values(MultipleTestingCorrection).includes(correction)) {
      throw this.fail('correction', correction, 'is not a MultipleTestingCorrection', 'use MultipleTestingCorrection.NONE, BONFERRONI or FDR');
    }
    if ((p.labelColumn === undefined) !== (p.predictionColumn === undefined)) {
      throw this.fail(p.labelColumn === undefined ? 'labelColumn' : 'predictionColumn', undefined, 'is required when the other quality column is set', 'set both labelColumn and predictionColumn, or neither');
    }
    for (const field of ['labelColumn', 'predictionColumn'] as const) {
      const v = p[field];
      if (v !== undefined && (typeof v !== 'string' || !COLUMN.test(v))) throw this.fail(field, v, 'is not a column name', 'use the CSV header / field name');
      if (v !== undefined && features?.includes(v)) throw this.fail(field, v, 'is also listed in features', 'a label or prediction is not an input feature; drop it from features');
    }
    const task = p.task ?? ModelTask.CLASSIFICATION;
    if (!Object.values(ModelTask).includes(task)) throw this.fail('task', task, 'is not a ModelTask', 'use ModelTask.CLASSIFICATION or ModelTask.REGRESSION');
    const sampleRows = p.sampleRows === undefined ? undefined : requireInteger(KIND, this, 'sampleRows', p.sampleRows, 100, 1e9);
    const sampleSeed = requireInteger(KIND, this, 'sampleSeed', p.sampleSeed ?? 1, 0, 2 ** 31 - 1);
    if (p.sampleSeed !== undefined && sampleRows === undefined) throw this.fail('sampleSeed', p.sampleSeed, 'is set without sampleRows', 'set sampleRows, or drop sampleSeed');
    const predictionDrift = this.checkPredictionDrift(p, current, features);
    return { reference, current, features, categorical, test, correction, task, sampleRows, sampleSeed, predictionDrift };
  }

  private checkPredictionDrift(p: DriftMonitorProps, current: DriftDataBinding, features: string[] | undefined): string | undefined {
    const logged = current.inferenceLog !== undefined;
    if (p.predictionDrift !== undefined && typeof p.predictionDrift !== 'boolean') throw this.fail('predictionDrift', p.predictionDrift, 'is not a boolean', 'use true or false');
    if (!(p.predictionDrift ?? logged)) return undefined;
    const column = logged ? INFERENCE_LOG_PREDICTION_COLUMN : p.predictionColumn;
    if (column === undefined) {
      throw this.fail('predictionDrift', true, 'needs the column of the model\'s output', 'set predictionColumn, or read the current data from DriftData.inferenceLog(service), whose output column is "prediction"');
    }
    if (features?.includes(column)) throw this.fail('features', features, `lists ${column}, the model's output, which predictionDrift tests already`, `drop ${column} from features`);
    return column;
  }

  private checkDriftShare(p: DriftMonitorProps): number {
    const driftShare = p.driftShare ?? 0.5;
    if (typeof driftShare !== 'number' || !(driftShare > 0 && driftShare <= 1)) {
      throw this.fail('driftShare', driftShare, 'is not a share in (0, 1]', 'use e.g. 0.5: the dataset drifts when half its features do');
    }
    return driftShare;
  }

  private checkPods(p: DriftMonitorProps, check: Check): Pods {
    const usesS3 = [check.reference.uri, check.current.uri].some((u) => u.startsWith('s3://'));
    if (p.s3EndpointUrl !== undefined) {
      if (!isHttpUrl(p.s3EndpointUrl)) throw this.fail('s3EndpointUrl', p.s3EndpointUrl, 'is not an http(s) URL', 'use e.g. "http://minio.storage.svc:9000"');
      if (!usesS3) throw this.fail('s3EndpointUrl', p.s3EndpointUrl, 'is set but no dataset is on s3://', 'drop it, or use s3:// URIs');
    }
    if ((p.s3AccessKeyId === undefined) !== (p.s3SecretAccessKey === undefined)) {
      throw this.fail(p.s3AccessKeyId === undefined ? 's3AccessKeyId' : 's3SecretAccessKey', undefined, 'is required with the other S3 key', 'reference both keys of the S3 credentials Secret');
    }
    // A check of an inference log reads it with the log's own storage settings, unless given others.
    const log = check.current.inferenceLog ?? check.reference.inferenceLog;
    const ownKeys = p.s3AccessKeyId !== undefined;
    const s3AccessKeyId = ownKeys ? requireSecretRef(KIND, this, 's3AccessKeyId', p.s3AccessKeyId) : log?.s3AccessKeyId;
    const s3SecretAccessKey = ownKeys ? requireSecretRef(KIND, this, 's3SecretAccessKey', p.s3SecretAccessKey) : log?.s3SecretAccessKey;
    if (p.s3Region !== undefined && !/^[a-z0-9-]{2,32}$/.test(p.s3Region)) throw this.fail('s3Region', p.s3Region, 'is not a region name', 'use e.g. "eu-central-1"');
    const s3EndpointUrl = p.s3EndpointUrl ?? log?.s3EndpointUrl;
    const s3Region = p.s3Region ?? log?.s3Region ?? 'us-east-1';
    if (p.serviceAccountName !== undefined) requireDnsSubdomain(KIND, this, 'serviceAccountName', p.serviceAccountName);
    const image = requirePinnedImage(KIND, this, 'image', p.image ?? Images.NODE);
    const cpu = requireCpuPair(KIND, this, '', p.cpuRequest ?? Cpu.millis(500), p.cpuLimit ?? Cpu.cores(1));
    // Request and limit are the same: the checker's heap is sized from it.
    const memory = p.memory ?? Size.gibibytes(1);
    if (!(memory instanceof Size)) throw this.fail('memory', memory, 'is not a Size', 'use e.g. Size.gibibytes(1)');
    const memoryMib = Math.round(memory.toMebibytes());
    if (!(memoryMib >= 128 && memoryMib <= 256 * 1024)) throw this.fail('memory', `${memoryMib}Mi`, 'is not between 128 MiB and 256 GiB', 'use e.g. Size.gibibytes(1)');
    const extraLabels = p.labels === undefined ? {} : requireLabels(KIND, this, 'labels', p.labels);
    return { image, resources: { cpu, memory: { request: memoryMib, limit: memoryMib } }, usesS3, extraLabels, s3AccessKeyId, s3SecretAccessKey, s3EndpointUrl, s3Region };
  }

  // ---- build -------------------------------------------------------------------------------

  /** The checker's command line (`mlops-drift check ...`, src/contract.ts CHECKER_FLAGS). */
  private args(p: DriftMonitorProps, c: Check, s: Schedule, pushgateway: IPushgateway): string[] {
    const f = CHECKER_FLAGS;
    const args = [CHECKER_COMMAND, ...flag(f.reference, c.reference.uri), ...flag(f.current, c.current.uri)];
    // The checker finds the period that has just ended from the CronJob's own schedule and zone.
    args.push(...flag(f.schedule, s.schedule.expressionString), ...flag(f.timeZone, s.timeZone));
    if (s.periodsBack !== 1) args.push(...flag(f.periodsBack, String(s.periodsBack)));
    if (c.features) args.push(...flag(f.features, c.features.join(',')));
    if (c.categorical) args.push(...flag(f.categorical, c.categorical.join(',')));
    args.push(...flag(f.method, c.test.method));
    if (c.test.threshold !== undefined) args.push(...flag(f.threshold, String(c.test.threshold)));
    args.push(...flag(f.driftShare, String(this.driftShare)));
    if (c.correction !== MultipleTestingCorrection.NONE) args.push(...flag(f.correction, c.correction));
    if (this.reportsQuality) args.push(...flag(f.label, p.labelColumn!), ...flag(f.prediction, p.predictionColumn!), ...flag(f.task, c.task));
    if (c.predictionDrift !== undefined) args.push(...flag(f.predictionDrift, c.predictionDrift));
    if (c.sampleRows !== undefined) args.push(...flag(f.sample, String(c.sampleRows)), ...flag(f.seed, String(c.sampleSeed)));
    // $(VAR) is expanded by the kubelet from the container's env.
    if (this.shardCount > 1) args.push(...flag(f.shardIndex, `$(${CHECKER_ENV.shardIndex})`), ...flag(f.shardCount, String(this.shardCount)));
    args.push(...flag(f.pushgateway, pushgateway.url), ...flag(f.namespace, this.namespace), ...flag(f.model, this.modelName), ...flag(f.json));
    return args;
  }

  /** The checker's environment (src/contract.ts CHECKER_ENV). */
  private env(p: DriftMonitorProps, c: Check, pods: Pods): k8s.EnvVar[] {
    const env: k8s.EnvVar[] = [
      // Leave a quarter of the container's memory for buffers outside the V8 heap.
      { name: 'NODE_OPTIONS', value: `--max-old-space-size=${Math.floor(pods.resources.memory.limit * 0.75)}` },
    ];
    if (c.reference.registry) env.push({ name: CHECKER_ENV.trackingUri, value: c.reference.registry.trackingUri });
    if (pods.usesS3) env.push({ name: CHECKER_ENV.region, value: pods.s3Region });
    if (pods.s3EndpointUrl) env.push({ name: CHECKER_ENV.s3Endpoint, value: pods.s3EndpointUrl });
    if (pods.s3AccessKeyId && pods.s3SecretAccessKey) {
      env.push({ name: CHECKER_ENV.accessKeyId, valueFrom: { secretKeyRef: secretKeyRef(pods.s3AccessKeyId) } });
      env.push({ name: CHECKER_ENV.secretAccessKey, valueFrom: { secretKeyRef: secretKeyRef(pods.s3SecretAccessKey) } });
    }
    if (this.shardCount > 1) {
      env.push({ name: CHECKER_ENV.shardIndex, valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } });
    }
    return env;
  }
}

function columns(scope: Construct, field: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidProp(KIND, scope, field, value, 'is not a non-empty list of column names', 'pass e.g. ["amount", "merchant_category"]');
  }
  const seen = new Set<string>();
  value.forEach((c, i) => {
    if (typeof c !== 'string' || !COLUMN.test(c)) {
      throw invalidProp(KIND, scope, `${field}[${i}]`, c, 'is not a column name', 'column names must not be empty, start with a space or contain ","');
    }
    if (seen.has(c)) throw invalidProp(KIND, scope, `${field}[${i}]`, c, 'is listed twice', 'list each column once');
    seen.add(c);
  });
  return value;
}

/** `--name value`, or `--name` alone for a boolean flag. */
function flag(name: string, value?: string): string[] {
  return value === undefined ? [`--${name}`] : [`--${name}`, value];
}
