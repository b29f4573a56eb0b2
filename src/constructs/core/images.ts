/**
 * Images this library runs by default, pinned to versions (never `latest`). Each can be
 * overridden where it is used; bumping one here is a change users see in their manifests.
 */
export const Images = {
  /** Stock Node.js image that runs the bundled runtime programs (metrics proxy, drift checker). */
  NODE: 'node:22.12.0-alpine3.21',
  /** MLflow with its optional extras (PostgreSQL and S3 drivers, common flavors). */
  MLFLOW: 'ghcr.io/mlflow/mlflow:v3.17.2-full',
  /** Prometheus Pushgateway that receives the drift checks' metrics. */
  PUSHGATEWAY: 'prom/pushgateway:v1.11.0',
} as const;
