import * as fs from 'node:fs';
import * as path from 'node:path';

/** A synthesized container turned into a local command line. */
export interface LocalContainer {
  /** The container's command, or the image's entrypoint when it has none (see IMAGE_ENTRYPOINTS). */
  readonly command: string;
  readonly args: string[];
  /** The container's `env` (plain values) with the overrides applied. */
  readonly env: Record<string, string>;
  /** Local directory of each mountPath. */
  readonly mounts: Record<string, string>;
}

/**
 * Local programs standing for images without a `command` in the manifest: the Debian
 * package of the same program (its version may differ from the image tag's; said where used).
 */
const IMAGE_ENTRYPOINTS: Array<[RegExp, string]> = [
  [/^prom\/pushgateway:/, 'prometheus-pushgateway'],
];

/**
 * The command line of container `name` of a synthesized pod spec, as a kubelet would start
 * it, on this machine: configMap volumes are written to directories, emptyDirs are empty
 * directories, and every argument that is a mount path, starts with `<mountPath>/`, or is a
 * `--flag=<path>` of one, points at the local directory instead (longest mountPath first).
 * `node` stays `node` (the caller runs it with the Node.js running jest).
 * Env values from `valueFrom` are refused unless `envOverrides` replaces them.
 */
export function localContainer(objects: any[], podSpec: any, name: string, dir: string, envOverrides: Record<string, string> = {}): LocalContainer {
  const container = podSpec.containers.find((c: any) => c.name === name);
  if (!container) throw new Error(`no container ${name} in the pod spec`);
  const mounts: Record<string, string> = {};
  for (const mount of container.volumeMounts ?? []) {
    const volume = podSpec.volumes.find((v: any) => v.name === mount.name);
    const local = path.join(dir, 'volumes', mount.name);
    fs.mkdirSync(local, { recursive: true });
    if (volume.configMap) {
      const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap.name);
      if (!configMap) throw new Error(`ConfigMap ${volume.configMap.name} of volume ${mount.name} was not synthesized`);
      for (const [file, content] of Object.entries<string>(configMap.data ?? {})) fs.writeFileSync(path.join(local, file), content);
    } else if (!volume.emptyDir) {
      throw new Error(`volume ${mount.name} is neither a configMap nor an emptyDir; the alerting rehearsal maps only those`);
    }
    mounts[mount.mountPath] = local;
  }
  const byLength = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const rewrite = (value: string): string => {
    const flag = /^(--?[A-Za-z0-9.-]+=)(.*)$/.exec(value);
    if (flag) return flag[1] + rewrite(flag[2]);
    for (const mountPath of byLength) {
      if (value === mountPath) return mounts[mountPath];
      if (value.startsWith(`${mountPath}/`)) return path.join(mounts[mountPath], value.slice(mountPath.length + 1));
    }
    return value;
  };

  let command: string;
  let args: string[];
  if (container.command) {
    [command, ...args] = container.command as string[];
    args = [...args, ...(container.args ?? [])];
  } else {
    const entry = IMAGE_ENTRYPOINTS.find(([image]) => image.test(container.image));
    if (!entry) throw new Error(`container ${name} has no command and image ${container.image} has no local entrypoint`);
    command = entry[1];
    args = [...(container.args ?? [])];
  }

  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = rewrite(e.value);
    else if (!(e.name in envOverrides)) throw new Error(`env ${e.name} of container ${name} comes from ${JSON.stringify(e.valueFrom)}; pass it in envOverrides`);
  }
  return { command, args: args.map(rewrite), env: { ...env, ...envOverrides }, mounts };
}
