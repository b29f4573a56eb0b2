import * as fc from 'fast-check';
import { BodyCapture, Sampler } from '../../../src/runtime/metrics-proxy/inference-log/sampler';

/** A seeded uniform generator (mulberry32), so a share can be checked on a fixed sequence. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('Sampler', () => {
  test('samples exactly the draws below the ratio', () => {
    // GIVEN a scripted random source
    const draws = [0.05, 0.1, 0.099, 0.5, 0.0];
    const sampler = new Sampler(0.1, () => draws.shift()!);
    // WHEN / THEN
    expect([1, 2, 3, 4, 5].map(() => sampler.sample())).toEqual([true, false, true, false, true]);
  });

  test('decides with a draw it is given instead of its own, so two samplers can share one', () => {
    const random = jest.fn(() => 0.5);
    const sampler = new Sampler(0.1, random);
    expect([0.05, 0.1, 0.0999].map((u) => sampler.sample(u))).toEqual([true, false, true]);
    expect(random).not.toHaveBeenCalled();
  });

  test('0 never and 1 always samples, without drawing', () => {
    const random = jest.fn(() => 0.5);
    expect(new Sampler(0, random).sample()).toBe(false);
    expect(new Sampler(1, random).sample()).toBe(true);
    expect(random).not.toHaveBeenCalled();
  });

  test('keeps the configured share of requests (property, within 4 standard deviations)', () => {
    fc.assert(fc.property(fc.double({ min: 0.01, max: 0.99, noNaN: true }), fc.integer(), (ratio, seed) => {
      const sampler = new Sampler(ratio, seeded(seed));
      const n = 20_000;
      let kept = 0;
      for (let i = 0; i < n; i++) if (sampler.sample()) kept += 1;
      expect(Math.abs(kept / n - ratio)).toBeLessThan(4 * Math.sqrt((ratio * (1 - ratio)) / n));
    }), { numRuns: 30 });
  });
});

describe('BodyCapture', () => {
  test('joins the chunks it was given', () => {
    const capture = new BodyCapture(10);
    capture.add(Buffer.from('abc'));
    capture.add(Buffer.from('def'));
    expect(capture.body()).toEqual(Buffer.from('abcdef'));
    expect(capture.tooLarge).toBe(false);
  });

  test('hands back a single chunk without copying, and an empty body as empty', () => {
    const chunk = Buffer.from('{"inputs": [1]}');
    const capture = new BodyCapture(100);
    capture.add(chunk);
    expect(capture.body()).toBe(chunk);
    expect(new BodyCapture(100).body()).toEqual(Buffer.alloc(0));
  });

  test('lets go of a body once it is larger than the limit', () => {
    const capture = new BodyCapture(5);
    capture.add(Buffer.from('abc'));
    capture.add(Buffer.from('def'));
    capture.add(Buffer.from('g'));
    expect(capture.tooLarge).toBe(true);
    expect(capture.body()).toBeUndefined();
  });

  test('a body of exactly the limit is kept', () => {
    const capture = new BodyCapture(6);
    capture.add(Buffer.from('abcdef'));
    expect(capture.body()).toEqual(Buffer.from('abcdef'));
  });

  test('never buffers a body whose Content-Length is above the limit', () => {
    const capture = new BodyCapture(5, '6');
    expect(capture.tooLarge).toBe(true);
    capture.add(Buffer.from('a'));
    expect(capture.body()).toBeUndefined();
    expect(new BodyCapture(5, '5').tooLarge).toBe(false);
    expect(new BodyCapture(5, 'nonsense').tooLarge).toBe(false);
  });
});
