/**
 * A pod's volumes as local directories: emptyDir fresh per pod start, configMap and secret a
 * directory of files, a PersistentVolumeClaim (or a StatefulSet's claim template) a directory
 * that outlives the pod. Containers see them through path rewriting (kubelet.ts rewritePath),
 * not mounts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ContainerConfigError, PathMapping, SecretValues } from './kubelet';
import type { Container, Manifests, Volume } from './manifests';
import type { Pod } from './pod';
import { type RunAs, podUser } from './processes';

/** Volume name -> local directory. */
export type VolumeDirs = Map<string, string>;

/** A file of a projected (or downwardAPI) volume. */
export interface ProjectedFile {
  readonly path: string;
  readonly content: string;
  readonly mode?: number;
}

/** Where a pod's volumes come from: the synthesized objects (rehearsal) or the apiserver (node agent). */
export interface VolumeSources {
  /** ConfigMap data by name; undefined when there is none. */
  configMap(name: string): Record<string, string> | undefined;
  /** Secret data by name (decoded); undefined when there is none. */
  secret(name: string): Record<string, string> | undefined;
  /**
   * The local directory of a PersistentVolumeClaim (`template`: a StatefulSet claim template's
   * `<template>-<pod>`), made when `create`; ContainerConfigError when the claim cannot be used.
   */
  claimDir(pod: Pod, claim: string, template: boolean, create: boolean): string;
  /** The files of a projected volume; absent: projected volumes are not supported. */
  projected?(pod: Pod, volume: Volume): ProjectedFile[];
}

/** A claim template of a StatefulSet, as the volume `<template>-<pod>` it becomes. */
type PodVolume = Volume & { readonly template?: boolean };

/** Local directories for the pod's volumes; with `create` false only their paths (for a stop). */
export function prepareVolumes(pod: Pod, sources: VolumeSources, create = true): VolumeDirs {
  const dirs: VolumeDirs = new Map();
  const workload = pod.workload;
  const claimTemplates = workload && 'volumeClaimTemplates' in workload.spec ? workload.spec.volumeClaimTemplates ?? [] : [];
  const volumes: PodVolume[] = [
    ...(pod.spec.volumes ?? []),
    ...claimTemplates.map((t) => ({ name: t.metadata!.name!, persistentVolumeClaim: { claimName: `${t.metadata!.name}-${pod.name}` }, template: true })),
  ];
  for (const v of volumes) {
    let dir: string;
    if (v.emptyDir) {
      dir = path.join(pod.dir, 'volumes', v.name);
      if (create) {
        fs.mkdirSync(dir, { recursive: true });
        fs.chmodSync(dir, 0o777);
      }
    } else if (v.configMap || v.secret) {
      dir = path.join(pod.dir, 'volumes', v.name);
      if (create) {
        const source = v.configMap ? sources.configMap(v.configMap.name!) : sources.secret(v.secret!.secretName!);
        const spec = (v.configMap ?? v.secret)!;
        if (source === undefined && !spec.optional) {
          throw new ContainerConfigError(`volume ${v.name}: ${v.configMap ? `configmap "${v.configMap.name}"` : `secret "${v.secret!.secretName}"`} not found`);
        }
        const mode = spec.defaultMode ?? 0o644;
        const items: { key: string; path: string; mode?: number }[] = spec.items ?? Object.keys(source ?? {}).map((k) => ({ key: k, path: k }));
        writeFiles(dir, items.map((item) => ({ path: item.path, content: source?.[item.key] ?? '', mode: item.mode ?? mode })));
      }
    } else if (v.projected) {
      if (!sources.projected) throw new ContainerConfigError(`volume ${v.name}: projected volumes are not supported by the rehearsal`);
      dir = path.join(pod.dir, 'volumes', v.name);
      if (create) {
        const mode = v.projected.defaultMode ?? 0o644;
        writeFiles(dir, sources.projected(pod, v).map((f) => ({ ...f, mode: f.mode ?? mode })));
      }
    } else if (v.persistentVolumeClaim) {
      dir = sources.claimDir(pod, v.persistentVolumeClaim.claimName, v.template ?? false, create);
    } else {
      throw new ContainerConfigError(`volume ${v.name}: type ${Object.keys(v).filter((k) => k !== 'name').join(',')} is not supported by the rehearsal`);
    }
    dirs.set(v.name, dir);
  }
  return dirs;
}

function writeFiles(dir: string, files: readonly ProjectedFile[]): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of files) {
    const file = path.join(dir, f.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, f.content);
    fs.chmodSync(file, f.mode ?? 0o644);
  }
}

/** The volume sources of a rehearsal: ConfigMaps from the synthesized objects, Secrets from the test, claims under `root`. */
export function rehearsalVolumeSources(manifests: Manifests, secrets: SecretValues, root: string, runAsFor: (pod: Pod, container: Container) => RunAs): VolumeSources {
  return {
    configMap: (name) => manifests.configMaps[name],
    secret: (name) => secrets[name],
    claimDir: (pod, claim, template, create) => {
      if (!template && !manifests.hasClaim(claim)) {
        throw new ContainerConfigError(`persistentvolumeclaim "${claim}" not found (the pod would stay Pending)`);
      }
      const dir = path.join(root, 'claims', claim);
      if (create && !fs.existsSync(dir)) {
        fs.mkdirSync(dir, { recursive: true });
        // A fresh volume belongs to the pod's fsGroup; here to the user the pod runs as.
        const owner = runAsFor(pod, pod.spec.containers[0]) ?? podUser(pod.spec, undefined);
        fs.chownSync(dir, owner.uid, owner.gid);
        fs.chmodSync(dir, 0o2775);
      }
      return dir;
    },
  };
}

/** A container's volumeMounts as path rewrites: mountPath -> the volume's directory (or subPath in it). */
export function mappingsFor(container: Container, volumes: VolumeDirs): PathMapping[] {
  return (container.volumeMounts ?? []).map((m) => {
    const dir = volumes.get(m.name);
    if (dir === undefined) throw new ContainerConfigError(`container "${container.name}": volumeMount ${m.name} names no volume of the pod`);
    return { containerPath: m.mountPath, localPath: m.subPath ? path.join(dir, m.subPath) : dir };
  });
}
