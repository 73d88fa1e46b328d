/**
 * Shared vitest settings: every `@hvsim/*` import resolves to the package's
 * TypeScript sources, so tests never need a build.
 */
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
/** A vite alias entry. */
interface Alias {
  find: RegExp;
  replacement: string;
}

const repoRoot = fileURLToPath(new URL('.', import.meta.url));

/** Aliases `@hvsim/<pkg>` and `@hvsim/<pkg>/<sub>` to `packages/<pkg>/src`. */
export function hvsimSourceAliases(): Alias[] {
  const aliases: Alias[] = [];
  const packagesDir = join(repoRoot, 'packages');
  for (const name of readdirSync(packagesDir)) {
    const src = join(packagesDir, name, 'src');
    if (!existsSync(join(src, 'index.ts'))) continue;
    aliases.push({ find: new RegExp(`^@hvsim/${name}$`), replacement: join(src, 'index.ts') });
    aliases.push({ find: new RegExp(`^@hvsim/${name}/(.+)$`), replacement: join(src, '$1', 'index.ts') });
  }
  return aliases;
}
