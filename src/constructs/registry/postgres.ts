import { Size } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../core/k8s';
import type { SecretKeySelector } from '../core/workload-props';
import { requireMebibytes, requireSecretRef } from '../core/prop-checks';
import { Cpu } from '../core/quantities';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { serviceHostName } from '../core/cluster';
import { invalidProp, requireDnsLabel, requireDnsSubdomain, requirePinnedImage } from '../core/validation';
import { addIngressPolicy, IngressRule } from '../core/network-policy';
import { annotateScannerExceptions } from '../core/scanner-annotations';
import { basePodSpec, requireResources, resourceRequirements, secretKeyRef, workloadLabels } from '../core/workload';

/**
 * PostgreSQL image of the in-cluster database: the official Debian variant, whose `postgres`
 * user is uid/gid 999. Same major and minor as the Debian PostgreSQL the rehearsal runs.
 */
export const POSTGRES_IMAGE = 'postgres:15.18-bookworm';
/** uid and gid of `postgres` in the official Debian-based images. */
export const POSTGRES_USER_ID = 999;
/** Where the data volume is mounted; PGDATA is a subdirectory because a fresh volume's root may hold lost+found. */
export const POSTGRES_DATA_MOUNT = '/var/lib/postgresql/data';

/** A PostgreSQL StatefulSet declared next to the registry, for teams without a managed database. */
export interface InClusterPostgresOptions {
  /** Secret key holding the password of `user`; PostgreSQL is initialized with it on first start. */
  readonly passwordSecret: SecretKeySelector;
  /** Database created on first start. @default 'mlflow' */
  readonly database?: string;
  /** Role created on first start (the database owner). @default 'mlflow' */
  readonly user?: string;
  /** Size of the data volume. @default Size.gibibytes(10) */
  readonly storageSize?: Size;
  /** StorageClass of the data volume. @default - the cluster's default class */
  readonly storageClassName?: string;
  /** PostgreSQL image, pinned. @default POSTGRES_IMAGE */
  readonly image?: string;
  /** CPU reserved for PostgreSQL. @default Cpu.millis(500) */
  readonly cpuRequest?: Cpu;
  /** CPU cap of PostgreSQL; equal to the request keeps the pod in the Guaranteed QoS class. @default - cpuRequest */
  readonly cpuLimit?: Cpu;
  /** Memory reserved for PostgreSQL. @default Size.gibibytes(1) */
  readonly memoryRequest?: Size;
  /** Memory cap of PostgreSQL; equal to the request keeps the pod in the Guaranteed QoS class. @default - memoryRequest */
  readonly memoryLimit?: Size;
}

/** Properties of a PostgresDatabase: the in-cluster options a registry takes, plus where it lives. */
export interface PostgresDatabaseProps extends InClusterPostgresOptions {
  /** Kind of the owning construct, for error messages. */
  readonly kind: string;
  /** Prefix of field names in error messages, e.g. `database.`. @default '' */
  readonly fieldPrefix?: string;
  /** Name of the StatefulSet and its headless Service. */
  readonly name: string;
  /** Namespace. */
  readonly namespace: string;
  /** DNS domain of the cluster, for the Service's host name. */
  readonly clusterDomain: string;
  /** Extra labels of every object. @default {} */
  readonly labels?: Record<string, string>;
  /** Value of `app.kubernetes.io/part-of`. @default 'mlops' */
  readonly partOf?: string;
  /** Labels of the only pods (the registry's) that may connect, through the NetworkPolicy. @default - none: no pod gets in */
  readonly clientSelector?: Record<string, string>;
}

/**
 * A single-replica PostgreSQL: StatefulSet with a volume claim, headless Service, restricted
 * security profile. The password is only referenced; the image's entrypoint initializes the
 * database from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on the first start.
 */
export class PostgresDatabase extends Construct {
  /** In-cluster DNS name of the server. */
  public readonly host: string;
  public readonly port = 5432;
  public readonly database: string;
  public readonly user: string;
  public readonly passwordSecret: SecretKeySelector;
  public readonly statefulSet: k8s.KubeStatefulSet;
  public readonly service: k8s.KubeService;

  constructor(scope: Construct, id: string, props: PostgresDatabaseProps) {
    super(scope, id);
    const kind = props.kind;
    const f = props.fieldPrefix ?? '';
    // The owning construct is the one users know: report errors against its path.
    const owner = scope;
    const name = requireDnsLabel(kind, owner, `${f}name`, props.name, 52);
    this.host = serviceHostName(name, props.namespace, props.clusterDomain);
    const ident = (field: string, value: unknown) => {
      if (typeof value !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
        throw invalidProp(kind, owner, `${f}${field}`, value, 'is not a lowercase PostgreSQL identifier', 'use lowercase letters, digits and "_", e.g. "mlflow"');
      }
      return value;
    };
    this.database = ident('database', props.database ?? 'mlflow');
    this.user = ident('user', props.user ?? 'mlflow');
    if (this.user === 'postgres') {
      throw invalidProp(kind, owner, `${f}user`, this.user, 'would make MLflow log in as the built-in superuser name', 'keep the default "mlflow"');
    }
    this.passwordSecret = requireSecretRef(kind, owner, `${f}passwordSecret`, props.passwordSecret);
    const storageMib = requireMebibytes(kind, owner, `${f}storageSize`, props.storageSize ?? Size.gibibytes(10));
    if (storageMib < 1024) {
      throw invalidProp(kind, owner, `${f}storageSize`, `${storageMib}Mi`, 'is below 1 GiB', 'use at least Size.gibibytes(1); WAL alone needs hundreds of MiB');
    }
    if (props.storageClassName !== undefined) requireDnsSubdomain(kind, owner, `${f}storageClassName`, props.storageClassName);
    const image = requirePinnedImage(kind, owner, `${f}image`, props.image ?? POSTGRES_IMAGE);
    // Requests equal to limits by default: the Guaranteed QoS class keeps the registry's only
    // database off the kubelet's eviction list under node memory pressure (Burstable pods go
    // first), and PostgreSQL sizes its caches once rather than for memory it may lose.
    const cpu = props.cpuRequest ?? props.cpuLimit ?? Cpu.millis(500);
    const memory = props.memoryRequest ?? props.memoryLimit ?? Size.gibibytes(1);
    const resources = requireResources(kind, owner, {
      cpuRequest: cpu, cpuLimit: props.cpuLimit ?? cpu, memoryRequest: memory, memoryLimit: props.memoryLimit ?? memory,
    }, f);
    const { selector, labels } = workloadLabels(name, 'database', props.labels ?? {}, props.partOf ?? 'mlops');

    // Headless: clients resolve the name to the one pod; the StatefulSet needs it as serviceName.
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name, namespace: props.namespace, labels },
      spec: {
        clusterIp: 'None',
        selector: { ...selector },
        ports: [{ name: 'postgres', port: this.port, targetPort: k8s.IntOrString.fromString('postgres'), protocol: 'TCP' }],
      },
    });

    const isReady = ['pg_isready', '--host', '127.0.0.1', '--port', String(this.port), '--username', this.user, '--dbname', this.database];
    const container: k8s.Container = {
      name: 'postgres',
      image,
      imagePullPolicy: 'IfNotPresent',
      // The image's entrypoint initializes an empty PGDATA from the POSTGRES_* variables,
      // then runs these args.
      args: ['postgres', '-c', 'listen_addresses=*'],
      env: [
        { name: 'POSTGRES_USER', value: this.user },
        { name: 'POSTGRES_DB', value: this.database },
        { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: secretKeyRef(this.passwordSecret) } },
        { name: 'PGDATA', value: `${POSTGRES_DATA_MOUNT}/pgdata` },
      ],
      ports: [{ name: 'postgres', containerPort: this.port, protocol: 'TCP' }],
      resources: resourceRequirements(resources),
      // Crash recovery after an unclean stop can take minutes on a large WAL.
      startupProbe: { exec: { command: isReady }, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 60 },
      readinessProbe: { exec: { command: isReady }, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3 },
      livenessProbe: { exec: { command: isReady }, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
      // Kubernetes stops with SIGTERM, which is PostgreSQL's "smart" shutdown: it waits for
      // every pooled MLflow connection to close and is then killed mid-write. Fast shutdown
      // disconnects clients and checkpoints cleanly.
      lifecycle: { preStop: { exec: { command: ['pg_ctl', 'stop', '--mode', 'fast', '--wait'] } } },
      securityContext: restrictedContainerSecurityContext(POSTGRES_USER_ID),
      volumeMounts: [
        { name: 'data', mountPath: POSTGRES_DATA_MOUNT },
        { name: 'run', mountPath: '/var/run/postgresql' },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    };
    this.statefulSet = new k8s.KubeStatefulSet(this, 'Resource', {
      metadata: { name, namespace: props.namespace, labels },
      spec: {
        serviceName: name,
        replicas: 1,
        selector: { matchLabels: { ...selector } },
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
        template: {
          metadata: { labels },
          spec: {
            // A fast shutdown (preStop) takes seconds; the rest is for a checkpoint of a busy server.
            ...basePodSpec({ terminationGracePeriodSeconds: 60, securityContext: restrictedPodSecurityContext(POSTGRES_USER_ID) }),
            containers: [container],
            volumes: [
              { name: 'run', emptyDir: { sizeLimit: k8s.Quantity.fromString('16Mi') } },
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('256Mi') } },
            ],
          },
        },
        volumeClaimTemplates: [{
          metadata: { name: 'data', labels },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: props.storageClassName,
            resources: { requests: { storage: k8s.Quantity.fromString(`${storageMib}Mi`) } },
          },
        }],
      },
    });
    annotateScannerExceptions(this.statefulSet, { containers: [container], securityContext: restrictedPodSecurityContext(POSTGRES_USER_ID) }, {
      lowUserId: `uid ${POSTGRES_USER_ID} is the postgres user of the official image, which its entrypoint and the data directory's permissions expect`,
      secretEnv: 'the image\'s entrypoint takes the password it initializes the database with from POSTGRES_PASSWORD only',
      more: [{
        kubeScore: ['pod-probes-identical'],
        reason: 'pg_isready is PostgreSQL\'s own health check; liveness gives it 6 x 20 s against readiness\' 3 x 5 s, so a busy server is not restarted',
      }],
    });
    // Only the registry's pods (server and migration) connect; nothing else in the cluster
    // needs the database, which holds the registry's aliases and the auth users.
    const clients = props.clientSelector;
    addIngressPolicy(this, { name, namespace: props.namespace, labels }, selector,
      (): IngressRule[] => clients === undefined ? [] : [{ from: [{ podSelector: { matchLabels: { ...clients } } }], ports: ['postgres'] }], { denyEgress: true });
  }
}
