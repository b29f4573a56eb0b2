// registry/: ModelRegistry (MLflow), its backend database, artifact store and in-cluster PostgreSQL.
export * from './artifact-store';
export * from './model-registry';
export * from './registry-database';
export { POSTGRES_IMAGE, POSTGRES_USER_ID, PostgresDatabase } from './postgres';
export type { InClusterPostgresOptions, PostgresDatabaseProps } from './postgres';
