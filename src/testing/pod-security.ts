/**
 * Pod Security Standards "restricted" (latest), re-implemented from the upstream checks in
 * k8s.io/pod-security-admission/policy, plus the stricter "Secure by default" contract of
 * docs/architecture.md. Applies to every object that runs pods (Deployment, StatefulSet, DaemonSet,
 * ReplicaSet, Job, CronJob, Pod, ...); other objects pass.
 */
import { ContainerRef, containersOf, describeObject, isPlainObject, joinPath, podTemplateOf } from './k8s-objects';

export interface PodSecurityOptions {
  /**
   * Objects whose pods talk to the Kubernetes API and so may mount a service account token,
   * by `name` or `namespace/name`.
   * @default - every pod spec must set automountServiceAccountToken: false
   */
  readonly allowServiceAccountToken?: readonly string[];
}

/** Volume sources the restricted profile allows (upstream check_restrictedVolumes.go). */
const ALLOWED_VOLUME_SOURCES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'image',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

/**
 * Safe sysctls (upstream check_sysctls.go, policy version 1.32). The two added for 1.37
 * (net.ipv4.tcp_slow_start_after_idle, net.ipv4.tcp_notsent_lowat) are left out on purpose: a
 * cluster older than 1.37 enforcing restricted:latest rejects them.
 */
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
]);

const SELINUX_TYPES = new Set(['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const PROFILE_TYPES = new Set(['RuntimeDefault', 'Localhost']);
const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

/** Env var names that carry credentials and so must come from a Secret. */
export const SECRET_ENV_NAME = /PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY/i;

/** `scheme://user:password@host`, unless the password is a `$(VAR)` reference expanded by the kubelet. */
const URL_WITH_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:([^\s/@]+)@/gi;

/**
 * Checks one manifest object against PSS restricted and the project's contract. Returns
 * problems as `<Kind> <namespace>/<name>: <field path>: <what is wrong>`; empty when it passes
 * or when the object runs no pods.
 */
export function checkRestrictedPodSecurity(obj: any, options: PodSecurityOptions = {}): string[] {
  const template = podTemplateOf(obj);
  if (!template) return [];
  const id = describeObject(obj);
  const problems: string[] = [];
  const report = (path: string, message: string) => problems.push(`${id}: ${path}: ${message}`);
  const { spec, specPath, metadata, metadataPath } = template;
  const podSc = isPlainObject(spec.securityContext) ? spec.securityContext : {};
  const podScPath = `${specPath}.securityContext`;
  const containers = containersOf(spec, specPath);
  const sc = (c: ContainerRef) => (isPlainObject(c.container.securityContext) ? c.container.securityContext : {});
  const scPath = (c: ContainerRef) => `${c.path}.securityContext`;
  const named = (c: ContainerRef) => `container "${c.name}"`;

  // --- Baseline -------------------------------------------------------------------------
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (spec[field] === true) report(`${specPath}.${field}`, 'must not be true (restricted: host namespaces)');
  }
  if (podSc.windowsOptions?.hostProcess === true) {
    report(`${podScPath}.windowsOptions.hostProcess`, 'must not be true (restricted: HostProcess)');
  }
  for (const c of containers) {
    if (sc(c).windowsOptions?.hostProcess === true) {
      report(`${scPath(c)}.windowsOptions.hostProcess`, `${named(c)} must not set hostProcess (restricted: HostProcess)`);
    }
    if (sc(c).privileged === true) {
      report(`${scPath(c)}.privileged`, `${named(c)} must not be privileged (restricted: privileged containers)`);
    }
    const ports = Array.isArray(c.container.ports) ? c.container.ports : [];
    ports.forEach((p: any, i: number) => {
      if (isPlainObject(p) && p.hostPort !== undefined && p.hostPort !== 0) {
        report(`${c.path}.ports[${i}].hostPort`, `${named(c)} must not use hostPort ${p.hostPort} (restricted: host ports)`);
      }
    });
    if (sc(c).procMount !== undefined && sc(c).procMount !== 'Default') {
      report(`${scPath(c)}.procMount`, `${named(c)} must not set procMount to ${JSON.stringify(sc(c).procMount)} (restricted: /proc mount type)`);
    }
    checkHostProbes(c, report);
  }

  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  volumes.forEach((v: any, i: number) => {
    if (!isPlainObject(v)) return;
    const sources = Object.keys(v).filter((k) => k !== 'name');
    for (const source of sources) {
      if (!ALLOWED_VOLUME_SOURCES.has(source)) {
        const why = source === 'hostPath' ? 'hostPath volumes are forbidden' : `volume type "${source}" is not allowed`;
        report(`${specPath}.volumes[${i}].${source}`, `volume "${v.name}": ${why} (restricted: volume types; allowed: ${[...ALLOWED_VOLUME_SOURCES].join(', ')})`);
      }
    }
  });

  const sysctls = Array.isArray(podSc.sysctls) ? podSc.sysctls : [];
  sysctls.forEach((s: any, i: number) => {
    if (!SAFE_SYSCTLS.has(s?.name)) report(`${podScPath}.sysctls[${i}].name`, `sysctl ${JSON.stringify(s?.name)} is not in the safe set (restricted: sysctls)`);
  });

  const checkSeLinux = (opts: any, path: string, who: string) => {
    if (!isPlainObject(opts)) return;
    if (opts.type !== undefined && opts.type !== '' && !SELINUX_TYPES.has(opts.type)) {
      report(`${path}.type`, `${who} must not set SELinux type ${JSON.stringify(opts.type)} (restricted: SELinux; allowed: ${[...SELINUX_TYPES].join(', ')})`);
    }
    if (opts.user) report(`${path}.user`, `${who} must not set SELinux user (restricted: SELinux)`);
    if (opts.role) report(`${path}.role`, `${who} must not set SELinux role (restricted: SELinux)`);
  };
  checkSeLinux(podSc.seLinuxOptions, `${podScPath}.seLinuxOptions`, 'pod');
  for (const c of containers) checkSeLinux(sc(c).seLinuxOptions, `${scPath(c)}.seLinuxOptions`, named(c));

  if (isPlainObject(podSc.appArmorProfile) && !PROFILE_TYPES.has(podSc.appArmorProfile.type)) {
    report(`${podScPath}.appArmorProfile.type`, `pod must not set AppArmor profile ${JSON.stringify(podSc.appArmorProfile.type)} (restricted: AppArmor)`);
  }
  for (const c of containers) {
    const profile = sc(c).appArmorProfile;
    if (isPlainObject(profile) && !PROFILE_TYPES.has(profile.type)) {
      report(`${scPath(c)}.appArmorProfile.type`, `${named(c)} must not set AppArmor profile ${JSON.stringify(profile.type)} (restricted: AppArmor)`);
    }
  }
  const annotations = isPlainObject(metadata.annotations) ? metadata.annotations : {};
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(APPARMOR_ANNOTATION_PREFIX)) continue;
    if (value === '' || value === 'runtime/default' || (typeof value === 'string' && value.startsWith('localhost/'))) continue;
    report(joinPath(`${metadataPath}.annotations`, key), `AppArmor profile ${JSON.stringify(value)} is forbidden (restricted: AppArmor)`);
  }

  // --- Restricted -----------------------------------------------------------------------
  for (const c of containers) {
    if (sc(c).allowPrivilegeEscalation !== false) {
      report(`${scPath(c)}.allowPrivilegeEscalation`, `${named(c)} must set allowPrivilegeEscalation to false (restricted: privilege escalation)`);
    }
    const caps = isPlainObject(sc(c).capabilities) ? sc(c).capabilities : {};
    const drop: unknown[] = Array.isArray(caps.drop) ? caps.drop : [];
    if (!drop.includes('ALL')) {
      report(`${scPath(c)}.capabilities.drop`, `${named(c)} must drop ["ALL"] capabilities (restricted: capabilities)`);
    }
    const add: unknown[] = Array.isArray(caps.add) ? caps.add : [];
    const extra = add.filter((a) => a !== 'NET_BIND_SERVICE');
    if (extra.length > 0) {
      report(`${scPath(c)}.capabilities.add`, `${named(c)} must not add capabilities ${extra.map((a) => JSON.stringify(a)).join(', ')}; only NET_BIND_SERVICE is allowed (restricted: capabilities)`);
    }
  }

  // runAsNonRoot: true at pod level, or on every container; false anywhere is forbidden.
  if (podSc.runAsNonRoot === false) report(`${podScPath}.runAsNonRoot`, 'pod must not set runAsNonRoot to false (restricted: running as non-root)');
  for (const c of containers) {
    const value = sc(c).runAsNonRoot;
    if (value === false) {
      report(`${scPath(c)}.runAsNonRoot`, `${named(c)} must not set runAsNonRoot to false (restricted: running as non-root)`);
    } else if (value !== true && podSc.runAsNonRoot !== true) {
      report(`${scPath(c)}.runAsNonRoot`, `pod or ${named(c)} must set runAsNonRoot to true (restricted: running as non-root)`);
    }
  }

  // runAsUser: never 0 (restricted); and set, at pod level or on every container (project contract:
  // with runAsNonRoot, an image whose USER is a name or root would not start).
  if (podSc.runAsUser === 0) report(`${podScPath}.runAsUser`, 'pod must not run as user 0 (restricted: running as non-root user)');
  for (const c of containers) {
    const uid = sc(c).runAsUser;
    if (uid === 0) {
      report(`${scPath(c)}.runAsUser`, `${named(c)} must not run as user 0 (restricted: running as non-root user)`);
    } else if (uid === undefined && podSc.runAsUser === undefined) {
      report(`${scPath(c)}.runAsUser`, `pod or ${named(c)} must set a non-zero runAsUser (project contract: secure by default)`);
    }
  }

  // seccompProfile: RuntimeDefault or Localhost at pod level or on every container; never Unconfined.
  const podSeccomp = isPlainObject(podSc.seccompProfile) ? podSc.seccompProfile.type : undefined;
  if (podSeccomp !== undefined && !PROFILE_TYPES.has(podSeccomp)) {
    report(`${podScPath}.seccompProfile.type`, `pod must not set seccompProfile ${JSON.stringify(podSeccomp)}; use RuntimeDefault or Localhost (restricted: seccomp)`);
  }
  for (const c of containers) {
    const own = isPlainObject(sc(c).seccompProfile) ? sc(c).seccompProfile.type : undefined;
    if (own !== undefined) {
      if (!PROFILE_TYPES.has(own)) {
        report(`${scPath(c)}.seccompProfile.type`, `${named(c)} must not set seccompProfile ${JSON.stringify(own)}; use RuntimeDefault or Localhost (restricted: seccomp)`);
      }
    } else if (!PROFILE_TYPES.has(podSeccomp)) {
      report(`${scPath(c)}.seccompProfile`, `pod or ${named(c)} must set seccompProfile.type to RuntimeDefault or Localhost (restricted: seccomp)`);
    }
  }

  // --- Project contract (docs/architecture.md "Secure by default") -----------------------
  for (const c of containers) {
    if (sc(c).readOnlyRootFilesystem !== true) {
      report(`${scPath(c)}.readOnlyRootFilesystem`, `${named(c)} must set readOnlyRootFilesystem to true; mount an emptyDir where it writes (project contract)`);
    }
    const imageProblem = unpinnedImage(c.container.image);
    if (imageProblem) report(`${c.path}.image`, `${named(c)} ${imageProblem} (project contract: pinned images)`);
    checkPlaintextSecrets(c, report);
  }
  const mayUseApi = (options.allowServiceAccountToken ?? []).some((n) => matchesObjectName(obj, n));
  if (!mayUseApi && spec.automountServiceAccountToken !== false) {
    report(
      `${specPath}.automountServiceAccountToken`,
      'must be false unless the pod talks to the Kubernetes API (then list the object in allowServiceAccountToken) (project contract)',
    );
  }
  return problems;
}

/** Whether `ref` (`name` or `namespace/name`) names the object. */
export function matchesObjectName(obj: any, ref: string): boolean {
  const meta = isPlainObject(obj?.metadata) ? obj.metadata : {};
  if (ref.includes('/')) return ref === `${meta.namespace ?? ''}/${meta.name}`;
  return ref === meta.name;
}

function checkHostProbes(c: ContainerRef, report: (path: string, message: string) => void): void {
  const handlers: Array<[string, any]> = [
    ['livenessProbe', c.container.livenessProbe],
    ['readinessProbe', c.container.readinessProbe],
    ['startupProbe', c.container.startupProbe],
    ['lifecycle.postStart', c.container.lifecycle?.postStart],
    ['lifecycle.preStop', c.container.lifecycle?.preStop],
  ];
  for (const [where, handler] of handlers) {
    if (!isPlainObject(handler)) continue;
    for (const action of ['httpGet', 'tcpSocket']) {
      const host = handler[action]?.host;
      if (typeof host === 'string' && host !== '') {
        report(`${c.path}.${where}.${action}.host`, `container "${c.name}" must not set a probe or lifecycle host (${JSON.stringify(host)}) (restricted: host probes)`);
      }
    }
  }
}

/**
 * Why an image reference is not pinned, or undefined when it is: a digest, or a tag that is not
 * `latest` and carries a version number (a tag without a digit, like `stable` or `main`, moves).
 */
export function unpinnedImage(image: unknown): string | undefined {
  if (typeof image !== 'string' || image === '') return 'has no image';
  const at = image.indexOf('@');
  if (at >= 0) {
    const digest = image.slice(at + 1);
    return /^[a-z0-9]+([+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/.test(digest) ? undefined : `image ${JSON.stringify(image)} has a malformed digest`;
  }
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  if (colon < 0) return `image ${JSON.stringify(image)} has no tag (means latest); pin a version tag or a digest`;
  const tag = image.slice(colon + 1);
  if (tag.toLowerCase() === 'latest') return `image ${JSON.stringify(image)} uses the latest tag; pin a version tag or a digest`;
  if (!/^\w[\w.-]{0,127}$/.test(tag)) return `image ${JSON.stringify(image)} has a malformed tag`;
  if (!/\d/.test(tag)) return `image ${JSON.stringify(image)} tag ${JSON.stringify(tag)} is not a version; pin a version tag or a digest`;
  return undefined;
}

function checkPlaintextSecrets(c: ContainerRef, report: (path: string, message: string) => void): void {
  const env = Array.isArray(c.container.env) ? c.container.env : [];
  env.forEach((e: any, i: number) => {
    if (!isPlainObject(e) || typeof e.name !== 'string') return;
    if (SECRET_ENV_NAME.test(e.name) && !isPlainObject(e.valueFrom?.secretKeyRef)) {
      const how = e.value !== undefined ? 'a plain-text value' : 'no secretKeyRef';
      report(`${c.path}.env[${i}]`, `container "${c.name}" env ${e.name} has ${how}; credentials must use valueFrom.secretKeyRef (project contract: secrets only referenced)`);
    }
    if (typeof e.value === 'string') {
      const leaked = passwordInUrl(e.value);
      if (leaked) report(`${c.path}.env[${i}].value`, `container "${c.name}" env ${e.name} ${leaked} (project contract: secrets only referenced)`);
    }
  });
  for (const field of ['command', 'args']) {
    const items = Array.isArray(c.container[field]) ? c.container[field] : [];
    items.forEach((arg: unknown, i: number) => {
      if (typeof arg !== 'string') return;
      const leaked = passwordInUrl(arg);
      if (leaked) report(`${c.path}.${field}[${i}]`, `container "${c.name}" ${field} ${leaked} (project contract: secrets only referenced)`);
    });
  }
}

function passwordInUrl(text: string): string | undefined {
  for (const m of text.matchAll(URL_WITH_PASSWORD)) {
    if (!/^\$\([A-Za-z_][A-Za-z0-9_]*\)$/.test(m[1])) {
      return 'has a URL with a password in plain text; put the password in a Secret and write $(VAR) in the URL';
    }
  }
  return undefined;
}
