import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import {
  BUNDLE_HASH_ANNOTATIONS, BUNDLES, PROMOTION_ENV, PROMOTION_PATHS, PROMOTION_RELAY_COMPONENT,
  type PromotionModelConfig, type PromotionRelayConfig,
} from '../../contract';
import { IModelPromotion } from './interfaces';
import { PromotionAction, PromotionActionBinding } from './promotion-action';
import { Cluster, requireClusterDomain, serviceHostName } from '../core/cluster';
import { Images } from '../core/images';
import * as k8s from '../core/k8s';
import { IModelRegistry, ModelReference } from '../core/model-reference';
import { addIngressPolicy, NetworkPeer, openEgressReason, prometheusPeer, requirePeers } from '../core/network-policy';
import { claimObjectNames } from '../core/object-names';
import { requireSecretRef, requireSeconds } from '../core/prop-checks';
import { annotateScannerExceptions } from '../core/scanner-annotations';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { invalidProp, requireDnsLabel, requireInteger, requireLabels, requirePinnedImage, resolveNamespace } from '../core/validation';
import {
  addBundleConfigMap, addClusterIpService, addServiceMonitor, basePodSpec, fixedResources, namedServicePort, ObjectMeta,
  requireScrape, resourceRequirements, scrapeTiming, secretKeyRef, workloadLabels,
} from '../core/workload';
import { ScrapeProps, SecretKeySelector } from '../core/workload-props';

/** One promoted model: the alias whose creation is a promotion, and what the relay then does. */
export interface PromotedModel {
  /** The model and promotion alias, e.g. `registry.model('fraud-detector', { alias: 'champion' })`. */
  readonly model: ModelReference;
  /** What happens on a promotion. */
  readonly action: PromotionAction;
}

/** Properties of a ModelPromotion. */
export interface ModelPromotionProps extends ScrapeProps {
  /** The MLflow registry whose alias events the relay receives; a ModelRegistry needs `webhooks` set. */
  readonly registry: IModelRegistry;
  /** Secret key with the HMAC secret (at least 16 characters) MLflow signs deliveries with; the relay registers it with its webhook. */
  readonly webhookSecret: SecretKeySelector;
  /** The promoted models, one entry per registered model. */
  readonly models: PromotedModel[];
  /** Name of the Deployment, Service and the rest; a DNS-1123 label. @default - the construct id */
  readonly name?: string;
  /** Namespace. @default - the chart's namespace */
  readonly namespace?: string;
  /** Image that runs the bundled relay (a stock Node.js image). @default Images.NODE */
  readonly image?: string;
  /** Port of the Service MLflow delivers to. @default 8080 */
  readonly servicePort?: number;
  /** DNS domain of the cluster, for the webhook URL. @default - `Cluster.of(scope).clusterDomain` */
  readonly clusterDomain?: string;
  /** Deliveries whose timestamp is further than this from the relay's clock are refused (replay window). @default Duration.minutes(5) */
  readonly timestampTolerance?: Duration;
  /** Attempts of a CI delivery or API call before the promotion counts as failed. @default 8 */
  readonly deliveryAttempts?: number;
  /** Secret keys of the MLflow user the relay signs in as, with the registry's basicAuth (it needs to manage webhooks). @default - none */
  readonly registryCredentials?: { readonly username: SecretKeySelector; readonly password: SecretKeySelector };
  /**
   * Who delivers webhooks, for a registry outside this stack (one without `webhookDelivery`):
   * its pods or namespace. The registry must run with MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true and
   * MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https (docs/promotion.md). @default - the registry's own pods
   */
  readonly registryClients?: NetworkPeer[];
  /** Extra labels of every object. @default {} */
  readonly labels?: Record<string, string>;
}

const KIND = 'ModelPromotion';
const CONTAINER = 'relay';
const PORT = 8080;

/**
 * The promotion relay: MLflow's signed `model_version_alias.created` webhooks turned into
 * deployments. A one-replica Deployment runs the bundled relay (src/runtime/promotion-relay) on
 * the stock Node image; it registers its own webhook in the registry, verifies every delivery
 * and, per model, dispatches to CI or rolls the ModelService (optionally through a canary).
 * With a Service only the registry and Prometheus may reach, a ServiceMonitor and, for
 * rollouts, a ServiceAccount whose Role may change only those Deployments.
 */
export class ModelPromotion extends Construct implements IModelPromotion {
  public readonly name: string;
  public readonly namespace: string;
  public readonly promotedModels: readonly string[];
  /** The URL the relay registers in MLflow. */
  public readonly webhookUrl: string;
  public readonly deployment: k8s.KubeDeployment;
  public readonly service: k8s.KubeService;

  constructor(scope: Construct, id: string, props: ModelPromotionProps) {
    super(scope, id);
    const p = props ?? ({} as ModelPromotionProps);

    // ---- validate
    this.name = requireDnsLabel(KIND, this, 'name', p.name ?? id, 52);
    this.namespace = resolveNamespace(KIND, this, p.namespace, 'the webhook URL MLflow calls is built from it');
    const registry = this.checkRegistry(p);
    const secret = requireSecretRef(KIND, this, 'webhookSecret', p.webhookSecret);
    const clusterDomain = requireClusterDomain(KIND, this, 'clusterDomain', p.clusterDomain ?? Cluster.of(this).clusterDomain);
    const servicePort = requireInteger(KIND, this, 'servicePort', p.servicePort ?? PORT, 1, 65535);
    this.webhookUrl = `http://${serviceHostName(this.name, this.namespace, clusterDomain)}${servicePort === 80 ? '' : `:${servicePort}`}${PROMOTION_PATHS.webhook}`;
    const image = requirePinnedImage(KIND, this, 'image', p.image ?? Images.NODE);
    const toleranceSeconds = requireSeconds(KIND, this, 'timestampTolerance', p.timestampTolerance ?? Duration.minutes(5), 10, 3600);
    const attempts = requireInteger(KIND, this, 'deliveryAttempts', p.deliveryAttempts ?? 8, 1, 20);
    const extraLabels = p.labels === undefined ? {} : requireLabels(KIND, this, 'labels', p.labels);
    const credentials = this.checkCredentials(p);
    const bindings = this.checkModels(p, registry);
    this.promotedModels = bindings.map((b) => b.model.name);
    const scrape = requireScrape(KIND, this, p);
    const deliverers = p.registryClients !== undefined
      ? requirePeers(KIND, this, 'registryClients', p.registryClients)
      : [registryPeer(registry, this.namespace)];

    const config: PromotionRelayConfig = {
      webhookName: `mlops-promotion-${this.namespace}-${this.name}`.slice(0, 63).replace(/-+$/, ''),
      webhookUrl: this.webhookUrl,
      toleranceSeconds,
      retry: { attempts, baseSeconds: 2, maxSeconds: 60 },
      models: bindings.map((b): PromotionModelConfig => ({ name: b.model.name, aliases: [b.model.alias!], ...b.binding.config })),
    };

    // ---- emit
    const { selector, labels } = workloadLabels(this.name, PROMOTION_RELAY_COMPONENT, extraLabels);
    const meta: ObjectMeta = { name: this.name, namespace: this.namespace, labels };
    const bundle = addBundleConfigMap(this, 'RelayBundle', { ...meta, name: `${this.name}-relay` }, BUNDLES.promotionRelay, 'relay-bundle');
    const deployments = bindings.flatMap((b) => (b.binding.deployments ? [b.binding.deployments] : []));
    const talksToApi = deployments.length > 0;
    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: meta, automountServiceAccountToken: false });
    if (talksToApi) this.addRbac(meta, deployments);

    const env: k8s.EnvVar[] = [
      { name: PROMOTION_ENV.config, value: JSON.stringify(config) },
      { name: PROMOTION_ENV.listenPort, value: String(PORT) },
      { name: PROMOTION_ENV.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: PROMOTION_ENV.trackingUri, value: registry.trackingUri },
      { name: PROMOTION_ENV.webhookSecret, valueFrom: { secretKeyRef: secretKeyRef(secret) } },
      ...(credentials ? [
        { name: PROMOTION_ENV.trackingUsername, valueFrom: { secretKeyRef: secretKeyRef(credentials.username) } },
        { name: PROMOTION_ENV.trackingPassword, valueFrom: { secretKeyRef: secretKeyRef(credentials.password) } },
      ] : []),
      ...bindings.flatMap((b) => (b.binding.token ? [{ name: b.tokenEnv, valueFrom: { secretKeyRef: secretKeyRef(b.binding.token) } }] : [])),
    ];
    const health = { path: PROMOTION_PATHS.health, port: k8s.IntOrString.fromString('http') };
    const container: k8s.Container = {
      name: CONTAINER,
      image,
      imagePullPolicy: 'IfNotPresent',
      command: bundle.command,
      env,
      ports: [{ name: 'http', containerPort: PORT, protocol: 'TCP' }],
      resources: resourceRequirements(fixedResources(20, 64, 200, 128)),
      readinessProbe: { httpGet: health, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
      livenessProbe: { httpGet: health, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
      securityContext: restrictedContainerSecurityContext(),
      volumeMounts: [bundle.mount],
    };
    const podSpec: k8s.PodSpec = {
      ...basePodSpec({ serviceAccountName: this.name, automountServiceAccountToken: talksToApi, terminationGracePeriodSeconds: 10, securityContext: restrictedPodSecurityContext() }),
      containers: [container],
      volumes: [bundle.volume],
    };
    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: meta,
      spec: {
        // One relay: two would run the same canary twice. Recreate keeps two from overlapping in a rollout.
        replicas: 1,
        revisionHistoryLimit: 3,
        selector: { matchLabels: { ...selector } },
        strategy: { type: 'Recreate' },
        template: {
          metadata: { labels, annotations: { [BUNDLE_HASH_ANNOTATIONS.promotionRelay]: bundle.sha256 } },
          spec: podSpec,
        },
      },
    });
    annotateScannerExceptions(this.deployment, podSpec, {
      lowUserId: 'uid 1000 is the node user of the Node.js image; the restricted profile needs only a non-zero uid',
      secretEnv: 'the webhook secret, CI tokens and registry credentials come from Secret keys (secretKeyRef); the relay reads them from its environment',
      openEgress: openEgressReason(this, 'the registry, the CI system, Prometheus and the apiserver'),
      more: [
        { kubeScore: ['deployment-replicas'], reason: 'one relay by design: two would act on every promotion twice' },
        { kubeScore: ['deployment-strategy'], reason: 'Recreate, so an old and a new relay never run a canary side by side during a rollout of the relay' },
        { kubeScore: ['pod-probes-identical'], reason: '/healthz is the relay\'s one health check; liveness gives it 3 x 20 s against readiness\' 3 x 10 s' },
      ],
    });
    this.service = addClusterIpService(this, meta, selector, [namedServicePort('http', servicePort)]);
    addServiceMonitor(this, meta, scrape.monitorLabels, selector, [{ port: 'http', path: PROMOTION_PATHS.metrics, ...scrapeTiming(scrape.seconds) }]);
    // Only the registry delivers; Prometheus scrapes the same port.
    addIngressPolicy(this, meta, selector, () => [
      { from: deliverers, ports: ['http'] },
      { from: [prometheusPeer(this)], ports: ['http'] },
    ]);
    claimObjectNames(KIND, this);
  }

  // ---- validation -------------------------------------------------------------------------

  private fail(field: string, value: unknown, problem: string, fix: string): Error {
    return invalidProp(KIND, this, field, value, problem, fix);
  }

  private checkRegistry(p: ModelPromotionProps): IModelRegistry {
    const r = p.registry;
    if (r === undefined || r === null || typeof r.trackingUri !== 'string') {
      throw this.fail('registry', r, 'is required', 'pass the ModelRegistry (or ModelRegistryRef.fromTrackingUri(...)) whose aliases promote models');
    }
    const delivery = r.webhookDelivery;
    if (delivery === undefined && p.registryClients === undefined) {
      throw this.fail('registry', r.trackingUri, 'does not deliver webhooks into the cluster: MLflow refuses private addresses unless told otherwise',
        'set webhooks: { encryptionKey: {...} } on its ModelRegistry, or, for a registry outside this stack, set registryClients and configure it as docs/promotion.md says');
    }
    if (delivery !== undefined && !delivery.receiverNamespaces.includes(this.namespace)) {
      throw this.fail('namespace', this.namespace, `is not among the namespaces the registry delivers to (${delivery.receiverNamespaces.join(', ')})`,
        `add "${this.namespace}" to webhooks.receiverNamespaces of the ModelRegistry`);
    }
    return r;
  }

  private checkCredentials(p: ModelPromotionProps): { username: SecretKeySelector; password: SecretKeySelector } | undefined {
    const c = p.registryCredentials;
    if (c === undefined) return undefined;
    return {
      username: requireSecretRef(KIND, this, 'registryCredentials.username', c?.username),
      password: requireSecretRef(KIND, this, 'registryCredentials.password', c?.password),
    };
  }

  private checkModels(p: ModelPromotionProps, registry: IModelRegistry): { model: ModelReference; binding: PromotionActionBinding; tokenEnv: string }[] {
    if (!Array.isArray(p.models) || p.models.length === 0) {
      throw this.fail('models', p.models, 'is empty', 'pass at least one { model: registry.model("fraud-detector", { alias: "champion" }), action: PromotionAction.githubDispatch({...}) }');
    }
    const seen = new Map<string, number>();
    const rolled = new Map<string, number>();
    return p.models.map((entry, i) => {
      const field = `models[${i}]`;
      const model = entry?.model;
      if (!(model instanceof ModelReference)) {
        throw this.fail(`${field}.model`, model, 'is not a model reference', 'use registry.model("fraud-detector", { alias: "champion" })');
      }
      if (model.alias === undefined) {
        throw this.fail(`${field}.model`, model.uri, 'is pinned to a version; a promotion is an alias moving', `use the alias that promotes, e.g. registry.model("${model.name}", { alias: "champion" })`);
      }
      if (model.registry !== undefined && model.registry.trackingUri !== registry.trackingUri) {
        throw this.fail(`${field}.model`, model.uri, `is a model of another registry (${model.registry.trackingUri}) than registry (${registry.trackingUri})`, 'take the model from the same registry');
      }
      const twin = seen.get(model.name);
      if (twin !== undefined) throw this.fail(`${field}.model`, model.uri, `is already promoted by models[${twin}]`, 'list each registered model once');
      seen.set(model.name, i);
      if (!(entry.action instanceof PromotionAction)) {
        throw this.fail(`${field}.action`, entry.action, 'is not a PromotionAction', 'use PromotionAction.githubDispatch({...}), .ciWebhook({...}) or .rollout({...})');
      }
      const tokenEnv = `MLOPS_PROMOTION_CI_TOKEN_${i}`;
      const binding = entry.action.bind(this, { kind: KIND, field: `${field}.action`, namespace: this.namespace, tokenEnv });
      const stable = binding.deployments?.stable;
      if (stable !== undefined) {
        const other = rolled.get(stable);
        if (other !== undefined) throw this.fail(`${field}.action.service`, stable, `is already rolled by models[${other}]`, 'roll each ModelService from one model');
        rolled.set(stable, i);
      }
      return { model, binding, tokenEnv };
    });
  }

  // ---- emit --------------------------------------------------------------------------------

  /**
   * A Role that may read and patch only the rolled Deployments and, with a canary, create,
   * change and delete only `<name>-canary` (the relay creates it by server-side apply, whose
   * create is authorized with its name), and create Events.
   */
  private addRbac(meta: ObjectMeta, deployments: { stable: string; canary?: string }[]): void {
    const stable = deployments.map((d) => d.stable);
    const canaries = deployments.flatMap((d) => (d.canary ? [d.canary] : []));
    const rules: k8s.PolicyRule[] = [
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: stable, verbs: ['get', 'patch'] },
      ...(canaries.length > 0 ? [{ apiGroups: ['apps'], resources: ['deployments'], resourceNames: canaries, verbs: ['get', 'create', 'patch', 'delete'] }] : []),
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ];
    new k8s.KubeRole(this, 'Role', { metadata: meta, rules });
    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: meta.name },
      subjects: [{ kind: 'ServiceAccount', name: meta.name, namespace: meta.namespace }],
    });
  }
}

/** The registry's server pods, as the relay's NetworkPolicy admits them. */
function registryPeer(registry: IModelRegistry, namespace: string): k8s.NetworkPolicyPeer {
  const d = registry.webhookDelivery!;
  return {
    ...(d.namespace !== namespace ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': d.namespace } } } : {}),
    podSelector: { matchLabels: { ...d.podLabels } },
  };
}
