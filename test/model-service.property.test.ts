import { Duration, Size } from 'cdk8s';
import * as fc from 'fast-check';
import { Cpu, ModelRegistryRef, ModelService, ModelServiceProps, ScalingMetric, ServingRuntime } from '../src';
import { newChart, synth } from './support/synth-helpers';

const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const runtime = ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) });
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Values of the wrong type for any field (null counts as unset, like undefined, and takes the default). */
const junk = fc.oneof(
  fc.boolean(), fc.double(), fc.string(), fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }), fc.constant(Number.NaN), fc.constant(Infinity),
);
const notWholeInRange = (min: number, max: number) => fc.oneof(
  fc.integer({ min: -1_000_000, max: min - 1 }),
  fc.integer({ min: max + 1, max: 10_000_000 }),
  fc.double({ noInteger: true }),
  junk.filter((v) => typeof v !== 'number'),
);
const notDnsLabel = fc.oneof(
  fc.string({ minLength: 1 }).filter((s) => !DNS_LABEL.test(s)),
  fc.stringMatching(/^[a-z][a-z0-9]{63,80}$/),
  junk.filter((v) => typeof v !== 'string'),
);

/** Each case: the field named in the error, and props with that one field made invalid. */
const invalidCases: [string, fc.Arbitrary<Partial<ModelServiceProps>>][] = [
  ['name', notDnsLabel.map((v) => ({ name: v as any }))],
  ['namespace', notDnsLabel.map((v) => ({ namespace: v as any }))],
  ['replicas', notWholeInRange(1, 1000).map((v) => ({ replicas: v as any }))],
  ['replicas', fc.integer({ min: 2, max: 1000 }).chain((r) => fc.integer({ min: 1, max: r - 1 }).map((m) => ({ replicas: r, maxReplicas: m })))],
  ['maxReplicas', notWholeInRange(1, 1000).map((v) => ({ maxReplicas: v as any }))],
  ['gpuCount', notWholeInRange(0, 16).map((v) => ({ gpuCount: v as any }))],
  ['servicePort', notWholeInRange(1, 65535).map((v) => ({ servicePort: v as any }))],
  ['cpuRequest', fc.oneof(fc.integer({ max: 0 }), fc.double({ noInteger: true, min: 0.001, max: 1e6 })).map((m) => ({ cpuRequest: Cpu.millis(m) }))],
  ['cpuLimit', junk.map((v) => ({ cpuLimit: v as any }))],
  ['memoryRequest', fc.integer({ min: 0, max: 15 }).map((m) => ({ memoryRequest: Size.mebibytes(m) }))],
  ['memoryLimit', junk.map((v) => ({ memoryLimit: v as any }))],
  ['startupTimeout', fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 3601, max: 1e6 })).map((s) => ({ startupTimeout: Duration.seconds(s) }))],
  ['terminationGracePeriod', junk.map((v) => ({ terminationGracePeriod: v as any }))],
  ['errorRateObjective', fc.oneof(fc.double({ max: 0 }), fc.double({ min: 1 }), junk.filter((v) => typeof v !== 'number')).map((v) => ({ errorRateObjective: v as any }))],
  ['env.', fc.string({ minLength: 1 }).filter((k) => !/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(k) && k !== '__proto__').map((k) => ({ env: { [k]: 'x' } }))],
  ['imagePullSecrets[0]', notDnsLabel.filter((v) => typeof v !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(v)).map((v) => ({ imagePullSecrets: [v as any] }))],
  ['labels', fc.string({ minLength: 1 }).filter((k) => !/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k) && !k.includes('/') && k !== '__proto__').map((k) => ({ labels: { [k]: 'v' } }))],
  ['ingressHost', fc.string({ minLength: 1 }).filter((h) => !/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(h)).map((h) => ({ ingressHost: h }))],
  ['tolerations[0]', fc.record({ key: fc.constantFrom('', undefined as any), effect: fc.string() }).map((t) => ({ tolerations: [t as any] }))],
  ['scaleOn[0]', fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 101 }), fc.double({ noInteger: true })).map((u) => ({ maxReplicas: 5, scaleOn: [ScalingMetric.cpu(u)] }))],
  ['runtime.port', notWholeInRange(1, 65535).map((port) => ({ runtime: ServingRuntime.custom({ image: 'example/m:1.0.0', port: port as any }) }))],
  ['runtime.model', fc.string().filter((m) => !/^models:\/[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z_][A-Za-z0-9_-]*|\/[1-9][0-9]*)$/.test(m))
    .map((model) => ({ runtime: ServingRuntime.mlflow({ model, registry }) }))],
  ['runtime', junk.map((v) => ({ runtime: v as any }))],
];

describe('ModelService prop validation (property-based)', () => {
  test.each(invalidCases)('fails with a message naming %s for any invalid value', (field, arbitrary) => {
    fc.assert(fc.property(arbitrary, (override) => {
      // GIVEN valid props with one field made invalid
      const chart = newChart();
      const props = { runtime, ...override } as ModelServiceProps;
      // WHEN / THEN the error is ours and names the field, never a stack from inside cdk8s
      let error: unknown;
      try {
        new ModelService(chart, 'm', props);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(Error);
      const message = (error as Error).message;
      expect(message.startsWith(`ModelService test/m: ${field}`)).toBe(true);
      // the message says what to do after the semicolon
      expect(message).toMatch(/; \S.+$/);
    }), { numRuns: 60 });
  });

  test('random valid props always synthesize', () => {
    fc.assert(fc.property(
      fc.record({
        replicas: fc.integer({ min: 1, max: 20 }),
        extra: fc.integer({ min: 0, max: 20 }),
        cpuMillis: fc.integer({ min: 1, max: 16000 }),
        memMib: fc.integer({ min: 16, max: 65536 }),
        gpus: fc.integer({ min: 0, max: 8 }),
        name: fc.stringMatching(/^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$/),
      }),
      ({ replicas, extra, cpuMillis, memMib, gpus, name }) => {
        const chart = newChart();
        const service = new ModelService(chart, 'm', {
          runtime, name, replicas, maxReplicas: replicas + extra, cpuRequest: Cpu.millis(cpuMillis), memoryRequest: Size.mebibytes(memMib), gpuCount: gpus,
        });
        const objects = synth(chart);
        expect(objects.find((o) => o.kind === 'Deployment').metadata.name).toBe(name);
        expect(service.workers).toBe(gpus > 0 ? 1 : Math.max(1, Math.floor(cpuMillis / 1000)));
        expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(extra > 0);
        expect(objects.some((o) => o.kind === 'PodDisruptionBudget')).toBe(replicas > 1);
      },
    ), { numRuns: 60 });
  });
});
