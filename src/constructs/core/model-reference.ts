/**
 * What a model server or drift job needs to know about an MLflow registry. The cdk8s
 * `ModelRegistry` construct implements it, and so can a Pulumi component or a registry
 * that runs outside this stack (`ModelRegistryRef.fromTrackingUri`).
 */
export interface IModelRegistry {
  /** Tracking server URI that clients in the cluster use, e.g. `http://mlflow.mlops.svc.cluster.local:5000`. */
  readonly trackingUri: string;

  /** A reference to a registered model in this registry. */
  model(name: string, options?: ModelVersionSelector): ModelReference;

  /**
   * How the registry delivers webhooks into the cluster, when it is set up to (ModelRegistry
   * `webhooks`); undefined for a registry that is not, or that this stack does not know.
   */
  readonly webhookDelivery?: RegistryWebhookDelivery;
}

/** What a webhook receiver (a promotion relay) needs to know of the registry that calls it. */
export interface RegistryWebhookDelivery {
  /** Namespace of the registry's server pods. */
  readonly namespace: string;
  /** Labels of the registry's server pods, which the receiver's NetworkPolicy admits. */
  readonly podLabels: Readonly<Record<string, string>>;
  /** Namespaces whose promotion relays the registry may deliver to (and its egress policy admits). */
  readonly receiverNamespaces: readonly string[];
}

/** Which version of a registered model to use: exactly one of `alias` or `version`. */
export interface ModelVersionSelector {
  /** Registry alias, e.g. `champion`. @default - `version` must be set */
  readonly alias?: string;
  /** Registry version number. @default - `alias` must be set */
  readonly version?: number;
}

// MLflow registered-model names are free text, but they end up in a URI and in Kubernetes
// labels here, so this library accepts the portable subset.
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
const ALIAS = /^[A-Za-z_][A-Za-z0-9_-]{0,254}$/;
const MODELS_URI = /^models:\/([^/@]+)(?:@([^/@]+)|\/([0-9]+))$/;

/**
 * A registered model version in an MLflow registry, as an MLflow model URI
 * (`models:/fraud-detector@champion` or `models:/fraud-detector/3`).
 */
export class ModelReference {
  /**
   * Parses an MLflow `models:/` URI. Throws with the reason when it is not one.
   * @param registry the registry that holds the model @default - none: the server uses its own MLFLOW_TRACKING_URI
   */
  public static fromUri(uri: string, registry?: IModelRegistry): ModelReference {
    const problem = ModelReference.problemWithUri(uri);
    if (problem !== undefined) throw new Error(problem);
    const match = MODELS_URI.exec(uri)!;
    return new ModelReference(match[1], match[2], match[3] === undefined ? undefined : Number(match[3]), registry);
  }

  /** A model in a registry, selected by alias or version. */
  public static of(registry: IModelRegistry | undefined, name: string, selector: ModelVersionSelector = {}): ModelReference {
    const hasAlias = selector.alias !== undefined;
    const hasVersion = selector.version !== undefined;
    if (hasAlias === hasVersion) {
      throw new Error(`model "${name}": set exactly one of alias or version (got ${hasAlias ? 'both' : 'neither'}); e.g. { alias: 'champion' }`);
    }
    const uri = hasAlias ? `models:/${name}@${selector.alias}` : `models:/${name}/${selector.version}`;
    return ModelReference.fromUri(uri, registry);
  }

  /** Why `uri` is not an accepted model URI, or undefined when it is. */
  public static problemWithUri(uri: unknown): string | undefined {
    if (typeof uri !== 'string' || uri.length === 0) {
      return 'a model URI is required, e.g. "models:/fraud-detector@champion"';
    }
    const match = MODELS_URI.exec(uri);
    if (!match) {
      return `"${uri}" is not a registry model URI; use "models:/<name>@<alias>" or "models:/<name>/<version>"`;
    }
    if (!MODEL_NAME.test(match[1])) {
      return `model name "${match[1]}" in "${uri}" must start with a letter or digit and use only letters, digits, "_", "." and "-"`;
    }
    if (match[2] !== undefined && !ALIAS.test(match[2])) {
      return `alias "${match[2]}" in "${uri}" must start with a letter or "_" and use only letters, digits, "_" and "-"`;
    }
    if (match[3] !== undefined && Number(match[3]) < 1) {
      return `version in "${uri}" must be 1 or more`;
    }
    return undefined;
  }

  private constructor(
    /** Registered model name. */
    public readonly name: string,
    /** Alias, when the reference follows one. */
    public readonly alias: string | undefined,
    /** Version number, when the reference is pinned. */
    public readonly version: number | undefined,
    /** The registry that holds it, if known. */
    public readonly registry: IModelRegistry | undefined,
  ) {}

  /** The MLflow model URI. */
  public get uri(): string {
    return this.alias !== undefined ? `models:/${this.name}@${this.alias}` : `models:/${this.name}/${this.version}`;
  }

  public toString(): string {
    return this.uri;
  }
}

/** Registries that this stack does not deploy. */
export class ModelRegistryRef {
  /**
   * A registry reachable at a tracking URI, e.g. one run by another team.
   * Throws unless the URI is http(s).
   */
  public static fromTrackingUri(trackingUri: string): IModelRegistry {
    let parsed: URL;
    try {
      parsed = new URL(trackingUri);
    } catch {
      throw new Error(`tracking URI "${trackingUri}" is not a URL; use e.g. "http://mlflow.mlops.svc.cluster.local:5000"`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new Error(`tracking URI "${trackingUri}" must use http or https, not ${parsed.protocol}`);
    }
    const uri = trackingUri.replace(/\/+$/, '');
    const registry: IModelRegistry = {
      trackingUri: uri,
      model: (name, options) => ModelReference.of(registry, name, options),
    };
    return registry;
  }
}
