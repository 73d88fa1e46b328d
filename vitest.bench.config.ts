/**
 * Benchmarks run with Node's own module loader (TypeScript through tsx, and
 * `@hvsim/*` resolved to sources through tsconfig paths) rather than Vite's
 * module runner, whose per-access getters on imported bindings would
 * otherwise dominate the nanosecond-scale hot paths being measured. Used by
 * scripts/bench.mjs.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defineConfig } from 'vitest/config';

const repoRoot = fileURLToPath(new URL('.', import.meta.url));
// Absolute, so the config works from a package folder too.
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function benchProjects(): { extends: true; test: { name: string; root: string; include: string[]; benchmark: { include: string[] } } }[] {
  const projects = [];
  for (const area of ['packages', 'apps']) {
    const dir = join(repoRoot, area);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (!existsSync(join(dir, name, 'src'))) continue;
      projects.push({ extends: true as const, test: { name, root: join(dir, name), include: [], benchmark: { include: ['src/**/*.bench.ts'] } } });
    }
  }
  return projects;
}

export default defineConfig({
  test: {
    projects: benchProjects(),
    experimental: { viteModuleRunner: false, nodeLoader: false },
    execArgv: ['--import', tsx],
    pool: 'forks',
  },
});
