// The dependency rules of docs/architecture.md ("Layers"), checked by `npm run lint` (part of
// `npm run test:unit`); test/architecture.test.ts shows each rule failing on a broken copy.
// Paths are relative to the directory eslint runs in (the repository root, or that copy).
'use strict';

const tseslint = require('typescript-eslint');
const importPlugin = require('eslint-plugin-import');

/** Capability folders of src/constructs, and the other capabilities' interface files each may import. */
const CAPABILITIES = {
  serving: [],
  registry: [],
  drift: ['./serving/interfaces.ts'],
  alerts: ['./serving/interfaces.ts', './drift/interfaces.ts', './promotion/interfaces.ts'],
  promotion: ['./serving/interfaces.ts'],
};

const constructsZones = [
  // core/ is the floor: it imports nothing of the capabilities.
  { target: './src/constructs/core', from: './src/constructs', except: ['./core'], message: 'core/ imports only core/' },
  // A capability imports core/, its own files and the interfaces it is allowed.
  ...Object.entries(CAPABILITIES).map(([name, interfaces]) => ({
    target: `./src/constructs/${name}`,
    from: './src/constructs',
    except: ['./core', `./${name}`, ...interfaces],
    message: `${name}/ imports only core/, its own files${interfaces.length ? ` and ${interfaces.join(', ')}` : ''}`,
  })),
];

const layerZones = [
  // One direction: examples -> pulumi -> constructs -> shared -> contract; runtime -> shared -> contract.
  { target: './src/constructs', from: ['./src/pulumi', './src/testing', './src/runtime', './examples'], message: 'the constructs do not depend on the layers above them or on the runtime programs' },
  { target: './src/runtime', from: ['./src/constructs', './src/pulumi', './src/testing', './src/index.ts'], message: 'runtime programs are bundled alone: they import only src/runtime, src/shared and src/contract.ts' },
  // src/shared is plain code both the constructs and the runtime programs take (the cron dialect).
  { target: './src/shared', from: './src', except: ['./shared', './contract.ts'], message: 'src/shared imports only src/shared and src/contract.ts' },
  { target: './src/contract.ts', from: './src', except: ['./contract.ts'], message: 'src/contract.ts is plain data and imports nothing' },
];

module.exports = tseslint.config(
  { ignores: ['lib/**', 'dist/**', 'assets/**', 'node_modules/**', 'src/imports/**', 'coverage/**'] },
  {
    files: ['src/**/*.ts'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' },
    plugins: { import: importPlugin, '@typescript-eslint': tseslint.plugin },
    settings: {
      'import/parsers': { '@typescript-eslint/parser': ['.ts'] },
      // Only the repository's own files make up the dependency graph.
      'import/ignore': ['node_modules'],
      'import/resolver': { typescript: { alwaysTryTypes: true }, node: { extensions: ['.ts', '.js'] } },
    },
    rules: {
      'import/no-cycle': ['error', { ignoreExternal: true }],
      'import/no-restricted-paths': ['error', { zones: [...constructsZones, ...layerZones] }],
      // cdk8s-plus-28 is unmaintained upstream: the library has Kubernetes types of its own
      // (src/imports/k8s.ts, through core/k8s.ts); cdk8s-plus is left to the synth benchmark.
      'no-restricted-imports': ['error', { paths: [{ name: 'cdk8s-plus-28', message: 'use the Kubernetes types of src/constructs/core/k8s.ts' }], patterns: [{ group: ['cdk8s-plus-28/*'], message: 'use the Kubernetes types of src/constructs/core/k8s.ts' }] }],
    },
    // Comments that silence rules of other linters (the generated imports, the validators).
    linterOptions: { reportUnusedDisableDirectives: 'off' },
  },
  {
    // index.ts files say what a folder makes public; no other file of the library re-exports.
    files: ['src/constructs/**/*.ts', 'src/pulumi/**/*.ts', 'src/contract.ts'],
    ignores: ['**/index.ts'],
    rules: {
      'no-restricted-syntax': ['error',
        { selector: 'ExportAllDeclaration', message: 'only index.ts files re-export' },
        { selector: 'ExportNamedDeclaration[source]', message: 'only index.ts files re-export' },
      ],
    },
  },
  // core/k8s.ts is the one door to the generated Kubernetes types.
  { files: ['src/constructs/core/k8s.ts'], rules: { 'no-restricted-syntax': 'off' } },
);
