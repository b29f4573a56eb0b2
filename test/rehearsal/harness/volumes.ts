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

export interface VolumeSources {
  readonly manifests: Manifests;
  readonly secrets: SecretValues;
  /** The run's directory: claims live in `<root>/claims/<claim>`. */
  readonly root: string;
  /** The user a container runs as (a claim's new directory belongs to the first container's). */
  runAsFor(pod: Pod, container: Container): RunAs;
}

/** A claim template of a StatefulSet, as the volume `<template>-<pod>` it becomes. */
type PodVolume = Volume & { readonly template?: boolean };

/** Local directories for the pod's volumes; with `create` false only their paths (for a stop). */
export function prepareVolumes(pod: Pod, sources: VolumeSources, create = true): VolumeDirs {
  const dirs: VolumeDirs = new Map();
  const runAs = podUser(pod.spec, undefined);
  const claimTemplates = 'volumeClaimTemplates' in pod.workload.spec ? pod.workload.spec.volumeClaimTemplates ?? [] : [];
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
        const source = v.configMap ? sources.manifests.configMaps[v.configMap.name!] : sources.secrets[v.secret!.secretName!];
        const spec = (v.configMap ?? v.secret)!;
        if (source === undefined && !spec.optional) {
          throw new ContainerConfigError(`volume ${v.name}: ${v.configMap ? `configmap "${v.configMap.name}"` : `secret "${v.secret!.secretName}"`} not found`);
        }
        fs.mkdirSync(dir, { recursive: true });
        const mode = spec.defaultMode ?? 0o644;
        const items: { key: string; path: string; mode?: number }[] = spec.items ?? Object.keys(source ?? {}).map((k) => ({ key: k, path: k }));
        for (const item of items) {
          const file = path.join(dir, item.path);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, source?.[item.key] ?? '');
          fs.chmodSync(file, item.mode ?? mode);
        }
      }
    } else if (v.persistentVolumeClaim) {
      const claim = v.persistentVolumeClaim.claimName;
      if (!v.template && !sources.manifests.hasClaim(claim)) {
        throw new ContainerConfigError(`volume ${v.name}: persistentvolumeclaim "${claim}" not found (the pod would stay Pending)`);
      }
      dir = path.join(sources.root, 'claims', claim);
      if (create && !fs.existsSync(dir)) {
        fs.mkdirSync(dir, { recursive: true });
        // A fresh volume belongs to the pod's fsGroup; here to the user the pod runs as.
        const owner = sources.runAsFor(pod, pod.spec.containers[0]) ?? runAs;
        fs.chownSync(dir, owner.uid, owner.gid);
        fs.chmodSync(dir, 0o2775);
      }
    } else {
      throw new ContainerConfigError(`volume ${v.name}: type ${Object.keys(v).filter((k) => k !== 'name').join(',')} is not supported by the rehearsal`);
    }
    dirs.set(v.name, dir);
  }
  return dirs;
}

/** A container's volumeMounts as path rewrites: mountPath -> the volume's directory (or subPath in it). */
export function mappingsFor(container: Container, volumes: VolumeDirs): PathMapping[] {
  return (container.volumeMounts ?? []).map((m) => {
    const dir = volumes.get(m.name);
    if (dir === undefined) throw new ContainerConfigError(`container "${container.name}": volumeMount ${m.name} names no volume of the pod`);
    return { containerPath: m.mountPath, localPath: m.subPath ? path.join(dir, m.subPath) : dir };
  });
}
