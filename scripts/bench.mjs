// Runs every package's vitest benchmarks in one run and writes the results,
// machine-readable, to bench-results/bench.json (see CONTRIBUTING.md).
// Extra arguments are passed to vitest, e.g. `pnpm bench -- --project core`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const out = 'bench-results/bench.json';
mkdirSync('bench-results', { recursive: true });
const args = ['vitest', 'bench', '--run', '--config', 'vitest.bench.config.ts', '--outputJson', out, ...process.argv.slice(2)];
const run = spawnSync('pnpm', ['exec', ...args], { stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);

// A flat summary beside the full report: one row per benchmark with ops/s.
const report = JSON.parse(readFileSync(out, 'utf8'));
const rows = [];
for (const file of report.files ?? []) {
  for (const group of file.groups ?? []) {
    for (const b of group.benchmarks ?? []) {
      // `[ops=N]` or `(xN)` in a benchmark's name, or `N <things> per iteration` in its
      // group's: each iteration runs a batch of N operations.
      const m = /\[ops=(\d+)\]|\(x(\d+)\)/.exec(b.name) ?? /(\d[\d,]*) \w+ per iteration/.exec(group.fullName);
      const batch = Number((m?.[1] ?? m?.[2] ?? '1').replace(/,/g, ''));
      rows.push({
        file: file.filepath.replace(process.cwd() + '/', ''),
        group: group.fullName,
        name: b.name,
        opsPerSecond: Math.round(b.hz * batch),
        // The median iteration resists the scheduler's outliers on a shared machine.
        opsPerSecondMedian: Math.round((batch * 1000) / b.median),
        iterationsPerSecond: Math.round(b.hz),
        rme: Number(b.rme.toFixed(2)),
      });
    }
  }
}
writeFileSync('bench-results/summary.json', JSON.stringify(rows, null, 2) + '\n');
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));
console.log('\n     ops/s  (median)   benchmark');
for (const r of rows) console.log(`${fmt(r.opsPerSecond).padStart(10)} ${fmt(r.opsPerSecondMedian).padStart(10)}   ${r.group} > ${r.name}`);
console.log(`\nbench results: ${out} (full), bench-results/summary.json (ops/s per benchmark)`);
