import { createHash } from 'crypto';
import { Duration, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { ArtifactStore, ArtifactStoreBinding } from './artifact-store';
import { PostgresDatabase } from './postgres';
import { BACKEND_STORE_URI_ENV, RegistryDatabase, RegistryDatabaseBinding } from './registry-database';
import { ServiceMonitor } from '../../imports/monitoring.coreos.com';
import { PROMOTION_RELAY_COMPONENT } from '../../contract';
import { Images } from '../core/images';
import { addIngressPolicy, componentPeer, NetworkPeer, networkPoliciesEnabled, openEgressReason, prometheusPeer, requireIngressClients, requirePeers } from '../core/network-policy';
import { annotateScannerExceptions, ScannerException } from '../core/scanner-annotations';
import * as k8s from '../core/k8s';
import { IModelRegistry, ModelReference, ModelVersionSelector, RegistryWebhookDelivery } from '../core/model-reference';
import { requireMebibytes, requireSecretRef, requireSeconds } from '../core/prop-checks';
import { Cpu } from '../core/quantities';
import { DEFAULT_USER_ID, restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { Cluster, requireClusterDomain, serviceHostName } from '../core/cluster';
import { claimObjectNames } from '../core/object-names';
import { invalidProp, requireDnsLabel, requireDnsSubdomain, requireInteger, requirePinnedImage, resolveNamespace } from '../core/validation';
import {
  addClusterIpService, addDisruptionBudget, addIngress, addServiceMonitor, basePodSpec, CheckedPodProps, EnvBuilder, namedServicePort,
  ObjectMeta, requireIngress, requirePodProps, requireResources, requireScrape, resourceRequirements, Resources, Scrape, scrapeTiming,
  secretKeyRef, WorkloadLabels, workloadLabels,
} from '../core/workload';
import { EnvProps, IngressProps, PodProps, ResourceProps, ScrapeProps, SecretKeySelector } from '../core/workload-props';

/** Properties of a ModelRegistry. */
export interface ModelRegistryProps extends ResourceProps, EnvProps, PodProps, IngressProps, ScrapeProps {
  /** Backend store: `RegistryDatabase.postgres({...})`, `.inCluster({...})` or `.fromUriSecret(...)`. */
  readonly database: RegistryDatabase;
  /** Artifact store the server proxies: `ArtifactStore.s3({...})` or `ArtifactStore.volume({...})`. */
  readonly artifacts: ArtifactStore;
  /** Name of the Deployment, Service and the rest; a DNS-1123 label. @default - the construct id */
  readonly name?: string;
  /** Namespace. @default - the chart's namespace */
  readonly namespace?: string;
  /** DNS domain of the cluster, for the tracking URI, the allowed Host headers and the in-cluster PostgreSQL's host. @default - `Cluster.of(scope).clusterDomain` ('cluster.local') */
  readonly clusterDomain?: string;
  /** Server replicas; a volume artifact store allows only 1. @default - 2 with S3, 1 with a volume */
  readonly replicas?: number;
  /** MLflow image with the PostgreSQL and S3 drivers, pinned. @default Images.MLFLOW */
  readonly image?: string;
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
  /** Longest the server may take to start (migrations excluded: they run before). @default Duration.minutes(3) */
  readonly startupTimeout?: Duration;
  /** Time between SIGTERM and SIGKILL, for in-flight uploads. @default Duration.seconds(60) */
  readonly terminationGracePeriod?: Duration;
  /**
   * Clients admitted by the NetworkPolicy besides this namespace's model servers and drift
   * checks and Prometheus: training jobs, CI, the ingress controller with ingressHost, model
   * servers in other namespaces. @default []
   */
  readonly allowedClients?: NetworkPeer[];
  /**
   * Deliver MLflow webhooks to promotion relays (ModelPromotion) in the cluster: MLflow's SSRF
   * check refuses private addresses, so this turns it off and puts an egress NetworkPolicy in
   * its place (docs/promotion.md, "The registry's side").
   * @default - webhooks reach public addresses only
   */
  readonly webhooks?: RegistryWebhookProps;
}

/** ModelRegistry `webhooks`: what lets the registry call promotion relays inside the cluster. */
export interface RegistryWebhookProps {
  /**
   * Secret key with the Fernet key (32 bytes, URL-safe base64: `python -c "from cryptography.fernet
   * import Fernet; print(Fernet.generate_key().decode())"`) MLflow encrypts webhook secrets with.
   * Without it every replica and every restart invents its own, and deliveries fail on the others.
   */
  readonly encryptionKey: SecretKeySelector;
  /** Namespaces whose promotion relays the registry may deliver to. @default - the registry's own */
  readonly receiverNamespaces?: string[];
  /**
   * Private CIDRs the registry must still reach once its egress is limited: a managed
   * PostgreSQL or an S3 endpoint inside the VPC (public addresses, DNS, the in-cluster
   * PostgreSQL and the relays are always allowed). @default []
   */
  readonly privateEgressCidrs?: string[];
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
const AUTH_SECRET_KEY_ENV = 'MLFLOW_FLASK_SERVER_SECRET_KEY';
const ADMIN_PASSWORD_ENV = 'MLFLOW_AUTH_ADMIN_PASSWORD';
const WEBHOOK_ENCRYPTION_KEY_ENV = 'MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY';
/** Private, shared, loopback and link-local ranges (RFC 1918, 6598, 3927): where SSRF goes. */
const PRIVATE_V4 = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8'];
const PRIVATE_V6 = ['fc00::/7', 'fe80::/10', '::1/128'];
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

/** Basic auth, when on: the config file the server and the migration read, and the Secret Prometheus scrapes with. */
interface BasicAuth {
  readonly config: string;
  readonly metricsSecretName: string;
}

/** Every prop after its check, and the bound stores: what the objects are built from. */
interface Checked {
  readonly servicePort: number;
  readonly labels: WorkloadLabels;
  readonly database: RegistryDatabaseBinding;
  readonly artifacts: ArtifactStoreBinding;
  readonly resources: Resources;
  readonly scratchMib: number;
  readonly image: string;
  readonly startupSeconds: number;
  readonly graceSeconds: number;
  readonly ingress?: IngressProps & { ingressHost: string };
  readonly cors: string[];
  readonly auth?: BasicAuth;
  readonly env: EnvBuilder;
  readonly pod: CheckedPodProps;
  readonly scrape: Scrape;
}

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
  /** Where the registry delivers webhooks, with `webhooks`. */
  public readonly webhookDelivery?: RegistryWebhookDelivery;

  constructor(scope: Construct, id: string, props: ModelRegistryProps) {
    super(scope, id);
    const p = props ?? ({} as ModelRegistryProps);

    // ---- validate (the stores bind here: an in-cluster database or a new volume claim is
    // declared as it is checked, ahead of the server's objects)
    this.name = requireDnsLabel(KIND, this, 'name', p.name ?? id, MAX_NAME_LENGTH);
    this.namespace = resolveNamespace(KIND, this, p.namespace, 'the tracking URI and allowed hosts are built from it');
    const clusterDomain = requireClusterDomain(KIND, this, 'clusterDomain', p.clusterDomain ?? Cluster.of(this).clusterDomain);
    const servicePort = requireInteger(KIND, this, 'servicePort', p.servicePort ?? SERVER_PORT, 1, 65535);
    const serviceHost = serviceHostName(this.name, this.namespace, clusterDomain);
    this.trackingUri = `http://${serviceHost}:${servicePort}`;
    const pod = requirePodProps(KIND, this, p);
    const labels = workloadLabels(this.name, 'model-registry', pod.extraLabels);
    this.selectorLabels = labels.selector;
    const { database, artifacts } = this.bindStores(p, pod.extraLabels, clusterDomain);
    this.postgres = database.inCluster;
    this.replicas = this.checkReplicas(p, artifacts);
    const resources = requireResources(KIND, this, {
      cpuRequest: p.cpuRequest ?? Cpu.millis(500), cpuLimit: p.cpuLimit ?? Cpu.cores(2),
      memoryRequest: p.memoryRequest ?? Size.gibibytes(1), memoryLimit: p.memoryLimit ?? Size.gibibytes(2),
    });
    // One uvicorn worker per whole core of the limit, never the node's cores (which Python
    // would read from /proc and overcommit).
    this.workers = Math.max(1, Math.floor(resources.cpu.limit.millicores / 1000));
    if (resources.memory.limit < 384 * this.workers) {
      throw this.fail('memoryLimit', `${resources.memory.limit}Mi`, `is below 384 MiB for each of the ${this.workers} workers the CPU limit gives`,
        `raise memoryLimit to at least ${384 * this.workers}Mi or lower cpuLimit`);
    }
    const scratchMib = requireMebibytes(KIND, this, 'scratchSize', p.scratchSize ?? Size.gibibytes(1));
    const image = requirePinnedImage(KIND, this, 'image', p.image ?? Images.MLFLOW);
    const startupSeconds = requireSeconds(KIND, this, 'startupTimeout', p.startupTimeout ?? Duration.minutes(3), 10, 3600);
    const graceSeconds = requireSeconds(KIND, this, 'terminationGracePeriod', p.terminationGracePeriod ?? Duration.seconds(60), 5, 3600);
    // The Ingress host feeds the allowed hosts.
    const ingress = requireIngress(KIND, this, p, {
      wildcard: false, hostFix: 'use e.g. "mlflow.example.com" (wildcards are not accepted: the server checks exact Host headers)',
    });
    this.allowedHosts = this.checkAllowedHosts(p, serviceHost, servicePort, ingress?.ingressHost);
    const cors = this.checkCors(p);
    const env = this.baseEnv(database, artifacts);
    const auth = this.checkBasicAuth(p, database, env);
    const webhooks = this.checkWebhooks(p, env);
    env.addProps(p);
    const scrape = requireScrape(KIND, this, p);
    requireIngressClients(KIND, this, ingress?.ingressHost, p.allowedClients);
    const clients = requirePeers(KIND, this, 'allowedClients', p.allowedClients ?? []);
    const c: Checked = { servicePort, labels, database, artifacts, resources, scratchMib, image, startupSeconds, graceSeconds, ingress, cors, auth, env, pod, scrape };

    // ---- build and emit, in the order the objects appear in the manifests
    const meta: ObjectMeta = { name: this.name, namespace: this.namespace, labels: labels.labels };
    this.deployment = this.addDeployment(p, c, meta);
    this.service = addClusterIpService(this, meta, this.selectorLabels, [namedServicePort('http', servicePort)]);
    addDisruptionBudget(this, meta, this.selectorLabels, this.replicas);
    this.serviceMonitor = this.addServiceMonitor(c, meta);
    if (ingress) addIngress(this, meta, ingress);
    // MLflow without basicAuth lets any caller move an alias, which model servers then load.
    // Promotion relays register their webhook and resolve aliases here.
    const relays = (webhooks?.receiverNamespaces ?? []).map((ns) => componentPeer(PROMOTION_RELAY_COMPONENT, ns === this.namespace ? undefined : ns));
    addIngressPolicy(this, meta, this.selectorLabels, () => [
      { from: [componentPeer('model-server'), componentPeer('drift-check'), ...relays, ...clients], ports: ['http'] },
      { from: [prometheusPeer(this)], ports: ['http'] },
    ]);
    if (webhooks) {
      this.webhookDelivery = { namespace: this.namespace, podLabels: { ...this.selectorLabels }, receiverNamespaces: webhooks.receiverNamespaces };
      this.addWebhookEgressPolicy(meta, webhooks);
    }
    claimObjectNames(KIND, this);
  }


  // ---- validation -------------------------------------------------------------------------

  private fail(field: string, value: unknown, problem: string, fix: string): Error {
    return invalidProp(KIND, this, field, value, problem, fix);
  }

  private bindStores(p: ModelRegistryProps, extraLabels: Record<string, string>, clusterDomain: string): { database: RegistryDatabaseBinding; artifacts: ArtifactStoreBinding } {
    if (!(p.database instanceof RegistryDatabase)) {
      throw this.fail('database', p.database, 'is required', 'pass e.g. RegistryDatabase.inCluster({ passwordSecret: { secretName: "mlflow-postgres", key: "password" } }) or RegistryDatabase.postgres({...})');
    }
    if (!(p.artifacts instanceof ArtifactStore)) {
      throw this.fail('artifacts', p.artifacts, 'is required', 'pass e.g. ArtifactStore.s3({ bucket: "mlflow-artifacts" }) or ArtifactStore.volume({ size: Size.gibibytes(20) })');
    }
    const context = { kind: KIND, name: this.name, namespace: this.namespace, labels: extraLabels, clusterDomain, selectorLabels: this.selectorLabels };
    const database = p.database.bind(this, context);
    const artifacts = p.artifacts.bind(this, context);
    return { database, artifacts };
  }

  private checkReplicas(p: ModelRegistryProps, artifacts: ArtifactStoreBinding): number {
    const replicas = requireInteger(KIND, this, 'replicas', p.replicas ?? (artifacts.singleReplica ? 1 : 2), 1, 100);
    if (artifacts.singleReplica && replicas > 1) {
      throw this.fail('replicas', replicas, `is above 1 with a ${p.artifacts.kind} artifact store, whose ReadWriteOnce claim mounts on one node only`,
        'set replicas: 1, or use ArtifactStore.s3({...}) to run several replicas');
    }
    return replicas;
  }

  /** The Host headers the server accepts: MLflow 3.5+ answers 403 to any other. */
  private checkAllowedHosts(p: ModelRegistryProps, serviceHost: string, servicePort: number, ingressHost: string | undefined): string[] {
    const serviceNames = [this.name, `${this.name}.${this.namespace}`, `${this.name}.${this.namespace}.svc`, serviceHost];
    const extraHosts = (p.allowedHosts ?? []).map((h, i) => {
      if (typeof h !== 'string' || !/^(\*|[A-Za-z0-9*]([A-Za-z0-9*.-]*[A-Za-z0-9*])?)(:(\*|[0-9]{1,5}))?$/.test(h) || h === '*') {
        throw this.fail(`allowedHosts[${i}]`, h, 'is not a host name pattern', 'use e.g. "mlflow.internal" or "mlflow.internal:8443"; "*" would switch the check off');
      }
      return h;
    });
    return uniq([
      ...serviceNames.flatMap((n) => [n, `${n}:${servicePort}`]),
      ...(ingressHost !== undefined ? [ingressHost, `${ingressHost}:443`, `${ingressHost}:80`] : []),
      // `kubectl port-forward` sends Host: localhost:<local port>.
      'localhost', 'localhost:*', '127.0.0.1', '127.0.0.1:*',
      // Prometheus and the kubelet address pods by IP (Host: <pod IP>:5000); a DNS-rebinding
      // attacker cannot make a browser send an IP literal, so private ranges stay safe.
      '10.*', ...range(16, 32).map((n) => `172.${n}.*`), '192.168.*', 'fc00:*', 'fd00:*',
      ...extraHosts,
    ]);
  }

  private checkCors(p: ModelRegistryProps): string[] {
    return (p.corsAllowedOrigins ?? []).map((o, i) => {
      let url: URL | undefined;
      try {
        url = new URL(o);
      } catch {
        url = undefined;
      }
      if (o === '*' || url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname !== '/' || o.endsWith('/')) {
        throw this.fail(`corsAllowedOrigins[${i}]`, o, 'is not a browser origin', 'use scheme and host only, e.g. "https://notebooks.example.com"; "*" would let any site use the API');
      }
      return o;
    });
  }

  /** What the registry, the database and the artifact store set; the user's env comes after. */
  private baseEnv(database: RegistryDatabaseBinding, artifacts: ArtifactStoreBinding): EnvBuilder {
    const env = new EnvBuilder(KIND, this);
    // HOME and the temp dir are the scratch emptyDir (the root filesystem is read-only).
    for (const e of [
      { name: 'HOME', value: SCRATCH_MOUNT },
      { name: 'PYTHONUNBUFFERED', value: '1' },
      { name: 'PYTHONDONTWRITEBYTECODE', value: '1' },
      // MLflow 3 reports usage to a public endpoint by default.
      { name: 'MLFLOW_DISABLE_TELEMETRY', value: 'true' },
      { name: 'DO_NOT_TRACK', value: 'true' },
    ]) env.reserve(e, 'the registry');
    for (const e of database.env) env.reserve(e, 'the database');
    for (const e of artifacts.env) env.reserve(e, 'the artifact store');
    return env;
  }

  private checkBasicAuth(p: ModelRegistryProps, database: RegistryDatabaseBinding, env: EnvBuilder): BasicAuth | undefined {
    if (!(p.basicAuth ?? false)) {
      for (const field of ['authSecretKey', 'adminPassword', 'adminUsername', 'defaultPermission', 'metricsBasicAuthSecretName'] as const) {
        if (p[field] !== undefined) throw this.fail(field, field === 'defaultPermission' ? p.defaultPermission?.value : p[field], 'is set while basicAuth is off', 'set basicAuth: true, or drop the field');
      }
      return undefined;
    }
    if (database.plainUri === undefined) {
      throw this.fail('basicAuth', true, 'needs the database URI in a config file, which RegistryDatabase.fromUriSecret keeps secret',
        'use RegistryDatabase.postgres({...}) or .inCluster({...}) (the password then comes from PGPASSWORD), or turn basicAuth off');
    }
    const secretKey = requireSecretRef(KIND, this, 'authSecretKey', p.authSecretKey);
    const adminPassword = requireSecretRef(KIND, this, 'adminPassword', p.adminPassword);
    const adminUsername = p.adminUsername ?? 'admin';
    if (typeof adminUsername !== 'string' || !/^[A-Za-z0-9_.@-]{1,64}$/.test(adminUsername)) {
      throw this.fail('adminUsername', adminUsername, 'is not a user name', 'use letters, digits, "_", ".", "@" or "-"');
    }
    if (p.metricsBasicAuthSecretName === undefined) {
      throw this.fail('metricsBasicAuthSecretName', undefined, 'is required with basicAuth, which answers 401 to an anonymous Prometheus scrape of /metrics',
        'name a kubernetes.io/basic-auth Secret (keys username and password) of an MLflow user, e.g. "mlflow-metrics"');
    }
    const metricsSecretName = requireDnsSubdomain(KIND, this, 'metricsBasicAuthSecretName', p.metricsBasicAuthSecretName);
    const permission = p.defaultPermission ?? RegistryPermission.READ;
    if (!(permission instanceof RegistryPermission)) {
      throw this.fail('defaultPermission', permission, 'is not a RegistryPermission', 'use RegistryPermission.READ, .EDIT, .MANAGE or .NO_PERMISSIONS');
    }
    // The auth tables (users, roles, *_permissions, alembic_version_auth) live in the backend
    // database next to the tracking tables, whose names they do not share.
    const config = [
      '[mlflow]',
      `default_permission = ${permission.value}`,
      `database_uri = ${database.plainUri}`,
      `admin_username = ${adminUsername}`,
      'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
      '',
    ].join('\n');
    env.reserve({ name: 'MLFLOW_AUTH_CONFIG_PATH', value: `${AUTH_CONFIG_MOUNT}/${AUTH_CONFIG_FILE}` }, 'basic auth');
    // Every replica and worker must sign sessions with the same key.
    env.reserve({ name: AUTH_SECRET_KEY_ENV, valueFrom: { secretKeyRef: secretKeyRef(secretKey) } }, 'basic auth');
    env.reserve({ name: ADMIN_PASSWORD_ENV, valueFrom: { secretKeyRef: secretKeyRef(adminPassword) } }, 'basic auth');
    return { config, metricsSecretName };
  }

  /**
   * With webhooks: MLflow may connect to private addresses (MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS)
   * over plain http (the relay's Service; the body is HMAC-signed), and every replica encrypts
   * webhook secrets with the one key of the Secret.
   */
  private checkWebhooks(p: ModelRegistryProps, env: EnvBuilder): { receiverNamespaces: string[]; cidrs: string[] } | undefined {
    const w = p.webhooks;
    if (w === undefined) return undefined;
    if (w === null || typeof w !== 'object') throw this.fail('webhooks', w, 'is not an object', 'pass { encryptionKey: { secretName, key } }');
    const key = requireSecretRef(KIND, this, 'webhooks.encryptionKey', w.encryptionKey);
    const receiverNamespaces = uniq((w.receiverNamespaces ?? [this.namespace]).map((ns, i) => requireDnsLabel(KIND, this, `webhooks.receiverNamespaces[${i}]`, ns)));
    if (receiverNamespaces.length === 0) throw this.fail('webhooks.receiverNamespaces', [], 'is empty', 'name at least one namespace, or leave it unset for the registry\'s own');
    const cidrs = (w.privateEgressCidrs ?? []).map((c, i) => {
      if (typeof c !== 'string' || !/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/.test(c)) {
        throw this.fail(`webhooks.privateEgressCidrs[${i}]`, c, 'is not a CIDR', 'use e.g. "10.20.0.0/16"');
      }
      return c;
    });
    env.reserve({ name: 'MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS', value: 'true' }, 'webhooks');
    env.reserve({ name: 'MLFLOW_WEBHOOK_ALLOWED_SCHEMES', value: 'http,https' }, 'webhooks');
    env.reserve({ name: WEBHOOK_ENCRYPTION_KEY_ENV, valueFrom: { secretKeyRef: secretKeyRef(key) } }, 'webhooks');
    return { receiverNamespaces, cidrs };
  }

  /**
   * What replaces MLflow's SSRF check: the server pods may open connections to DNS, the
   * promotion relays, the in-cluster PostgreSQL, the CIDRs given, and public addresses only
   * (the artifact store and a managed database outside the VPC), never to other private or
   * link-local ones (cloud metadata, the apiserver, other pods).
   */
  private addWebhookEgressPolicy(meta: ObjectMeta, w: { receiverNamespaces: string[]; cidrs: string[] }): void {
    if (!networkPoliciesEnabled(this)) return;
    const port = (n: number | string, protocol = 'TCP') => ({ protocol, port: typeof n === 'number' ? k8s.IntOrString.fromNumber(n) : k8s.IntOrString.fromString(n) });
    const egress: k8s.NetworkPolicyEgressRule[] = [
      { ports: [port(53, 'UDP'), port(53)] },
      { to: w.receiverNamespaces.map((ns) => componentPeer(PROMOTION_RELAY_COMPONENT, ns)), ports: [port('http')] },
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: PRIVATE_V4 } }, { ipBlock: { cidr: '::/0', except: PRIVATE_V6 } }, ...w.cidrs.map((cidr) => ({ ipBlock: { cidr } }))] },
    ];
    if (this.postgres) {
      egress.push({ to: [{ podSelector: { matchLabels: workloadLabels(this.postgres.service.name, 'database').selector } }], ports: [port(this.postgres.port)] });
    }
    new k8s.KubeNetworkPolicy(this, 'WebhookEgressPolicy', {
      metadata: { name: `${this.name}-egress`, namespace: meta.namespace, labels: meta.labels },
      spec: { podSelector: { matchLabels: { ...this.selectorLabels } }, policyTypes: ['Egress'], egress },
    });
  }

  // ---- build and emit ---------------------------------------------------------------------

  /** The migration initContainer and the server, with their volumes (and the auth ConfigMap). */
  private addDeployment(p: ModelRegistryProps, c: Checked, meta: ObjectMeta): k8s.KubeDeployment {
    const volumes: k8s.Volume[] = [
      { name: 'scratch', emptyDir: { sizeLimit: k8s.Quantity.fromString(`${c.scratchMib}Mi`) } },
      // prometheus_client's multiprocess files, one set per worker. They survive a container
      // restart within the pod, which keeps counters monotonic rather than resetting them.
      { name: 'prometheus', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
    ];
    const scratchMounts: k8s.VolumeMount[] = [{ name: 'scratch', mountPath: SCRATCH_MOUNT }];
    const serverMounts: k8s.VolumeMount[] = [...scratchMounts, { name: 'prometheus', mountPath: PROMETHEUS_MOUNT }];
    const migrateMounts: k8s.VolumeMount[] = [...scratchMounts];
    if (c.artifacts.volume) {
      volumes.push(c.artifacts.volume.volume);
      serverMounts.push(c.artifacts.volume.mount);
    }
    let authConfigHash: string | undefined;
    if (c.auth !== undefined) {
      const configMapName = `${this.name}-auth`;
      new k8s.KubeConfigMap(this, 'AuthConfig', {
        metadata: { name: configMapName, namespace: this.namespace, labels: meta.labels },
        data: { [AUTH_CONFIG_FILE]: c.auth.config },
      });
      authConfigHash = createHash('sha256').update(c.auth.config).digest('hex');
      volumes.push({ name: 'auth-config', configMap: { name: configMapName, defaultMode: 0o444 } });
      const mount = { name: 'auth-config', mountPath: AUTH_CONFIG_MOUNT, readOnly: true };
      serverMounts.push(mount);
      migrateMounts.push(mount);
    }

    const args = [
      '--host', '0.0.0.0',
      '--port', String(SERVER_PORT),
      '--workers', String(this.workers),
      // The backend store URI comes from MLFLOW_BACKEND_STORE_URI (the option's env var), so
      // a URI from a Secret never lands in args.
      '--serve-artifacts',
      '--artifacts-destination', c.artifacts.destination,
      '--expose-prometheus', PROMETHEUS_MOUNT,
      '--allowed-hosts', this.allowedHosts.join(','),
      ...(c.cors.length > 0 ? ['--cors-allowed-origins', c.cors.join(',')] : []),
      ...(c.auth ? ['--app-name', 'basic-auth'] : []),
    ];
    const resources = resourceRequirements(c.resources);
    const health = { path: '/health', port: k8s.IntOrString.fromString('http') };
    const env = c.env.list;
    // The migration needs neither the session key nor the admin password.
    const migrateEnv = env.filter((e) => e.name !== AUTH_SECRET_KEY_ENV && e.name !== ADMIN_PASSWORD_ENV && e.name !== WEBHOOK_ENCRYPTION_KEY_ENV);
    const migrate: k8s.Container = {
      name: MIGRATE_CONTAINER,
      image: c.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['python', '-c', MIGRATE_SCRIPT],
      env: migrateEnv,
      resources,
      securityContext: restrictedContainerSecurityContext(DEFAULT_USER_ID),
      volumeMounts: migrateMounts,
    };
    const server: k8s.Container = {
      name: SERVER_CONTAINER,
      image: c.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['mlflow', 'server'],
      args,
      env,
      ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
      resources,
      // /health is exempt from the Host check, so the kubelet's Host (the pod IP) is fine.
      startupProbe: { httpGet: health, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: Math.ceil(c.startupSeconds / 5) },
      readinessProbe: { httpGet: health, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
      livenessProbe: { httpGet: health, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
      securityContext: restrictedContainerSecurityContext(DEFAULT_USER_ID),
      volumeMounts: serverMounts,
    };

    const deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: meta.name, namespace: meta.namespace, labels: meta.labels },
      spec: {
        replicas: this.replicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: { ...this.selectorLabels } },
        // A ReadWriteOnce volume cannot be mounted by the new pod while the old one holds it.
        strategy: c.artifacts.singleReplica
          ? { type: 'Recreate' }
          : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0), maxSurge: k8s.IntOrString.fromNumber(1) } },
        template: {
          metadata: {
            labels: meta.labels,
            annotations: {
              ...c.pod.podAnnotations,
              'kubectl.kubernetes.io/default-container': SERVER_CONTAINER,
              ...(authConfigHash ? { [AUTH_CONFIG_HASH_ANNOTATION]: authConfigHash } : {}),
            },
          },
          spec: {
            // Service links would inject MLFLOW_SERVICE_HOST, MLFLOW_PORT=tcp://... for a
            // Service named mlflow: noise at best in a program configured by MLFLOW_* variables.
            ...basePodSpec({
              ...p,
              automountServiceAccountToken: false,
              terminationGracePeriodSeconds: c.graceSeconds,
              // The image runs as root by default; any non-root uid works with HOME and scratch on emptyDirs.
              securityContext: { ...restrictedPodSecurityContext(DEFAULT_USER_ID), fsGroupChangePolicy: 'OnRootMismatch' },
            }),
            initContainers: [migrate],
            containers: [server],
            volumes,
          },
        },
      },
    });
    const more: ScannerException[] = [{
      kubeScore: ['pod-probes-identical'],
      reason: '/health is the server\'s one health check; liveness gives it 3 x 20 s against readiness\' 3 x 10 s, so a busy server leaves the Service before it is restarted',
    }];
    if (c.artifacts.singleReplica) {
      more.push({
        kubeScore: ['deployment-replicas', 'deployment-strategy'],
        reason: `a ${p.artifacts.kind} artifact store is a ReadWriteOnce claim that mounts on one node: one replica, replaced with Recreate; use ArtifactStore.s3 for several`,
      });
    } else if (this.replicas === 1) {
      more.push({ kubeScore: ['deployment-replicas'], reason: 'one replica, as set by the replicas prop' });
    }
    annotateScannerExceptions(deployment, { initContainers: [migrate], containers: [server], securityContext: restrictedPodSecurityContext(DEFAULT_USER_ID) }, {
      lowUserId: `uid ${DEFAULT_USER_ID}, the one unprivileged user of every pod of this library (node in the Node.js images); MLflow's image has no user of its own and the restricted profile needs only a non-zero uid`,
      secretEnv: 'MLflow and its migration take the database password (PGPASSWORD), a backend store URI and S3 keys from environment variables only',
      openEgress: openEgressReason(this, 'the backend database (in-cluster or managed) and the artifact store (S3 or another endpoint)'),
      more,
    });
    return deployment;
  }

  /** prometheus_flask_exporter's mlflow_http_* metrics on /metrics. */
  private addServiceMonitor(c: Checked, meta: ObjectMeta): ServiceMonitor {
    const secret = c.auth?.metricsSecretName;
    return addServiceMonitor(this, meta, c.scrape.monitorLabels, this.selectorLabels, [{
      port: 'http',
      path: '/metrics',
      ...scrapeTiming(c.scrape.seconds),
      basicAuth: secret === undefined ? undefined : {
        username: { name: secret, key: 'username' },
        password: { name: secret, key: 'password' },
      },
    }]);
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
