import { Duration, Size, Testing } from 'cdk8s';
import * as fc from 'fast-check';
import {
  ArtifactStore, AUTH_CONFIG_HASH_ANNOTATION, Cpu, Images, ModelReference, ModelRegistry, ModelRegistryProps, ModelService,
  Monitoring, NetworkPeer, POSTGRES_IMAGE, RegistryDatabase, RegistryPermission, ServingRuntime,
} from '../src';
import { container, newChart, only, synth } from './support/synth-helpers';
import { assertValidManifests } from '../src/testing';

const PASSWORD = { secretName: 'mlflow-postgres', key: 'password' };
const inCluster = () => RegistryDatabase.inCluster({ passwordSecret: PASSWORD });
const volume = () => ArtifactStore.volume();
const s3 = () => ArtifactStore.s3({
  bucket: 'mlflow-artifacts',
  prefix: 'registry',
  endpoint: 'http://minio.minio.svc.cluster.local:9000',
  region: 'us-east-1',
  accessKeyId: { secretName: 'minio', key: 'access-key' },
  secretAccessKey: { secretName: 'minio', key: 'secret-key' },
});
const basicAuthProps = {
  basicAuth: true,
  authSecretKey: { secretName: 'mlflow-auth', key: 'flask-secret-key' },
  adminPassword: { secretName: 'mlflow-auth', key: 'admin-password' },
  metricsBasicAuthSecretName: 'mlflow-metrics',
};
const EXTERNAL = ['mlflow-postgres', 'minio', 'mlflow-auth', 'mlflow-metrics', 'mlflow-db-uri'];

/** Synthesizes one registry in a fresh chart (namespace mlops). */
function registry(props: Partial<ModelRegistryProps> = {}, id = 'mlflow') {
  const chart = newChart();
  const construct = new ModelRegistry(chart, id, { database: inCluster(), artifacts: volume(), ...props });
  const objects = synth(chart);
  return { chart, construct, objects, deployment: only(objects, 'Deployment'), server: container(only(objects, 'Deployment'), 'mlflow') };
}

function arg(c: any, flag: string): string | undefined {
  const i = c.args.indexOf(flag);
  return i < 0 ? undefined : c.args[i + 1];
}

function env(c: any, name: string): any {
  return c.env.find((e: any) => e.name === name);
}

describe('ModelRegistry', () => {
  test('synthesizes the server, its PostgreSQL and artifact volume with stable names, valid and restricted', () => {
    // GIVEN / WHEN the reference stack's shape: in-cluster PostgreSQL, volume artifact store
    const { objects } = registry();
    // THEN
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'Deployment/mlflow',
      'NetworkPolicy/mlflow',
      'NetworkPolicy/mlflow-postgres',
      'PersistentVolumeClaim/mlflow-artifacts',
      'Service/mlflow',
      'Service/mlflow-postgres',
      'ServiceMonitor/mlflow',
      'StatefulSet/mlflow-postgres',
    ]);
    expect(objects.every((o) => o.metadata.namespace === 'mlops')).toBe(true);
    expect(() => assertValidManifests(objects, { externalSecrets: EXTERNAL })).not.toThrow();
    expect(objects).toMatchSnapshot();
  });

  test('exposes the in-cluster tracking URI and typed model references that a ModelService serves', () => {
    // GIVEN
    const chart = newChart();
    const mlflow = new ModelRegistry(chart, 'mlflow', { database: inCluster(), artifacts: volume() });
    // WHEN
    const champion = mlflow.model('fraud-detector', { alias: 'champion' });
    new ModelService(chart, 'fraud-detector', { runtime: ServingRuntime.mlflow({ model: champion }) });
    const server = container(only(synth(chart), 'Deployment', 'fraud-detector'), 'model-server');
    // THEN
    expect(mlflow.trackingUri).toBe('http://mlflow.mlops.svc.cluster.local:5000');
    expect(champion).toBeInstanceOf(ModelReference);
    expect(champion.uri).toBe('models:/fraud-detector@champion');
    expect(champion.registry).toBe(mlflow);
    expect(mlflow.model('fraud-detector', { version: 3 }).uri).toBe('models:/fraud-detector/3');
    expect(server.env).toContainEqual({ name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow.mlops.svc.cluster.local:5000' });
  });

  test('runs mlflow server on 0.0.0.0:5000 with proxied artifacts, Prometheus on an emptyDir and workers from the CPU limit', () => {
    // GIVEN / WHEN
    const { server, deployment } = registry({ cpuRequest: Cpu.cores(1), cpuLimit: Cpu.cores(3), memoryLimit: Size.gibibytes(2) });
    // THEN
    expect(server.image).toBe(Images.MLFLOW);
    expect(server.image).toBe('ghcr.io/mlflow/mlflow:v3.17.2-full');
    expect(server.command).toEqual(['mlflow', 'server']);
    expect([arg(server, '--host'), arg(server, '--port'), arg(server, '--workers')]).toEqual(['0.0.0.0', '5000', '3']);
    expect(server.args).toContain('--serve-artifacts');
    expect(arg(server, '--artifacts-destination')).toBe('/mlflow/artifacts');
    expect(arg(server, '--expose-prometheus')).toBe('/mlflow/prometheus');
    const volumes = deployment.spec.template.spec.volumes;
    const mountOf = (path: string) => server.volumeMounts.find((m: any) => m.mountPath === path);
    expect(volumes.find((v: any) => v.name === mountOf('/mlflow/prometheus').name).emptyDir).toBeDefined();
    expect(volumes.find((v: any) => v.name === mountOf('/mlflow/artifacts').name).persistentVolumeClaim).toEqual({ claimName: 'mlflow-artifacts' });
    expect(server.resources.limits).toEqual({ cpu: '3', memory: '2048Mi' });
  });

  test('derives one worker from a fractional CPU limit', () => {
    const { server } = registry({ cpuRequest: Cpu.millis(250), cpuLimit: Cpu.millis(750) });
    expect(arg(server, '--workers')).toBe('1');
  });

  test('allows the Service names with and without the port, the Ingress host and pod IPs, never every host', () => {
    // GIVEN / WHEN
    const { server, construct } = registry({ ingressHost: 'mlflow.example.com', allowedHosts: ['mlflow.internal:8443'], allowedClients: [NetworkPeer.namespace('ingress-nginx')] });
    const allowed = arg(server, '--allowed-hosts')!.split(',');
    // THEN
    for (const name of ['mlflow', 'mlflow.mlops', 'mlflow.mlops.svc', 'mlflow.mlops.svc.cluster.local']) {
      expect(allowed).toContain(name);
      expect(allowed).toContain(`${name}:5000`);
    }
    expect(allowed).toEqual(expect.arrayContaining(['mlflow.example.com', 'mlflow.internal:8443', '10.*', '172.16.*', '172.31.*', '192.168.*', 'localhost:*']));
    expect(allowed).not.toContain('*');
    expect(allowed).not.toContain('172.32.*');
    expect(construct.allowedHosts).toEqual(allowed);
  });

  test('follows a custom Service port and cluster domain in the tracking URI and allowed hosts', () => {
    const { server, construct, objects } = registry({ servicePort: 80, clusterDomain: 'corp.internal' }, 'registry');
    expect(construct.trackingUri).toBe('http://registry.mlops.svc.corp.internal:80');
    expect(arg(server, '--allowed-hosts')!.split(',')).toEqual(expect.arrayContaining(['registry.mlops.svc.corp.internal', 'registry.mlops.svc.corp.internal:80', 'registry:80']));
    expect(only(objects, 'Service', 'registry').spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(server.ports).toEqual([{ name: 'http', containerPort: 5000, protocol: 'TCP' }]);
  });

  test('passes CORS origins only when set', () => {
    expect(arg(registry().server, '--cors-allowed-origins')).toBeUndefined();
    const { server } = registry({ corsAllowedOrigins: ['https://notebooks.example.com', 'https://app.example.com'] });
    expect(arg(server, '--cors-allowed-origins')).toBe('https://notebooks.example.com,https://app.example.com');
  });

  test('reads the backend store URI from the environment: no password in the URI, args or any object; PGPASSWORD from the Secret', () => {
    // GIVEN / WHEN
    const { server, deployment, objects } = registry();
    // THEN
    expect(env(server, 'MLFLOW_BACKEND_STORE_URI')).toEqual({ name: 'MLFLOW_BACKEND_STORE_URI', value: 'postgresql+psycopg2://mlflow@mlflow-postgres.mlops.svc.cluster.local:5432/mlflow' });
    expect(env(server, 'PGPASSWORD')).toEqual({ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'mlflow-postgres', key: 'password' } } });
    expect(server.args).not.toContain('--backend-store-uri');
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
    const migrate = deployment.spec.template.spec.initContainers[0];
    expect(env(migrate, 'MLFLOW_BACKEND_STORE_URI')).toEqual(env(server, 'MLFLOW_BACKEND_STORE_URI'));
    expect(env(migrate, 'PGPASSWORD')).toEqual(env(server, 'PGPASSWORD'));
  });

  test('migrates in an initContainer under a PostgreSQL advisory lock before the server starts', () => {
    // GIVEN / WHEN
    const { deployment, server } = registry({ replicas: 3, artifacts: s3() });
    const [migrate] = deployment.spec.template.spec.initContainers;
    // THEN
    expect(deployment.spec.template.spec.initContainers).toHaveLength(1);
    expect(migrate.name).toBe('migrate');
    expect(migrate.image).toBe(server.image);
    expect(migrate.command[0]).toBe('python');
    const script = migrate.command[2];
    expect(script).toContain('pg_advisory_lock(7243091)');
    expect(script).toContain('from mlflow.db import upgrade');
    expect(script.indexOf('pg_advisory_lock')).toBeLessThan(script.indexOf('upgrade.main'));
    expect(migrate.securityContext).toEqual(server.securityContext);
  });

  test('runs as a non-root user with HOME and every writable directory on a volume, no API token, no service links', () => {
    // GIVEN / WHEN
    const { deployment, server } = registry();
    const pod = deployment.spec.template.spec;
    // THEN
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(server.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(env(server, 'HOME').value).toBe('/tmp');
    expect(server.volumeMounts.map((m: any) => m.mountPath)).toEqual(['/tmp', '/mlflow/prometheus', '/mlflow/artifacts']);
    expect(env(server, 'MLFLOW_DISABLE_TELEMETRY').value).toBe('true');
  });

  test('probes /health, which MLflow answers for any Host header', () => {
    const { server } = registry({ startupTimeout: Duration.minutes(5) });
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect(server[probe].httpGet).toEqual({ path: '/health', port: 'http' });
    }
    expect(server.startupProbe.failureThreshold * server.startupProbe.periodSeconds).toBe(300);
  });

  test('with a volume artifact store runs one replica, recreated on rollout, without a disruption budget', () => {
    const { deployment, objects } = registry();
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(objects.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    expect(only(objects, 'PersistentVolumeClaim').spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20480Mi' } } });
  });

  test('mounts an existing claim without creating one', () => {
    const { server, deployment, objects } = registry({ artifacts: ArtifactStore.volume({ existingClaimName: 'team-artifacts' }) });
    expect(objects.some((o) => o.kind === 'PersistentVolumeClaim')).toBe(false);
    expect(deployment.spec.template.spec.volumes).toContainEqual({ name: 'artifacts', persistentVolumeClaim: { claimName: 'team-artifacts' } });
    expect(arg(server, '--artifacts-destination')).toBe('/mlflow/artifacts');
  });

  test('with S3 (MinIO endpoint) runs two replicas by default, rolls without loss of capacity and has a disruption budget', () => {
    // GIVEN / WHEN
    const { deployment, server, objects } = registry({ artifacts: s3() });
    // THEN
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(only(objects, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'mlflow' } } });
    expect(arg(server, '--artifacts-destination')).toBe('s3://mlflow-artifacts/registry');
    expect(env(server, 'MLFLOW_S3_ENDPOINT_URL')).toEqual({ name: 'MLFLOW_S3_ENDPOINT_URL', value: 'http://minio.minio.svc.cluster.local:9000' });
    expect(env(server, 'AWS_DEFAULT_REGION').value).toBe('us-east-1');
    expect(env(server, 'AWS_ACCESS_KEY_ID')).toEqual({ name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'minio', key: 'access-key' } } });
    expect(env(server, 'AWS_SECRET_ACCESS_KEY')).toEqual({ name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'minio', key: 'secret-key' } } });
    expect(objects.some((o) => o.kind === 'PersistentVolumeClaim')).toBe(false);
    expect(server.volumeMounts.map((m: any) => m.mountPath)).toEqual(['/tmp', '/mlflow/prometheus']);
    expect(() => assertValidManifests(objects, { externalSecrets: EXTERNAL })).not.toThrow();
  });

  test('with S3 and no keys relies on the pod\'s workload identity through its service account', () => {
    const { server, deployment } = registry({ artifacts: ArtifactStore.s3({ bucket: 'mlflow-artifacts' }), serviceAccountName: 'mlflow' });
    expect(env(server, 'AWS_ACCESS_KEY_ID')).toBeUndefined();
    expect(arg(server, '--artifacts-destination')).toBe('s3://mlflow-artifacts');
    expect(deployment.spec.template.spec.serviceAccountName).toBe('mlflow');
  });

  test('declares PostgreSQL as a restricted StatefulSet with a volume claim, headless Service and the password from the Secret', () => {
    // GIVEN / WHEN
    const { objects, construct } = registry({
      database: RegistryDatabase.inCluster({ passwordSecret: PASSWORD, storageSize: Size.gibibytes(20), storageClassName: 'fast-ssd' }),
    });
    const sts = only(objects, 'StatefulSet');
    const postgres = container(sts, 'postgres');
    // THEN
    expect(construct.postgres?.host).toBe('mlflow-postgres.mlops.svc.cluster.local');
    expect(sts.spec).toMatchObject({ serviceName: 'mlflow-postgres', replicas: 1 });
    expect(only(objects, 'Service', 'mlflow-postgres').spec).toMatchObject({ clusterIP: 'None', ports: [{ name: 'postgres', port: 5432, targetPort: 'postgres', protocol: 'TCP' }] });
    expect(postgres.image).toBe(POSTGRES_IMAGE);
    expect(postgres.image).toMatch(/^postgres:15\.\d+-bookworm$/);
    expect(postgres.env).toEqual([
      { name: 'POSTGRES_USER', value: 'mlflow' },
      { name: 'POSTGRES_DB', value: 'mlflow' },
      { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: 'mlflow-postgres', key: 'password' } } },
      { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
    ]);
    expect(sts.spec.volumeClaimTemplates[0].spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'fast-ssd', resources: { requests: { storage: '20480Mi' } } });
    expect(sts.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, fsGroup: 999 });
    expect(postgres.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(postgres.volumeMounts.map((m: any) => m.mountPath)).toEqual(['/var/lib/postgresql/data', '/var/run/postgresql', '/tmp']);
    expect(postgres.readinessProbe.exec.command[0]).toBe('pg_isready');
    expect(postgres.lifecycle.preStop.exec.command).toEqual(['pg_ctl', 'stop', '--mode', 'fast', '--wait']);
    expect(sts.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  test('connects to an existing PostgreSQL with libpq parameters and declares no database', () => {
    const { server, objects } = registry({
      database: RegistryDatabase.postgres({ host: 'mlflow.abc123.eu-west-1.rds.amazonaws.com', port: 6432, database: 'registry', user: 'mlflow_app', passwordSecret: PASSWORD, parameters: { sslmode: 'require' } }),
    });
    expect(env(server, 'MLFLOW_BACKEND_STORE_URI').value).toBe('postgresql+psycopg2://mlflow_app@mlflow.abc123.eu-west-1.rds.amazonaws.com:6432/registry?sslmode=require');
    expect(objects.some((o) => o.kind === 'StatefulSet')).toBe(false);
  });

  test('takes a whole URI from a Secret, without PGPASSWORD', () => {
    const { server } = registry({ database: RegistryDatabase.fromUriSecret({ secretName: 'mlflow-db-uri', key: 'uri' }) });
    expect(env(server, 'MLFLOW_BACKEND_STORE_URI')).toEqual({ name: 'MLFLOW_BACKEND_STORE_URI', valueFrom: { secretKeyRef: { name: 'mlflow-db-uri', key: 'uri' } } });
    expect(env(server, 'PGPASSWORD')).toBeUndefined();
  });

  test('with basic auth: config file from a ConfigMap without secrets, keys from Secrets, scraped with credentials', () => {
    // GIVEN / WHEN
    const { server, deployment, objects } = registry({ ...basicAuthProps, defaultPermission: RegistryPermission.NO_PERMISSIONS });
    const configMap = only(objects, 'ConfigMap', 'mlflow-auth');
    const ini = configMap.data['basic_auth.ini'];
    // THEN
    expect(arg(server, '--app-name')).toBe('basic-auth');
    expect(ini).toContain('database_uri = postgresql+psycopg2://mlflow@mlflow-postgres.mlops.svc.cluster.local:5432/mlflow');
    expect(ini).toContain('default_permission = NO_PERMISSIONS');
    expect(ini).toContain('admin_username = admin');
    expect(ini).not.toMatch(/admin_password|secret/i);
    expect(env(server, 'MLFLOW_AUTH_CONFIG_PATH').value).toBe('/etc/mlflow/auth/basic_auth.ini');
    expect(env(server, 'MLFLOW_FLASK_SERVER_SECRET_KEY')).toEqual({ name: 'MLFLOW_FLASK_SERVER_SECRET_KEY', valueFrom: { secretKeyRef: { name: 'mlflow-auth', key: 'flask-secret-key' } } });
    expect(env(server, 'MLFLOW_AUTH_ADMIN_PASSWORD')).toEqual({ name: 'MLFLOW_AUTH_ADMIN_PASSWORD', valueFrom: { secretKeyRef: { name: 'mlflow-auth', key: 'admin-password' } } });
    expect(deployment.spec.template.metadata.annotations[AUTH_CONFIG_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{64}$/);
    const migrate = deployment.spec.template.spec.initContainers[0];
    expect(env(migrate, 'MLFLOW_AUTH_CONFIG_PATH').value).toBe('/etc/mlflow/auth/basic_auth.ini');
    expect(env(migrate, 'MLFLOW_AUTH_ADMIN_PASSWORD')).toBeUndefined();
    expect(only(objects, 'ServiceMonitor').spec.endpoints[0].basicAuth).toEqual({
      username: { name: 'mlflow-metrics', key: 'username' },
      password: { name: 'mlflow-metrics', key: 'password' },
    });
    expect(() => assertValidManifests(objects, { externalSecrets: EXTERNAL })).not.toThrow();
  });

  test('ServiceMonitor scrapes /metrics on the http port with the stack-wide labels', () => {
    // GIVEN
    const chart = newChart();
    Monitoring.configure(chart, { serviceMonitorLabels: { release: 'kube-prometheus-stack' }, scrapeInterval: Duration.seconds(15) });
    // WHEN
    new ModelRegistry(chart, 'mlflow', { database: inCluster(), artifacts: volume() });
    const monitor = only(synth(chart), 'ServiceMonitor');
    // THEN
    expect(monitor.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(monitor.spec).toEqual({
      selector: { matchLabels: { 'app.kubernetes.io/name': 'mlflow', 'app.kubernetes.io/component': 'model-registry' } },
      endpoints: [{ port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }],
    });
  });

  test('adds an Ingress to the Service', () => {
    const { objects } = registry({ ingressHost: 'mlflow.example.com', allowedClients: [NetworkPeer.namespace('ingress-nginx')], ingressClassName: 'nginx', ingressTlsSecretName: 'mlflow-tls', ingressAnnotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '512m' } });
    const ingress = only(objects, 'Ingress');
    expect(ingress.metadata.annotations).toEqual({ 'nginx.ingress.kubernetes.io/proxy-body-size': '512m' });
    expect(ingress.spec).toEqual({
      ingressClassName: 'nginx',
      tls: [{ hosts: ['mlflow.example.com'], secretName: 'mlflow-tls' }],
      rules: [{ host: 'mlflow.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'mlflow', port: { name: 'http' } } } }] } }],
    });
  });

  test('passes extra env and secret env to the server', () => {
    const { server } = registry({ env: { MLFLOW_SQLALCHEMYSTORE_POOL_SIZE: '10' }, secretEnv: { MLFLOW_TRACKING_TOKEN: { secretName: 'tokens', key: 'mlflow' } } });
    expect(env(server, 'MLFLOW_SQLALCHEMYSTORE_POOL_SIZE').value).toBe('10');
    expect(env(server, 'MLFLOW_TRACKING_TOKEN')).toEqual({ name: 'MLFLOW_TRACKING_TOKEN', valueFrom: { secretKeyRef: { name: 'tokens', key: 'mlflow' } } });
  });
});

describe('ModelRegistry validation', () => {
  const build = (props: Partial<ModelRegistryProps>, id = 'mlflow') => () => registry(props, id);

  test('fails without a database or an artifact store, naming the field and a fix', () => {
    expect(build({ database: undefined as any })).toThrow('ModelRegistry test/mlflow: database (unset) is required; pass e.g. RegistryDatabase.inCluster(');
    expect(build({ artifacts: undefined as any })).toThrow('ModelRegistry test/mlflow: artifacts (unset) is required; pass e.g. ArtifactStore.s3(');
  });

  test('fails with a volume artifact store and more than one replica', () => {
    expect(build({ replicas: 2 })).toThrow('ModelRegistry test/mlflow: replicas (2) is above 1 with a volume artifact store, whose ReadWriteOnce claim mounts on one node only; set replicas: 1, or use ArtifactStore.s3({...}) to run several replicas');
  });

  test('fails on names that are not DNS labels or too long for the StatefulSet pods', () => {
    expect(build({ name: 'MLflow' })).toThrow(/ModelRegistry test\/mlflow: name \("MLflow"\) is not a DNS-1123 label/);
    expect(build({ name: 'a'.repeat(41) })).toThrow(/name \("a{41}"\) is not a DNS-1123 label of at most 40 characters/);
  });

  test('fails without a namespace', () => {
    const chart = newChart(null);
    expect(() => new ModelRegistry(chart, 'mlflow', { database: inCluster(), artifacts: volume() })).toThrow('ModelRegistry test/mlflow: namespace (unset) is not set on the ModelRegistry or its Chart');
  });

  test('fails on resources that cannot work', () => {
    expect(build({ cpuRequest: Cpu.cores(2), cpuLimit: Cpu.cores(1) })).toThrow('ModelRegistry test/mlflow: cpuRequest ("2") is above cpuLimit (1); lower cpuRequest or raise cpuLimit');
    expect(build({ cpuLimit: Cpu.cores(4), memoryLimit: Size.gibibytes(1) })).toThrow('memoryLimit ("1024Mi") is below 384 MiB for each of the 4 workers the CPU limit gives; raise memoryLimit to at least 1536Mi or lower cpuLimit');
    expect(build({ memoryRequest: Size.gibibytes(3) })).toThrow('memoryRequest ("3072Mi") is above memoryLimit (2048Mi); lower memoryRequest or raise memoryLimit');
    expect(build({ cpuLimit: Cpu.millis(0.5) })).toThrow('cpuLimit ("0.5 millicores") is not a positive whole number of millicores');
  });

  test('fails on an image without a version', () => {
    expect(build({ image: 'ghcr.io/mlflow/mlflow:latest' })).toThrow(/image \("ghcr.io\/mlflow\/mlflow:latest"\) is not pinned to a version/);
  });

  test('fails on basic auth without its Secrets, with a URI Secret, or auth fields without basic auth', () => {
    expect(build({ basicAuth: true })).toThrow('ModelRegistry test/mlflow: authSecretKey (unset) is not a Secret reference');
    expect(build({ ...basicAuthProps, adminPassword: undefined })).toThrow('adminPassword (unset) is not a Secret reference');
    expect(build({ ...basicAuthProps, metricsBasicAuthSecretName: undefined })).toThrow('metricsBasicAuthSecretName (unset) is required with basicAuth, which answers 401 to an anonymous Prometheus scrape of /metrics');
    expect(build({ ...basicAuthProps, database: RegistryDatabase.fromUriSecret({ secretName: 'mlflow-db-uri', key: 'uri' }) }))
      .toThrow('basicAuth (true) needs the database URI in a config file, which RegistryDatabase.fromUriSecret keeps secret');
    expect(build({ adminPassword: { secretName: 'mlflow-auth', key: 'admin' } })).toThrow('adminPassword ({"secretName":"mlflow-auth","key":"admin"}) is set while basicAuth is off; set basicAuth: true, or drop the field');
    expect(build({ ...basicAuthProps, adminUsername: 'admin user' })).toThrow('adminUsername ("admin user") is not a user name');
  });

  test('fails on allowed hosts or CORS origins that switch the protection off', () => {
    expect(build({ allowedHosts: ['*'] })).toThrow('allowedHosts[0] ("*") is not a host name pattern; use e.g. "mlflow.internal" or "mlflow.internal:8443"; "*" would switch the check off');
    expect(build({ allowedHosts: ['http://x'] })).toThrow('allowedHosts[0] ("http://x") is not a host name pattern');
    expect(build({ corsAllowedOrigins: ['*'] })).toThrow('corsAllowedOrigins[0] ("*") is not a browser origin');
    expect(build({ corsAllowedOrigins: ['https://app.example.com/path'] })).toThrow('corsAllowedOrigins[0] ("https://app.example.com/path") is not a browser origin');
  });

  test('fails on plain-text secrets and on env that the registry sets itself', () => {
    expect(build({ env: { DB_PASSWORD: 'hunter2' } })).toThrow('env.DB_PASSWORD ("<redacted>") looks like a secret written in plain text; put it in a Secret and use secretEnv');
    expect(build({ env: { HOME: '/home/mlflow' } })).toThrow('env.HOME ("HOME") is already set by the registry');
    expect(build({ secretEnv: { PGPASSWORD: PASSWORD } })).toThrow('secretEnv.PGPASSWORD ("PGPASSWORD") is already set by the database');
  });

  test('fails on S3 options that cannot work', () => {
    expect(build({ artifacts: ArtifactStore.s3({ bucket: 'My_Bucket' }) })).toThrow('artifacts.bucket ("My_Bucket") is not an S3 bucket name');
    expect(build({ artifacts: ArtifactStore.s3({ bucket: 'b-1', endpoint: 'minio:9000' }) })).toThrow('artifacts.endpoint ("minio:9000") is not an http(s) endpoint URL without a path');
    expect(build({ artifacts: ArtifactStore.s3({ bucket: 'b-1', accessKeyId: { secretName: 'minio', key: 'id' } }) })).toThrow('artifacts.secretAccessKey (unset) is required with the other half of the key pair');
    expect(build({ artifacts: ArtifactStore.s3({ bucket: 'b-1', prefix: '/abs' }) })).toThrow('artifacts.prefix ("/abs") is not a relative S3 key prefix');
    expect(build({ artifacts: ArtifactStore.volume({ existingClaimName: 'x', size: Size.gibibytes(1) }) })).toThrow('artifacts.size ("1024Mi") is set with existingClaimName; drop size: the existing claim has its own');
  });

  test('fails on database options that cannot work', () => {
    expect(build({ database: RegistryDatabase.postgres({ host: 'not a host', passwordSecret: PASSWORD }) })).toThrow('database.host ("not a host") is not a host name');
    expect(build({ database: RegistryDatabase.postgres({ host: 'db', passwordSecret: PASSWORD, parameters: { password: 'x' } }) }))
      .toThrow('database.parameters.password ("<redacted>") would write the password into the manifest; use passwordSecret');
    expect(build({ database: RegistryDatabase.postgres({ host: 'db', passwordSecret: { secretName: 'Bad_Name', key: 'p' } }) })).toThrow('database.passwordSecret.secretName ("Bad_Name") is not a DNS-1123 subdomain');
    expect(build({ database: RegistryDatabase.inCluster({ passwordSecret: PASSWORD, user: 'postgres' }) })).toThrow('database.user ("postgres") would make MLflow log in as the built-in superuser name');
    expect(build({ database: RegistryDatabase.inCluster({ passwordSecret: PASSWORD, storageSize: Size.mebibytes(512) }) })).toThrow('database.storageSize ("512Mi") is below 1 GiB');
    expect(build({ database: RegistryDatabase.inCluster({ passwordSecret: PASSWORD, database: 'ml-flow' }) })).toThrow('database.database ("ml-flow") is not a lowercase PostgreSQL identifier');
    expect(build({ database: RegistryDatabase.inCluster({ passwordSecret: PASSWORD, image: 'postgres' }) })).toThrow('database.image ("postgres") is not pinned to a version');
  });

  test('fails on Ingress settings without a host', () => {
    expect(build({ ingressClassName: 'nginx' })).toThrow('ingressClassName ("nginx") is set without ingressHost; set ingressHost to create the Ingress, or drop the field');
    expect(build({ ingressHost: '*.example.com' })).toThrow('ingressHost ("*.example.com") is not a DNS host name');
  });

  test('fails on a model reference with both or neither of alias and version', () => {
    const { construct } = registry();
    expect(() => construct.model('fraud-detector', { alias: 'champion', version: 2 })).toThrow('ModelRegistry test/mlflow: model() ({"name":"fraud-detector","alias":"champion","version":2}) is not a model reference; model "fraud-detector": set exactly one of alias or version (got both)');
    expect(() => construct.model('fraud detector', { alias: 'champion' })).toThrow(/model\(\) .* is not a model reference; model name "fraud detector"/);
  });

  test('fails on every invalid replica count and name with a message naming the field, never a deep stack trace', () => {
    fc.assert(fc.property(
      fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 101 }), fc.double({ noInteger: true })),
      (replicas) => {
        expect(build({ replicas, artifacts: ArtifactStore.s3({ bucket: 'b-1' }) })).toThrow(/^ModelRegistry test\/mlflow: replicas \(.*\) is not an integer between 1 and 100/);
      },
    ), { numRuns: 50 });
    fc.assert(fc.property(
      fc.string({ minLength: 1, maxLength: 60 }).filter((s) => !/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/.test(s)),
      (name) => {
        expect(build({ name })).toThrow(/^ModelRegistry test\/mlflow: name \(.*\) is not a DNS-1123 label of at most 40 characters/);
      },
    ), { numRuns: 100 });
  });
});

describe('the reference stack registry', () => {
  test('is ModelRegistry mlflow, which fraud-detector serves from', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ReferenceStack } = require('../examples/reference-stack');
    const stack = new ReferenceStack(Testing.app(), 'mlops');
    const objects = Testing.synth(stack);
    expect(stack.registry).toBeInstanceOf(ModelRegistry);
    expect(stack.registry.trackingUri).toBe('http://mlflow.mlops.svc.cluster.local:5000');
    expect(only(objects, 'Service', 'mlflow').spec.ports[0].port).toBe(5000);
    expect(env(container(only(objects, 'Deployment', 'fraud-detector'), 'model-server'), 'MLFLOW_TRACKING_URI').value).toBe(stack.registry.trackingUri);
  });
});
