/**
 * The dependency rules of docs/architecture.md ("Layers"). `npm run lint` checks the library
 * itself with eslint.config.js; these tests show that the same configuration fails on a copy
 * that breaks each rule, and check the one thing eslint's import/no-cycle leaves out: cycles
 * made of type-only imports (`import type`), which it ignores because they vanish at run time,
 * but which still tie two files together for a reader.
 */
import { spawnSync } from 'child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.join(__dirname, '..');
const CONFIG = path.join(ROOT, 'eslint.config.js');
const ESLINT = path.join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');

/** Writes `files` (path -> source) below a fresh temporary directory and lints them with the repository's configuration. */
function lintCopy(files: Record<string, string>): { rule: string | null; file: string; message: string }[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'mlops-arch-'));
  try {
    for (const [file, source] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), source);
    }
    // A child process: eslint loads its configuration with a dynamic import, which jest's VM refuses.
    const run = spawnSync(process.execPath, [ESLINT, '--config', CONFIG, '--format', 'json', 'src'], { cwd: dir, encoding: 'utf8' });
    if (run.status !== 0 && run.status !== 1) throw new Error(`eslint exited ${run.status}: ${run.stderr}`);
    const results = JSON.parse(run.stdout) as { filePath: string; messages: { ruleId: string | null; message: string }[] }[];
    return results.flatMap((r) => r.messages.map((m) => ({ rule: m.ruleId, file: path.relative(dir, r.filePath), message: m.message })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every relative import of every .ts file below `dir`, type-only ones included, as a graph of repository paths. */
function importGraph(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d)) {
      const full = path.join(d, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (full.endsWith('.ts')) {
        const info = ts.preProcessFile(readFileSync(full, 'utf8'), true, true);
        const targets = info.importedFiles.map((f) => f.fileName).filter((f) => f.startsWith('.')).map((f) => {
          const base = path.resolve(path.dirname(full), f);
          for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
            try {
              if (statSync(candidate).isFile()) return candidate;
            } catch { /* next candidate */ }
          }
          return undefined;
        }).filter((f): f is string => f !== undefined);
        graph.set(full, targets);
      }
    }
  };
  walk(dir);
  return graph;
}

/** The cycles of a graph, each as the list of files around it (one per strongly connected group). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'active');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'active') found.push(stack.slice(stack.indexOf(next)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

describe('dependency rules', () => {
  test('fails on an import cycle (import/no-cycle)', () => {
    // GIVEN two core files that import each other's values
    const problems = lintCopy({
      'src/constructs/core/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
      'src/constructs/core/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
    });
    // THEN both ends of the cycle are reported
    expect(problems.filter((p) => p.rule === 'import/no-cycle').map((p) => p.file).sort())
      .toEqual(['src/constructs/core/a.ts', 'src/constructs/core/b.ts']);
  });

  test('fails when a capability imports another capability (import/no-restricted-paths)', () => {
    // GIVEN serving importing registry, and drift importing serving's construct rather than its interfaces
    const problems = lintCopy({
      'src/constructs/core/k.ts': 'export const k = 1;\n',
      'src/constructs/registry/r.ts': 'export const r = 1;\n',
      'src/constructs/serving/interfaces.ts': 'export interface IThing { readonly name: string }\n',
      'src/constructs/serving/s.ts': "import { k } from '../core/k';\nimport { r } from '../registry/r';\nexport const s = k + r;\n",
      'src/constructs/drift/d.ts': "import type { IThing } from '../serving/interfaces';\nimport { s } from '../serving/s';\nexport const d = (t: IThing) => t.name + s;\n",
      'src/constructs/alerts/x.ts': "import type { IThing } from '../serving/interfaces';\nexport const x = (t: IThing) => t.name;\n",
    });
    // THEN exactly the two forbidden imports are reported
    const restricted = problems.filter((p) => p.rule === 'import/no-restricted-paths');
    expect(restricted.map((p) => p.file).sort()).toEqual(['src/constructs/drift/d.ts', 'src/constructs/serving/s.ts']);
    expect(restricted.find((p) => p.file.includes('serving'))!.message).toContain('serving/ imports only core/, its own files');
  });

  test('fails on a re-export outside index.ts, and on cdk8s-plus-28 anywhere in the library', () => {
    const problems = lintCopy({
      'src/constructs/core/k.ts': 'export const k = 1;\n',
      'src/constructs/core/other.ts': "export { k } from './k';\n",
      'src/constructs/core/index.ts': "export * from './k';\n",
      'src/constructs/serving/s.ts': "import { KubeService } from 'cdk8s-plus-28/lib/imports/k8s';\nexport const s = KubeService;\n",
    });
    expect(problems.filter((p) => p.rule === 'no-restricted-syntax').map((p) => p.file)).toEqual(['src/constructs/core/other.ts']);
    expect(problems.filter((p) => p.rule === 'no-restricted-imports').map((p) => p.file)).toEqual(['src/constructs/serving/s.ts']);
  });

  test('fails when a runtime program imports a construct, and passes when it imports the contract', () => {
    const problems = lintCopy({
      'src/contract.ts': "export const NAME = 'x';\n",
      'src/constructs/core/k.ts': 'export const k = 1;\n',
      'src/runtime/p/main.ts': "import { NAME } from '../../contract';\nimport { k } from '../../constructs/core/k';\nexport const m = NAME + k;\n",
    });
    expect(problems.filter((p) => p.rule === 'import/no-restricted-paths').map((p) => p.message))
      .toEqual([expect.stringContaining('runtime programs are bundled alone')]);
  });
});

describe('import cycles, type-only imports included', () => {
  test('src has none', () => {
    const found = cycles(importGraph(path.join(ROOT, 'src')));
    expect(found.map((c) => c.map((f) => path.relative(ROOT, f)).join(' -> '))).toEqual([]);
  });

  test('fails on a cycle that only `import type` closes', () => {
    // GIVEN a copy where b imports a type from a, and a imports a value from b
    const dir = mkdtempSync(path.join(tmpdir(), 'mlops-cycle-'));
    try {
      writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b';\nexport interface A { readonly x: number }\nexport const a = b;\n");
      writeFileSync(path.join(dir, 'b.ts'), "import type { A } from './a';\nexport const b = (v: A) => v.x;\n");
      // THEN the cycle is found
      expect(cycles(importGraph(dir)).map((c) => c.map((f) => path.basename(f)))).toEqual([['a.ts', 'b.ts']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
