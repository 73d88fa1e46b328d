/**
 * Runs the ```ts examples of a README as written (issue 18: every example
 * runs, extracted from the README so it cannot drift from what the tests
 * check). Each block is transpiled (types dropped, imports turned into
 * `require` calls answered from the modules the test passes) and run as a
 * function whose result is the block's top-level names the test asks for.
 * Test support only; not exported. (A copy of lapic's `src/test-support/readme-blocks.ts`:
 * test helpers are not shared between packages; core's `testing` entry would be their home.)
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';

/** One ```ts block: the heading it sits under, its source, its first line in the README and its JavaScript. */
export interface ReadmeBlock {
  heading: string;
  code: string;
  line: number;
  /** The block transpiled (CommonJS, types dropped) when the README was read, so running it is cheap. */
  js: string;
}

/** What running a block gave: the requested top-level names and what it logged. */
export interface BlockRun {
  scope: Record<string, unknown>;
  logs: string[];
}

/** Every ```ts block of the Markdown file at `url`, in order, transpiled. */
export function readmeBlocks(url: URL): ReadmeBlock[] {
  const lines = readFileSync(url, 'utf8').split('\n');
  const blocks: ReadmeBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '');
    if (line.trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    const code = lines.slice(start, end).join('\n');
    blocks.push({ heading, code, line: start + 1, js: transpile(code) });
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

/**
 * Runs `block` with its imports resolved from `modules` (specifier to module
 * namespace; an import of anything else fails) and returns the values of
 * `names` (top-level declarations of the block) and the lines it logged
 * through `console.log`.
 */
export function runBlock(block: ReadmeBlock, modules: Record<string, unknown>, names: readonly string[] = []): BlockRun {
  const logs: string[] = [];
  const fakeConsole = { log: (...args: unknown[]): void => void logs.push(args.map(String).join(' ')) };
  const require = (specifier: string): unknown => {
    if (!(specifier in modules)) throw new Error(`README block at line ${block.line} imports ${specifier}, which the test does not provide`);
    return modules[specifier];
  };
  // The block is this package's own documentation, run as code on purpose.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const run = new Function('require', 'exports', 'console', `${block.js}\nreturn { ${names.join(', ')} };`) as (
    r: typeof require,
    e: object,
    c: typeof fakeConsole,
  ) => Record<string, unknown>;
  return { scope: run(require, {}, fakeConsole), logs };
}

function transpile(code: string): string {
  return ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: false },
    reportDiagnostics: false,
  }).outputText;
}
