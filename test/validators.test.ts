/**
 * The manifest validators themselves: a hand-written valid stack passes, and each rule fails a
 * mutated copy with a message naming the field. (A validator that always returns [] fails here.)
 */
import { CRDS_DIR_ENV, crdRegistry } from '../src/testing/crd-schemas';
import { loadK8sTypeMaps } from '../src/testing/k8s-type-maps';
import { unpinnedImage } from '../src/testing/pod-security';
import { unresolvedFieldTypes } from '../src/testing/unknown-fields';
import {
  assertValidManifests,
  checkRestrictedPodSecurity,
  validateManifests,
  validateSchema,
  type ValidateManifestsOptions,
} from '../src/testing';

const NS = 'mlops';
const OPTIONS: ValidateManifestsOptions = { externalSecrets: ['mlflow-auth'] };

function selectorLabels(name: string) {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'mlops' };
}

function restrictedContainerSecurity() {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
}

function deployment(name: string): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: selectorLabels(name) },
    spec: {
      replicas: 2,
      selector: { matchLabels: selectorLabels(name) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: { labels: selectorLabels(name), annotations: { 'prometheus.io/scrape': 'false' } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'model',
              image: 'ghcr.io/mlflow/mlflow:v2.16.2',
              args: ['mlflow', 'models', 'serve', '--model-uri', 'models:/fraud-detector@champion', '--port', '8080'],
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [
                { name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow.mlops.svc:5000' },
                { name: 'MLFLOW_TRACKING_TOKEN', valueFrom: { secretKeyRef: { name: 'mlflow-auth', key: 'token' } } },
              ],
              resources: { requests: { cpu: 1, memory: '1Gi' }, limits: { memory: '1Gi' } },
              readinessProbe: { httpGet: { path: '/ping', port: 'http' }, periodSeconds: 5 },
              securityContext: restrictedContainerSecurity(),
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
            {
              name: 'metrics-proxy',
              image: 'node:20.18.0-alpine',
              command: ['node', '/opt/metrics-proxy/index.js'],
              ports: [{ name: 'metrics', containerPort: 9090 }],
              env: [{ name: 'UPSTREAM', value: 'http://127.0.0.1:8080' }],
              securityContext: restrictedContainerSecurity(),
              volumeMounts: [{ name: 'proxy', mountPath: '/opt/metrics-proxy', readOnly: true }],
            },
          ],
          volumes: [
            { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
            { name: 'proxy', configMap: { name: 'metrics-proxy', items: [{ key: 'index.js', path: 'index.js' }] } },
          ],
        },
      },
    },
  };
}

/** The valid stack every test mutates. */
function validStack(): any[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'metrics-proxy', namespace: NS },
      data: { 'index.js': 'console.log("proxy")' },
    },
    deployment('fraud-detector'),
    deployment('fraud-detector-shadow'),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'fraud-detector', namespace: NS, labels: selectorLabels('fraud-detector') },
      spec: {
        selector: selectorLabels('fraud-detector'),
        ports: [
          { name: 'http', port: 80, targetPort: 'http' },
          { name: 'metrics', port: 9090, targetPort: 9090 },
        ],
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'fraud-detector', namespace: NS, labels: { release: 'prometheus' } },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': 'fraud-detector' } },
        endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }],
      },
    },
    {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'fraud-detector', namespace: NS },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'fraud-detector' },
        minReplicas: 2,
        maxReplicas: 5,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'fraud-detector', namespace: NS },
      spec: { minAvailable: 1, selector: { matchLabels: selectorLabels('fraud-detector') } },
    },
    {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'fraud-detector-shadow', namespace: NS },
      spec: {
        scaleTargetRef: { name: 'fraud-detector-shadow' },
        minReplicaCount: 1,
        maxReplicaCount: 4,
        triggers: [
          {
            type: 'prometheus',
            metadata: {
              serverAddress: 'http://prometheus-operated.monitoring.svc:9090',
              query: 'sum(rate(mlops_inference_requests_total{model="fraud-detector"}[2m]))',
              threshold: '50',
            },
          },
        ],
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'fraud-detector', namespace: NS, labels: { release: 'prometheus' } },
      spec: {
        groups: [
          {
            name: 'fraud-detector.rules',
            rules: [
              {
                alert: 'ModelHighLatency',
                expr: 'histogram_quantile(0.99, sum by (le) (rate(mlops_inference_request_duration_seconds_bucket{model="fraud-detector"}[5m]))) > 0.5',
                for: '10m',
                labels: { severity: 'warning', namespace: NS, model: 'fraud-detector' },
                annotations: { summary: 'p99 latency above 0.5 s', description: 'fraud-detector is slow', runbook_url: 'https://runbooks.example.com/ModelHighLatency' },
              },
              { record: 'mlops:inference_requests:rate5m', expr: 'sum by (model) (rate(mlops_inference_requests_total[5m]))' },
            ],
          },
        ],
      },
    },
  ];
}

function find(objects: any[], kind: string, name: string): any {
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!obj) throw new Error(`no ${kind} ${name} in the stack`);
  return obj;
}

/** The valid stack with one change applied to a copy, validated. */
function problemsAfter(mutate: (objects: any[]) => void, options: ValidateManifestsOptions = OPTIONS): string[] {
  const objects = validStack();
  mutate(objects);
  return validateManifests(objects, options);
}

const podSpec = (objects: any[]) => find(objects, 'Deployment', 'fraud-detector').spec.template.spec;
const model = (objects: any[]) => podSpec(objects).containers[0];

describe('the valid stack', () => {
  test('passes every check', () => {
    // GIVEN a hand-written restricted stack
    const objects = validStack();

    // WHEN it is validated as a whole and object by object
    const problems = validateManifests(objects, OPTIONS);

    // THEN nothing is reported, the objects are untouched, and the assertion does not throw
    expect(problems).toEqual([]);
    expect(objects).toEqual(validStack());
    for (const obj of objects) {
      expect(validateSchema(obj)).toEqual([]);
      expect(checkRestrictedPodSecurity(obj)).toEqual([]);
    }
    expect(() => assertValidManifests(objects, OPTIONS)).not.toThrow();
  });

  test('accepts the free-form and int-or-string spellings Kubernetes accepts', () => {
    // GIVEN numbers where IntOrString / Quantity also take strings, and the other way round
    const objects = validStack();
    find(objects, 'Service', 'fraud-detector').spec.ports[0].targetPort = 8080;
    find(objects, 'PodDisruptionBudget', 'fraud-detector').spec.minAvailable = '50%';
    model(objects).resources.requests.cpu = '500m';
    find(objects, 'PrometheusRule', 'fraud-detector').spec.groups[0].rules[1].expr = 1;

    // WHEN validated
    const problems = validateManifests(objects, OPTIONS);

    // THEN they pass
    expect(problems).toEqual([]);
  });
});

describe('validateSchema on built-in kinds', () => {
  test('understands every field type of the client-node models', () => {
    // GIVEN the type maps of the installed @kubernetes/client-node
    const maps = loadK8sTypeMaps();

    // WHEN every field type is resolved
    const unresolved = unresolvedFieldTypes();

    // THEN each is a model or a leaf (a new quirk after an upgrade shows up here, not mid-walk)
    expect(maps.models.size).toBeGreaterThan(500);
    expect(unresolved).toEqual([]);
  });

  test('fails an unknown field deep in a container', () => {
    // GIVEN a misspelt field in a container's resources
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      model(o).resources.limit = { cpu: '1' };
    });

    // THEN the message names the object and the full path
    expect(problems).toContainEqual(
      expect.stringMatching(/^Deployment mlops\/fraud-detector: spec\.template\.spec\.containers\[0\]\.resources\.limit: unknown field "limit".*did you mean "limits"/),
    );
  });

  test('fails an unknown field at the top and in metadata', () => {
    // GIVEN a ConfigMap with a stray top-level field and a misspelt metadata field
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      const cm = find(o, 'ConfigMap', 'metrics-proxy');
      cm.spec = { data: {} };
      cm.metadata.label = { a: 'b' };
    });

    // THEN both are named
    expect(problems).toContainEqual(expect.stringContaining('ConfigMap mlops/metrics-proxy: spec: unknown field "spec"'));
    expect(problems).toContainEqual(expect.stringContaining('ConfigMap mlops/metrics-proxy: metadata.label: unknown field "label"'));
  });

  test('fails a wrong type', () => {
    // GIVEN replicas as a string
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'Deployment', 'fraud-detector').spec.replicas = '2';
    });

    // THEN the path and the expected type are reported
    expect(problems).toContainEqual('Deployment mlops/fraud-detector: spec.replicas: must be integer');
  });

  test('fails a missing required field', () => {
    // GIVEN a container without a name
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      delete model(o).name;
    });

    // THEN it is reported as missing
    expect(problems).toContainEqual('Deployment mlops/fraud-detector: spec.template.spec.containers[0].name: required field is missing');
  });

  test('fails an unknown apiVersion or kind', () => {
    // GIVEN a misspelt kind and a group nobody defines
    const typo = { ...deployment('x'), kind: 'Deploymnet' };
    const unknownGroup = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };

    // WHEN validated
    const typoProblems = validateSchema(typo);
    const groupProblems = validateSchema(unknownGroup);

    // THEN each says the apiVersion/kind is unknown
    expect(typoProblems).toEqual([expect.stringContaining('unknown apiVersion/kind apps/v1 Deploymnet')]);
    expect(groupProblems).toEqual([expect.stringContaining('unknown apiVersion/kind example.com/v1 Widget')]);
  });

  test('fails names and labels the apiserver rejects', () => {
    // GIVEN an upper-case name and an over-long label value
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      const cm = find(o, 'ConfigMap', 'metrics-proxy');
      cm.metadata.name = 'Metrics_Proxy';
      cm.metadata.labels = { team: 'x'.repeat(64) };
    });

    // THEN both are reported with the field
    expect(problems).toContainEqual(expect.stringMatching(/ConfigMap mlops\/Metrics_Proxy: metadata\.name: "Metrics_Proxy" must be a DNS-1123 subdomain/));
    expect(problems).toContainEqual(expect.stringMatching(/metadata\.labels\.team: value "x+" must be no more than 63 characters/));
  });

  test('fails a selector that does not match the template labels', () => {
    // GIVEN a Deployment whose selector names another app
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'Deployment', 'fraud-detector').spec.selector.matchLabels['app.kubernetes.io/name'] = 'other';
    });

    // THEN the apiserver's rule is reported
    expect(problems).toContainEqual(expect.stringMatching(/^Deployment mlops\/fraud-detector: spec\.selector: .* does not match template labels/));
  });

  test('fails a volume mount of an undefined volume', () => {
    // GIVEN a mount whose volume is missing
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      model(o).volumeMounts[0].name = 'scratch';
    });

    // THEN the mount is named
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[0].volumeMounts[0].name: container "model" mounts volume "scratch"'));
  });
});

describe('validateSchema on custom resources', () => {
  test('fails an unknown field in a ServiceMonitor endpoint', () => {
    // GIVEN a misspelt endpoint field
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'ServiceMonitor', 'fraud-detector').spec.endpoints[0].intervall = '30s';
    });

    // THEN the CRD schema rejects it as unknown
    expect(problems).toContainEqual('ServiceMonitor mlops/fraud-detector: spec.endpoints[0].intervall: unknown field "intervall" (did you mean "interval"?)');
  });

  test('fails a ServiceMonitor field of the wrong type and a bad pattern', () => {
    // GIVEN a numeric interval and a malformed duration
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      const endpoint = find(o, 'ServiceMonitor', 'fraud-detector').spec.endpoints[0];
      endpoint.interval = 30;
      endpoint.scrapeTimeout = '10 seconds';
    });

    // THEN both are named
    expect(problems).toContainEqual('ServiceMonitor mlops/fraud-detector: spec.endpoints[0].interval: must be string');
    expect(problems).toContainEqual(expect.stringContaining('ServiceMonitor mlops/fraud-detector: spec.endpoints[0].scrapeTimeout: must match pattern'));
  });

  test('fails a PrometheusRule with a bad structure', () => {
    // GIVEN a rule without expr, rules as a map, and a duplicate group name
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      const rule = find(o, 'PrometheusRule', 'fraud-detector');
      delete rule.spec.groups[0].rules[0].expr;
      rule.spec.groups.push({ name: 'more', rules: { alert: 'X', expr: 'up == 0' } });
      rule.spec.groups.push({ name: 'more', rules: [] });
    });

    // THEN each problem names its path
    expect(problems).toContainEqual('PrometheusRule mlops/fraud-detector: spec.groups[0].rules[0].expr: required field is missing');
    expect(problems).toContainEqual('PrometheusRule mlops/fraud-detector: spec.groups[1].rules: must be array');
    expect(problems).toContainEqual(expect.stringContaining('PrometheusRule mlops/fraud-detector: spec.groups: items 1 and 2 have the same name="more"'));
  });

  test('fails a rule that is both an alert and a recording rule', () => {
    // GIVEN a rule with both alert and record
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'PrometheusRule', 'fraud-detector').spec.groups[0].rules[1].alert = 'Both';
    });

    // THEN rulefmt's rule is reported
    expect(problems).toContainEqual('PrometheusRule mlops/fraud-detector: spec.groups[0].rules[1]: exactly one of alert and record must be set');
  });

  test('fails a ScaledObject whose minReplicaCount is above maxReplicaCount', () => {
    // GIVEN min 5 > max 2, and min 150 above the default max of 100
    // WHEN the changed copy of the valid stack is validated
    const explicit = problemsAfter((o) => {
      Object.assign(find(o, 'ScaledObject', 'fraud-detector-shadow').spec, { minReplicaCount: 5, maxReplicaCount: 2 });
    });
    const defaulted = problemsAfter((o) => {
      const spec = find(o, 'ScaledObject', 'fraud-detector-shadow').spec;
      spec.minReplicaCount = 150;
      delete spec.maxReplicaCount;
    });

    // THEN the CRD's CEL rule is enforced in both
    expect(explicit).toContainEqual(expect.stringMatching(/^ScaledObject mlops\/fraud-detector-shadow: spec: .*minReplicaCount \(5\) is above maxReplicaCount \(2\)/));
    expect(defaulted).toContainEqual(expect.stringMatching(/spec: .*minReplicaCount \(150\) is above the default maxReplicaCount \(100\)/));
  });

  test('fails a custom resource without a valid name', () => {
    // GIVEN a ServiceMonitor without a name
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      delete find(o, 'ServiceMonitor', 'fraud-detector').metadata.name;
    });

    // THEN metadata.name is required
    expect(problems).toContainEqual('ServiceMonitor mlops/<no name>: metadata.name: required field is missing');
  });

  test('compiles the schema of every custom resource kind the library writes', () => {
    // GIVEN the CRDs setup fetched (prometheus-operator v0.93.0, KEDA v2.20.2) and the six kinds
    // the constructs can write
    const registry = crdRegistry();
    const written = [
      'keda.sh/v1alpha1 ScaledObject',
      'keda.sh/v1alpha1 TriggerAuthentication',
      'monitoring.coreos.com/v1 PodMonitor',
      'monitoring.coreos.com/v1 Probe',
      'monitoring.coreos.com/v1 PrometheusRule',
      'monitoring.coreos.com/v1 ServiceMonitor',
    ];

    // WHEN an empty object of each is validated
    const results = written.map((k) => {
      const [apiVersion, kind] = k.split(' ');
      return registry.validate({ apiVersion, kind, metadata: { name: 'x' }, spec: {} });
    });

    // THEN every schema is there, compiles and reports, not throws
    expect(registry.kinds()).toEqual(expect.arrayContaining(written));
    expect(results.every(Array.isArray)).toBe(true);
  });

  test('fails loudly, rather than half-checks, a kind whose CEL rules the validator does not implement', () => {
    // GIVEN the Alertmanager CRD, whose CEL rules only an apiserver evaluates (the control-plane tier)
    const registry = crdRegistry();

    // WHEN an Alertmanager is validated
    const run = () => registry.validate({ apiVersion: 'monitoring.coreos.com/v1', kind: 'Alertmanager', metadata: { name: 'x' }, spec: {} });

    // THEN the validator says which rule it cannot check
    expect(run).toThrow(/Alertmanager has a CEL rule at spec\.updateStrategy that the validator does not implement/);
  });

  test('reads Go (RE2) patterns with inline flags as Go does', () => {
    // GIVEN partial_response_strategy, whose CRD pattern is ^(?i)(abort|warn)?$
    const withStrategy = (strategy: string) =>
      problemsAfter((o) => {
        find(o, 'PrometheusRule', 'fraud-detector').spec.groups[0].partial_response_strategy = strategy;
      });

    // WHEN validated with an upper-case allowed value and with another word
    // THEN the first passes (case-insensitive) and the second fails on the pattern
    expect(withStrategy('ABORT')).toEqual([]);
    expect(withStrategy('retry')).toContainEqual(expect.stringContaining('spec.groups[0].partial_response_strategy: must match pattern'));
  });

  test('fails loudly when the CRD directory is missing', () => {
    // GIVEN MLOPS_CRDS_DIR pointing nowhere
    const saved = process.env[CRDS_DIR_ENV];
    process.env[CRDS_DIR_ENV] = '/nonexistent/crds';
    try {
      // WHEN a custom resource is validated
      const run = () => validateSchema(find(validStack(), 'ServiceMonitor', 'fraud-detector'));

      // THEN it throws, saying where it looked and which variable to set
      expect(run).toThrow(/MLOPS_CRDS_DIR=\/nonexistent\/crds is not a directory/);
    } finally {
      if (saved === undefined) delete process.env[CRDS_DIR_ENV];
      else process.env[CRDS_DIR_ENV] = saved;
    }
  });
});

describe('checkRestrictedPodSecurity', () => {
  test('fails a privileged container', () => {
    // GIVEN a privileged model container
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      model(o).securityContext.privileged = true;
    });

    // THEN the field and the container are named
    expect(problems).toContainEqual(
      'Deployment mlops/fraud-detector: spec.template.spec.containers[0].securityContext.privileged: container "model" must not be privileged (restricted: privileged containers)',
    );
  });

  test('fails a container that does not drop ALL capabilities', () => {
    // GIVEN drop without ALL and an added capability
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      podSpec(o).containers[1].securityContext.capabilities = { drop: ['NET_RAW'], add: ['SYS_ADMIN'] };
    });

    // THEN both capability rules are reported for that container
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[1].securityContext.capabilities.drop: container "metrics-proxy" must drop ["ALL"]'));
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[1].securityContext.capabilities.add: container "metrics-proxy" must not add capabilities "SYS_ADMIN"'));
  });

  test('fails a pod without a seccomp profile', () => {
    // GIVEN no pod-level seccompProfile and none on the containers
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      delete podSpec(o).securityContext.seccompProfile;
    });

    // THEN every container is reported
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[0].securityContext.seccompProfile: pod or container "model" must set seccompProfile.type'));
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[1].securityContext.seccompProfile: pod or container "metrics-proxy" must set seccompProfile.type'));
  });

  test('fails an Unconfined seccomp profile on one container', () => {
    // GIVEN a valid pod-level profile overridden by Unconfined
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      model(o).securityContext.seccompProfile = { type: 'Unconfined' };
    });

    // THEN the override is reported
    expect(problems).toContainEqual(expect.stringContaining('containers[0].securityContext.seccompProfile.type: container "model" must not set seccompProfile "Unconfined"'));
  });

  test('fails a root user', () => {
    // GIVEN runAsUser 0 on the pod and runAsNonRoot false on a container
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      podSpec(o).securityContext.runAsUser = 0;
      podSpec(o).containers[1].securityContext.runAsNonRoot = false;
    });

    // THEN both are reported
    expect(problems).toContainEqual('Deployment mlops/fraud-detector: spec.template.spec.securityContext.runAsUser: pod must not run as user 0 (restricted: running as non-root user)');
    expect(problems).toContainEqual(expect.stringContaining('containers[1].securityContext.runAsNonRoot: container "metrics-proxy" must not set runAsNonRoot to false'));
  });

  test('fails escalation, writable root, host namespaces and forbidden volumes', () => {
    // GIVEN an init container that may escalate and writes its root filesystem, hostNetwork and a hostPath volume
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      const spec = podSpec(o);
      spec.initContainers = [{ name: 'init', image: 'busybox:1.36.1', securityContext: { capabilities: { drop: ['ALL'] } } }];
      spec.hostNetwork = true;
      spec.volumes.push({ name: 'host', hostPath: { path: '/var/run' } });
    });

    // THEN each is reported with its field
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.initContainers[0].securityContext.allowPrivilegeEscalation: container "init" must set allowPrivilegeEscalation to false'));
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem: container "init" must set readOnlyRootFilesystem to true'));
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.hostNetwork: must not be true'));
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.volumes[2].hostPath: volume "host": hostPath volumes are forbidden'));
  });

  test('fails a latest or untagged image', () => {
    // GIVEN one container on :latest and one without a tag
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      model(o).image = 'ghcr.io/mlflow/mlflow:latest';
      podSpec(o).containers[1].image = 'node';
    });

    // THEN both images are named
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[0].image: container "model" image "ghcr.io/mlflow/mlflow:latest" uses the latest tag'));
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[1].image: container "metrics-proxy" image "node" has no tag'));
  });

  test('tells pinned images from moving ones', () => {
    // GIVEN image references of each shape
    // WHEN classified
    // THEN version tags and digests pass; latest, no tag and non-version tags fail
    expect(unpinnedImage('registry:5000/team/app:1.2.3')).toBeUndefined();
    expect(unpinnedImage(`node@sha256:${'a'.repeat(64)}`)).toBeUndefined();
    expect(unpinnedImage(`node:latest@sha256:${'b'.repeat(64)}`)).toBeUndefined();
    expect(unpinnedImage('registry:5000/team/app')).toMatch(/has no tag/);
    expect(unpinnedImage('node:LATEST')).toMatch(/latest/);
    expect(unpinnedImage('nginx:stable')).toMatch(/not a version/);
    expect(unpinnedImage('node@sha256:abc')).toMatch(/malformed digest/);
  });

  test('fails a plain-text password in env', () => {
    // GIVEN a password as a literal value and a credential inside a URL
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      model(o).env.push({ name: 'DB_PASSWORD', value: 'hunter2' });
      model(o).env.push({ name: 'BACKEND_STORE_URI', value: 'postgresql://mlflow:hunter2@postgres:5432/mlflow' });
    });

    // THEN both are reported with the env entry
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[0].env[2]: container "model" env DB_PASSWORD has a plain-text value; credentials must use valueFrom.secretKeyRef'));
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[0].env[3].value: container "model" env BACKEND_STORE_URI has a URL with a password in plain text'));
  });

  test('accepts a password expanded from a secret-backed variable', () => {
    // GIVEN the password in the URL as $(VAR), the variable from a Secret
    const objects = validStack();
    model(objects).env.push({ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'mlflow-auth', key: 'db-password' } } });
    model(objects).args.push('--backend-store-uri', 'postgresql://mlflow:$(DB_PASSWORD)@postgres:5432/mlflow');

    // WHEN validated
    const problems = validateManifests(objects, OPTIONS);

    // THEN it passes
    expect(problems).toEqual([]);
  });

  test('fails a mounted service account token unless the object is allowed to use the API', () => {
    // GIVEN a pod spec that leaves the token mounted
    const objects = validStack();
    delete podSpec(objects).automountServiceAccountToken;

    // WHEN checked without and with the allowance
    const denied = validateManifests(objects, OPTIONS);
    const allowed = validateManifests(objects, { ...OPTIONS, allowServiceAccountToken: ['mlops/fraud-detector'] });

    // THEN only the first reports it
    expect(denied).toContainEqual(expect.stringContaining('Deployment mlops/fraud-detector: spec.template.spec.automountServiceAccountToken: must be false'));
    expect(allowed).toEqual([]);
  });

  test('checks the pod template of a CronJob', () => {
    // GIVEN a CronJob whose job pod runs as root
    const cronJob = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'drift', namespace: NS },
      spec: {
        schedule: '0 * * * *',
        jobTemplate: { spec: { template: { spec: { ...deployment('x').spec.template.spec, restartPolicy: 'Never' } } } },
      },
    };
    cronJob.spec.jobTemplate.spec.template.spec.securityContext = { runAsUser: 0 };

    // WHEN checked
    const problems = checkRestrictedPodSecurity(cronJob);

    // THEN the problems point into spec.jobTemplate.spec.template.spec
    expect(problems).toContainEqual(expect.stringContaining('CronJob mlops/drift: spec.jobTemplate.spec.template.spec.securityContext.runAsUser: pod must not run as user 0'));
  });
});

describe('validateManifests across objects', () => {
  test('fails a ServiceMonitor port name that is not on the Service', () => {
    // GIVEN an endpoint port the Service does not name
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'ServiceMonitor', 'fraud-detector').spec.endpoints[0].port = 'prometheus';
    });

    // THEN the endpoint and the Service's port names are reported
    expect(problems).toContainEqual(
      'ServiceMonitor mlops/fraud-detector: spec.endpoints[0].port: no selected Service has a port named "prometheus" (fraud-detector has ["http","metrics"])',
    );
  });

  test('fails a ServiceMonitor that selects no Service in its namespace', () => {
    // GIVEN the Service in another namespace
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'Service', 'fraud-detector').metadata.namespace = 'other';
    });

    // THEN the selector is reported
    expect(problems).toContainEqual(expect.stringContaining('ServiceMonitor mlops/fraud-detector: spec.selector: {"matchLabels":{"app.kubernetes.io/name":"fraud-detector"}} matches the labels of no Service in namespace mlops'));
  });

  test('fails a duplicate object', () => {
    // GIVEN the ConfigMap twice
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      o.push(find(o, 'ConfigMap', 'metrics-proxy'));
    });

    // THEN the duplicate is reported once
    expect(problems).toEqual([expect.stringContaining('ConfigMap mlops/metrics-proxy: metadata.name: duplicate object')]);
  });

  test('fails a Service whose selector matches no workload', () => {
    // GIVEN a selector no pod template carries
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'Service', 'fraud-detector').spec.selector = { app: 'nobody' };
    });

    // THEN the selector is reported
    expect(problems).toContainEqual(expect.stringContaining('Service mlops/fraud-detector: spec.selector: {"app":"nobody"} matches the pod labels of no workload'));
  });

  test('fails autoscalers and budgets that point at nothing, or at the same workload', () => {
    // GIVEN an HPA on a missing Deployment, a PDB selecting nothing, and the ScaledObject on the HPA's target
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'HorizontalPodAutoscaler', 'fraud-detector').spec.scaleTargetRef.name = 'missing';
      find(o, 'PodDisruptionBudget', 'fraud-detector').spec.selector = { matchLabels: { app: 'nobody' } };
    });
    const conflict = problemsAfter((o) => {
      find(o, 'ScaledObject', 'fraud-detector-shadow').spec.scaleTargetRef.name = 'fraud-detector';
    });

    // THEN each reference is reported
    expect(problems).toContainEqual('HorizontalPodAutoscaler mlops/fraud-detector: spec.scaleTargetRef: apps/v1 Deployment "missing" is not in the set (namespace mlops)');
    expect(problems).toContainEqual(expect.stringContaining('PodDisruptionBudget mlops/fraud-detector: spec.selector: {"matchLabels":{"app":"nobody"}} matches the pod labels of no workload'));
    expect(conflict).toContainEqual(expect.stringContaining('mlops/Deployment/fraud-detector is also scaled by'));
  });

  test('fails a ConfigMap or Secret reference that is neither in the set nor declared external', () => {
    // GIVEN the proxy ConfigMap removed, and no external Secrets declared
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter(
      (o) => {
        o.splice(o.indexOf(find(o, 'ConfigMap', 'metrics-proxy')), 1);
      },
      {},
    );

    // THEN the volume and the secretKeyRef are reported
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.volumes[1].configMap.name: ConfigMap "metrics-proxy" is not in the set (namespace mlops) nor listed in externalConfigMaps'));
    expect(problems).toContainEqual(expect.stringContaining('spec.template.spec.containers[0].env[1].valueFrom.secretKeyRef: Secret "mlflow-auth" is not in the set (namespace mlops) nor listed in externalSecrets'));
  });

  test('fails a ConfigMap volume item whose key the ConfigMap lacks', () => {
    // GIVEN the ConfigMap without the projected key
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      find(o, 'ConfigMap', 'metrics-proxy').data = { 'main.js': '' };
    });

    // THEN the missing key is named
    expect(problems).toContainEqual(expect.stringContaining('volumes[1].configMap.name: ConfigMap metrics-proxy has no key "index.js"'));
  });

  test('fails a Secret written into the manifests', () => {
    // GIVEN a Secret with data
    // WHEN the changed copy of the valid stack is validated
    const problems = problemsAfter((o) => {
      o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'mlflow-auth', namespace: NS }, stringData: { token: 't' } });
    });

    // THEN the contract is reported
    expect(problems).toContainEqual(expect.stringContaining('Secret mlops/mlflow-auth: data: a Secret with data in the manifests puts a secret in plain text'));
  });

  test('assertValidManifests throws one error listing every problem', () => {
    // GIVEN a stack with two problems
    const objects = validStack();
    model(objects).securityContext.privileged = true;
    find(objects, 'Deployment', 'fraud-detector').spec.replicas = '2';

    // WHEN asserted
    const run = () => assertValidManifests(objects, OPTIONS);

    // THEN one error names both
    expect(run).toThrow(/2 problems in 9 manifests:\n {2}- .*spec\.replicas: must be integer\n {2}- .*securityContext\.privileged/);
  });
});
