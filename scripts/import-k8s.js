#!/usr/bin/env node
// Generates src/imports/k8s.ts, the library's Kubernetes API classes (KubeDeployment,
// IntOrString, ...), from the OpenAPI document of the pinned kube-apiserver, without the
// internet: `cdk8s import k8s@<version>` would download a schema from GitHub.
//
//   node scripts/import-k8s.js                 starts the control plane of the control-plane
//                                              tier (test/controlplane/cluster.ts, built by
//                                              scripts/setup-kubernetes.sh) and reads its /openapi/v2
//   node scripts/import-k8s.js --openapi f.json  reads a saved /openapi/v2 document instead
//   ... --check                                writes nothing: exits 1 when the committed file
//                                              differs from what the document generates
//
// The document goes through the same two changes as the schemas `cdk8s import` downloads
// (cdk8s-team/cdk8s kubernetes-schemas): IntOrString and Quantity become "string or number"
// (so the generator writes their fromString/fromNumber classes), and string enums are
// dropped (plain strings, as in every earlier cdk8s k8s import). Then cdk8s-cli's own k8s
// importer writes the file, with its download replaced by the document.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
/** The Kubernetes version the types are generated from: the control-plane tier's, scripts/setup-kubernetes.sh. */
const KUBERNETES_VERSION = '1.37.2';
const OUT = path.join(root, 'src', 'imports');

async function openapiFromControlPlane() {
  require(path.join(root, 'node_modules', 'ts-node')).register({ transpileOnly: true, project: path.join(root, 'tsconfig.dev.json') });
  const { startControlPlane } = require(path.join(root, 'test', 'controlplane', 'cluster.ts'));
  const cp = await startControlPlane({ name: 'mlops-import-k8s' });
  try {
    const version = JSON.parse((await cp.kubectlOk(['version', '-o', 'json'])));
    const served = version.serverVersion.gitVersion;
    if (served !== `v${KUBERNETES_VERSION}`) throw new Error(`the control plane serves ${served}, not v${KUBERNETES_VERSION}; run scripts/setup-kubernetes.sh`);
    return JSON.parse(await cp.kubectlOk(['get', '--raw', '/openapi/v2'], { timeoutMs: 120_000 }));
  } finally {
    await cp.stop();
  }
}

/** The definitions as `cdk8s import` expects them (see the header). */
function cdk8sDefinitions(openapi) {
  // Only Kubernetes' own API: the custom resources a cluster serves (prometheus-operator's,
  // KEDA's) have their typed classes from their CRDs (src/imports/*.sh.ts, *.com.ts).
  const definitions = structuredClone(Object.fromEntries(Object.entries(openapi.definitions).filter(([name]) => name.startsWith('io.k8s.'))));
  for (const [name, other] of [['io.k8s.apimachinery.pkg.util.intstr.IntOrString', 'integer'], ['io.k8s.apimachinery.pkg.api.resource.Quantity', 'number']]) {
    if (!definitions[name]) throw new Error(`the OpenAPI document has no ${name}`);
    definitions[name] = { description: definitions[name].description, oneOf: [{ type: 'string' }, { type: other }] };
  }
  const dropEnums = (node) => {
    if (Array.isArray(node)) return node.forEach(dropEnums);
    if (node === null || typeof node !== 'object') return;
    if (node.type === 'string' && Array.isArray(node.enum)) delete node.enum;
    Object.values(node).forEach(dropEnums);
  };
  dropEnums(definitions);
  return { definitions };
}

async function main() {
  const at = process.argv.indexOf('--openapi');
  const openapi = at >= 0 ? JSON.parse(fs.readFileSync(process.argv[at + 1], 'utf8')) : await openapiFromControlPlane();
  const schema = JSON.stringify(cdk8sDefinitions(openapi));
  const cli = (file) => require(path.join(root, 'node_modules', 'cdk8s-cli', 'lib', file));
  cli('util.js').download = async () => schema;
  const { ImportKubernetesApi } = cli('import/k8s.js');
  const { Language } = cli('import/base.js');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-import-k8s-'));
  try {
    await new ImportKubernetesApi({ apiVersion: KUBERNETES_VERSION }).import({ outdir: tmp, targetLanguage: Language.TYPESCRIPT });
    const generated = fs.readFileSync(path.join(tmp, 'k8s.ts'), 'utf8');
    const header = `// Kubernetes v${KUBERNETES_VERSION} API, from kube-apiserver's /openapi/v2 by scripts/import-k8s.js; do not edit.\n`;
    const target = path.join(OUT, 'k8s.ts');
    if (process.argv.includes('--check')) {
      if (fs.readFileSync(target, 'utf8') !== header + generated) {
        console.error('import-k8s: src/imports/k8s.ts is not what the OpenAPI document generates; run node scripts/import-k8s.js');
        process.exitCode = 1;
        return;
      }
      console.log(`import-k8s: src/imports/k8s.ts is what Kubernetes v${KUBERNETES_VERSION}'s OpenAPI document generates`);
      return;
    }
    fs.writeFileSync(target, header + generated);
    console.log(`import-k8s: wrote src/imports/k8s.ts (Kubernetes v${KUBERNETES_VERSION}, ${(generated.length / 1024).toFixed(0)} KiB)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`import-k8s: ${err.stack ?? err}`);
  process.exitCode = 1;
});
