import { Construct } from 'constructs';
import { IModelRegistry, ModelReference } from '../core/model-reference';
import { invalidProp, isHttpUrl, isS3BucketName, S3_BUCKET_FIX } from '../core/validation';
import { INFERENCE_LOG_COLUMNS, INFERENCE_LOG_LAYOUT } from '../../contract';
import { IModelService, InferenceLogLocation } from '../serving/interfaces';

/** Names the DriftMonitor hands to a dataset when binding it. */
export interface DriftDataBindContext {
  /** Kind of the owning construct, for error messages. */
  readonly kind: string;
  /** The prop that holds the dataset, e.g. `reference`. */
  readonly field: string;
  /** Shortest time between two scheduled runs: an inference log is read by the hour or by the day. */
  readonly schedulePeriodSeconds: number;
}

/** A checked dataset location. */
export interface DriftDataBinding {
  /** What the checker's `--reference` or `--current` gets. */
  readonly uri: string;
  /** The registry the checker reads it through, for a registry model's reference data. */
  readonly registry?: IModelRegistry;
  /** The inference log read, whose storage settings the check takes unless it has its own. */
  readonly inferenceLog?: InferenceLogLocation;
}

/** Where a drift check reads a dataset from. */
export class DriftData {
  /**
   * A CSV, JSON Lines or Parquet location: `s3://bucket/key`, `http(s)://...`, or an MLflow
   * run artifact `runs:/<run id>/<path>`. `{{ds}}` (YYYY-MM-DD) and `{{hour}}` (HH) are
   * replaced by the start of the schedule period that has just ended, in the monitor's time
   * zone, e.g. `s3://lake/fraud/dt={{ds}}/*.parquet` (a daily run at 00:00 reads yesterday).
   */
  public static uri(uri: string): DriftData {
    return new DriftData(uri, undefined);
  }

  /**
   * The reference dataset logged with the model version a registry alias or version points
   * at (artifact `reference/` of the version's run), read through the registry.
   */
  public static registryModel(model: ModelReference): DriftData {
    return new DriftData(model?.uri, model);
  }

  /**
   * What a ModelService's metrics proxy logged (its `inferenceLog`) during the schedule period
   * that has just ended: every served version's records of that hour (hourly checks) or day
   * (daily checks). The features are the request's columns; the model's output is the column
   * `prediction` (INFERENCE_LOG_COLUMNS), which a reference with predictions checks for drift too.
   */
  public static inferenceLog(modelService: IModelService): DriftData {
    return new DriftData(undefined as unknown as string, undefined, modelService ?? null);
  }

  private constructor(
    public readonly uri: string,
    public readonly model: ModelReference | undefined,
    private readonly logged?: IModelService | null,
  ) {}

  /**
   * Checks the location (errors name the owning construct and `context.field`), as
   * ServingRuntime, RegistryDatabase and ArtifactStore bind to their constructs.
   */
  public bind(scope: Construct, context: DriftDataBindContext): DriftDataBinding {
    const { kind, field } = context;
    if (this.logged !== undefined) return this.bindInferenceLog(scope, context);
    const uri = this.uri;
    if (typeof uri !== 'string' || uri.length === 0) {
      throw invalidProp(kind, scope, field, uri, 'is empty', 'give the dataset location');
    }
    if (this.model === undefined && uri.startsWith('s3://')) {
      // Say which part of an S3 location is wrong: the bucket or the missing key.
      const [bucket, ...key] = uri.slice('s3://'.length).split('/');
      if (!isS3BucketName(bucket)) {
        throw invalidProp(kind, scope, field, uri, `names the bucket ${JSON.stringify(bucket)}, which is not an S3 bucket name`, S3_BUCKET_FIX);
      }
      if (key.join('/').trim() === '' || /\s/.test(key.join('/'))) {
        throw invalidProp(kind, scope, field, uri, `has no object key after the bucket ${JSON.stringify(bucket)}`, `use s3://${bucket}/<key>, e.g. s3://${bucket}/features/dt={{ds}}/traffic.parquet`);
      }
    } else if (this.model === undefined) {
      const ok = /^runs:\/[0-9a-f]{32}\/\S+$/.test(uri) || isHttpUrl(uri.replace(/\{\{ds\}\}/g, '2024-01-01').replace(/\{\{hour\}\}/g, '00'));
      if (!ok) {
        throw invalidProp(kind, scope, field, uri, 'is not a dataset location the checker can read from a pod',
          'use s3://bucket/key, http(s)://..., runs:/<run id>/<path> or DriftData.registryModel(...)');
      }
    }
    const templates = uri.match(/\{\{[^}]*\}\}/g) ?? [];
    const unknown = templates.filter((t) => t !== '{{ds}}' && t !== '{{hour}}');
    if (unknown.length > 0) {
      throw invalidProp(kind, scope, field, uri, `uses ${unknown.join(', ')}`, 'the template variables are {{ds}} (the period\'s date, YYYY-MM-DD) and {{hour}} (its hour, HH)');
    }
    if (this.model !== undefined && this.model.registry === undefined) {
      throw invalidProp(kind, scope, field, uri, 'names a registry model without its registry', 'use DriftData.registryModel(registry.model(...))');
    }
    return { uri, registry: this.model?.registry };
  }

  private bindInferenceLog(scope: Construct, context: DriftDataBindContext): DriftDataBinding {
    const { kind, field } = context;
    const service = this.logged;
    if (service === null || typeof service !== 'object') {
      throw invalidProp(kind, scope, field, service, 'is an inference log of no model service', 'pass the ModelService whose traffic is logged: DriftData.inferenceLog(service)');
    }
    const location = service.inferenceLog;
    if (location === undefined) {
      throw invalidProp(kind, scope, field, `inferenceLog(${service.namespace}/${service.name})`, `reads the inference log of ModelService ${service.name}, which logs nothing`,
        `set inferenceLog: { destination: "s3://bucket/prefix" } on ModelService ${service.name}`);
    }
    const period = context.schedulePeriodSeconds;
    if (period !== 3600 && period !== 86_400) {
      throw invalidProp(kind, scope, field, `inferenceLog(${service.namespace}/${service.name})`,
        `is partitioned by the hour (${INFERENCE_LOG_LAYOUT.hour}=HH), but the schedule's period is ${period} s`,
        'check it hourly (Cron.hourly()) or daily (Cron.daily()), which read the hour or the day that has just ended');
    }
    return { uri: inferenceLogPattern(location, period === 3600), inferenceLog: location };
  }
}

/**
 * The pattern of a model's inference-log objects in the checked period: `{{ds}}` and `{{hour}}`
 * for the period (hour `*` for a daily check) and every version.
 */
export function inferenceLogPattern(location: InferenceLogLocation, hourly: boolean): string {
  const L = INFERENCE_LOG_LAYOUT;
  const base = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  return `${base}/${L.model}=${location.modelName}/${L.version}=*/${L.date}={{ds}}/${L.hour}=${hourly ? '{{hour}}' : '*'}/*${L.suffix}`;
}

/** The column of an inference log that holds the model's output (one output per row). */
export const INFERENCE_LOG_PREDICTION_COLUMN = INFERENCE_LOG_COLUMNS.prediction;
