// Prints what `pnpm build` produced for every workspace package: the entry
// points of its exports map and the size of each built file.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

for (const area of ['packages', 'apps']) {
  if (!existsSync(area)) continue;
  for (const dir of readdirSync(area).sort()) {
    const pkgPath = join(area, dir, 'package.json');
    if (!existsSync(pkgPath)) continue;
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
    const dist = join(area, dir, 'dist');
    const files = existsSync(dist) ? readdirSync(dist).filter((f) => !f.endsWith('.map')).sort() : [];
    console.log(`${pkg.name}@${pkg.version}  ${pkg.description ?? ''}`);
    for (const f of files) console.log(`  dist/${f.padEnd(28)} ${String(statSync(join(dist, f)).size).padStart(8)} bytes`);
    if (files.length === 0) console.log('  (nothing built)');
  }
}
