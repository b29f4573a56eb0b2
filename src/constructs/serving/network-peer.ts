/** Clients allowed to reach a model server when a NetworkPolicy is generated. */
export abstract class NetworkPeer {
  /** Every pod in a namespace, e.g. the ingress controller's. */
  public static namespace(name: string): NetworkPeer {
    return new LabelNetworkPeer(name, undefined);
  }

  /** Pods with these labels, in this namespace or another. @param namespace @default - the model's namespace */
  public static pods(labels: Record<string, string>, namespace?: string): NetworkPeer {
    return new LabelNetworkPeer(namespace, labels);
  }

  /** The NetworkPolicy peer. */
  public abstract toPeer(): { namespaceSelector?: { matchLabels: Record<string, string> }; podSelector?: { matchLabels: Record<string, string> } };

  /** Names and label maps to validate, as [field, value]. */
  public abstract parts(): { namespace?: string; labels?: Record<string, string> };
}

class LabelNetworkPeer extends NetworkPeer {
  constructor(private readonly namespaceName: string | undefined, private readonly labels: Record<string, string> | undefined) {
    super();
  }

  public toPeer() {
    return {
      ...(this.namespaceName !== undefined ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': this.namespaceName } } } : {}),
      ...(this.labels !== undefined ? { podSelector: { matchLabels: { ...this.labels } } } : {}),
    };
  }

  public parts() {
    return { namespace: this.namespaceName, labels: this.labels };
  }
}
