import * as k8s from './k8s';

// Platform teams run checkov and kube-score on manifests. What this library keeps on purpose is
// marked with each scanner's own skip annotation on the workload (where both read them), with
// the reason next to it: checkov's `checkov.io/skip<N>: <check>=<reason>`, and kube-score's
// `kube-score/ignore: <checks>` with one `kube-score.mlops-constructs.io/<check>: <reason>`
// each (kube-score has no place for a reason). Each exception is derived from the pod spec it
// excuses, so pinning an image by digest drops the digest skip. test/scanners.test.ts runs both
// scanners on the reference stack and fails on any finding without a reason.

/** A scanner finding kept on purpose. */
export interface ScannerException {
  /** checkov check ids, e.g. CKV_K8S_43. */
  readonly checkov?: string[];
  /** kube-score check ids, e.g. container-image-pull-policy. */
  readonly kubeScore?: string[];
  /** Why, in one sentence a platform team can review. */
  readonly reason: string;
}

/** Annotation whose value is a reason for ignoring the kube-score check named after the slash. */
export const KUBE_SCORE_REASON_PREFIX = 'kube-score.mlops-constructs.io/';

/** The lowest uid neither scanner flags. */
const HIGH_UID = 10000;

/** Why the workload's pods keep what the scanners flag; each field only where it applies. */
export interface PodExceptionReasons {
  /** Why a container runs with a uid below 10000 (the image's own user). */
  readonly lowUserId?: string;
  /** Why a program reads Secret values from its environment. */
  readonly secretEnv?: string;
  /** Why the pods' egress stays open under an ingress-only NetworkPolicy (kube-score wants both). */
  readonly openEgress?: string;
  /** More exceptions of the workload (replicas, strategy, probes). */
  readonly more?: ScannerException[];
}

/**
 * The exceptions of a pod template: digests, pull policy and ephemeral storage for every pod of
 * this library; a low uid and Secret env with the construct's reason, when the spec has them.
 */
export function podScannerExceptions(spec: k8s.PodSpec, reasons: PodExceptionReasons = {}): ScannerException[] {
  const containers = [...(spec.initContainers ?? []), ...spec.containers];
  const out: ScannerException[] = [];
  // The reason names no image: a Pulumi image input is still pending when this is built.
  if (containers.some((c) => !/@sha256:[a-f0-9]{64}$/.test(c.image ?? ''))) {
    out.push({
      checkov: ['CKV_K8S_43'],
      reason: 'images are pinned to version tags (never latest); pass an image as name:tag@sha256:<digest> to pin it by digest',
    });
  }
  if (containers.some((c) => c.imagePullPolicy !== 'Always')) {
    out.push({
      checkov: ['CKV_K8S_15'], kubeScore: ['container-image-pull-policy'],
      reason: 'every image is pinned (tag or digest), so IfNotPresent runs the same image as Always without making each pod start depend on the registry',
    });
  }
  out.push({
    kubeScore: ['container-ephemeral-storage-request-and-limit'],
    reason: 'the root filesystem is read-only and every writable path is an emptyDir with a sizeLimit, which bounds the disk a pod can use',
  });
  const uids = [spec.securityContext?.runAsUser, ...containers.map((c) => c.securityContext?.runAsUser)].filter((u): u is number => u !== undefined);
  if (uids.some((u) => u < HIGH_UID)) {
    if (reasons.lowUserId === undefined) throw new Error(`internal: uid ${Math.min(...uids)} is below ${HIGH_UID} without a reason`);
    out.push({ checkov: ['CKV_K8S_40'], kubeScore: ['container-security-context-user-group-id'], reason: reasons.lowUserId });
  }
  // A container's env may still be a Lazy (ModelService.addSecretEnv): the construct then gives its reason up front.
  if (containers.some((c) => (Array.isArray(c.env) ? c.env : []).some((e) => e.valueFrom?.secretKeyRef !== undefined)) || reasons.secretEnv !== undefined) {
    if (reasons.secretEnv === undefined) throw new Error('internal: a container reads a Secret from env without a reason');
    out.push({ checkov: ['CKV_K8S_35'], reason: reasons.secretEnv });
  }
  if (reasons.openEgress !== undefined) out.push({ kubeScore: ['pod-networkpolicy'], reason: reasons.openEgress });
  return [...out, ...(reasons.more ?? [])];
}

/** The annotations of these exceptions, for the workload's own metadata (not its pod template: a change there would roll the pods). */
export function scannerAnnotations(exceptions: ScannerException[]): Record<string, string> {
  const annotations: Record<string, string> = {};
  let n = 0;
  const ignored: string[] = [];
  for (const e of exceptions) {
    // checkov splits the value at "=" into id and reason.
    if (e.reason.includes('=')) throw new Error(`internal: scanner reason "${e.reason}" contains "="`);
    for (const id of e.checkov ?? []) annotations[`checkov.io/skip${++n}`] = `${id}=${e.reason}`;
    for (const id of e.kubeScore ?? []) {
      ignored.push(id);
      annotations[`${KUBE_SCORE_REASON_PREFIX}${id}`] = e.reason;
    }
  }
  if (ignored.length > 0) annotations['kube-score/ignore'] = uniq(ignored).join(',');
  return annotations;
}

/** Adds the annotations of a pod template's exceptions to the workload; returns them. */
export function annotateScannerExceptions(workload: { metadata: { addAnnotation(key: string, value: string): void } }, spec: k8s.PodSpec, reasons: PodExceptionReasons = {}): Record<string, string> {
  const annotations = scannerAnnotations(podScannerExceptions(spec, reasons));
  for (const [key, value] of Object.entries(annotations)) workload.metadata.addAnnotation(key, value);
  return annotations;
}

function uniq<T>(values: T[]): T[] {
  return [...new Set(values)];
}
