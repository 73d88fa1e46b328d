// Checks that every published package tells npm and its users' tools the truth, the same way:
// repository (with the package's directory), homepage, bugs, license and LICENSE file, keywords, the root's
// `engines`, internal dependencies as caret ranges (`workspace:^`), sources shipped beside the source maps
// (stack traces and debuggers resolve to real files), and `typesVersions` for every subpath export so that
// TypeScript's `moduleResolution: node10` finds the declarations.
//   node scripts/check-package-metadata.mjs          report problems, exit 1 if any
//   node scripts/check-package-metadata.mjs --fix    rewrite the package.json files and LICENSE copies
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const fix = process.argv.includes('--fix');
const root = JSON.parse(readFileSync('package.json', 'utf8'));
const license = readFileSync('LICENSE', 'utf8');
const repoUrl = root.repository?.url;
const home = root.homepage;
const bugs = root.bugs?.url;
const problems = [];
if (!repoUrl || !home || !bugs) problems.push('package.json (root): repository.url, homepage and bugs.url must be set');

const baseKeywords = ['virtualization', 'hypervisor', 'emulator', 'simulation'];
const FILES = [
  'dist',
  '!dist/**/*.test.*',
  '!dist/**/*.bench.*',
  'src',
  '!src/**/*.test.ts',
  '!src/**/*.bench.ts',
  '!src/**/test-support',
  'README.md',
  'LICENSE',
];

for (const dir of readdirSync('packages').sort()) {
  const path = join('packages', dir, 'package.json');
  if (!existsSync(path)) continue;
  const pkg = JSON.parse(readFileSync(path, 'utf8'));
  const want = {
    repository: { type: 'git', url: repoUrl, directory: `packages/${dir}` },
    homepage: `${home.replace(/#.*$/, '')}/tree/main/packages/${dir}#readme`,
    bugs: { url: bugs },
    license: root.license,
    engines: root.engines,
    files: FILES,
  };
  const keywords = [...new Set([...baseKeywords, ...(pkg.keywords ?? [])])];
  if (keywords.length === baseKeywords.length) problems.push(`${pkg.name}: keywords name nothing beyond the shared ones`);
  const next = { ...pkg, ...want, keywords };
  for (const kind of ['dependencies', 'peerDependencies']) {
    for (const [name, range] of Object.entries(pkg[kind] ?? {})) {
      if (name.startsWith('@hvsim/') && range !== 'workspace:^') next[kind] = { ...next[kind], [name]: 'workspace:^' };
    }
  }
  const subpaths = Object.keys(pkg.exports ?? {}).filter((k) => k !== '.' && k !== './package.json');
  if (subpaths.length > 0) {
    next.typesVersions = { '*': Object.fromEntries(subpaths.map((s) => [s.slice(2), [`./dist/${s.slice(2)}.d.cts`]])) };
  }
  for (const key of Object.keys(next)) {
    if (JSON.stringify(next[key]) !== JSON.stringify(pkg[key])) problems.push(`${pkg.name}: ${key} ${pkg[key] === undefined ? 'missing' : 'differs'}`);
  }
  const licensePath = join('packages', dir, 'LICENSE');
  if (!existsSync(licensePath) || readFileSync(licensePath, 'utf8') !== license) problems.push(`${pkg.name}: LICENSE missing or not the root's`);
  if (fix) {
    writeFileSync(path, `${JSON.stringify(next, null, 2)}\n`);
    writeFileSync(licensePath, license);
  }
}

if (problems.length > 0 && !fix) {
  console.error(`package metadata: ${problems.length} problem(s) (node scripts/check-package-metadata.mjs --fix)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
if (fix) console.log(`package metadata: ${problems.length === 0 ? 'nothing to fix' : `fixed ${problems.length} field(s)`}`);
