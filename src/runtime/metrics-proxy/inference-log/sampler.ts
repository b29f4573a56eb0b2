/**
 * Which requests the inference log keeps, decided when a request arrives, before any of its
 * body is buffered: a request that is not sampled costs one call to the random source.
 */
export class Sampler {
  /**
   * @param ratio share of requests sampled, 0..1
   * @param random uniform in [0, 1), e.g. a seeded generator in tests
   */
  constructor(private readonly ratio: number, private readonly random: () => number = Math.random) {}

  /** @param u a draw to decide with instead of the random source's (shared with the shadow's sampling) */
  sample(u?: number): boolean {
    if (this.ratio >= 1) return true;
    if (this.ratio <= 0) return false;
    return (u ?? this.random()) < this.ratio;
  }
}

/**
 * The bytes of one body, as they stream through the proxy, up to a limit: beyond it the
 * chunks kept so far are released and the body counts as not captured. The proxy adds each
 * chunk it forwards (a reference, not a copy); `body()` joins them once at the end.
 */
export class BodyCapture {
  private chunks: Buffer[] = [];
  private size = 0;
  private over: boolean;

  /**
   * @param maxBytes the largest body kept
   * @param declaredLength the Content-Length header, if any: a body announced larger than the limit is never buffered
   */
  constructor(private readonly maxBytes: number, declaredLength?: string | number) {
    const declared = declaredLength === undefined ? NaN : Number(declaredLength);
    this.over = declared > maxBytes;
  }

  add(chunk: Buffer): void {
    if (this.over) return;
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.over = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(chunk);
  }

  /** True once the body is known to be larger than the limit. */
  get tooLarge(): boolean {
    return this.over;
  }

  /** The whole body, or undefined when it was larger than the limit. */
  body(): Buffer | undefined {
    if (this.over) return undefined;
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
  }
}
