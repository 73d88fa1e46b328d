/**
 * The one tsup preset every publishable @hvsim package builds with: ESM and
 * CJS bundles with `.d.ts`/`.d.cts`, source maps, tree-shakeable output.
 * A package's `tsup.config.ts` only names its entry points.
 */
import { defineConfig, type Options } from 'tsup';

export interface HvsimPackageOptions {
  /** Entry points, e.g. `{ index: 'src/index.ts', v3: 'src/v3/index.ts' }`. */
  entry: Record<string, string>;
}

export function hvsimPackage(options: HvsimPackageOptions): ReturnType<typeof defineConfig> {
  const config: Options = {
    entry: options.entry,
    format: ['esm', 'cjs'],
    target: 'node20',
    platform: 'neutral',
    sourcemap: true,
    clean: true,
    treeshake: true,
    splitting: true,
    // Types of sibling @hvsim packages come from their built .d.ts (turbo
    // builds dependencies first), never from inlined sources. Members
    // marked `@internal` are left out of the published declarations.
    dts: { compilerOptions: { paths: {}, stripInternal: true } },
    outDir: 'dist',
  };
  return defineConfig(config);
}
