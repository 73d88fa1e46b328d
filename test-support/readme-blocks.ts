/**
 * The ```ts examples of a package README, extracted and run as written by
 * that package's tests, so the README is the only copy of the code and
 * cannot drift from what runs. Shared by every package's tests (not
 * published: it lives outside the packages).
 *
 * Two ways to run a block:
 * - `runBlock`: transpiled (types dropped, imports answered from the module
 *   namespaces the test passes) and run as a function that returns the
 *   block's top-level names the test asks for, and what it logged;
 * - `runReadmeBlock` / `runReadmeProgram`: written to a module in a
 *   temporary directory and imported through vitest (so `@hvsim/*` resolve to
 *   the sources), one block alone or all blocks in order as one program.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** One ```ts block of a README. */
export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The nearest heading above it. */
  readonly heading: string;
  readonly code: string;
}

/** What running a block with `runBlock` gave: the requested top-level names and what it logged. */
export interface BlockRun {
  scope: Record<string, unknown>;
  logs: string[];
}

/** Every ```ts block of the Markdown file at `source` (a path or a file URL), in order. */
export function readmeBlocks(source: string | URL): ReadmeBlock[] {
  const path = typeof source === 'string' ? source : fileURLToPath(source);
  const lines = readFileSync(path, 'utf8').split('\n');
  const blocks: ReadmeBlock[] = [];
  let heading = '(top)';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '');
    const fence = /^(\s*)```(\S*)\s*$/.exec(line);
    if (fence === null) continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    if (end < 0) throw new Error(`${path}:${i + 1}: unclosed code block`);
    if (fence[2] === 'ts' || fence[2] === 'typescript') blocks.push({ line: i + 1, heading, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** The block under `heading` (exactly one must exist). */
export function blockUnder(blocks: readonly ReadmeBlock[], heading: string): ReadmeBlock {
  const found = blocks.filter((b) => b.heading === heading);
  if (found.length !== 1) throw new Error(`README: ${found.length} \`\`\`ts blocks under "${heading}"`);
  return found[0]!;
}

const transpiled = new WeakMap<ReadmeBlock, string>();

/**
 * Runs `block` with its imports resolved from `modules` (specifier to module
 * namespace; an import of anything else fails) and returns the values of
 * `names` (top-level declarations of the block) and the lines it logged
 * through `console.log`.
 */
export function runBlock(block: ReadmeBlock, modules: Record<string, unknown>, names: readonly string[] = []): BlockRun {
  let js = transpiled.get(block);
  if (js === undefined) {
    js = ts.transpileModule(block.code, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: false }, reportDiagnostics: false }).outputText;
    transpiled.set(block, js);
  }
  const logs: string[] = [];
  const fakeConsole = { log: (...args: unknown[]): void => void logs.push(args.map(String).join(' ')) };
  const require = (specifier: string): unknown => {
    if (!(specifier in modules)) throw new Error(`README block at line ${block.line} imports ${specifier}, which the test does not provide`);
    return modules[specifier];
  };
  // The block is the package's own documentation, run as code on purpose.
  const run = new Function('require', 'exports', 'console', `${js}\nreturn { ${names.join(', ')} };`) as (r: typeof require, e: object, c: typeof fakeConsole) => Record<string, unknown>;
  return { scope: run(require, {}, fakeConsole), logs };
}

let dir: string | undefined;

/**
 * Runs `block` as a module (top-level statements in order); rejects with
 * what it throws. `cwd`, when given, is the working directory while it runs.
 */
export async function runReadmeBlock(block: ReadmeBlock, name: string, cwd?: string): Promise<void> {
  dir ??= mkdtempSync(join(tmpdir(), 'hvsim-readme-'));
  const file = join(dir, `${name}-line-${block.line}.ts`);
  writeFileSync(file, `${block.code}\nexport {};\n`);
  const previous = process.cwd();
  if (cwd !== undefined) process.chdir(cwd);
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    process.chdir(previous);
  }
}

/** A fresh temporary directory (for examples that write files). */
export function scratchDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'hvsim-readme-files-'));
}

const IMPORT = /^import\s+(type\s+)?\{([^}]*)\}\s+from\s+'([^']+)';\s*$/;

/**
 * Runs `blocks` as one module, in order, the way a reader follows a README
 * whose examples build on each other: the `import { ... } from '...'` lines
 * of every block are merged (a name imported twice is imported once) and
 * the rest runs in sequence.
 */
export async function runReadmeProgram(blocks: readonly ReadmeBlock[], name: string, cwd?: string): Promise<void> {
  const imports = new Map<string, Set<string>>();
  const body: string[] = [];
  for (const block of blocks) {
    body.push(`// README line ${block.line} (${block.heading})`);
    for (const line of block.code.split('\n')) {
      const m = IMPORT.exec(line);
      if (m === null) {
        body.push(line);
        continue;
      }
      const names = imports.get(m[3]!) ?? new Set<string>();
      for (const n of m[2]!.split(',').map((x) => x.trim()).filter((x) => x !== '')) names.add(m[1] !== undefined ? `type ${n.replace(/^type\s+/, '')}` : n);
      imports.set(m[3]!, names);
    }
  }
  const head = [...imports].map(([from, names]) => {
    // A name imported both as a type and as a value is imported as a value.
    const values = new Set([...names].filter((n) => !n.startsWith('type ')));
    const list = [...names].filter((n) => !(n.startsWith('type ') && values.has(n.slice(5))));
    return `import { ${list.join(', ')} } from '${from}';`;
  });
  await runReadmeBlock({ line: blocks[0]?.line ?? 0, heading: 'all', code: [...head, ...body].join('\n') }, name, cwd);
}
