/**
 * An S3-compatible object store inside the node tier's cluster, as a team runs one beside the
 * stack: SeaweedFS (`weed server` with its S3 gateway; the image maps to the binary
 * scripts/setup-seaweedfs.sh builds, see test/rehearsal/harness/images.ts) as a Deployment and
 * a Service, its one S3 identity in a Secret. The flags are those test/support/s3-server.ts
 * starts it with on loopback, for one pod: the pod's own address, the default ports (each pod
 * has its own network namespace), 64 MB volumes.
 *
 * What differs from a cluster: SeaweedFS keeps its components' local gRPC sockets at fixed
 * paths under /tmp (`/tmp/seaweedfs-<component>-grpc-<port>.sock`), and the harness does not
 * mount the pod's /tmp emptyDir over the machine's /tmp, so those sockets land in the
 * machine's /tmp (GRPC_SOCKETS, removed by the test).
 */

/** The image: the SeaweedFS release tools/seaweedfs pins (4.53). */
export const SEAWEEDFS_IMAGE = 'chrislusf/seaweedfs:4.53';
/** The S3 gateway's port. */
export const S3_PORT = 8333;
/** What SeaweedFS leaves in the machine's /tmp (the default gRPC ports: HTTP port + 10000). */
export const GRPC_SOCKETS = [['master', 19333], ['volume', 18080], ['filer', 18888], ['s3', 18333]]
  .map(([component, port]) => `/tmp/seaweedfs-${component}-grpc-${port}.sock`);

/** Secret, Deployment and Service `seaweedfs` in `namespace`, accepting only the given key. */
export function seaweedfsObjects(namespace: string, credentials: { accessKeyId: string; secretAccessKey: string }): any {
  const labels = { 'app.kubernetes.io/name': 'seaweedfs', 'app.kubernetes.io/component': 'object-store' };
  const identities = {
    identities: [{ name: 'drift-data', credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }],
  };
  const restricted = {
    allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' },
  };
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'seaweedfs-s3', namespace, labels }, stringData: { 's3.json': JSON.stringify(identities) } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'seaweedfs', namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          strategy: { type: 'Recreate' },
          template: {
            metadata: { labels },
            spec: {
              securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [{
                name: 'seaweedfs',
                image: SEAWEEDFS_IMAGE,
                command: ['weed'],
                args: [
                  // Logs as files in the pod's /tmp: weed logs a burst to stderr as it stops, and
                  // the harness closes a container's log once the process has exited, so output
                  // that arrives after the exit event is written to a closed stream.
                  '-logtostderr=false', '-alsologtostderr=false', '-logdir=/tmp', 'server', '-dir=/data', '-ip=$(POD_IP)', '-ip.bind=0.0.0.0',
                  '-master.telemetry=false', '-master.volumeSizeLimitMB=64', '-master.electionTimeout=1s',
                  '-volume.max=16', '-volume.preStopSeconds=0',
                  '-filer.localSocket=/tmp/filer.sock',
                  '-s3', `-s3.port=${S3_PORT}`, '-s3.port.iceberg=0', '-s3.port.lance=0', '-s3.config=/etc/seaweedfs/s3.json', '-s3.localSocket=/tmp/s3.sock',
                ],
                // HOME: no ~/.seaweedfs/*.toml of the machine is read.
                env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, { name: 'HOME', value: '/data' }],
                ports: [{ name: 's3', containerPort: S3_PORT }],
                readinessProbe: { httpGet: { path: '/healthz', port: 's3' }, periodSeconds: 5 },
                resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } },
                securityContext: restricted,
                volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'tmp', mountPath: '/tmp' }, { name: 'config', mountPath: '/etc/seaweedfs', readOnly: true }],
              }],
              volumes: [{ name: 'data', emptyDir: {} }, { name: 'tmp', emptyDir: {} }, { name: 'config', secret: { secretName: 'seaweedfs-s3' } }],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'seaweedfs', namespace, labels },
        spec: { selector: labels, ports: [{ name: 's3', port: S3_PORT, targetPort: 's3' }] },
      },
    ],
  };
}
