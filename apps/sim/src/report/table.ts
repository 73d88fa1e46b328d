/** The terminal table: one block of columns per mode. */
import type { SimResults } from '../simulate.js';

/** Renders `results` as the text table `pnpm sim` prints. */
export function renderTable(results: SimResults): string {
  const { runs, config } = results;
  const profile = config.profile as { name: string; clockHz: number };
  const reasons = [...new Set(runs.flatMap((r) => Object.keys(r.exits.byReason)))].sort();
  const perInt = (n: number, d: number): string => (d > 0 ? (n / d).toFixed(2) : '-');
  const fmt = (n: number | null | undefined, digits = 0): string => (n === null || n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  const memory = config.workload === 'memory';
  // memory: no interrupts; its exits by reason as counts in the window, per 1,000 memory operations, and the guest's own page faults.
  const exitRows: [string, ...string[]][] = memory
    ? [
        ['exits', ...runs.map((r) => fmt(r.exits.total))],
        ...reasons.map((reason): [string, ...string[]] => [`  ${reason}`, ...runs.map((r) => fmt(r.exits.byReason[reason] ?? 0))]),
        ['exits per 1,000 memory operations', ...runs.map((r) => fmt(r.exits.perThousandOperations, 2))],
        ['guest page faults (from boot)', ...runs.map((r) => fmt(r.pageFaults))],
      ]
    : [
        ['interrupts raised', ...runs.map((r) => fmt(r.interrupts.raised))],
        ['  delivered', ...runs.map((r) => fmt(r.interrupts.delivered))],
        ['  coalesced', ...runs.map((r) => fmt(r.interrupts.coalesced))],
        ['  dropped', ...runs.map((r) => fmt(r.interrupts.dropped))],
        ['exits per interrupt', ...runs.map((r) => fmt(r.exits.perInterrupt, 2))],
        ...reasons.map((reason): [string, ...string[]] => [`  ${reason}`, ...runs.map((r) => perInt(r.exits.byReason[reason] ?? 0, r.interrupts.delivered))]),
      ];
  const latencyRows: [string, ...string[]][] = memory
    ? []
    : [
        ['latency mean (cycles)', ...runs.map((r) => fmt(r.latencyCycles?.mean))],
        ['latency p50 (cycles)', ...runs.map((r) => fmt(r.latencyCycles?.p50))],
        ['latency p99 (cycles)', ...runs.map((r) => fmt(r.latencyCycles?.p99))],
        ['latency mean (µs)', ...runs.map((r) => fmt(r.latencyMicros?.mean, 3))],
        ['latency p50 (µs)', ...runs.map((r) => fmt(r.latencyMicros?.p50, 3))],
        ['latency p99 (µs)', ...runs.map((r) => fmt(r.latencyMicros?.p99, 3))],
      ];
  const rows: [string, ...string[]][] = [
    ...exitRows,
    ['exits per second', ...runs.map((r) => fmt(r.exits.perSecond))],
    ...latencyRows,
    ['guest time share', ...runs.map((r) => `${(r.guestTimeShare * 100).toFixed(1)}%`)],
    ...(runs.some((r) => r.transactionLatencyCycles)
      ? (['mean', 'p50', 'p99'] as const).map((k): [string, ...string[]] => [`round trip ${k} (µs)`, ...runs.map((r) => (r.transactionLatencyCycles ? fmt((r.transactionLatencyCycles[k] / profile.clockHz) * 1e6, 2) : '-'))])
      : []),
    [`throughput (${runs[0]?.throughput.unit.replace('work units', 'work') ?? 'work/s'})`, ...runs.map((r) => fmt(r.throughput.value))],
    ['  % of native', ...runs.map((r) => (r.throughput.pctOfNative === null ? '-' : `${r.throughput.pctOfNative.toFixed(1)}%`))],
  ];
  const header: [string, ...string[]] = ['', ...runs.map((r) => r.mode)];
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c]!.length)));
  const line = (row: readonly string[]): string => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const rate = config.rateHz as number;
  const what = config.workload === 'micro' ? 'micro (I/O latency in: MSIs to an idle vCPU 0; virtual IPI: 2 busy vCPUs)' : `${config.workload as string}${rate > 0 ? ` at ${fmt(rate)}/s` : ''}, ${String(config.vcpus)} vCPU(s), guest ${config.guest as string}`;
  const mmu = config.mmu === undefined ? '' : `, MMU ${config.mmu as string}`;
  const title = `${what}${mmu}, ${fmt(config.durationCycles as number)} cycles measured; profile ${profile.name} (${(profile.clockHz / 1e9).toFixed(2)} GHz); seed ${String(config.seed)}`;
  return [title, '', line(header), ...rows.map(line), '', ...microTable(runs, fmt)].join('\n');
}

/** The `micro` rows (cycles) per mode beside the paper's KVM x86 column, when the runs have them. */
function microTable(runs: SimResults['runs'], fmt: (n: number | null | undefined) => string): string[] {
  const paper = runs.find((r) => r.microPaper)?.microPaper;
  if (!runs.some((r) => r.micro)) return [];
  const names = Object.keys(runs.find((r) => r.micro)!.micro!);
  const header = ['cycles', ...runs.map((r) => r.mode), ...(paper ? ['ISCA 2016'] : [])];
  const rows = names.map((n) => [n, ...runs.map((r) => fmt(r.micro?.[n as keyof NonNullable<typeof r.micro>])), ...(paper ? [fmt(paper[n])] : [])]);
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c]!.length)));
  const line = (row: readonly string[]): string => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(header), ...rows.map(line), ''];
}
