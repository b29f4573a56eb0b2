/**
 * Ascending in-place sort of a Float64Array by LSD radix sort on the IEEE-754 bit patterns.
 * Every numeric test starts by sorting both samples, and V8's comparison sort of a million
 * doubles is slower than numpy's; four counting passes over 16-bit digits do it in linear
 * time. Values move as whole doubles (finite doubles keep their bits through a copy); the
 * raw patterns order non-negative numbers correctly and negative ones backwards, which one
 * final pass fixes. The order is Float64Array.prototype.sort's (-0 before +0). NaN must not
 * be passed (the checker drops it before sorting).
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Below this, the comparison sort is as fast and needs no scratch memory. */
const SMALL = 4096;
const DIGIT = 1 << 16;

/**
 * Sorts `values` in place and returns it. `scratch` (at least as long) is reused when given,
 * so a caller sorting many columns allocates the scratch memory once.
 */
export function sortFloat64(values: Float64Array, scratch?: Float64Array): Float64Array {
  const n = values.length;
  if (n < SMALL || !LITTLE_ENDIAN || values.byteOffset % 8 !== 0) return values.sort();
  if (ascending(values)) return values; // e.g. the current column, sorted once to count its values

  let src = values;
  let dst = scratch && scratch.length >= n && scratch.buffer !== values.buffer ? scratch.subarray(0, n) : new Float64Array(n);
  let srcBits = new Uint32Array(src.buffer, src.byteOffset, 2 * n);
  let dstBits = new Uint32Array(dst.buffer, dst.byteOffset, 2 * n);

  // One pass counts all four digits; then one scatter per digit, skipped when every value
  // shares it (common for the top digit: sign and exponent).
  const counts = [new Uint32Array(DIGIT), new Uint32Array(DIGIT), new Uint32Array(DIGIT), new Uint32Array(DIGIT)];
  const [c0, c1, c2, c3] = counts;
  for (let i = 0; i < 2 * n; i += 2) {
    const lo = srcBits[i];
    const hi = srcBits[i + 1];
    c0[lo & 0xffff]++;
    c1[lo >>> 16]++;
    c2[hi & 0xffff]++;
    c3[hi >>> 16]++;
  }
  for (let d = 0; d < 4; d++) {
    const count = counts[d];
    let sum = 0;
    let trivial = false;
    for (let k = 0; k < DIGIT; k++) {
      const c = count[k];
      if (c === n) trivial = true;
      count[k] = sum;
      sum += c;
    }
    if (trivial) continue;
    const word = d >> 1;
    const shift = (d & 1) * 16;
    for (let i = 0; i < n; i++) dst[count[(srcBits[2 * i + word] >>> shift) & 0xffff]++] = src[i];
    [src, dst] = [dst, src];
    [srcBits, dstBits] = [dstBits, srcBits];
  }

  // src: non-negatives ascending, then negatives by ascending magnitude (sign bit set).
  let negatives = 0;
  while (negatives < n && srcBits[2 * (n - 1 - negatives) + 1] >= 0x80000000) negatives++;
  if (src === values) {
    if (negatives === 0) return values;
    dst.set(src);
    src = dst;
  }
  for (let k = 0; k < negatives; k++) values[k] = src[n - 1 - k];
  values.set(src.subarray(0, n - negatives), negatives);
  return values;
}

function ascending(values: Float64Array): boolean {
  for (let i = 1; i < values.length; i++) {
    const a = values[i - 1];
    const b = values[i];
    if (a > b || (a === 0 && b === 0 && 1 / a > 0 && 1 / b < 0)) return false;
  }
  return true;
}
