/**
 * A user's project with mlops-constructs installed from its packed tarball, as `npm pack` makes
 * it for the registry: test/fixtures/user-project (a CommonJS tsconfig, a stack, its jest test)
 * copied to a temporary directory, and `npm ci` of the tarball and the project's tools.
 *
 * What differs from a user's `npm install`, and why: the project's lockfile is cut from this
 * repository's package-lock.json (the same versions of cdk8s, jest, ts-jest, typescript and the
 * validator's peers, each with its integrity), so npm takes every tarball from its cache, which
 * this repository's own `npm ci` filled, and asks the registry only for what the cache lacks.
 * The install is then offline in practice, takes well under a minute, and cannot pick up a new release of a
 * transitive dependency halfway through a CI run.
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';

export const ROOT = path.join(__dirname, '..');
const FIXTURE = path.join(__dirname, 'fixtures', 'user-project');

/** What the user project installs beside mlops-constructs: its tools and the validator's peers. */
const PROJECT_DEV_DEPENDENCIES = [
  'cdk8s', 'constructs', 'cdk8s-cli', 'ts-node', 'typescript', 'jest', 'ts-jest', '@types/jest', '@types/node',
  'ajv', 'js-yaml', 'kubernetes-models', '@kubernetes/client-node',
];

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  [key: string]: unknown;
}

export interface PackedPackage {
  /** The .tgz `npm pack` wrote. */
  readonly tarball: string;
  /** Paths inside the tarball, without the leading `package/`. */
  readonly files: string[];
}

/**
 * Copies the repository's files as a fresh clone has them (tracked and new files of the work
 * tree; nothing ignored, so no assets/, lib/ or dist/) into `destination`, with this checkout's
 * node_modules linked in place of the packages `npm ci` would install.
 */
export function cloneWorkTree(destination: string): string {
  const files = run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], ROOT).split('\0').filter(Boolean);
  for (const file of files) {
    const from = path.join(ROOT, file);
    if (!existsSync(from) || statSync(from).isDirectory()) continue;
    mkdirSync(path.dirname(path.join(destination, file)), { recursive: true });
    copyFileSync(from, path.join(destination, file));
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(destination, 'node_modules'));
  return destination;
}

/**
 * Packs a clone of this repository with `npm pack`, which runs the package's prepack (`npm run
 * build`: bundles and lib/) as a release job would; in a clone, so that the checkout's own
 * assets/ and lib/, which other tests read meanwhile, are not rewritten.
 */
export function packPackage(destination: string): PackedPackage {
  mkdirSync(destination, { recursive: true });
  const clone = cloneWorkTree(mkdtempSync(path.join(tmpdir(), 'mlops-pack-clone-')));
  try {
    run('npm', ['pack', '--pack-destination', destination, '--loglevel', 'error'], clone);
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
  const tarball = readdirSync(destination).find((f) => /^mlops-constructs-.*\.tgz$/.test(f));
  if (!tarball) throw new Error(`npm pack wrote no mlops-constructs-*.tgz into ${destination}`);
  const file = path.join(destination, tarball);
  const files = run('tar', ['-tzf', file], destination).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  return { tarball: file, files };
}

/**
 * Creates the user project in a new temporary directory with the packed package installed by
 * `npm ci`, and returns the directory.
 */
export function createUserProject(pkg: PackedPackage): string {
  const project = mkdtempSync(path.join(tmpdir(), 'mlops-user-project-'));
  for (const file of readdirSync(FIXTURE)) copyFileSync(path.join(FIXTURE, file), path.join(project, file));
  const tarballName = path.basename(pkg.tarball);
  copyFileSync(pkg.tarball, path.join(project, tarballName));

  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const packageJson = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as LockEntry & { name: string };
  const devDependencies: Record<string, string> = { [packageJson.name]: `file:${tarballName}` };
  for (const name of PROJECT_DEV_DEPENDENCIES) devDependencies[name] = installedVersion(lock.packages, name);
  const manifest = { name: 'user-project', version: '1.0.0', private: true, devDependencies };
  writeFileSync(path.join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  const packed: LockEntry = {
    version: packageJson.version as string,
    resolved: `file:${tarballName}`,
    integrity: `sha512-${createHash('sha512').update(readFileSync(pkg.tarball)).digest('base64')}`,
    dev: true,
  };
  for (const field of ['license', 'dependencies', 'peerDependencies', 'peerDependenciesMeta', 'bin', 'engines']) {
    if (packageJson[field] !== undefined) (packed as Record<string, unknown>)[field] = packageJson[field];
  }
  const packages: Record<string, LockEntry> = {
    '': { name: manifest.name, version: manifest.version, devDependencies },
    ...closure({ ...lock.packages, [`node_modules/${packageJson.name}`]: packed }, devDependencies),
  };
  writeFileSync(path.join(project, 'package-lock.json'), `${JSON.stringify({ name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);

  // None of these packages has an install script (checked in packaging.test.ts); npm 11 would
  // ask before running one.
  run('npm', ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel', 'error'], project);
  return project;
}

/** The lock entries the root's dependencies need, each found where Node.js finds it. */
function closure(all: Record<string, LockEntry>, rootDependencies: Record<string, string>): Record<string, LockEntry> {
  const picked: Record<string, LockEntry> = {};
  const queue: Array<[string, LockEntry]> = [['', { dependencies: rootDependencies }]];
  while (queue.length > 0) {
    const [at, entry] = queue.shift()!;
    const peerMeta = entry.peerDependenciesMeta ?? {};
    const wanted = { ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies };
    for (const name of Object.keys(wanted)) {
      // An optional peer is the user's choice (e.g. @pulumi/pulumi): only if the project asks for it.
      if (peerMeta[name]?.optional && !rootDependencies[name]) continue;
      const found = resolveFrom(all, at, name);
      if (!found) {
        if (entry.optionalDependencies?.[name]) continue;
        throw new Error(`package-lock.json has no ${name} reachable from ${at || 'the root'}; run npm ci`);
      }
      if (picked[found]) continue;
      const { dev, devOptional, ...rest } = all[found];
      // The project installs them as dev dependencies; devOptional (optional only in the dev tree) is optional here.
      picked[found] = { ...rest, dev: true, ...(devOptional || rest.optional ? { optional: true } : {}) };
      void dev;
      queue.push([found, all[found]]);
    }
  }
  return picked;
}

function resolveFrom(all: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (all[candidate]) return candidate;
    if (!dir) return undefined;
    const at = dir.lastIndexOf('node_modules/');
    dir = at <= 0 ? '' : dir.slice(0, at - 1);
  }
}

function installedVersion(all: Record<string, LockEntry>, name: string): string {
  const version = all[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`package-lock.json has no node_modules/${name}; it is a dev dependency of this repository, run npm ci`);
  return version;
}

/** Runs a program in `cwd`, returning stdout; a failure carries its output. */
export function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  try {
    return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const { stdout, stderr, status } = e as { stdout?: string; stderr?: string; status?: number };
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${status}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/**
 * The example test of docs/testing.md: the lines between the ```ts fence that follows the
 * `<!-- example: test/testing-helpers.test.ts -->` marker and the next line that is only a fence.
 */
export function documentedExample(): string {
  const lines = readFileSync(path.join(ROOT, 'docs', 'testing.md'), 'utf8').split('\n');
  const marker = lines.indexOf('<!-- example: test/testing-helpers.test.ts -->');
  if (marker < 0 || lines[marker + 1] !== '```ts') throw new Error('docs/testing.md has no ```ts block after <!-- example: test/testing-helpers.test.ts -->');
  const end = lines.indexOf('```', marker + 2);
  if (end < 0) throw new Error('docs/testing.md: the example block is not closed by a ``` line');
  return `${lines.slice(marker + 2, end).join('\n')}\n`;
}

/** The code blocks of the README's `## Install` section, by language (`sh`, `yaml`, `ts`). */
export function readmeInstallBlocks(): Record<string, string> {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Install\n');
  if (start < 0) throw new Error('README.md has no "## Install" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks: Record<string, string> = {};
  for (const m of section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)) {
    if (blocks[m[1]] !== undefined) throw new Error(`README.md's install section has two \`\`\`${m[1]} blocks`);
    blocks[m[1]] = m[2];
  }
  return blocks;
}
