/**
 * An amount of CPU, in millicores. Kept here rather than cdk8s-plus's `Cpu` so the public API
 * does not tie users to one cdk8s-plus line.
 */
export class Cpu {
  /** Thousandths of a core: `Cpu.millis(250)` is a quarter core. */
  public static millis(amount: number): Cpu {
    return new Cpu(amount);
  }

  /** Whole or fractional cores: `Cpu.cores(1.5)`. */
  public static cores(amount: number): Cpu {
    return new Cpu(amount * 1000);
  }

  private constructor(public readonly millicores: number) {}

  /** True when this is a positive whole number of millicores. */
  public get isValid(): boolean {
    return Number.isInteger(this.millicores) && this.millicores > 0;
  }

  /** The Kubernetes quantity: "2" for whole cores, "500m" otherwise. */
  public toQuantity(): string {
    return this.millicores % 1000 === 0 ? String(this.millicores / 1000) : `${this.millicores}m`;
  }

  public toString(): string {
    return this.toQuantity();
  }
}
