/**
 * The real Pulumi engine for tests: the CLI, the Node.js language host and the Kubernetes
 * provider that scripts/setup-pulumi.sh builds, run as a user runs them, in the project
 * directory of Pulumi.yaml.
 *
 * What a workspace isolates, and how
 * - PULUMI_HOME is a temporary directory: the provider is installed there with
 *   `pulumi plugin install resource kubernetes v4.25.0 --file`, under the version the
 *   @pulumi/kubernetes SDK asks for, and automatic plugin downloads are off, so a version
 *   mismatch fails instead of fetching another provider. No provider plugin is on PATH.
 * - The backend is a local directory (`PULUMI_BACKEND_URL=file://...`), secrets use a
 *   passphrase.
 * - Stack config goes to a temporary file (`--config-file`), never to Pulumi.<stack>.yaml in
 *   the repository.
 * The language host is on PATH, as the CLI looks language hosts up there. It is the host of
 * sdk v3.68.0, which predates the runtime options the CLI now sends with each run, so it does
 * not pass Pulumi.yaml's `typescript` and `tsconfig` options to the program's run script; the
 * workspace passes them the way the current host does (hostOptionsEnv), so the values in
 * Pulumi.yaml are what the run script resolves.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { cacheDir } from '../controlplane/binaries';

export const PULUMI_VERSION = 'v3.248.0';
export const LANGUAGE_HOST_VERSION = 'v3.68.0';
export const KUBERNETES_PROVIDER_VERSION = 'v4.25.0';
/** The repository root: the project directory of Pulumi.yaml. */
export const PROJECT_DIR = path.join(__dirname, '..', '..');

export interface EngineBinaries {
  readonly pulumi: string;
  readonly languageHost: string;
  readonly kubernetesProvider: string;
}

/** The built programs; throws, naming the setup script, when one is missing. */
export function engineBinaries(): EngineBinaries {
  const found: EngineBinaries = {
    pulumi: path.join(cacheDir(), `pulumi-${PULUMI_VERSION}`, 'bin', 'pulumi'),
    languageHost: path.join(cacheDir(), `pulumi-language-nodejs-${LANGUAGE_HOST_VERSION}`, 'bin', 'pulumi-language-nodejs'),
    kubernetesProvider: path.join(cacheDir(), `pulumi-kubernetes-${KUBERNETES_PROVIDER_VERSION}`, 'bin', 'pulumi-resource-kubernetes'),
  };
  const missing = Object.values(found).filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    throw new Error(`Pulumi engine programs not built: ${missing.join(', ')}; run bash scripts/setup-pulumi.sh (the README's test command does)`);
  }
  return found;
}

export interface PulumiResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall-clock seconds the command took. */
  readonly seconds: number;
}

/**
 * The lines of a run's stderr other than the CLI's notice that the language host came from
 * PATH (a release ships the host beside the CLI; here it has a directory of its own).
 */
export function unexpectedStderr(result: PulumiResult): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() !== '' && !/^warning: using pulumi-language-nodejs from \$PATH at /.test(line));
}

/**
 * The environment the current nodejs language host gives the program's run script for
 * Pulumi.yaml's runtime options: PULUMI_NODEJS_TYPESCRIPT and PULUMI_NODEJS_TSCONFIG_PATH,
 * the option's value as written (the run script resolves it from the directory of `main`).
 */
export function hostOptionsEnv(projectDir: string): NodeJS.ProcessEnv {
  const project = yaml.load(fs.readFileSync(path.join(projectDir, 'Pulumi.yaml'), 'utf8')) as any;
  const options = project.runtime?.options ?? {};
  return {
    ...(options.typescript !== false ? { PULUMI_NODEJS_TYPESCRIPT: 'true' } : {}),
    ...(options.tsconfig ? { PULUMI_NODEJS_TSCONFIG_PATH: String(options.tsconfig) } : {}),
  };
}

/** One stack of the project in a private PULUMI_HOME and local backend; always remove() it. */
export class PulumiWorkspace {
  /** Wall-clock seconds of each command run, by its first arguments, for the closing report. */
  public readonly timings: { command: string; seconds: number }[] = [];

  private constructor(
    public readonly dir: string,
    public readonly stack: string,
    public readonly configFile: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly bin: EngineBinaries,
    /** The directory of the project's Pulumi.yaml, where every command runs. */
    public readonly projectDir: string,
  ) {}

  /** A workspace whose (new) stack deploys to the cluster of `kubeconfig`. */
  static async create(options: {
    kubeconfig: string;
    stack?: string;
    projectDir?: string;
    /** The version the built provider is installed as. @default KUBERNETES_PROVIDER_VERSION */
    providerVersion?: string;
    extraEnv?: NodeJS.ProcessEnv;
  }): Promise<PulumiWorkspace> {
    const projectDir = options.projectDir ?? PROJECT_DIR;
    const bin = engineBinaries();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-pulumi-'));
    for (const sub of ['home', 'state']) fs.mkdirSync(path.join(dir, sub));
    // A name of its own, so the config file `stack init` writes beside Pulumi.yaml is never a user's.
    const projectName = (yaml.load(fs.readFileSync(path.join(projectDir, 'Pulumi.yaml'), 'utf8')) as { name: string }).name;
    const stack = options.stack ?? `organization/${projectName}/engine-test-${process.pid}`;
    const env: NodeJS.ProcessEnv = {
      // Only what a CI runner has: node, the language host, the CLI, the system.
      PATH: [path.dirname(bin.languageHost), path.dirname(bin.pulumi), path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
      HOME: process.env.HOME,
      TMPDIR: os.tmpdir(),
      PULUMI_HOME: path.join(dir, 'home'),
      PULUMI_BACKEND_URL: `file://${path.join(dir, 'state')}`,
      PULUMI_CONFIG_PASSPHRASE: 'pulumi-engine-tier',
      PULUMI_SKIP_UPDATE_CHECK: 'true',
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
      KUBECONFIG: options.kubeconfig,
      ...hostOptionsEnv(projectDir),
      ...options.extraEnv,
    };
    const ws = new PulumiWorkspace(dir, stack, path.join(dir, 'stack-config.yaml'), env, bin, projectDir);
    // `stack init` writes the passphrase's salt to Pulumi.<stack>.yaml beside Pulumi.yaml (it
    // has no --config-file); the file moves at once to the workspace, where every later
    // command reads and writes the stack's config.
    const written = path.join(projectDir, `Pulumi.${stack.split('/').pop()}.yaml`);
    try {
      if (fs.existsSync(written)) throw new Error(`${written} exists; the engine tier would overwrite it with its own stack's config`);
      await ws.ok(['plugin', 'install', 'resource', 'kubernetes', options.providerVersion ?? KUBERNETES_PROVIDER_VERSION, '--file', bin.kubernetesProvider]);
      await ws.ok(['stack', 'init', stack]);
      fs.copyFileSync(written, ws.configFile);
      fs.rmSync(written);
    } catch (e) {
      ws.remove();
      throw e;
    }
    return ws;
  }

  /** Runs `pulumi ARGS --stack S --config-file F --non-interactive --color never` for stack commands, plain otherwise. */
  run(args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<PulumiResult> {
    const stackCommands = new Set(['preview', 'up', 'refresh', 'destroy', 'config', 'stack']);
    const full = stackCommands.has(args[0]) && !(args[0] === 'stack' && args[1] === 'init')
      ? [...args, '--stack', this.stack, ...(args[0] === 'stack' ? [] : ['--config-file', this.configFile]), '--non-interactive', '--color', 'never']
      : [...args, '--non-interactive', '--color', 'never'];
    const started = Date.now();
    return new Promise((resolve, reject) => {
      execFile(this.bin.pulumi, full, {
        cwd: this.projectDir,
        env: { ...this.env, ...opts.env },
        maxBuffer: 256 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 900_000,
      }, (error, stdout, stderr) => {
        const seconds = (Date.now() - started) / 1000;
        this.timings.push({ command: args.slice(0, 2).join(' '), seconds });
        if (error && typeof (error as NodeJS.ErrnoException).code !== 'number' && !(error as any).killed) {
          reject(error);
          return;
        }
        const code = error ? (typeof (error as any).code === 'number' ? (error as any).code : 124) : 0;
        resolve({ code, stdout, stderr, seconds });
      });
    });
  }

  /** run() that must exit 0; the error carries the CLI's own output. */
  async ok(args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<PulumiResult> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r;
  }

  /** `pulumi preview --json`, parsed (steps, changeSummary, diagnostics). */
  async previewJson(extra: readonly string[] = []): Promise<{ result: PulumiResult; preview: any }> {
    const result = await this.run(['preview', '--json', ...extra]);
    let preview: any;
    try {
      preview = JSON.parse(result.stdout);
    } catch {
      throw new Error(`pulumi preview --json printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
    }
    return { result, preview };
  }

  /** The stack's resources from `pulumi stack export` (the checkpoint). */
  async resources(): Promise<any[]> {
    const r = await this.ok(['stack', 'export']);
    return JSON.parse(r.stdout).deployment.resources ?? [];
  }

  /** Removes the workspace directory (home, state, config). */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
