import { CHECKER_ENV } from '../../../contract';
import { InputError } from '../errors';
import { getJson } from './http';

/**
 * MLflow references resolved to downloadable artifacts through the tracking server's REST API.
 *
 * - `runs:/<run_id>/<path>`: the run's artifact at <path> (a file, or a directory whose
 *   .csv/.jsonl/.parquet files form one dataset).
 * - `models:/<name>@<alias>` and `models:/<name>/<version>`: the model version's run, and in
 *   it the reference dataset by convention at the artifact directory `reference/`
 *   (log it with `mlflow.log_artifact("reference.parquet", artifact_path="reference")` in the
 *   training run that logs the model). A path after the version selects another artifact:
 *   `models:/fraud-detector@champion/eval/holdout.csv`.
 *
 * Artifacts are read through the artifact proxy (`mlflow server --serve-artifacts`, the
 * default since MLflow 2): GET /api/2.0/mlflow-artifacts/artifacts/<path>. A run whose artifact
 * root is s3:// or http(s):// is read from there directly instead.
 */

export const REFERENCE_ARTIFACT_DIR = 'reference';

export interface MlflowSettings {
  readonly trackingUri: string;
  /** Authorization header value, from MLFLOW_TRACKING_TOKEN or USERNAME/PASSWORD. */
  readonly authorization?: string;
}

export function mlflowSettings(env: NodeJS.ProcessEnv, trackingUriFlag?: string): MlflowSettings | undefined {
  const trackingUri = trackingUriFlag ?? env[CHECKER_ENV.trackingUri];
  if (!trackingUri) return undefined;
  let authorization: string | undefined;
  const token = env[CHECKER_ENV.trackingToken];
  const username = env[CHECKER_ENV.trackingUsername];
  if (token) authorization = `Bearer ${token}`;
  else if (username) {
    authorization = `Basic ${Buffer.from(`${username}:${env[CHECKER_ENV.trackingPassword] ?? ''}`).toString('base64')}`;
  }
  return { trackingUri: trackingUri.replace(/\/+$/, ''), authorization };
}

/** Where an MLflow reference points: an artifact root URI and a path below it. */
export interface ResolvedArtifact {
  /** e.g. mlflow-artifacts:/1/abc/artifacts, s3://bucket/1/abc/artifacts */
  readonly artifactRoot: string;
  readonly path: string;
  /** True when the path came from the reference-dataset convention (a directory). */
  readonly conventional: boolean;
  /** Human description for messages, e.g. "models:/m@champion (version 3, run abc)". */
  readonly description: string;
}

interface RunResponse { run: { info: { artifact_uri: string; run_id: string } } }
interface ModelVersionResponse { model_version: { version: string; run_id?: string; name: string } }

export function mlflowHeaders(settings: MlflowSettings): Record<string, string> {
  return settings.authorization ? { authorization: settings.authorization } : {};
}

/** Resolves runs:/ and models:/ URIs to an artifact root and path. */
export async function resolveMlflowUri(uri: string, settings: MlflowSettings | undefined): Promise<ResolvedArtifact> {
  if (!settings) throw new InputError(`${uri} needs an MLflow tracking server: pass --tracking-uri or set ${CHECKER_ENV.trackingUri}`);
  const api = `${settings.trackingUri}/api/2.0/mlflow`;
  const headers = mlflowHeaders(settings);
  const runRoot = async (runId: string) => {
    const run = await getJson<RunResponse>(`${api}/runs/get?run_id=${encodeURIComponent(runId)}`, { headers });
    return run.run.info.artifact_uri;
  };

  const runMatch = /^runs:\/([^/]+)\/?(.*)$/.exec(uri);
  if (runMatch) {
    const [, runId, path] = runMatch;
    if (path === '') throw new InputError(`${uri}: give the artifact path after the run id, e.g. runs:/${runId}/reference/reference.csv`);
    return { artifactRoot: await runRoot(runId), path, conventional: false, description: `${uri}` };
  }

  const modelMatch = /^models:\/([^/@]+)(?:@([^/]+)|\/(\d+))\/?(.*)$/.exec(uri);
  if (!modelMatch) throw new InputError(`${uri}: expected models:/<name>@<alias> or models:/<name>/<version>`);
  const [, name, alias, versionNumber, path] = modelMatch;
  const version = alias
    ? await getJson<ModelVersionResponse>(`${api}/registered-models/alias?name=${encodeURIComponent(name)}&alias=${encodeURIComponent(alias)}`, { headers })
    : await getJson<ModelVersionResponse>(`${api}/model-versions/get?name=${encodeURIComponent(name)}&version=${encodeURIComponent(versionNumber)}`, { headers });
  const runId = version.model_version.run_id;
  if (!runId) {
    throw new InputError(`${uri}: model version ${version.model_version.version} has no run, so it has no logged reference dataset`);
  }
  return {
    artifactRoot: await runRoot(runId),
    path: path === '' ? REFERENCE_ARTIFACT_DIR : path,
    conventional: path === '',
    description: `${uri} (version ${version.model_version.version}, run ${runId})`,
  };
}

/** The artifact proxy URL for a path below an mlflow-artifacts: root. */
export function proxyUrl(settings: MlflowSettings, artifactRoot: string, path: string): string {
  // mlflow-artifacts:/1/abc/artifacts or mlflow-artifacts://host:port/1/abc/artifacts
  const rest = artifactRoot.replace(/^mlflow-artifacts:(\/\/[^/]*)?/, '').replace(/^\/+/, '').replace(/\/+$/, '');
  const full = [rest, path.replace(/^\/+/, '')].filter((p) => p !== '').join('/');
  return `${settings.trackingUri}/api/2.0/mlflow-artifacts/artifacts/${full.split('/').map(encodeURIComponent).join('/')}`;
}

interface ProxyListResponse { files?: Array<{ path: string; is_dir?: boolean }> }

/** Files directly under a directory of an mlflow-artifacts: root (empty when it is not a directory). */
export async function proxyList(settings: MlflowSettings, artifactRoot: string, path: string): Promise<string[]> {
  const rest = artifactRoot.replace(/^mlflow-artifacts:(\/\/[^/]*)?/, '').replace(/^\/+/, '').replace(/\/+$/, '');
  const dir = [rest, path.replace(/^\/+|\/+$/g, '')].filter((p) => p !== '').join('/');
  const listing = await getJson<ProxyListResponse>(
    `${settings.trackingUri}/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(dir)}`, { headers: mlflowHeaders(settings) });
  return (listing.files ?? []).filter((f) => !f.is_dir).map((f) => `${path.replace(/\/+$/, '')}/${f.path.split('/').pop()}`).sort();
}
