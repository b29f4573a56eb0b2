// The harness's kubelet emulation (env resolution, `$(VAR)` expansion, path rewriting) against
// the rules Kubernetes documents, so the rehearsal does not pass a manifest a kubelet would not.
import { ContainerConfigError, expandVars, resolveEnv, rewritePath } from './harness/kubelet';

const sources = {
  secrets: { db: { password: 's3cr3t', uri: 'postgresql+psycopg2://u:p@h/d' } },
  configMaps: { settings: { level: 'info' } },
  fields: { 'metadata.name': 'mlflow-0', 'status.podIP': '10.244.0.11' },
};

describe('rehearsal kubelet emulation', () => {
  test('expands $(VAR) like Kubernetes: defined names replaced, unknown kept, $$ escapes', () => {
    const vars: Record<string, string> = { USER: 'mlflow', HOST: 'db' };
    const lookup = (n: string) => vars[n];
    expect(expandVars('postgresql://$(USER)@$(HOST)/x', lookup)).toBe('postgresql://mlflow@db/x');
    expect(expandVars('$(MISSING) and $$(USER) and $USER and $', lookup)).toBe('$(MISSING) and $(USER) and $USER and $');
    expect(expandVars('$(UNCLOSED', lookup)).toBe('$(UNCLOSED');
  });

  test('builds env in order: secretKeyRef, configMapKeyRef, fieldRef, and values expanded against earlier entries only', () => {
    const env = resolveEnv({
      name: 'c',
      env: [
        { name: 'LATE', value: '$(EARLY)-$(AFTER)' },
        { name: 'EARLY', value: 'e' },
        { name: 'AFTER', value: '$(EARLY)!' },
        { name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
        { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'level' } } },
        { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'OPT', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } },
      ],
    }, sources);
    expect(env).toEqual({ LATE: '$(EARLY)-$(AFTER)', EARLY: 'e', AFTER: 'e!', PGPASSWORD: 's3cr3t', LEVEL: 'info', POD: 'mlflow-0' });
  });

  test('fails like CreateContainerConfigError on a missing Secret or key', () => {
    expect(() => resolveEnv({ name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }, sources))
      .toThrow(new ContainerConfigError('container "c": env X: secret "nope" not found'));
    expect(() => resolveEnv({ name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'nope' } } }] }, sources))
      .toThrow('container "c": env X: couldn\'t find key nope in Secret db');
  });

  test('rewrites values under a mount, longest mount first, and leaves everything else alone', () => {
    const mounts = [
      { containerPath: '/tmp', localPath: '/rh/scratch' },
      { containerPath: '/opt/mlops', localPath: '/rh/bundle' },
      { containerPath: '/mlflow/prometheus', localPath: '/rh/prom' },
      { containerPath: '/mlflow/prometheus/nested', localPath: '/rh/nested' },
    ];
    expect(rewritePath('/opt/mlops/metrics-proxy.js', mounts)).toBe('/rh/bundle/metrics-proxy.js');
    expect(rewritePath('/tmp', mounts)).toBe('/rh/scratch');
    expect(rewritePath('/mlflow/prometheus/nested/x', mounts)).toBe('/rh/nested/x');
    expect(rewritePath('--out=/tmp/file', mounts)).toBe('--out=/rh/scratch/file');
    expect(rewritePath('/tmpfile', mounts)).toBe('/tmpfile');
    expect(rewritePath('http://mlflow.mlops.svc.cluster.local:5000/tmp', mounts)).toBe('http://mlflow.mlops.svc.cluster.local:5000/tmp');
    expect(rewritePath('listen_addresses=*', mounts)).toBe('listen_addresses=*');
  });
});
