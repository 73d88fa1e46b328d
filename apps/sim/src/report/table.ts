/** The terminal table: one block of columns per mode. */
import type { SimResults } from '../simulate.js';

/** Renders `results` as the text table `pnpm sim` prints. */
export function renderTable(results: SimResults): string {
  const { runs, config } = results;
  const profile = config.profile as { name: string; clockHz: number };
  const reasons = [...new Set(runs.flatMap((r) => Object.keys(r.exits.byReason)))].sort();
  const perInt = (n: number, d: number): string => (d > 0 ? (n / d).toFixed(2) : '-');
  const fmt = (n: number | null | undefined, digits = 0): string => (n === null || n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  const rows: [string, ...string[]][] = [
    ['interrupts raised', ...runs.map((r) => fmt(r.interrupts.raised))],
    ['  delivered', ...runs.map((r) => fmt(r.interrupts.delivered))],
    ['  coalesced', ...runs.map((r) => fmt(r.interrupts.coalesced))],
    ['  dropped', ...runs.map((r) => fmt(r.interrupts.dropped))],
    ['exits per interrupt', ...runs.map((r) => fmt(r.exits.perInterrupt, 2))],
    ...reasons.map((reason): [string, ...string[]] => [`  ${reason}`, ...runs.map((r) => perInt(r.exits.byReason[reason] ?? 0, r.interrupts.delivered))]),
    ['exits per second', ...runs.map((r) => fmt(r.exits.perSecond))],
    ['latency mean (cycles)', ...runs.map((r) => fmt(r.latencyCycles?.mean))],
    ['latency p50 (cycles)', ...runs.map((r) => fmt(r.latencyCycles?.p50))],
    ['latency p99 (cycles)', ...runs.map((r) => fmt(r.latencyCycles?.p99))],
    ['latency mean (µs)', ...runs.map((r) => fmt(r.latencyMicros?.mean, 3))],
    ['latency p50 (µs)', ...runs.map((r) => fmt(r.latencyMicros?.p50, 3))],
    ['latency p99 (µs)', ...runs.map((r) => fmt(r.latencyMicros?.p99, 3))],
    ['guest time share', ...runs.map((r) => `${(r.guestTimeShare * 100).toFixed(1)}%`)],
    ['throughput (work/s)', ...runs.map((r) => fmt(r.throughput.value))],
    ['  % of native', ...runs.map((r) => (r.throughput.pctOfNative === null ? '-' : `${r.throughput.pctOfNative.toFixed(1)}%`))],
  ];
  const header: [string, ...string[]] = ['', ...runs.map((r) => r.mode)];
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c]!.length)));
  const line = (row: readonly string[]): string => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const title = `${config.workload as string} at ${fmt(config.rateHz as number)}/s, ${String(config.vcpus)} vCPU(s), guest ${config.guest as string}, ${fmt(config.durationCycles as number)} cycles measured; profile ${profile.name} (${(profile.clockHz / 1e9).toFixed(2)} GHz); seed ${String(config.seed)}`;
  return [title, '', line(header), ...rows.map(line), ''].join('\n');
}
