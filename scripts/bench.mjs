// Runs every package's vitest benchmarks in one run and writes the results,
// machine-readable, to bench-results/bench.json (see CONTRIBUTING.md).
// Extra arguments are passed to vitest, e.g. `pnpm bench -- --project core`.
// What it prints: one line per finished benchmark group while it runs, then
// the table the READMEs quote (operations per second, mean and median). Vitest's
// own tables (iterations per second as "hz") are in the JSON report; set
// HVSIM_BENCH_VERBOSE=1 to see them too. On a failure everything is printed.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const out = 'bench-results/bench.json';
mkdirSync('bench-results', { recursive: true });
const args = ['vitest', 'bench', '--run', '--config', 'vitest.bench.config.ts', '--outputJson', out, ...process.argv.slice(2)];
const verbose = process.env.HVSIM_BENCH_VERBOSE === '1';
const status = await new Promise((resolve) => {
  const child = spawn('pnpm', ['exec', ...args], { stdio: verbose ? 'inherit' : ['inherit', 'pipe', 'pipe'] });
  if (verbose) {
    child.on('close', resolve);
    return;
  }
  let log = '';
  let partial = '';
  // eslint-disable-next-line no-control-regex -- strips the terminal colour codes vitest prints
  const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');
  child.stdout.on('data', (chunk) => {
    log += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines.map(plain)) {
      const done = /^\s*✓\s+\S+\s+(.*?)\s+\d+ms$/.exec(line);
      if (done) console.log(`  ✓ ${done[1]}`);
    }
  });
  child.stderr.on('data', (chunk) => (log += chunk));
  child.on('close', (code) => {
    if (code !== 0) process.stdout.write(log);
    resolve(code);
  });
});
if (status !== 0) process.exit(status ?? 1);

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
