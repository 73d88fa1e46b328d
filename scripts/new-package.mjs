// Creates a new hardware-model package from the template described in
// CONTRIBUTING.md: `node scripts/new-package.mjs <name> "<description>" [dep ...]`
// e.g. `node scripts/new-package.mjs avic "AMD AVIC" lapic`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [name, description, ...deps] = process.argv.slice(2);
if (!name || !/^[a-z][a-z0-9-]*$/.test(name) || !description) {
  console.error('usage: node scripts/new-package.mjs <kebab-name> "<description>" [workspace-dependency ...]');
  process.exit(2);
}
const dir = join('packages', name);
if (existsSync(dir)) {
  console.error(`${dir} already exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });

const dependencies = Object.fromEntries(['core', ...deps.filter((d) => d !== 'core')].map((d) => [`@hvsim/${d}`, 'workspace:^']));
const pkg = {
  name: `@hvsim/${name}`,
  version: '0.1.0',
  description,
  license: 'MIT',
  type: 'module',
  sideEffects: false,
  main: './dist/index.cjs',
  module: './dist/index.js',
  types: './dist/index.d.cts',
  exports: {
    '.': {
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    },
    './package.json': './package.json',
  },
  files: ['dist', '!dist/**/*.test.*', '!dist/**/*.bench.*', 'README.md'],
  scripts: {
    build: 'tsup',
    test: 'vitest run',
    bench: `vitest bench --run --config ../../vitest.bench.config.ts --project ${name}`,
    lint: 'eslint src',
    typecheck: 'tsc -p tsconfig.json --noEmit',
    'check:publish': 'publint --strict && attw --pack .',
  },
  dependencies,
};
const files = {
  'package.json': JSON.stringify(pkg, null, 2) + '\n',
  'tsconfig.json': JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { rootDir: '../..' }, include: ['src/**/*.ts', '*.ts'] }, null, 2) + '\n',
  'tsup.config.ts': "import { hvsimPackage } from '../../tsup.preset.ts';\n\nexport default hvsimPackage({ entry: { index: 'src/index.ts' } });\n",
  'vitest.config.ts': "import { hvsimProject } from '../../vitest.package.ts';\n\nexport default hvsimProject(import.meta.dirname);\n",
  'README.md': `# @hvsim/${name}\n\n${description}.\n`,
  'src/index.ts': `/**\n * @hvsim/${name}: ${description}.\n *\n * @packageDocumentation\n */\nexport {};\n`,
};
for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
// repository, homepage, bugs, engines, files, LICENSE: the same for every package, from the root.
execFileSync(process.execPath, ['scripts/check-package-metadata.mjs', '--fix'], { stdio: 'inherit' });

// The hardware packages release together until 1.0: join the fixed group.
const changesetConfigPath = join('.changeset', 'config.json');
const changesetConfig = JSON.parse(readFileSync(changesetConfigPath, 'utf8'));
const group = changesetConfig.fixed[0];
if (!group.includes(pkg.name)) group.push(pkg.name);
writeFileSync(changesetConfigPath, JSON.stringify(changesetConfig, null, 2) + '\n');
console.log(`created ${dir}; now run \`pnpm install\`, write src/, and add a changeset (\`pnpm changeset\`)`);
