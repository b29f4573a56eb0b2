import * as fc from 'fast-check';
import { ConfigError } from '../../../src/runtime/metrics-proxy/config';
import { parseShadowConfig, parseVariant } from '../../../src/runtime/metrics-proxy/shadow/config';

function problemsOf(parse: () => unknown): readonly string[] {
  try {
    parse();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const UPSTREAM = { MLOPS_SHADOW_UPSTREAM: 'http://fraud-detector-shadow.mlops.svc.cluster.local:80' };

describe('parseShadowConfig', () => {
  test('is undefined when MLOPS_SHADOW_UPSTREAM is unset or empty: no mirroring, nothing else read', () => {
    expect(parseShadowConfig({ MLOPS_SHADOW_SHARE: 'not read', MLOPS_SHADOW_TOLERANCE: 'not read' })).toBeUndefined();
    expect(parseShadowConfig({ MLOPS_SHADOW_UPSTREAM: '  ', MLOPS_SHADOW_SHARE: 'not read' })).toBeUndefined();
  });

  test('reads what ModelService writes', () => {
    // GIVEN the champion proxy's variables of test/shadow.test.ts
    const env = { ...UPSTREAM, MLOPS_SHADOW_SHARE: '0.2', MLOPS_SHADOW_TIMEOUT_SECONDS: '10', MLOPS_SHADOW_MAX_IN_FLIGHT: '16', MLOPS_SHADOW_TOLERANCE: 'equal' };
    // WHEN / THEN the default port is dropped from the URL, as the URL standard does
    expect(parseShadowConfig(env)).toEqual({
      upstream: 'http://fraud-detector-shadow.mlops.svc.cluster.local',
      share: 0.2,
      timeoutSeconds: 10,
      maxInFlight: 16,
      tolerance: 'equal',
      maxBodyBytes: 1024 * 1024,
    });
    expect(parseShadowConfig({ ...env, MLOPS_SHADOW_UPSTREAM: 'http://10.0.0.7:8080/', MLOPS_SHADOW_TOLERANCE: ' 0.5 ', MLOPS_SHADOW_TIMEOUT_SECONDS: '2.5' }))
      .toEqual(expect.objectContaining({ upstream: 'http://10.0.0.7:8080', tolerance: 0.5, timeoutSeconds: 2.5 }));
    expect(parseShadowConfig({ ...env, MLOPS_SHADOW_UPSTREAM: 'http://[::1]:8082', MLOPS_SHADOW_TOLERANCE: '0' }))
      .toEqual(expect.objectContaining({ upstream: 'http://[::1]:8082', tolerance: 0 }));
  });

  test('applies ModelService\'s defaults to the variables left unset', () => {
    expect(parseShadowConfig(UPSTREAM)).toEqual(expect.objectContaining({ share: 0.1, timeoutSeconds: 10, maxInFlight: 16, tolerance: 'equal' }));
  });

  test('fails with every problem at once, each naming the variable, the value and the fix', () => {
    // GIVEN every variable wrong
    const problems = problemsOf(() => parseShadowConfig({
      MLOPS_SHADOW_UPSTREAM: 'https://challenger:443',
      MLOPS_SHADOW_SHARE: '0',
      MLOPS_SHADOW_TIMEOUT_SECONDS: '-1',
      MLOPS_SHADOW_MAX_IN_FLIGHT: '2.5',
      MLOPS_SHADOW_TOLERANCE: 'close',
    }));
    // THEN
    expect(problems).toEqual([
      expect.stringMatching(/^MLOPS_SHADOW_UPSTREAM \("https:\/\/challenger:443"\) uses https: but the proxy mirrors in plain http; set it to the challenger's Service/),
      expect.stringMatching(/^MLOPS_SHADOW_SHARE \("0"\) is not a share above 0 and at most 1; set e\.g\. 0\.1/),
      expect.stringMatching(/^MLOPS_SHADOW_TIMEOUT_SECONDS \("-1"\) is not a positive number of seconds up to 3600; /),
      expect.stringMatching(/^MLOPS_SHADOW_MAX_IN_FLIGHT \("2\.5"\) is not a whole number from 1 to 1024; /),
      expect.stringMatching(/^MLOPS_SHADOW_TOLERANCE \("close"\) is neither "equal" nor a non-negative number; set "equal" .* or an absolute tolerance such as 0\.01/),
    ]);
  });

  test.each([
    ['not a URL', 'http://', /is not a URL/],
    ['no scheme', 'challenger:80', /uses challenger: but the proxy mirrors in plain http/],
    ['a path', 'http://challenger:80/invocations', /has a path, query or credentials/],
    ['a query', 'http://challenger:80?x=1', /has a path, query or credentials/],
    ['credentials', 'http://user:pw@challenger:80', /has a path, query or credentials/],
  ])('fails on an upstream with %s', (_name, value, message) => {
    expect(problemsOf(() => parseShadowConfig({ MLOPS_SHADOW_UPSTREAM: value }))).toEqual([expect.stringMatching(message)]);
  });

  test('fails on a shadow set on a challenger\'s own proxy', () => {
    expect(problemsOf(() => parseShadowConfig({ ...UPSTREAM, MLOPS_MODEL_VARIANT: 'challenger' })))
      .toEqual([expect.stringMatching(/is set on a challenger's proxy \(MLOPS_MODEL_VARIANT=challenger\); a challenger has no shadow of its own/)]);
  });

  test('fails on any share outside (0, 1] and takes any inside (property)', () => {
    fc.assert(fc.property(fc.double({ min: -2, max: 3, noNaN: true }), (share) => {
      const text = String(share);
      const parse = () => parseShadowConfig({ ...UPSTREAM, MLOPS_SHADOW_SHARE: text });
      if (share > 0 && share <= 1 && !text.startsWith('-')) expect(parse()!.share).toBe(share);
      else expect(problemsOf(parse)).toEqual([expect.stringMatching(/^MLOPS_SHADOW_SHARE /)]);
    }));
  });

  test.each(['-0.5', 'NaN', 'Infinity', '1e400', ''])('fails on the tolerance %p', (value) => {
    expect(problemsOf(() => parseShadowConfig({ ...UPSTREAM, MLOPS_SHADOW_TOLERANCE: value }))).toEqual([expect.stringMatching(/^MLOPS_SHADOW_TOLERANCE /)]);
  });

  test.each(['0', '1025', '-1', 'sixteen'])('fails on the max in flight %p', (value) => {
    expect(problemsOf(() => parseShadowConfig({ ...UPSTREAM, MLOPS_SHADOW_MAX_IN_FLIGHT: value }))).toEqual([expect.stringMatching(/^MLOPS_SHADOW_MAX_IN_FLIGHT /)]);
  });
});

describe('parseVariant', () => {
  test('is the challenger on a challenger\'s proxy, undefined on the champion\'s', () => {
    expect(parseVariant({ MLOPS_MODEL_VARIANT: 'challenger' })).toBe('challenger');
    expect(parseVariant({})).toBeUndefined();
    expect(parseVariant({ MLOPS_MODEL_VARIANT: '' })).toBeUndefined();
  });

  test('fails on a variant no dashboard or alert selects', () => {
    expect(problemsOf(() => parseVariant({ MLOPS_MODEL_VARIANT: 'canary' })))
      .toEqual(['MLOPS_MODEL_VARIANT ("canary") is not a known variant; set it to challenger on a shadow challenger\'s proxy, or unset it on the champion\'s']);
  });
});
