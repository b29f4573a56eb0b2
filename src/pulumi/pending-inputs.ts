import * as pulumi from '@pulumi/pulumi';
import { asResourceError } from './errors';

// A host under .invalid (RFC 2606) can never name a real registry, so a stand-in that leaked
// into a manifest could not pull anything.
const STAND_IN_HOST = 'pending-input.mlops-constructs.invalid';
const STAND_IN = new RegExp(`${STAND_IN_HOST.replace(/\./g, '\\.')}/input-\\d+:pending`);

/**
 * Pulumi inputs of a component that are not known when it is constructed (the image an
 * `docker.Image` resource builds, a tag read from another stack).
 *
 * The cdk8s constructs need plain strings, and the set of objects must not wait for those
 * values: a component that synthesized inside `apply()` would register no objects at all in a
 * preview where the value is unknown. So each pending value enters the construct as a
 * stand-in (a pinned image reference under the reserved `.invalid` domain, which passes the
 * construct's checks), the construct synthesizes at once, and every stand-in in the
 * synthesized objects is replaced by the Output before registration. A preview then shows
 * every object, with only the pending field unknown. The construct's own check of the real
 * value (e.g. "pinned to a version") runs when the value resolves.
 */
export class PendingInputs {
  private readonly pending = new Map<string, pulumi.Output<string>>();

  /** @param owner the component whose errors these are (a resolved value that fails its check is its ResourceError) */
  constructor(private readonly owner?: pulumi.Resource) {}

  /**
   * The value itself when it is a plain string (the construct checks it synchronously), else
   * a stand-in image reference; `check` validates the resolved value like the construct would.
   */
  public image(value: pulumi.Input<string> | undefined, check: (resolved: string) => void): string | undefined {
    if (value === undefined || typeof value === 'string') return value;
    const standIn = `${STAND_IN_HOST}/input-${this.pending.size}:pending`;
    this.pending.set(standIn, pulumi.output(value).apply((resolved) => {
      try {
        check(resolved);
      } catch (e) {
        throw asResourceError(e, this.owner);
      }
      return resolved;
    }));
    return standIn;
  }

  /** True when some input is pending. */
  public get any(): boolean {
    return this.pending.size > 0;
  }

  /**
   * A deep copy of a synthesized object with each stand-in replaced by its Output. Throws when a
   * stand-in occurs inside a longer string: the construct derived something from the value
   * (a label, a hash) that the Output cannot reproduce, and deploying it would be wrong.
   */
  public resolve(value: unknown, where: string): unknown {
    if (typeof value === 'string') {
      const output = this.pending.get(value);
      if (output !== undefined) return output;
      if (this.pending.size > 0 && STAND_IN.test(value)) {
        throw new Error(`mlops-constructs/pulumi: ${where} embeds a pending Pulumi input in "${value}"; pass that input as a plain string (resolve it before constructing the component)`);
      }
      return value;
    }
    if (Array.isArray(value)) return value.map((item, i) => this.resolve(item, `${where}[${i}]`));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[key] = this.resolve(item, `${where}.${key}`);
      return out;
    }
    return value;
  }
}
