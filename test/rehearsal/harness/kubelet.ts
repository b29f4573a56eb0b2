// What the kubelet does to a container spec before it starts the process, as pure functions:
// environment resolution (secretKeyRef, configMapKeyRef, fieldRef, `$(VAR)` expansion) and the
// rewriting of in-container paths to the directories that stand in for volume mounts.

import type { Container } from './manifests';

/** Values of the Secrets the test provides: Secret name -> key -> value. */
export type SecretValues = Record<string, Record<string, string>>;

/** What env resolution can read besides the container spec. */
export interface EnvSources {
  readonly secrets: SecretValues;
  /** ConfigMaps of the synthesized stack: name -> data. */
  readonly configMaps: Record<string, Record<string, string>>;
  /** metadata.name, metadata.namespace, status.podIP, spec.nodeName ... */
  readonly fields: Record<string, string>;
}

/** A container that cannot be created (the kubelet's CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

/**
 * Kubernetes `$(VAR)` expansion (k8s.io/kubernetes third_party/forked/golang/expansion):
 * `$(NAME)` becomes the value of NAME when it is defined and stays as written otherwise;
 * `$$` is an escaped `$`; any other `$` is literal.
 */
export function expandVars(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        // Unterminated reference: kept verbatim.
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = lookup(name);
      out += value === undefined ? `$(${name})` : value;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * The container's environment as the kubelet builds it: `envFrom` first, then `env` in order,
 * each plain value expanded against the variables defined before it. Missing Secrets or keys
 * fail like the kubelet (unless `optional`).
 */
export function resolveEnv(container: Container, sources: EnvSources): Record<string, string> {
  const env: Record<string, string> = {};
  const where = `container "${container.name}"`;
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.secretRef) {
      const secret = sources.secrets[from.secretRef.name!];
      if (!secret) {
        if (from.secretRef.optional) continue;
        throw new ContainerConfigError(`${where}: secret "${from.secretRef.name}" not found (envFrom)`);
      }
      for (const [k, v] of Object.entries(secret)) env[prefix + k] = v;
    }
    if (from.configMapRef) {
      const cm = sources.configMaps[from.configMapRef.name!];
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new ContainerConfigError(`${where}: configmap "${from.configMapRef.name}" not found (envFrom)`);
      }
      for (const [k, v] of Object.entries(cm)) env[prefix + k] = v;
    }
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expandVars(e.value ?? '', (n) => env[n]);
      continue;
    }
    const vf = e.valueFrom;
    if (vf.secretKeyRef) {
      const { key, optional } = vf.secretKeyRef;
      const name = vf.secretKeyRef.name!;
      const value = sources.secrets[name]?.[key];
      if (value === undefined) {
        if (optional) continue;
        throw new ContainerConfigError(`${where}: env ${e.name}: ${sources.secrets[name] ? `couldn't find key ${key} in Secret ${name}` : `secret "${name}" not found`}`);
      }
      env[e.name] = value;
    } else if (vf.configMapKeyRef) {
      const { key, optional } = vf.configMapKeyRef;
      const name = vf.configMapKeyRef.name!;
      const value = sources.configMaps[name]?.[key];
      if (value === undefined) {
        if (optional) continue;
        throw new ContainerConfigError(`${where}: env ${e.name}: ${sources.configMaps[name] ? `couldn't find key ${key} in ConfigMap ${name}` : `configmap "${name}" not found`}`);
      }
      env[e.name] = value;
    } else if (vf.fieldRef) {
      const value = sources.fields[vf.fieldRef.fieldPath];
      if (value === undefined) throw new ContainerConfigError(`${where}: env ${e.name}: fieldRef ${vf.fieldRef.fieldPath} is not supported by the rehearsal`);
      env[e.name] = value;
    } else {
      throw new ContainerConfigError(`${where}: env ${e.name}: valueFrom ${Object.keys(vf).join(',')} is not supported by the rehearsal`);
    }
  }
  return env;
}

/** command + args after `$(VAR)` expansion against the container's environment. */
export function expandArgv(argv: string[], env: Record<string, string>): string[] {
  return argv.map((a) => expandVars(a, (n) => env[n]));
}

/** An in-container directory and the local directory standing in for it. */
export interface PathMapping {
  readonly containerPath: string;
  readonly localPath: string;
}

/**
 * Rewrites a value that names a path under a mount to the local directory: the value itself
 * (`/opt/mlops/metrics-proxy.js`), or the part after `=` of `--flag=/path`. The longest mount
 * wins. Anything else (URIs, host names, scripts) is left alone.
 */
export function rewritePath(value: string, mappings: readonly PathMapping[]): string {
  const sorted = [...mappings].sort((a, b) => b.containerPath.length - a.containerPath.length);
  const rewrite = (v: string): string | undefined => {
    for (const m of sorted) {
      const base = m.containerPath.replace(/\/+$/, '');
      if (v === base || v.startsWith(`${base}/`)) return m.localPath + v.slice(base.length);
    }
    return undefined;
  };
  const direct = rewrite(value);
  if (direct !== undefined) return direct;
  const eq = value.indexOf('=');
  if (value.startsWith('-') && eq > 0) {
    const tail = rewrite(value.slice(eq + 1));
    if (tail !== undefined) return value.slice(0, eq + 1) + tail;
  }
  return value;
}
