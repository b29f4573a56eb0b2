/** A key of an existing Kubernetes Secret. The value is never written into a manifest. */
export interface SecretKeySelector {
  /** Name of the Secret in the namespace of the pods that read it. */
  readonly secretName: string;
  /** Key inside the Secret. */
  readonly key: string;
}

/** A taint the pods tolerate. */
export interface Toleration {
  /** Taint key. */
  readonly key: string;
  /** 'Exists' matches any value; 'Equal' needs `value`. @default 'Exists' */
  readonly operator?: 'Exists' | 'Equal';
  /** Taint value, with operator 'Equal'. @default - none */
  readonly value?: string;
  /** Taint effect. @default - all effects */
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}
