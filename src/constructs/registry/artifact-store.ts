import { Size, SizeRoundingBehavior } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../core/k8s';
import type { SecretKeySelector } from '../core/workload-props';
import { requireMebibytes, requireSecretRef } from '../core/prop-checks';
import { invalidProp, isS3BucketName, requireDnsSubdomain, S3_BUCKET_FIX } from '../core/validation';
import { secretKeyRef, WorkloadBindContext } from '../core/workload';

/** An S3 bucket, on AWS or any S3-compatible store such as MinIO. */
export interface S3ArtifactStoreOptions {
  /** Bucket name. */
  readonly bucket: string;
  /** Key prefix inside the bucket. @default - the bucket root */
  readonly prefix?: string;
  /** Endpoint of an S3-compatible store, e.g. `http://minio.minio.svc.cluster.local:9000`. @default - AWS S3 */
  readonly endpoint?: string;
  /** Region of the bucket. @default - the AWS SDK's own resolution */
  readonly region?: string;
  /** Secret key holding the access key id. @default - the pod's workload identity (e.g. IRSA via serviceAccountName) */
  readonly accessKeyId?: SecretKeySelector;
  /** Secret key holding the secret access key; required with accessKeyId. @default - workload identity */
  readonly secretAccessKey?: SecretKeySelector;
}

/** A PersistentVolumeClaim mounted into the server; ReadWriteOnce, so one replica only. */
export interface VolumeArtifactStoreOptions {
  /** Size of the new claim. @default Size.gibibytes(20) */
  readonly size?: Size;
  /** StorageClass of the new claim. @default - the cluster's default class */
  readonly storageClassName?: string;
  /** Use this existing claim instead of creating one. @default - a new claim `<name>-artifacts` */
  readonly existingClaimName?: string;
}

/** What a bound artifact store contributes to the server. */
export interface ArtifactStoreBinding {
  /** Value of `--artifacts-destination`. */
  readonly destination: string;
  /** Environment of the server container. */
  readonly env: k8s.EnvVar[];
  /** A volume and where it is mounted, for volume stores. */
  readonly volume?: { readonly volume: k8s.Volume; readonly mount: k8s.VolumeMount };
  /** True when the store can only be mounted by one pod at a time. */
  readonly singleReplica: boolean;
}

/** Names the registry hands to the store when binding it; a new volume claim is named `<name>-artifacts`. */
export type ArtifactStoreBindContext = WorkloadBindContext;

/** Mount path of a volume artifact store in the server container. */
export const ARTIFACTS_MOUNT = '/mlflow/artifacts';

/**
 * Where the registry keeps model files and other artifacts; clients never reach it directly,
 * the server proxies it (`--serve-artifacts`). `ArtifactStore.s3({...})` or
 * `ArtifactStore.volume({...})`.
 */
export abstract class ArtifactStore {
  /** An S3 bucket (or MinIO and other S3-compatible stores through `endpoint`); any replica count. */
  public static s3(options: S3ArtifactStoreOptions): ArtifactStore {
    return new S3ArtifactStore(options);
  }

  /** A ReadWriteOnce volume: simple, but the registry then runs exactly one replica. */
  public static volume(options: VolumeArtifactStoreOptions = {}): ArtifactStore {
    return new VolumeArtifactStore(options);
  }

  /** Short name for messages. */
  public abstract readonly kind: string;

  /** Validates the options and declares what the store needs below `scope`. */
  public abstract bind(scope: Construct, context: ArtifactStoreBindContext): ArtifactStoreBinding;
}

class S3ArtifactStore extends ArtifactStore {
  public readonly kind = 's3';

  constructor(private readonly options: S3ArtifactStoreOptions) {
    super();
  }

  public bind(scope: Construct, context: ArtifactStoreBindContext): ArtifactStoreBinding {
    const o = this.options ?? ({} as S3ArtifactStoreOptions);
    const k = context.kind;
    if (!isS3BucketName(o.bucket)) throw invalidProp(k, scope, 'artifacts.bucket', o.bucket, 'is not an S3 bucket name', S3_BUCKET_FIX);
    let prefix = '';
    if (o.prefix !== undefined) {
      if (typeof o.prefix !== 'string' || !/^[A-Za-z0-9!_.*'()/-]+$/.test(o.prefix) || o.prefix.startsWith('/')) {
        throw invalidProp(k, scope, 'artifacts.prefix', o.prefix, 'is not a relative S3 key prefix', 'use e.g. "mlflow" (no leading "/")');
      }
      prefix = `/${o.prefix.replace(/\/+$/, '')}`;
    }
    const env: k8s.EnvVar[] = [];
    if (o.endpoint !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(o.endpoint);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname.length > 1) {
        throw invalidProp(k, scope, 'artifacts.endpoint', o.endpoint, 'is not an http(s) endpoint URL without a path', 'use e.g. "http://minio.minio.svc.cluster.local:9000"');
      }
      env.push({ name: 'MLFLOW_S3_ENDPOINT_URL', value: o.endpoint.replace(/\/+$/, '') });
    }
    if (o.region !== undefined) {
      if (typeof o.region !== 'string' || !/^[a-z0-9-]{2,32}$/.test(o.region)) {
        throw invalidProp(k, scope, 'artifacts.region', o.region, 'is not a region name', 'use e.g. "eu-west-1" (MinIO accepts "us-east-1")');
      }
      env.push({ name: 'AWS_DEFAULT_REGION', value: o.region });
    }
    if ((o.accessKeyId === undefined) !== (o.secretAccessKey === undefined)) {
      const missing = o.accessKeyId === undefined ? 'accessKeyId' : 'secretAccessKey';
      throw invalidProp(k, scope, `artifacts.${missing}`, undefined, 'is required with the other half of the key pair',
        'set both accessKeyId and secretAccessKey, or neither to use the pod\'s workload identity');
    }
    if (o.accessKeyId !== undefined) {
      const id = requireSecretRef(k, scope, 'artifacts.accessKeyId', o.accessKeyId);
      const secret = requireSecretRef(k, scope, 'artifacts.secretAccessKey', o.secretAccessKey);
      env.push({ name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: secretKeyRef(id) } });
      env.push({ name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: secretKeyRef(secret) } });
    }
    return { destination: `s3://${o.bucket}${prefix}`, env, singleReplica: false };
  }
}

class VolumeArtifactStore extends ArtifactStore {
  public readonly kind = 'volume';

  constructor(private readonly options: VolumeArtifactStoreOptions) {
    super();
  }

  public bind(scope: Construct, context: ArtifactStoreBindContext): ArtifactStoreBinding {
    const o = this.options ?? {};
    const k = context.kind;
    let claimName: string;
    if (o.existingClaimName !== undefined) {
      claimName = requireDnsSubdomain(k, scope, 'artifacts.existingClaimName', o.existingClaimName);
      for (const field of ['size', 'storageClassName'] as const) {
        if (o[field] !== undefined) {
          const shown = field === 'size' ? (o.size instanceof Size ? `${o.size.toMebibytes({ rounding: SizeRoundingBehavior.NONE })}Mi` : o.size) : o.storageClassName;
          throw invalidProp(k, scope, `artifacts.${field}`, shown, 'is set with existingClaimName', `drop ${field}: the existing claim has its own`);
        }
      }
    } else {
      const mib = requireMebibytes(k, scope, 'artifacts.size', o.size ?? Size.gibibytes(20));
      if (o.storageClassName !== undefined) requireDnsSubdomain(k, scope, 'artifacts.storageClassName', o.storageClassName);
      claimName = `${context.name}-artifacts`;
      new k8s.KubePersistentVolumeClaim(scope, 'ArtifactsVolume', {
        metadata: { name: claimName, namespace: context.namespace, labels: context.labels },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: o.storageClassName,
          resources: { requests: { storage: k8s.Quantity.fromString(`${mib}Mi`) } },
        },
      });
    }
    return {
      destination: ARTIFACTS_MOUNT,
      env: [],
      volume: {
        volume: { name: 'artifacts', persistentVolumeClaim: { claimName } },
        mount: { name: 'artifacts', mountPath: ARTIFACTS_MOUNT },
      },
      singleReplica: true,
    };
  }
}
