import { Duration, Size, SizeRoundingBehavior } from 'cdk8s';
import { Construct } from 'constructs';
import type { SecretKeySelector } from './workload-props';
import { Cpu } from './quantities';
import { invalidProp, requireDnsSubdomain } from './validation';

// Prop checks shared by the registry constructs (ModelRegistry, its in-cluster PostgreSQL).
// Each throws `invalidProp` naming the construct kind and path, the field, the value and a fix.

/** Whole MiB of a Size between 16 MiB and 4 TiB. */
export function requireMebibytes(kind: string, scope: Construct, field: string, size: unknown): number {
  if (!(size instanceof Size)) {
    throw invalidProp(kind, scope, field, size, 'is not a Size', 'use e.g. Size.gibibytes(2)');
  }
  let mib: number;
  try {
    mib = size.toMebibytes({ rounding: SizeRoundingBehavior.FAIL });
  } catch {
    throw invalidProp(kind, scope, field, size.toString(), 'is not a whole number of MiB', 'use Size.mebibytes(n) or Size.gibibytes(n)');
  }
  if (!Number.isInteger(mib) || mib < 16 || mib > 4 * 1024 * 1024) {
    throw invalidProp(kind, scope, field, `${mib}Mi`, 'is not between 16 MiB and 4 TiB', 'use e.g. Size.gibibytes(2)');
  }
  return mib;
}

/** Whole seconds of a Duration in [min, max]. */
export function requireSeconds(kind: string, scope: Construct, field: string, duration: unknown, min: number, max: number): number {
  if (!(duration instanceof Duration)) {
    throw invalidProp(kind, scope, field, duration, 'is not a Duration', 'use e.g. Duration.seconds(30)');
  }
  const seconds = duration.toSeconds();
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw invalidProp(kind, scope, field, `${seconds}s`, `is not a whole number of seconds between ${min} and ${max}`, `use e.g. Duration.seconds(${min})`);
  }
  return seconds;
}

/**
 * A request/limit pair of CPU, request not above limit. `shown` renders the request in the
 * "is above" message: the quantity string by default ("2"), the Cpu itself (2) for ModelService,
 * whose message tests pin in that form.
 */
export function requireCpuPair(kind: string, scope: Construct, prefix: string, request: unknown, limit: unknown,
  shown: (cpu: Cpu) => unknown = (cpu) => cpu.toQuantity()): { request: Cpu; limit: Cpu } {
  for (const [field, cpu] of [[`${prefix}cpuRequest`, request], [`${prefix}cpuLimit`, limit]] as const) {
    if (!(cpu instanceof Cpu) || !cpu.isValid) {
      throw invalidProp(kind, scope, field, cpu instanceof Cpu ? `${cpu.millicores} millicores` : cpu,
        'is not a positive whole number of millicores', 'use e.g. Cpu.millis(500) or Cpu.cores(2)');
    }
  }
  const r = request as Cpu;
  const l = limit as Cpu;
  if (r.millicores > l.millicores) {
    throw invalidProp(kind, scope, `${prefix}cpuRequest`, shown(r), `is above ${prefix}cpuLimit (${l.toQuantity()})`, `lower ${prefix}cpuRequest or raise ${prefix}cpuLimit`);
  }
  return { request: r, limit: l };
}

/** A request/limit pair of memory in MiB, request not above limit. */
export function requireMemoryPair(kind: string, scope: Construct, prefix: string, request: unknown, limit: unknown): { request: number; limit: number } {
  const r = requireMebibytes(kind, scope, `${prefix}memoryRequest`, request);
  const l = requireMebibytes(kind, scope, `${prefix}memoryLimit`, limit);
  if (r > l) {
    throw invalidProp(kind, scope, `${prefix}memoryRequest`, `${r}Mi`, `is above ${prefix}memoryLimit (${l}Mi)`, `lower ${prefix}memoryRequest or raise ${prefix}memoryLimit`);
  }
  return { request: r, limit: l };
}

/** A reference to a key of an existing Secret. */
export function requireSecretRef(kind: string, scope: Construct, field: string, ref: unknown): SecretKeySelector {
  if (ref === null || typeof ref !== 'object' || Array.isArray(ref)) {
    throw invalidProp(kind, scope, field, ref, 'is not a Secret reference', 'pass { secretName: "mlflow-postgres", key: "password" } naming an existing Secret');
  }
  const r = ref as SecretKeySelector;
  requireDnsSubdomain(kind, scope, `${field}.secretName`, r.secretName);
  if (typeof r.key !== 'string' || !/^[-._a-zA-Z0-9]{1,253}$/.test(r.key)) {
    throw invalidProp(kind, scope, `${field}.key`, r.key, 'is not a valid Secret key', 'use letters, digits, "-", "_" and "."');
  }
  return { secretName: r.secretName, key: r.key };
}

/** A map of string values. */
export function requireStringMap(kind: string, scope: Construct, field: string, map: unknown): Record<string, string> {
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw invalidProp(kind, scope, field, map, 'is not a map of strings', 'pass an object of string values');
  }
  for (const [key, value] of Object.entries(map)) {
    if (typeof value !== 'string') throw invalidProp(kind, scope, `${field}["${key}"]`, value, 'is not a string', 'quote the value');
  }
  return map as Record<string, string>;
}
