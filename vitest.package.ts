/**
 * The vitest config of one workspace member: tests beside the code,
 * benchmarks in `*.bench.ts`, `@hvsim/*` resolved to sources.
 */
import { defineProject } from 'vitest/config';
import { basename } from 'node:path';
import { hvsimSourceAliases } from './vitest.shared.ts';

export function hvsimProject(packageDir: string): ReturnType<typeof defineProject> {
  return defineProject({
    root: packageDir,
    resolve: { alias: hvsimSourceAliases() },
    test: {
      name: basename(packageDir),
      include: ['src/**/*.test.ts'],
      benchmark: { include: ['src/**/*.bench.ts'] },
      environment: 'node',
      // Tests are written to take well under a second (CI lists the slowest);
      // the timeout is only a backstop for a heavily loaded two-core machine.
      testTimeout: 20_000,
    },
  });
}
