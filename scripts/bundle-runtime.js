#!/usr/bin/env node
// Bundles each in-cluster program (src/runtime) into one self-contained file under assets/,
// which the constructs ship in a ConfigMap and run with a stock Node image.
'use strict';

const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');

/**
 * The bundle file names are part of the contract (src/contract.ts): the constructs read the
 * same names from assets/ and mount them in the pod. The contract is plain TypeScript data, so
 * esbuild turns it into CommonJS in memory and this script reads the names from it.
 */
function loadContract() {
  const { outputFiles } = esbuild.buildSync({
    absWorkingDir: root, entryPoints: ['src/contract.ts'], bundle: true, platform: 'node', format: 'cjs', write: false,
  });
  const module = { exports: {} };
  new Function('module', 'exports', outputFiles[0].text)(module, module.exports);
  return module.exports;
}

const { BUNDLES } = loadContract();

/**
 * One line per program: entry point -> bundled file. The checker is also the package's
 * `mlops-drift` bin (package.json), so it starts with a shebang that npm's bin link runs.
 */
const ENTRIES = [
  { entry: 'src/runtime/metrics-proxy/main.ts', outfile: `assets/${BUNDLES.metricsProxy}` },
  { entry: 'src/runtime/drift/main.ts', outfile: `assets/${BUNDLES.driftChecker}`, banner: '#!/usr/bin/env node' },
  { entry: 'src/runtime/promotion-relay/main.ts', outfile: `assets/${BUNDLES.promotionRelay}` },
];

async function bundle({ entry, outfile, banner }) {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // A ConfigMap holds at most 1 MiB; no minifying keeps stack traces readable.
    legalComments: 'none',
    sourcemap: false,
    banner: banner ? { js: banner } : undefined,
    metafile: true,
    logLevel: 'silent',
  });
  for (const warning of result.warnings) {
    console.error(`bundle-runtime: ${entry}: warning: ${warning.text}`);
  }
  const bytes = result.metafile.outputs[outfile].bytes;
  console.log(`bundle-runtime: ${entry} -> ${outfile} (${(bytes / 1024).toFixed(1)} KiB)`);
  return result.warnings.length;
}

async function run() {
  let warnings = 0;
  for (const entry of ENTRIES) warnings += await bundle(entry);
  // A warning (e.g. a CommonJS global used wrongly) can make a bundle fail only in the pod.
  if (warnings > 0) process.exitCode = 1;
}

run().catch((err) => {
  // esbuild has already described build errors (file, line, column) in err.errors.
  for (const error of err.errors ?? []) {
    const where = error.location ? `${error.location.file}:${error.location.line}:${error.location.column}: ` : '';
    console.error(`bundle-runtime: ${where}${error.text}`);
  }
  if (!err.errors) console.error(`bundle-runtime: ${err.stack ?? err}`);
  process.exitCode = 1;
});
