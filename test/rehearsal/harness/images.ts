/**
 * Images without pulling: each image reference maps to programs on this machine (the MLflow
 * image to the repository's .venv, postgres to Debian's PostgreSQL, node to the Node running
 * jest, chrislusf/seaweedfs to the `weed` scripts/setup-seaweedfs.sh builds), with the image's
 * PATH and ENV and, where a container has no command, its ENTRYPOINT.
 * The versions must match the image tags; see cluster.ts for every difference from the images.
 */
import { createHash } from 'crypto';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ContainerConfigError, PathMapping } from './kubelet';
import type { RunAs } from './processes';
import { weedBinary } from '../../support/s3-server';

const REPO = path.resolve(__dirname, '..', '..', '..');
const VENV = path.join(REPO, '.venv');
const PG_BIN = '/usr/lib/postgresql/15/bin';
const EXTRAS_FILE = path.join(__dirname, '..', 'mlflow-image-extras.txt');
const EXTRAS_DIR = path.join(REPO, '.cache', 'rehearsal', 'mlflow-image-extras');

/** How the harness runs one image. */
export interface ImageProgram {
  /** What the image is, for messages. */
  readonly description: string;
  /** PATH of the image. */
  readonly path: string[];
  /** ENV of the image, before the container's env. */
  readonly env: Record<string, string>;
  /** Overrides the pod's user, with the reason. */
  readonly runAs?: RunAs;
  /** Directories the program needs that sit behind a directory the pod's uid cannot enter. */
  readonly expose?: string[];
  /** The image's ENTRYPOINT + CMD when the container has no command: returns the argv to exec. */
  entrypoint?(ctx: EntrypointContext): Promise<string[]>;
}

export interface EntrypointContext {
  readonly args: string[];
  readonly env: Record<string, string>;
  readonly runAs: RunAs;
  readonly mappings: readonly PathMapping[];
  /** Runs a helper program as the container's user in the pod's namespace. */
  exec(argv: string[], stdin?: string): Promise<{ code: number; output: string }>;
}

/** image reference -> local program. */
const IMAGES: readonly { match: RegExp; program: (m: RegExpExecArray) => ImageProgram }[] = [
  { match: /^ghcr\.io\/mlflow\/mlflow:v(\d+\.\d+\.\d+)(-full)?$/, program: (m) => mlflowProgram(m[1]) },
  { match: /^(?:docker\.io\/)?(?:library\/)?postgres:(\d+)(?:\.(\d+))?(?:-[a-z0-9.]+)?$/, program: (m) => postgresProgram(Number(m[1])) },
  { match: /^(?:docker\.io\/)?(?:library\/)?node:(\d+)[^/]*$/, program: () => nodeProgram() },
  { match: /^(?:docker\.io\/)?prom\/pushgateway:v(\d+\.\d+\.\d+)$/, program: (m) => pushgatewayProgram(m[1]) },
  { match: /^(?:docker\.io\/)?chrislusf\/seaweedfs:(\d+\.\d+)$/, program: (m) => seaweedfsProgram(m[1]) },
];

/** The local program of an image; ContainerConfigError when the table has none or it is not installed. */
export function programFor(image: string | undefined): ImageProgram {
  for (const entry of IMAGES) {
    const m = entry.match.exec(String(image));
    if (m) return entry.program(m);
  }
  throw new ContainerConfigError(`image ${image} has no local program in the rehearsal's image table`);
}

function mlflowProgram(tag: string): ImageProgram {
  const sitePackages = fs.existsSync(path.join(VENV, 'lib')) ? fs.readdirSync(path.join(VENV, 'lib')).map((d) => path.join(VENV, 'lib', d, 'site-packages')) : [];
  const dist = sitePackages.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d) : [])).find((f) => /^mlflow-\d/.test(f));
  if (!fs.existsSync(path.join(VENV, 'bin', 'mlflow')) || dist === undefined) {
    throw new ContainerConfigError(`the MLflow image needs ${VENV} with mlflow; run scripts/setup-python.sh`);
  }
  const version = /^mlflow-(.+)\.dist-info$/.exec(dist)?.[1];
  if (version !== tag) {
    throw new ContainerConfigError(`the image is MLflow ${tag} but ${VENV} has ${version}; align python/requirements.txt with Images.MLFLOW`);
  }
  // The virtualenv's interpreter may live where the pod's uid cannot go (pyenv under /root).
  const home = /^home\s*=\s*(.+)$/m.exec(fs.readFileSync(path.join(VENV, 'pyvenv.cfg'), 'utf8'))?.[1]?.trim();
  return {
    description: `MLflow ${tag} (.venv)`,
    path: [path.join(VENV, 'bin'), '/usr/local/bin', '/usr/bin', '/bin'],
    env: { PYTHONPATH: EXTRAS_DIR },
    expose: home === undefined ? [] : [path.dirname(home)],
  };
}

function postgresProgram(major: number): ImageProgram {
  if (!fs.existsSync(path.join(PG_BIN, 'postgres'))) throw new ContainerConfigError(`${PG_BIN}/postgres is missing; run scripts/setup-debian.sh`);
  const local = /\(PostgreSQL\) (\d+)/.exec(execFileSync(path.join(PG_BIN, 'postgres'), ['--version'], { encoding: 'utf8' }))?.[1];
  if (Number(local) !== major) throw new ContainerConfigError(`the image is PostgreSQL ${major} but ${PG_BIN} is ${local}`);
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return {
    description: `PostgreSQL ${major} (Debian)`,
    path: [PG_BIN, '/usr/bin', '/bin'],
    env: { PG_MAJOR: String(major) },
    runAs: { uid, gid, groups: [gid] },
    entrypoint: postgresEntrypoint,
  };
}

/** The official image's docker-entrypoint.sh, for `postgres ...` args, with Debian's binaries. */
async function postgresEntrypoint(ctx: EntrypointContext): Promise<string[]> {
  const args = ctx.args.length > 0 ? ctx.args : ['postgres'];
  if (args[0] !== 'postgres') return args;
  const pgdata = ctx.env.PGDATA ?? '/var/lib/postgresql/data';
  const socketDir = ctx.mappings.find((m) => m.containerPath === '/var/run/postgresql')?.localPath;
  if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    const user = ctx.env.POSTGRES_USER ?? 'postgres';
    const password = ctx.env.POSTGRES_PASSWORD;
    if (!password) throw new ContainerConfigError('postgres: Database is uninitialized and superuser password is not specified (POSTGRES_PASSWORD)');
    fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    fs.chownSync(pgdata, ctx.runAs.uid, ctx.runAs.gid);
    const pwfile = path.join(path.dirname(pgdata), '.pwfile');
    fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    fs.chownSync(pwfile, ctx.runAs.uid, ctx.runAs.gid);
    const init = await ctx.exec(['initdb', `--username=${user}`, `--pwfile=${pwfile}`, '-D', pgdata, ...(ctx.env.POSTGRES_INITDB_ARGS ?? '').split(/\s+/).filter(Boolean)]);
    fs.rmSync(pwfile);
    if (init.code !== 0) throw new ContainerConfigError(`postgres entrypoint: initdb failed:\n${init.output}`);
    fs.appendFileSync(path.join(pgdata, 'pg_hba.conf'), `\nhost all all all ${ctx.env.POSTGRES_HOST_AUTH_METHOD ?? 'scram-sha-256'}\n`);
    const db = ctx.env.POSTGRES_DB ?? user;
    if (db !== 'postgres') {
      const create = await ctx.exec(['postgres', '--single', '-D', pgdata, '-j', 'postgres'], `CREATE DATABASE "${db}";\n`);
      if (create.code !== 0) throw new ContainerConfigError(`postgres entrypoint: CREATE DATABASE ${db} failed:\n${create.output}`);
    }
  }
  return socketDir ? [...args, '-c', `unix_socket_directories=${socketDir}`] : args;
}

function nodeProgram(): ImageProgram {
  return { description: `Node.js ${process.version} (this machine)`, path: [path.dirname(process.execPath), '/usr/bin', '/bin'], env: {} };
}

/**
 * The Pushgateway image's ENTRYPOINT /bin/pushgateway as Debian's prometheus-pushgateway. Its
 * version is Debian's (1.5.1 on bookworm), not the tag's (the stack pins 1.11.0): the flags the
 * stack passes, the push API and the exposition are the same in both, which is what the stack
 * relies on; the drift rehearsal (test/rehearsal/drift-monitor.test.ts) says the same.
 */
function pushgatewayProgram(tag: string): ImageProgram {
  const binary = '/usr/bin/prometheus-pushgateway';
  if (!fs.existsSync(binary)) throw new ContainerConfigError(`${binary} is missing; run scripts/setup-debian.sh`);
  return {
    description: `Pushgateway (Debian's, for the image's ${tag})`,
    path: ['/usr/bin', '/bin'],
    env: {},
    entrypoint: async (ctx) => [binary, ...ctx.args],
  };
}

/**
 * The SeaweedFS image's /usr/bin/weed as the `weed` scripts/setup-seaweedfs.sh builds from the
 * Go module proxy (test/support/s3-server.ts names the version), which must be the tag's
 * release. Only a container with `command: [weed]` runs: the image's /entrypoint.sh (default
 * flags per subcommand, su-exec from root) is not emulated.
 */
function seaweedfsProgram(tag: string): ImageProgram {
  let binary: string;
  try {
    binary = weedBinary();
  } catch (e) {
    throw new ContainerConfigError((e as Error).message);
  }
  const local = weedRelease(binary);
  if (local !== tag) throw new ContainerConfigError(`the image is SeaweedFS ${tag} but ${binary} is ${local}; align the image tag with test/support/s3-server.ts`);
  return {
    description: `SeaweedFS ${tag} (${binary})`,
    path: [path.dirname(binary), '/usr/bin', '/bin'],
    env: {},
    // The binary sits under the cache in root's home, which the pod's uid cannot enter.
    expose: [path.dirname(binary)],
  };
}

const weedReleases = new Map<string, string | undefined>();

/** The release `weed version` names ("version 30GB 4.53 <commit> linux amd64"), asked once per binary: probes look the image up too. */
function weedRelease(binary: string): string | undefined {
  if (!weedReleases.has(binary)) {
    const out = execFileSync(binary, ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    weedReleases.set(binary, /^version \S+ (\d+\.\d+) /m.exec(out)?.[1]);
  }
  return weedReleases.get(binary);
}

/**
 * Installs test/rehearsal/mlflow-image-extras.txt into .cache once per content. Installs into
 * a private directory and renames it into place, so concurrent runs never see half a tree.
 */
export function ensurePythonExtras(): void {
  const want = createHash('sha256').update(fs.readFileSync(EXTRAS_FILE)).digest('hex');
  const stampOf = (dir: string) => path.join(dir, '.requirements.sha256');
  const current = () => fs.existsSync(stampOf(EXTRAS_DIR)) && fs.readFileSync(stampOf(EXTRAS_DIR), 'utf8') === want;
  if (current()) return;
  if (!fs.existsSync(path.join(VENV, 'bin', 'python'))) throw new Error(`${VENV} is missing; run scripts/setup-python.sh`);
  const staging = `${EXTRAS_DIR}.${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  execFileSync(path.join(VENV, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--target', staging, '-r', EXTRAS_FILE], { stdio: 'inherit' });
  fs.writeFileSync(stampOf(staging), want);
  if (current()) {
    fs.rmSync(staging, { recursive: true, force: true });
    return;
  }
  const old = `${EXTRAS_DIR}.old.${process.pid}`;
  if (fs.existsSync(EXTRAS_DIR)) fs.renameSync(EXTRAS_DIR, old);
  fs.renameSync(staging, EXTRAS_DIR);
  fs.rmSync(old, { recursive: true, force: true });
}
