import { createHash } from 'crypto';
import { Duration, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { ArtifactStore, ArtifactStoreBinding } from './artifact-store';
import { Images } from '../core/images';
import * as k8s from '../core/k8s';
import { IModelRegistry, ModelReference, ModelVersionSelector } from '../core/model-reference';
import type { SecretKeySelector } from '../core/workload-props';
import { Monitoring } from '../core/monitoring';
import { PostgresDatabase } from './postgres';
import { requireCpuPair, requireMebibytes, requireMemoryPair, requireSecretRef, requireSeconds, requireStringMap } from '../core/prop-checks';
import { Cpu } from '../core/quantities';
import { BACKEND_STORE_URI_ENV, RegistryDatabase, RegistryDatabaseBinding } from './registry-database';
import { DEFAULT_USER_ID, restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import {
  invalidProp, isDnsSubdomain, requireDnsLabel, requireDnsSubdomain, requireEnvName, requireInteger, requireLabels,
  requirePinnedImage, resolveNamespace,
} from '../core/validation';
import { ServiceMonitor } from '../../imports/monitoring.coreos.com';

/** Properties of a ModelRegistry. */
export interface ModelRegistryProps {
  /** Backend store: `RegistryDatabase.postgres({...})`, `.inCluster({...})` or `.fromUriSecret(...)`. */
  readonly database: RegistryDatabase;
  /** Artifact store the server proxies: `ArtifactStore.s3({...})` or `ArtifactStore.volume({...})`. */
  readonly artifacts: ArtifactStore;
  /** Name of the Deployment, Service and the rest; a DNS-1123 label. @default - the construct id */
  readonly name?: string;
  /** Namespace. @default - the chart's namespace */
  readonly namespace?: string;
  /** DNS domain of the cluster, for the tracking URI and the allowed Host headers. @default 'cluster.local' */
  readonly clusterDomain?: string;
  /** Server replicas; a volume artifact store allows only 1. @default - 2 with S3, 1 with a volume */
  readonly replicas?: number;
  /** MLflow image with the PostgreSQL and S3 drivers, pinned. @default Images.MLFLOW */
  readonly image?: string;
  /** CPU reserved for the server. @default Cpu.millis(500) */
  readonly cpuRequest?: Cpu;
  /** CPU cap of the server; the worker count derives from it (one per whole core, at least one). @default Cpu.cores(2) */
  readonly cpuLimit?: Cpu;
  /** Memory reserved for the server. @default Size.gibibytes(1) */
  readonly memoryRequest?: Size;
  /** Memory cap of the server; at least 384 MiB per worker. @default Size.gibibytes(2) */
  readonly memoryLimit?: Size;
  /** Size limit of each scratch directory (emptyDir). @default Size.gibibytes(1) */
  readonly scratchSize?: Size;
  /** Port of the Service. @default 5000 */
  readonly servicePort?: number;
  /** More Host headers the server accepts, e.g. an internal proxy's name. @default [] */
  readonly allowedHosts?: string[];
  /** Browser origins allowed to call the API cross-site (`--cors-allowed-origins`). @default - MLflow's default: localhost only */
  readonly corsAllowedOrigins?: string[];
  /** Require HTTP basic auth (`--app-name basic-auth`); users are stored in the backend database. @default false */
  readonly basicAuth?: boolean;
  /** Secret key with the Flask session secret shared by all replicas; required with basicAuth. @default - none */
  readonly authSecretKey?: SecretKeySelector;
  /** Secret key with the admin password MLflow creates the admin user with on first start; required with basicAuth. @default - none */
  readonly adminPassword?: SecretKeySelector;
  /** Name of that admin user. @default 'admin' */
  readonly adminUsername?: string;
  /** Permission users get on resources they did not create. @default RegistryPermission.READ */
  readonly defaultPermission?: RegistryPermission;
  /**
   * Secret of type kubernetes.io/basic-auth (keys `username`, `password`) of the MLflow user
   * Prometheus scrapes /metrics as; required with basicAuth, which protects /metrics too.
   * @default - none
   */
  readonly metricsBasicAuthSecretName?: string;
  /** Plain environment variables of the server. @default {} */
  readonly env?: Record<string, string>;
  /** Environment variables of the server read from existing Secrets. @default {} */
  readonly secretEnv?: Record<string, SecretKeySelector>;
  /** ServiceAccount of the pods (e.g. for S3 workload identity). @default - the namespace's default */
  readonly serviceAccountName?: string;
  /** Secrets used to pull private images. @default [] */
  readonly imagePullSecrets?: string[];
  /** Longest the server may take to start (migrations excluded: they run before). @default Duration.minutes(3) */
  readonly startupTimeout?: Duration;
  /** Time between SIGTERM and SIGKILL, for in-flight uploads. @default Duration.seconds(60) */
  readonly terminationGracePeriod?: Duration;
  /** Host name of an Ingress for the UI and API. @default - no Ingress */
  readonly ingressHost?: string;
  /** IngressClass of that Ingress. @default - the cluster's default class */
  readonly ingressClassName?: string;
  /** TLS Secret of that Ingress. @default - no TLS */
  readonly ingressTlsSecretName?: string;
  /** Annotations of that Ingress, e.g. a body-size limit large enough for model uploads. @default {} */
  readonly ingressAnnotations?: Record<string, string>;
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
}

/** Permission of the basic-auth app on resources a user did not create. */
export class RegistryPermission {
  /** Read experiments, runs and models. */
  public static readonly READ = new RegistryPermission('READ');
  /** Read and update. */
  public static readonly EDIT = new RegistryPermission('EDIT');
  /** Read, update, delete and grant. */
  public static readonly MANAGE = new RegistryPermission('MANAGE');
  /** Nothing without an explicit grant. */
  public static readonly NO_PERMISSIONS = new RegistryPermission('NO_PERMISSIONS');

  private constructor(
    /** The value MLflow's `default_permission` setting takes. */
    public readonly value: string,
  ) {}
}

const KIND = 'ModelRegistry';
// `<name>-postgres` is a StatefulSet whose pods carry a `controller-revision-hash` label of
// `<name>-postgres-<10 chars>`, which must fit in 63 characters.
const MAX_NAME_LENGTH = 40;
const SERVER_CONTAINER = 'mlflow';
const MIGRATE_CONTAINER = 'migrate';
const SERVER_PORT = 5000;
const SCRATCH_MOUNT = '/tmp';
const PROMETHEUS_MOUNT = '/mlflow/prometheus';
const AUTH_CONFIG_MOUNT = '/etc/mlflow/auth';
const AUTH_CONFIG_FILE = 'basic_auth.ini';
/** Annotation carrying the SHA-256 of the basic-auth config; a change rolls the pods. */
export const AUTH_CONFIG_HASH_ANNOTATION = 'mlops-constructs.io/auth-config-sha256';
/** PostgreSQL advisory lock key the migrations take; any constant shared by all replicas works. */
export const MIGRATION_LOCK_KEY = 7243091;

/**
 * The migration initContainer's program. Every replica runs it before its server starts; the
 * PostgreSQL advisory lock makes replicas that start together migrate one after another, so
 * the later ones find the schema at head and `mlflow db upgrade` does nothing. Without the lock
 * two replicas initializing an empty database race on CREATE TABLE and one crash-loops.
 * The URI comes from the environment (it may be a Secret), and the MLflow CLI commands run
 * in-process so it never shows up in a process list.
 */
const MIGRATE_SCRIPT = `import configparser, os, sys
import sqlalchemy
from sqlalchemy.engine import make_url

uri = os.environ["${BACKEND_STORE_URI_ENV}"]
url = make_url(uri)
shown = url.render_as_string(hide_password=True)
if url.get_backend_name() != "postgresql":
    sys.exit(f"migrate: the backend store {shown} is not PostgreSQL; the registry supports PostgreSQL only")
try:
    lock = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool, isolation_level="AUTOCOMMIT").connect()
except Exception as e:
    sys.exit(f"migrate: cannot connect to the backend store {shown}: {' '.join(str(e).split())}")
print(f"migrate: waiting for the migration lock on {shown}", flush=True)
lock.exec_driver_sql("SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})")
print("migrate: mlflow db upgrade", flush=True)
from mlflow.db import upgrade
upgrade.main([uri], prog_name="mlflow db upgrade", standalone_mode=False)
auth_config = os.environ.get("MLFLOW_AUTH_CONFIG_PATH")
if auth_config:
    print("migrate: basic-auth store upgrade", flush=True)
    config = configparser.ConfigParser()
    config.read(auth_config)
    from mlflow.server.auth.db.cli import upgrade as auth_upgrade
    auth_upgrade.main(["--url", config["mlflow"]["database_uri"]], prog_name="mlflow auth db upgrade", standalone_mode=False)
lock.exec_driver_sql("SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})")
print("migrate: schema is at head", flush=True)
`;

/**
 * An MLflow tracking server and model registry: PostgreSQL backend store, proxied artifact
 * store, database migrations before the server starts, optional basic auth, Prometheus
 * metrics, restricted security profile. Model servers and drift checks find it through
 * `trackingUri`.
 */
export class ModelRegistry extends Construct implements IModelRegistry {
  /** Kubernetes name of the Deployment and the Service. */
  public readonly name: string;
  public readonly namespace: string;
  /** `http://<name>.<namespace>.svc.<clusterDomain>:<servicePort>`. */
  public readonly trackingUri: string;
  /** Server replicas. */
  public readonly replicas: number;
  /** Worker processes per pod, derived from the CPU limit. */
  public readonly workers: number;
  /** Host headers the server accepts (`--allowed-hosts`). */
  public readonly allowedHosts: string[];
  /** Labels that select the server pods. */
  public readonly selectorLabels: Record<string, string>;
  public readonly deployment: k8s.KubeDeployment;
  public readonly service: k8s.KubeService;
  public readonly serviceMonitor: ServiceMonitor;
  /** The in-cluster PostgreSQL, with `RegistryDatabase.inCluster`. */
  public readonly postgres?: PostgresDatabase;

  constructor(scope: Construct, id: string, props: ModelRegistryProps) {
    super(scope, id);
    const p = props ?? ({} as ModelRegistryProps);
    const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(KIND, this, field, value, problem, fix);

    // ---- names
    this.name = requireDnsLabel(KIND, this, 'name', p.name ?? id, MAX_NAME_LENGTH);
    this.namespace = resolveNamespace(KIND, this, p.namespace, 'the tracking URI and allowed hosts are built from it');
    const clusterDomain = p.clusterDomain ?? 'cluster.local';
    if (!isDnsSubdomain(clusterDomain)) throw fail('clusterDomain', clusterDomain, 'is not a DNS domain', 'use the kubelet\'s --cluster-domain, usually "cluster.local"');
    const servicePort = requireInteger(KIND, this, 'servicePort', p.servicePort ?? SERVER_PORT, 1, 65535);
    const serviceHost = `${this.name}.${this.namespace}.svc.${clusterDomain}`;
    this.trackingUri = `http://${serviceHost}:${servicePort}`;

    // ---- labels
    const extraLabels = p.labels === undefined ? {} : requireLabels(KIND, this, 'labels', p.labels);
    this.selectorLabels = { 'app.kubernetes.io/name': this.name, 'app.kubernetes.io/component': 'model-registry' };
    const labels = {
      ...extraLabels,
      ...this.selectorLabels,
      'app.kubernetes.io/part-of': 'mlops',
      'app.kubernetes.io/managed-by': 'mlops-constructs',
    };

    // ---- stores
    if (!(p.database instanceof RegistryDatabase)) {
      throw fail('database', p.database, 'is required', 'pass e.g. RegistryDatabase.inCluster({ passwordSecret: { secretName: "mlflow-postgres", key: "password" } }) or RegistryDatabase.postgres({...})');
    }
    if (!(p.artifacts instanceof ArtifactStore)) {
      throw fail('artifacts', p.artifacts, 'is required', 'pass e.g. ArtifactStore.s3({ bucket: "mlflow-artifacts" }) or ArtifactStore.volume({ size: Size.gibibytes(20) })');
    }
    const bindContext = { kind: KIND, name: this.name, namespace: this.namespace, labels: extraLabels };
    const database: RegistryDatabaseBinding = p.database.bind(this, bindContext);
    this.postgres = database.inCluster;
    const artifacts: ArtifactStoreBinding = p.artifacts.bind(this, bindContext);

    // ---- replicas
    this.replicas = requireInteger(KIND, this, 'replicas', p.replicas ?? (artifacts.singleReplica ? 1 : 2), 1, 100);
    if (artifacts.singleReplica && this.replicas > 1) {
      throw fail('replicas', this.replicas, `is above 1 with a ${p.artifacts.kind} artifact store, whose ReadWriteOnce claim mounts on one node only`,
        'set replicas: 1, or use ArtifactStore.s3({...}) to run several replicas');
    }

    // ---- resources
    const cpu = requireCpuPair(KIND, this, '', p.cpuRequest ?? Cpu.millis(500), p.cpuLimit ?? Cpu.cores(2));
    const memory = requireMemoryPair(KIND, this, '', p.memoryRequest ?? Size.gibibytes(1), p.memoryLimit ?? Size.gibibytes(2));
    // One uvicorn worker per whole core of the limit, never the node's cores (which Python
    // would read from /proc and overcommit).
    this.workers = Math.max(1, Math.floor(cpu.limit.millicores / 1000));
    if (memory.limit < 384 * this.workers) {
      throw fail('memoryLimit', `${memory.limit}Mi`, `is below 384 MiB for each of the ${this.workers} workers the CPU limit gives`,
        `raise memoryLimit to at least ${384 * this.workers}Mi or lower cpuLimit`);
    }
    const scratchMib = requireMebibytes(KIND, this, 'scratchSize', p.scratchSize ?? Size.gibibytes(1));
    const image = requirePinnedImage(KIND, this, 'image', p.image ?? Images.MLFLOW);
    const startupSeconds = requireSeconds(KIND, this, 'startupTimeout', p.startupTimeout ?? Duration.minutes(3), 10, 3600);
    const graceSeconds = requireSeconds(KIND, this, 'terminationGracePeriod', p.terminationGracePeriod ?? Duration.seconds(60), 5, 3600);

    // ---- Ingress host (validated early: it feeds the allowed hosts)
    const ingressHost = p.ingressHost;
    if (ingressHost !== undefined && !isDnsSubdomain(ingressHost)) {
      throw fail('ingressHost', ingressHost, 'is not a DNS host name', 'use e.g. "mlflow.example.com" (wildcards are not accepted: the server checks exact Host headers)');
    }

    // ---- allowed Host headers (MLflow 3.5+ answers 403 to any other)
    const serviceNames = [this.name, `${this.name}.${this.namespace}`, `${this.name}.${this.namespace}.svc`, serviceHost];
    const extraHosts = (p.allowedHosts ?? []).map((h, i) => {
      if (typeof h !== 'string' || !/^(\*|[A-Za-z0-9*]([A-Za-z0-9*.-]*[A-Za-z0-9*])?)(:(\*|[0-9]{1,5}))?$/.test(h) || h === '*') {
        throw fail(`allowedHosts[${i}]`, h, 'is not a host name pattern', 'use e.g. "mlflow.internal" or "mlflow.internal:8443"; "*" would switch the check off');
      }
      return h;
    });
    this.allowedHosts = uniq([
      ...serviceNames.flatMap((n) => [n, `${n}:${servicePort}`]),
      ...(ingressHost !== undefined ? [ingressHost, `${ingressHost}:443`, `${ingressHost}:80`] : []),
      // `kubectl port-forward` sends Host: localhost:<local port>.
      'localhost', 'localhost:*', '127.0.0.1', '127.0.0.1:*',
      // Prometheus and the kubelet address pods by IP (Host: <pod IP>:5000); a DNS-rebinding
      // attacker cannot make a browser send an IP literal, so private ranges stay safe.
      '10.*', ...range(16, 32).map((n) => `172.${n}.*`), '192.168.*', 'fc00:*', 'fd00:*',
      ...extraHosts,
    ]);
    const cors = (p.corsAllowedOrigins ?? []).map((o, i) => {
      let url: URL | undefined;
      try {
        url = new URL(o);
      } catch {
        url = undefined;
      }
      if (o === '*' || url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname !== '/' || o.endsWith('/')) {
        throw fail(`corsAllowedOrigins[${i}]`, o, 'is not a browser origin', 'use scheme and host only, e.g. "https://notebooks.example.com"; "*" would let any site use the API');
      }
      return o;
    });

    // ---- env
    const env: k8s.EnvVar[] = [];
    const reserved = new Map<string, string>();
    const addEnv = (e: k8s.EnvVar, owner: string, field?: string) => {
      const previous = reserved.get(e.name);
      if (previous !== undefined) {
        throw fail(field ?? e.name, e.name, `is already set by ${previous}`, 'use another name or drop the duplicate');
      }
      reserved.set(e.name, owner);
      env.push(e);
    };
    // HOME and the temp dir are the scratch emptyDir (the root filesystem is read-only).
    const baseEnv: k8s.EnvVar[] = [
      { name: 'HOME', value: SCRATCH_MOUNT },
      { name: 'PYTHONUNBUFFERED', value: '1' },
      { name: 'PYTHONDONTWRITEBYTECODE', value: '1' },
      // MLflow 3 reports usage to a public endpoint by default.
      { name: 'MLFLOW_DISABLE_TELEMETRY', value: 'true' },
      { name: 'DO_NOT_TRACK', value: 'true' },
    ];
    for (const e of baseEnv) addEnv(e, 'the registry');
    for (const e of database.env) addEnv(e, 'the database');
    for (const e of artifacts.env) addEnv(e, 'the artifact store');

    // ---- basic auth
    const basicAuth = p.basicAuth ?? false;
    let authConfig: string | undefined;
    let metricsAuthSecret: string | undefined;
    if (basicAuth) {
      if (database.plainUri === undefined) {
        throw fail('basicAuth', true, 'needs the database URI in a config file, which RegistryDatabase.fromUriSecret keeps secret',
          'use RegistryDatabase.postgres({...}) or .inCluster({...}) (the password then comes from PGPASSWORD), or turn basicAuth off');
      }
      const secretKey = requireSecretRef(KIND, this, 'authSecretKey', p.authSecretKey);
      const adminPassword = requireSecretRef(KIND, this, 'adminPassword', p.adminPassword);
      const adminUsername = p.adminUsername ?? 'admin';
      if (typeof adminUsername !== 'string' || !/^[A-Za-z0-9_.@-]{1,64}$/.test(adminUsername)) {
        throw fail('adminUsername', adminUsername, 'is not a user name', 'use letters, digits, "_", ".", "@" or "-"');
      }
      if (p.metricsBasicAuthSecretName === undefined) {
        throw fail('metricsBasicAuthSecretName', undefined, 'is required with basicAuth, which answers 401 to an anonymous Prometheus scrape of /metrics',
          'name a kubernetes.io/basic-auth Secret (keys username and password) of an MLflow user, e.g. "mlflow-metrics"');
      }
      metricsAuthSecret = requireDnsSubdomain(KIND, this, 'metricsBasicAuthSecretName', p.metricsBasicAuthSecretName);
      const permission = p.defaultPermission ?? RegistryPermission.READ;
      if (!(permission instanceof RegistryPermission)) {
        throw fail('defaultPermission', permission, 'is not a RegistryPermission', 'use RegistryPermission.READ, .EDIT, .MANAGE or .NO_PERMISSIONS');
      }
      // The auth tables (users, roles, *_permissions, alembic_version_auth) live in the backend
      // database next to the tracking tables, whose names they do not share.
      authConfig = [
        '[mlflow]',
        `default_permission = ${permission.value}`,
        `database_uri = ${database.plainUri}`,
        `admin_username = ${adminUsername}`,
        'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
        '',
      ].join('\n');
      addEnv({ name: 'MLFLOW_AUTH_CONFIG_PATH', value: `${AUTH_CONFIG_MOUNT}/${AUTH_CONFIG_FILE}` }, 'basic auth');
      // Every replica and worker must sign sessions with the same key.
      addEnv({ name: 'MLFLOW_FLASK_SERVER_SECRET_KEY', valueFrom: { secretKeyRef: { name: secretKey.secretName, key: secretKey.key } } }, 'basic auth');
      addEnv({ name: 'MLFLOW_AUTH_ADMIN_PASSWORD', valueFrom: { secretKeyRef: { name: adminPassword.secretName, key: adminPassword.key } } }, 'basic auth');
    } else {
      for (const field of ['authSecretKey', 'adminPassword', 'adminUsername', 'defaultPermission', 'metricsBasicAuthSecretName'] as const) {
        if (p[field] !== undefined) throw fail(field, field === 'defaultPermission' ? p.defaultPermission?.value : p[field], 'is set while basicAuth is off', 'set basicAuth: true, or drop the field');
      }
    }

    for (const [name, value] of Object.entries(p.env === undefined ? {} : requireStringMap(KIND, this, 'env', p.env))) {
      requireEnvName(KIND, this, `env.${name}`, name);
      if (/PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY/i.test(name)) {
        throw fail(`env.${name}`, '<redacted>', 'looks like a secret written in plain text', 'put it in a Secret and use secretEnv');
      }
      addEnv({ name, value }, 'env', `env.${name}`);
    }
    for (const [name, ref] of Object.entries(p.secretEnv ?? {})) {
      requireEnvName(KIND, this, `secretEnv.${name}`, name);
      const r = requireSecretRef(KIND, this, `secretEnv.${name}`, ref);
      addEnv({ name, valueFrom: { secretKeyRef: { name: r.secretName, key: r.key } } }, 'secretEnv', `secretEnv.${name}`);
    }

    // ---- pod-level references
    if (p.serviceAccountName !== undefined) requireDnsSubdomain(KIND, this, 'serviceAccountName', p.serviceAccountName);
    (p.imagePullSecrets ?? []).forEach((s, i) => requireDnsSubdomain(KIND, this, `imagePullSecrets[${i}]`, s));
    if (p.priorityClassName !== undefined) requireDnsSubdomain(KIND, this, 'priorityClassName', p.priorityClassName);
    const podAnnotations = p.podAnnotations === undefined ? {} : requireStringMap(KIND, this, 'podAnnotations', p.podAnnotations);
    const monitoring = Monitoring.of(this);
    const serviceMonitorLabels = requireLabels(KIND, this, 'serviceMonitorLabels', p.serviceMonitorLabels ?? monitoring.serviceMonitorLabels);
    const scrapeSeconds = requireSeconds(KIND, this, 'scrapeInterval', p.scrapeInterval ?? monitoring.scrapeInterval, 5, 600);

    // ---- volumes
    const volumes: k8s.Volume[] = [
      { name: 'scratch', emptyDir: { sizeLimit: k8s.Quantity.fromString(`${scratchMib}Mi`) } },
      // prometheus_client's multiprocess files, one set per worker. They survive a container
      // restart within the pod, which keeps counters monotonic rather than resetting them.
      { name: 'prometheus', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
    ];
    const scratchMounts: k8s.VolumeMount[] = [{ name: 'scratch', mountPath: SCRATCH_MOUNT }];
    const serverMounts: k8s.VolumeMount[] = [...scratchMounts, { name: 'prometheus', mountPath: PROMETHEUS_MOUNT }];
    const migrateMounts: k8s.VolumeMount[] = [...scratchMounts];
    if (artifacts.volume) {
      volumes.push(artifacts.volume.volume);
      serverMounts.push(artifacts.volume.mount);
    }
    let authConfigHash: string | undefined;
    if (authConfig !== undefined) {
      const configMapName = `${this.name}-auth`;
      new k8s.KubeConfigMap(this, 'AuthConfig', {
        metadata: { name: configMapName, namespace: this.namespace, labels },
        data: { [AUTH_CONFIG_FILE]: authConfig },
      });
      authConfigHash = createHash('sha256').update(authConfig).digest('hex');
      volumes.push({ name: 'auth-config', configMap: { name: configMapName, defaultMode: 0o444 } });
      const mount = { name: 'auth-config', mountPath: AUTH_CONFIG_MOUNT, readOnly: true };
      serverMounts.push(mount);
      migrateMounts.push(mount);
    }

    // ---- containers
    const args = [
      '--host', '0.0.0.0',
      '--port', String(SERVER_PORT),
      '--workers', String(this.workers),
      // The backend store URI comes from MLFLOW_BACKEND_STORE_URI (the option's env var), so
      // a URI from a Secret never lands in args.
      '--serve-artifacts',
      '--artifacts-destination', artifacts.destination,
      '--expose-prometheus', PROMETHEUS_MOUNT,
      '--allowed-hosts', this.allowedHosts.join(','),
      ...(cors.length > 0 ? ['--cors-allowed-origins', cors.join(',')] : []),
      ...(basicAuth ? ['--app-name', 'basic-auth'] : []),
    ];
    const resources: k8s.ResourceRequirements = {
      requests: { cpu: k8s.Quantity.fromString(cpu.request.toQuantity()), memory: k8s.Quantity.fromString(`${memory.request}Mi`) },
      limits: { cpu: k8s.Quantity.fromString(cpu.limit.toQuantity()), memory: k8s.Quantity.fromString(`${memory.limit}Mi`) },
    };
    const health = { path: '/health', port: k8s.IntOrString.fromString('http') };
    const migrateEnv = env.filter((e) => e.name !== 'MLFLOW_FLASK_SERVER_SECRET_KEY' && e.name !== 'MLFLOW_AUTH_ADMIN_PASSWORD');
    const migrate: k8s.Container = {
      name: MIGRATE_CONTAINER,
      image,
      imagePullPolicy: 'IfNotPresent',
      command: ['python', '-c', MIGRATE_SCRIPT],
      env: migrateEnv,
      resources,
      securityContext: restrictedContainerSecurityContext(DEFAULT_USER_ID),
      volumeMounts: migrateMounts,
    };
    const server: k8s.Container = {
      name: SERVER_CONTAINER,
      image,
      imagePullPolicy: 'IfNotPresent',
      command: ['mlflow', 'server'],
      args,
      env,
      ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
      resources,
      // /health is exempt from the Host check, so the kubelet's Host (the pod IP) is fine.
      startupProbe: { httpGet: health, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: Math.ceil(startupSeconds / 5) },
      readinessProbe: { httpGet: health, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
      livenessProbe: { httpGet: health, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
      securityContext: restrictedContainerSecurityContext(DEFAULT_USER_ID),
      volumeMounts: serverMounts,
    };

    // ---- Deployment
    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: {
        replicas: this.replicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: { ...this.selectorLabels } },
        // A ReadWriteOnce volume cannot be mounted by the new pod while the old one holds it.
        strategy: artifacts.singleReplica
          ? { type: 'Recreate' }
          : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0), maxSurge: k8s.IntOrString.fromNumber(1) } },
        template: {
          metadata: {
            labels,
            annotations: {
              ...podAnnotations,
              'kubectl.kubernetes.io/default-container': SERVER_CONTAINER,
              ...(authConfigHash ? { [AUTH_CONFIG_HASH_ANNOTATION]: authConfigHash } : {}),
            },
          },
          spec: {
            automountServiceAccountToken: false,
            // Service links would inject MLFLOW_SERVICE_HOST, MLFLOW_PORT=tcp://... for a
            // Service named mlflow: noise at best in a program configured by MLFLOW_* variables.
            enableServiceLinks: false,
            serviceAccountName: p.serviceAccountName,
            imagePullSecrets: p.imagePullSecrets?.map((n) => ({ name: n })),
            priorityClassName: p.priorityClassName,
            terminationGracePeriodSeconds: graceSeconds,
            // The image runs as root by default; any non-root uid works with HOME and scratch on emptyDirs.
            securityContext: { ...restrictedPodSecurityContext(DEFAULT_USER_ID), fsGroupChangePolicy: 'OnRootMismatch' },
            initContainers: [migrate],
            containers: [server],
            volumes,
          },
        },
      },
    });

    // ---- Service
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: {
        type: 'ClusterIP',
        selector: { ...this.selectorLabels },
        ports: [{ name: 'http', port: servicePort, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }],
      },
    });

    // ---- disruption budget: only with several replicas, or it would block node drains.
    if (this.replicas > 1) {
      new k8s.KubePodDisruptionBudget(this, 'DisruptionBudget', {
        metadata: { name: this.name, namespace: this.namespace, labels },
        spec: {
          maxUnavailable: k8s.IntOrString.fromNumber(1),
          selector: { matchLabels: { ...this.selectorLabels } },
          unhealthyPodEvictionPolicy: 'AlwaysAllow',
        },
      });
    }

    // ---- ServiceMonitor: prometheus_flask_exporter's mlflow_http_* metrics on /metrics.
    this.serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
      metadata: { name: this.name, namespace: this.namespace, labels: { ...labels, ...serviceMonitorLabels } },
      spec: {
        selector: { matchLabels: { ...this.selectorLabels } },
        endpoints: [{
          port: 'http',
          path: '/metrics',
          interval: `${scrapeSeconds}s`,
          scrapeTimeout: `${Math.min(10, scrapeSeconds)}s`,
          basicAuth: metricsAuthSecret === undefined ? undefined : {
            username: { name: metricsAuthSecret, key: 'username' },
            password: { name: metricsAuthSecret, key: 'password' },
          },
        }],
      },
    });

    // ---- Ingress
    if (ingressHost !== undefined) {
      if (p.ingressClassName !== undefined) requireDnsSubdomain(KIND, this, 'ingressClassName', p.ingressClassName);
      if (p.ingressTlsSecretName !== undefined) requireDnsSubdomain(KIND, this, 'ingressTlsSecretName', p.ingressTlsSecretName);
      new k8s.KubeIngress(this, 'Ingress', {
        metadata: {
          name: this.name,
          namespace: this.namespace,
          labels,
          annotations: p.ingressAnnotations === undefined ? undefined : requireStringMap(KIND, this, 'ingressAnnotations', p.ingressAnnotations),
        },
        spec: {
          ingressClassName: p.ingressClassName,
          tls: p.ingressTlsSecretName ? [{ hosts: [ingressHost], secretName: p.ingressTlsSecretName }] : undefined,
          rules: [{
            host: ingressHost,
            http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: this.name, port: { name: 'http' } } } }] },
          }],
        },
      });
    } else {
      for (const field of ['ingressClassName', 'ingressTlsSecretName', 'ingressAnnotations'] as const) {
        if (p[field] !== undefined) throw fail(field, p[field], 'is set without ingressHost', 'set ingressHost to create the Ingress, or drop the field');
      }
    }
  }

  /** A registered model in this registry, by alias or version: `registry.model('fraud-detector', { alias: 'champion' })`. */
  public model(name: string, options?: ModelVersionSelector): ModelReference {
    try {
      return ModelReference.of(this, name, options);
    } catch (e) {
      throw invalidProp(KIND, this, 'model()', { name, ...options }, 'is not a model reference', (e as Error).message);
    }
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function uniq<T>(values: T[]): T[] {
  return [...new Set(values)];
}
