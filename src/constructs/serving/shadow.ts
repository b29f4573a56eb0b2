import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { PROXY_ENV } from '../../contract';
import * as k8s from '../core/k8s';
import { ModelReference } from '../core/model-reference';
import { invalidProp, requireInteger } from '../core/validation';
import { CheckedInferenceLog, DOTTED_PATH } from './inference-log';
import { ServingRuntime } from './serving-runtime';

/**
 * A challenger model that shadows the champion: it gets a sampled share of the champion's
 * requests, mirrored by the champion's metrics proxy after the champion has answered, and its
 * answers are compared with the champion's but never returned to a client.
 */
export interface ShadowProps {
  /**
   * The challenger as a registry model, served like the champion (`ServingRuntime.mlflow`),
   * e.g. `registry.model('fraud-detector', { alias: 'challenger' })`. Give this or `runtime`.
   */
  readonly model?: ModelReference;
  /** The challenger's own runtime (any kind). Give this or `model`. */
  readonly runtime?: ServingRuntime;
  /** Share of counted requests mirrored, 0..1. @default - the inference log's sampleRatio, else 0.1 */
  readonly share?: number;
  /** Replicas of the challenger's Deployment. @default 1 */
  readonly replicas?: number;
  /** Longest a mirrored request may take; later it counts as challenger_failed. @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** Mirrored requests in flight per champion pod at most; beyond, sampled requests are skipped and counted. @default 16 */
  readonly maxInFlight?: number;
  /**
   * Regression models: predictions within this absolute difference agree.
   * @default - predictions agree only when equal (classification)
   */
  readonly tolerance?: number;
  /**
   * ModelShadowDisagreement fires when, over an hour, fewer than this share of the compared
   * requests agreed. @default 0.9
   */
  readonly agreementFloor?: number;
  /**
   * A custom runtime's answers: the dotted path of JSON keys to the predictions in both
   * models' responses, which the champion's proxy compares (e.g. "result.scores"). Only when
   * both the champion and the challenger are custom runtimes; with an inference log it must
   * equal inferenceLog.responsePath, which the proxy uses when it is unset.
   * @default - inferenceLog.responsePath, else the MLflow scoring server's formats
   */
  readonly responsePath?: string;
}

/** The checked shadow: the challenger's runtime and replicas, and the champion proxy's settings. */
export interface CheckedShadow {
  readonly runtime: ServingRuntime;
  readonly replicas: number;
  readonly share: number;
  readonly timeoutSeconds: number;
  readonly maxInFlight: number;
  readonly tolerance?: number;
  readonly agreementFloor: number;
  readonly responsePath?: string;
}

/** Checks `shadow` of a ModelService whose runtime is `champion`, beside its checked inference log, if any. */
export function checkShadow(kind: string, scope: Construct, props: ShadowProps, champion: ServingRuntime, log: CheckedInferenceLog | undefined): CheckedShadow {
  const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(kind, scope, `shadow.${field}`, value, problem, fix);
  if (props === null || typeof props !== 'object') throw fail('model', props, 'is not set', 'pass { model: registry.model("<name>", { alias: "challenger" }) }');
  if ((props.model === undefined) === (props.runtime === undefined)) {
    throw fail('model', props.model?.uri, props.model === undefined ? 'is missing, and so is shadow.runtime' : 'is given together with shadow.runtime',
      'give exactly one: the challenger\'s registry model, or a runtime of its own');
  }
  let runtime: ServingRuntime;
  if (props.runtime !== undefined) {
    if (!(props.runtime instanceof ServingRuntime)) throw fail('runtime', props.runtime, 'is not a ServingRuntime', 'use e.g. ServingRuntime.custom({...})');
    runtime = props.runtime;
  } else {
    if (!(props.model instanceof ModelReference)) throw fail('model', props.model, 'is not a registry model', 'use registry.model("<name>", { alias: "challenger" })');
    const swapped = champion.withModel(props.model);
    if (swapped === undefined) {
      throw fail('model', props.model.uri, `cannot be loaded by the champion's ${champion.kind} runtime, which serves one built-in model`,
        'give the challenger a runtime of its own: shadow.runtime');
    }
    runtime = swapped;
  }
  const share = props.share ?? log?.sampleRatio ?? 0.1;
  if (typeof share !== 'number' || !(share > 0 && share <= 1)) {
    throw fail('share', share, 'is not a share above 0 and at most 1', 'use e.g. 0.1 to mirror every tenth request');
  }
  const timeout = props.timeout ?? Duration.seconds(10);
  const timeoutSeconds = timeout instanceof Duration ? timeout.toSeconds() : NaN;
  if (!(timeoutSeconds >= 1 && timeoutSeconds <= 300)) throw fail('timeout', props.timeout, 'is not between 1 second and 5 minutes', 'use e.g. Duration.seconds(10)');
  const tolerance = props.tolerance;
  if (tolerance !== undefined && (typeof tolerance !== 'number' || !(tolerance >= 0) || !Number.isFinite(tolerance))) {
    throw fail('tolerance', tolerance, 'is not a non-negative number', 'use e.g. 0.01 for predictions within 0.01 of each other, or leave it unset to compare for equality');
  }
  const agreementFloor = props.agreementFloor ?? 0.9;
  if (typeof agreementFloor !== 'number' || !(agreementFloor > 0 && agreementFloor < 1)) {
    throw fail('agreementFloor', agreementFloor, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.9');
  }
  const responsePath = checkResponsePath(props.responsePath, champion, runtime, log, fail);
  return {
    runtime,
    replicas: requireInteger(kind, scope, 'shadow.replicas', props.replicas ?? 1, 1, 100),
    share,
    timeoutSeconds,
    maxInFlight: requireInteger(kind, scope, 'shadow.maxInFlight', props.maxInFlight ?? 16, 1, 1024),
    tolerance,
    agreementFloor,
    ...(responsePath !== undefined ? { responsePath } : {}),
  };
}

/**
 * shadow.responsePath, checked: the proxy parses both models' answers at one path, so both must
 * be custom runtimes and the path may not differ from the inference log's (which the proxy
 * falls back to when it is unset).
 */
function checkResponsePath(value: string | undefined, champion: ServingRuntime, challenger: ServingRuntime, log: CheckedInferenceLog | undefined, fail: (field: string, value: unknown, problem: string, fix: string) => Error): string | undefined {
  if (value === undefined) return undefined;
  if (champion.kind !== 'custom') throw fail('responsePath', value, 'is only for custom runtimes', 'leave it unset: the MLflow scoring server\'s formats are understood');
  if (challenger.kind !== 'custom') {
    throw fail('responsePath', value, `is read from both models' answers, but the challenger (shadow.runtime) is a ${challenger.kind} runtime`,
      'give the challenger a custom runtime that answers in the champion\'s format, or leave shadow.responsePath unset');
  }
  if (typeof value !== 'string' || !DOTTED_PATH.test(value)) throw fail('responsePath', value, 'is not a dotted path of JSON keys', 'use e.g. "result.scores"');
  if (log?.responsePath !== undefined && log.responsePath !== value) {
    throw fail('responsePath', value, `differs from inferenceLog.responsePath "${log.responsePath}"; the proxy reads both models' predictions at one path`,
      'leave shadow.responsePath unset (it defaults to inferenceLog.responsePath), or give both the same path');
  }
  return value;
}

/** The champion proxy's variables that mirror to the challenger's Service at `upstream`. */
export function shadowProxyEnv(shadow: CheckedShadow, upstream: string): k8s.EnvVar[] {
  return [
    { name: PROXY_ENV.shadowUpstream, value: upstream },
    { name: PROXY_ENV.shadowShare, value: String(shadow.share) },
    { name: PROXY_ENV.shadowTimeoutSeconds, value: String(shadow.timeoutSeconds) },
    { name: PROXY_ENV.shadowMaxInFlight, value: String(shadow.maxInFlight) },
    { name: PROXY_ENV.shadowTolerance, value: shadow.tolerance === undefined ? 'equal' : String(shadow.tolerance) },
    ...(shadow.responsePath !== undefined ? [{ name: PROXY_ENV.shadowResponsePath, value: shadow.responsePath }] : []),
  ];
}
