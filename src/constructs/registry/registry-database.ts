import { Construct } from 'constructs';
import * as k8s from '../core/k8s';
import type { SecretKeySelector } from '../core/workload-props';
import { InClusterPostgresOptions, PostgresDatabase } from './postgres';
import { requireSecretRef, requireStringMap } from '../core/prop-checks';
import { invalidProp, isDnsSubdomain, requireInteger } from '../core/validation';
import { secretKeyRef, WorkloadBindContext } from '../core/workload';

/** An existing PostgreSQL server (managed or run by another team). */
export interface PostgresConnectionOptions {
  /** Host name of the server, e.g. a managed database endpoint. */
  readonly host: string;
  /** Port of the server. @default 5432 */
  readonly port?: number;
  /** Database that holds the registry's tables. @default 'mlflow' */
  readonly database?: string;
  /** Role MLflow logs in as. @default 'mlflow' */
  readonly user?: string;
  /** Secret key holding that role's password; reaches libpq as PGPASSWORD, never the URI. */
  readonly passwordSecret: SecretKeySelector;
  /** libpq connection parameters added to the URI, e.g. `{ sslmode: 'require' }`. @default {} */
  readonly parameters?: Record<string, string>;
}

/** What a bound database contributes to the MLflow containers. */
export interface RegistryDatabaseBinding {
  /** Environment of every MLflow container: MLFLOW_BACKEND_STORE_URI and, where used, PGPASSWORD. */
  readonly env: k8s.EnvVar[];
  /**
   * The backend store URI when it holds no secret, for the basic-auth config file (which
   * MLflow reads from a file only); undefined when the whole URI is a Secret.
   */
  readonly plainUri?: string;
  /** The in-cluster database, when one was declared. */
  readonly inCluster?: PostgresDatabase;
}

/** Names the registry hands to the database when binding it; in-cluster objects are named `<name>-postgres`. */
export type RegistryDatabaseBindContext = WorkloadBindContext;

/**
 * The registry's backend store, always PostgreSQL: `RegistryDatabase.postgres({...})` for an
 * existing server, `RegistryDatabase.inCluster({...})` for one declared with the registry, or
 * `RegistryDatabase.fromUriSecret(...)` when a Secret holds the whole URI.
 */
export abstract class RegistryDatabase {
  /** An existing PostgreSQL server; the password comes from a Secret. */
  public static postgres(options: PostgresConnectionOptions): RegistryDatabase {
    return new ExternalPostgres(options);
  }

  /** A single-replica PostgreSQL StatefulSet with a volume, declared with the registry. */
  public static inCluster(options: InClusterPostgresOptions): RegistryDatabase {
    return new InClusterPostgres(options);
  }

  /**
   * A Secret key holding a whole `postgresql+psycopg2://user:password@host:port/db` URI (best
   * name the driver: SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3). Basic auth
   * cannot use it: MLflow reads the auth store URI from a config file, which is not secret.
   */
  public static fromUriSecret(uri: SecretKeySelector): RegistryDatabase {
    return new UriSecretPostgres(uri);
  }

  /** Short name for messages. */
  public abstract readonly kind: string;

  /** Validates the options and declares what the database needs below `scope`. */
  public abstract bind(scope: Construct, context: RegistryDatabaseBindContext): RegistryDatabaseBinding;
}

/** Env var the server (click option) and the migration both read the backend store URI from. */
export const BACKEND_STORE_URI_ENV = 'MLFLOW_BACKEND_STORE_URI';
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function identifier(kind: string, scope: Construct, field: string, value: unknown, fix: string): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw invalidProp(kind, scope, field, value, 'is not a plain PostgreSQL identifier', fix);
  }
  return value;
}

/**
 * `postgresql+psycopg2://user@host:port/db?params`: no password, libpq reads PGPASSWORD. The
 * driver is explicit: SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, so the driver
 * would depend on what an image happens to carry (the -full image has both, a slimmer one
 * often psycopg2 only).
 */
function passwordlessUri(user: string, host: string, port: number, database: string, parameters: Record<string, string>): string {
  const query = Object.entries(parameters).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `postgresql+psycopg2://${user}@${host}:${port}/${database}${query ? `?${query}` : ''}`;
}

function passwordEnv(ref: SecretKeySelector): k8s.EnvVar {
  return { name: 'PGPASSWORD', valueFrom: { secretKeyRef: secretKeyRef(ref) } };
}

class ExternalPostgres extends RegistryDatabase {
  public readonly kind = 'postgres';

  constructor(private readonly options: PostgresConnectionOptions) {
    super();
  }

  public bind(scope: Construct, context: RegistryDatabaseBindContext): RegistryDatabaseBinding {
    const o = this.options ?? ({} as PostgresConnectionOptions);
    const k = context.kind;
    const host = o.host;
    if (!isDnsSubdomain(host) && !/^\d{1,3}(\.\d{1,3}){3}$/.test(String(host))) {
      throw invalidProp(k, scope, 'database.host', host, 'is not a host name', 'pass the server\'s DNS name, e.g. "mlflow-db.abc123.eu-west-1.rds.amazonaws.com"');
    }
    const port = requireInteger(k, scope, 'database.port', o.port ?? 5432, 1, 65535);
    const database = identifier(k, scope, 'database.database', o.database ?? 'mlflow', 'use letters, digits and "_", e.g. "mlflow"');
    const user = identifier(k, scope, 'database.user', o.user ?? 'mlflow', 'use letters, digits and "_", e.g. "mlflow"');
    const password = requireSecretRef(k, scope, 'database.passwordSecret', o.passwordSecret);
    const parameters = o.parameters === undefined ? {} : requireStringMap(k, scope, 'database.parameters', o.parameters);
    for (const key of Object.keys(parameters)) {
      if (!/^[a-z_]+$/.test(key)) throw invalidProp(k, scope, `database.parameters key`, key, 'is not a libpq parameter name', 'use e.g. "sslmode" or "connect_timeout"');
      if (key === 'password') throw invalidProp(k, scope, 'database.parameters.password', '<redacted>', 'would write the password into the manifest', 'use passwordSecret');
    }
    const uri = passwordlessUri(user, host, port, database, parameters);
    return { env: [{ name: BACKEND_STORE_URI_ENV, value: uri }, passwordEnv(password)], plainUri: uri };
  }
}

class InClusterPostgres extends RegistryDatabase {
  public readonly kind = 'inCluster';

  constructor(private readonly options: InClusterPostgresOptions) {
    super();
  }

  public bind(scope: Construct, context: RegistryDatabaseBindContext): RegistryDatabaseBinding {
    const o = this.options ?? ({} as InClusterPostgresOptions);
    const db = new PostgresDatabase(scope, 'Postgres', {
      kind: context.kind,
      fieldPrefix: 'database.',
      name: `${context.name}-postgres`,
      namespace: context.namespace,
      clusterDomain: context.clusterDomain,
      labels: context.labels,
      clientSelector: context.selectorLabels,
      passwordSecret: o.passwordSecret,
      database: o.database,
      user: o.user,
      storageSize: o.storageSize,
      storageClassName: o.storageClassName,
      image: o.image,
      cpuRequest: o.cpuRequest,
      cpuLimit: o.cpuLimit,
      memoryRequest: o.memoryRequest,
      memoryLimit: o.memoryLimit,
    });
    const uri = passwordlessUri(db.user, db.host, db.port, db.database, {});
    return { env: [{ name: BACKEND_STORE_URI_ENV, value: uri }, passwordEnv(db.passwordSecret)], plainUri: uri, inCluster: db };
  }
}

class UriSecretPostgres extends RegistryDatabase {
  public readonly kind = 'uriSecret';

  constructor(private readonly uri: SecretKeySelector) {
    super();
  }

  public bind(scope: Construct, context: RegistryDatabaseBindContext): RegistryDatabaseBinding {
    const ref = requireSecretRef(context.kind, scope, 'database.uri', this.uri);
    // The whole URI (password included) comes from the Secret as an env var the server reads
    // through its click option; it never appears in args, so not in `ps` output either.
    return { env: [{ name: BACKEND_STORE_URI_ENV, valueFrom: { secretKeyRef: secretKeyRef(ref) } }] };
  }
}
