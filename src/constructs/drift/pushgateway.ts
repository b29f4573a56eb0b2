import { Chart, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { Images } from '../core/images';
import * as k8s from '../core/k8s';
import { Cluster, serviceHostName } from '../core/cluster';
import { Monitoring } from '../core/monitoring';
import { addIngressPolicy, componentPeer, prometheusPeer } from '../core/network-policy';
import { annotateScannerExceptions } from '../core/scanner-annotations';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { claimObjectNames } from '../core/object-names';
import { requireDnsLabel, requireLabels, requirePinnedImage, resolveNamespace } from '../core/validation';
import { addClusterIpService, addServiceMonitor, basePodSpec, fixedResources, namedServicePort, ObjectMeta, resourceRequirements, workloadLabels } from '../core/workload';

/** A Prometheus Pushgateway that batch jobs push their metrics to. */
export interface IPushgateway {
  /** URL jobs push to, e.g. `http://pushgateway.mlops.svc.cluster.local:9091`. */
  readonly url: string;
  /** The `job` label Prometheus gives the Pushgateway's own scrape (its Service name). */
  readonly serviceName: string;
}

/** Properties of a Pushgateway. */
export interface PushgatewayProps {
  /** Name of the Deployment and Service. @default 'pushgateway' */
  readonly name?: string;
  /** Namespace. @default - the chart's namespace */
  readonly namespace?: string;
  /** Image. @default Images.PUSHGATEWAY */
  readonly image?: string;
  /** Labels of the ServiceMonitor. @default - Monitoring.of(scope).serviceMonitorLabels */
  readonly serviceMonitorLabels?: Record<string, string>;
}

const KIND = 'Pushgateway';
const PORT = 9091;
// The image's own user (nobody); the restricted profile needs it explicit.
const PUSHGATEWAY_USER = 65534;

/**
 * A Pushgateway with a ServiceMonitor that keeps the pushed `job`, `namespace` and `model`
 * labels (`honorLabels`), and a persistence file on an emptyDir so a container restart keeps
 * the last results. One per chart is enough: `Pushgateway.of(chart)` returns it.
 */
export class Pushgateway extends Construct implements IPushgateway {
  /** The Pushgateway of a chart, created on first use with the defaults. */
  public static of(scope: Construct): Pushgateway {
    const chart = Chart.of(scope);
    const existing = chart.node.tryFindChild('Pushgateway');
    if (existing instanceof Pushgateway) return existing;
    if (existing !== undefined) {
      throw new Error(`Pushgateway ${chart.node.path}/Pushgateway: the id is taken by another construct; pass pushgateway explicitly`);
    }
    return new Pushgateway(chart, 'Pushgateway');
  }

  /** A Pushgateway that this stack does not deploy. */
  public static fromUrl(url: string, serviceName = 'pushgateway'): IPushgateway {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`Pushgateway url "${url}" is not a URL; use e.g. "http://pushgateway.monitoring.svc:9091"`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`Pushgateway url "${url}" must use http or https`);
    return { url: url.replace(/\/+$/, ''), serviceName };
  }

  public readonly url: string;
  public readonly serviceName: string;
  public readonly namespace: string;
  private readonly clientNamespaces = new Set<string>();

  constructor(scope: Construct, id: string, props: PushgatewayProps = {}) {
    super(scope, id);
    const name = requireDnsLabel(KIND, this, 'name', props.name ?? 'pushgateway');
    this.namespace = resolveNamespace(KIND, this, props.namespace);
    const image = requirePinnedImage(KIND, this, 'image', props.image ?? Images.PUSHGATEWAY);
    const monitorLabels = requireLabels(KIND, this, 'serviceMonitorLabels', props.serviceMonitorLabels ?? Monitoring.of(this).serviceMonitorLabels);
    this.serviceName = name;
    this.url = `http://${serviceHostName(name, this.namespace, Cluster.of(this).clusterDomain)}:${PORT}`;

    const { selector, labels } = workloadLabels(name, 'pushgateway');
    const meta: ObjectMeta = { name, namespace: this.namespace, labels };
    const probe = (path: string) => ({ httpGet: { path, port: k8s.IntOrString.fromString('http') }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 });

    const deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name, namespace: this.namespace, labels },
      spec: {
        // One replica: pushes land on whichever pod the Service picks, so several would split the data.
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            ...basePodSpec({ securityContext: restrictedPodSecurityContext(PUSHGATEWAY_USER) }),
            containers: [{
              name: 'pushgateway',
              image,
              imagePullPolicy: 'IfNotPresent',
              args: [`--web.listen-address=:${PORT}`, '--persistence.file=/data/pushgateway.db', '--persistence.interval=1m'],
              ports: [{ name: 'http', containerPort: PORT, protocol: 'TCP' }],
              readinessProbe: probe('/-/ready'),
              livenessProbe: probe('/-/healthy'),
              resources: resourceRequirements(fixedResources(50, 64, 500, 256)),
              securityContext: restrictedContainerSecurityContext(PUSHGATEWAY_USER),
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            }],
            volumes: [{ name: 'data', emptyDir: { sizeLimit: k8s.Quantity.fromString(`${Size.mebibytes(256).toMebibytes()}Mi`) } }],
          },
        },
      },
    });
    annotateScannerExceptions(deployment, deployment.toJson().spec.template.spec, {
      more: [{
        kubeScore: ['deployment-replicas', 'deployment-strategy'],
        reason: 'pushes land on whichever pod the Service picks, so one replica (replaced with Recreate) keeps every result in one place',
      }],
    });
    addClusterIpService(this, meta, selector, [namedServicePort('http', PORT)]);
    // Keep the job/namespace/model labels the drift jobs pushed, rather than the scrape's own.
    addServiceMonitor(this, meta, monitorLabels, selector, [{ port: 'http', path: '/metrics', honorLabels: true, interval: `${Monitoring.of(this).scrapeInterval.toSeconds()}s` }]);
    // Anyone who can push can overwrite the drift and quality metrics behind the alerts: only
    // drift checks (of this namespace and of those added with addClientNamespace) and Prometheus.
    addIngressPolicy(this, meta, selector, () => [
      { from: [componentPeer('drift-check'), ...[...this.clientNamespaces].sort().map((ns) => componentPeer('drift-check', ns))], ports: ['http'] },
      { from: [prometheusPeer(this)], ports: ['http'] },
    ], { denyEgress: true });
    claimObjectNames(KIND, this);
  }

  /** Admits the drift checks of another namespace through the NetworkPolicy (a DriftMonitor adds its own); returns the namespace. */
  public addClientNamespace(namespace: string): string {
    requireDnsLabel(KIND, this, 'addClientNamespace()', namespace);
    if (namespace !== this.namespace) this.clientNamespaces.add(namespace);
    return namespace;
  }
}
