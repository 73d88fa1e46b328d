/**
 * Exporters of recorded events: Chrome Trace Event JSON (opens in Perfetto
 * and chrome://tracing) and JSON lines.
 */
import { UsageError } from '../errors/hvsim-error.js';
import { assertOptions, describeValue } from '../errors/validate.js';
import type { TraceArg, TraceEvent } from './events.js';

/** One entry of the Chrome Trace Event format's `traceEvents` array. */
export interface ChromeTraceEntry {
  /** Event name (the slice's label). */
  name: string;
  /** Category: the emitting model. */
  cat?: string;
  /** Phase: `X` complete, `i` instant, `M` metadata, `s`/`t`/`f` flow. */
  ph: 'X' | 'i' | 'M' | 's' | 't' | 'f';
  /** Timestamp in microseconds. */
  ts: number;
  /** Duration of a complete (`X`) event, in `displayTimeUnit`s. */
  dur?: number;
  /** Process id: the host, or one VM. */
  pid: number;
  /** Thread id: one CPU or vCPU row. */
  tid: number;
  /** Instant-event scope: thread. */
  s?: 't';
  /** Flow id linking the steps of one interrupt. */
  id?: number;
  /** Flow binding point: `e` binds to the enclosing slice. */
  bp?: 'e';
  /** The event's fields shown in the viewer. */
  args?: Record<string, TraceArg>;
}

/** The Chrome Trace Event JSON object format. */
export interface ChromeTrace {
  /** The events, metadata first. */
  traceEvents: ChromeTraceEntry[];
  /** Unit the viewer shows times in. */
  displayTimeUnit: 'ns' | 'ms';
  /** Facts about the trace (clock rate, producer). */
  otherData: Record<string, string | number>;
}

/** Options of {@link toChromeTrace}. */
export interface ChromeTraceOptions {
  /** Clock rate used to turn cycles into microseconds. */
  clockHz: number;
  /** Process id of the host's events (default 1); VM n's process is `pid + 1 + n`. */
  pid?: number;
  /** Name of the host's process (default `hvsim`). */
  processName?: string;
  /** Name of a host CPU's row (default `cpu N`). */
  cpuName?: (cpu: number) => string;
  /** Name of VM n's process (default `vm N`). */
  vmName?: (vm: number) => string;
  /** Name of a row in a VM's process, by `vcpu` (or `cpu` when the event has no `vcpu`) (default `vcpu N`). */
  vcpuName?: (vm: number, vcpu: number) => string;
}

// Facts every event has that go into the entry itself rather than into args.
const STRUCTURAL = new Set(['kind', 'cycle', 'cpu', 'vm', 'vcpu', 'source', 'duration', 'flow', 'args']);

function entryName(e: TraceEvent): string {
  switch (e.kind) {
    case 'vm.exit':
      return `vm.exit ${e.reasonName}`;
    case 'custom':
      return e.name;
    case 'fault':
      return `fault ${e.what}`;
    default:
      return 'vector' in e ? `${e.kind} 0x${e.vector.toString(16)}` : e.kind;
  }
}

function entryArgs(e: TraceEvent): Record<string, TraceArg> {
  const args: Record<string, TraceArg> = { cycle: e.cycle };
  for (const [k, v] of Object.entries(e)) {
    if (!STRUCTURAL.has(k) && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')) args[k] = v;
  }
  if (e.duration !== undefined) args.cycles = e.duration;
  if (e.args) Object.assign(args, e.args);
  return args;
}

/**
 * Converts events to the Chrome Trace Event format. The host's events (no
 * `vm`) go in one process, with a row (thread) per `cpu` plus a `platform`
 * row for events with no CPU; each VM's events go in a process of their own
 * (`pid + 1 + vm`), with a row per `vcpu` (or `cpu` when the event has no
 * `vcpu`). Events with a duration are complete (`X`) slices, others
 * thread-scoped instants; events sharing a `flow` number are linked by flow
 * arrows, across processes too (an interrupt from a host device to a guest).
 */
export function toChromeTrace(events: readonly TraceEvent[], options: ChromeTraceOptions): ChromeTrace {
  assertOptions(options, ['clockHz', 'pid', 'processName', 'cpuName', 'vmName', 'vcpuName'], 'toChromeTrace');
  const { clockHz } = options;
  if (typeof clockHz !== 'number' || !(clockHz > 0) || !Number.isFinite(clockHz)) {
    throw new UsageError('bad-argument', `clockHz must be a positive number, got ${describeValue(clockHz)}`);
  }
  const hostPid = options.pid ?? 1;
  const us = (cycles: number): number => (cycles / clockHz) * 1e6;
  const pidOf = (e: TraceEvent): number => (e.vm === undefined ? hostPid : hostPid + 1 + e.vm);
  const tidOf = (e: TraceEvent): number => {
    const row = e.vm === undefined ? e.cpu : (e.vcpu ?? e.cpu);
    return row === undefined ? 0 : row + 1;
  };
  const cpuName = options.cpuName ?? ((cpu: number) => `cpu ${cpu}`);
  const vmName = options.vmName ?? ((vm: number) => `vm ${vm}`);
  const vcpuName = options.vcpuName ?? ((_vm: number, vcpu: number) => `vcpu ${vcpu}`);

  // Processes and their rows, host first, then VMs by id.
  const rows = new Map<number, { vm: number | undefined; tids: Set<number> }>([[hostPid, { vm: undefined, tids: new Set() }]]);
  for (const e of events) {
    const pid = pidOf(e);
    let p = rows.get(pid);
    if (p === undefined) {
      p = { vm: e.vm, tids: new Set() };
      rows.set(pid, p);
    }
    p.tids.add(tidOf(e));
  }
  const out: ChromeTraceEntry[] = [];
  for (const pid of [...rows.keys()].sort((a, b) => a - b)) {
    const { vm, tids } = rows.get(pid)!;
    out.push({ name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name: vm === undefined ? (options.processName ?? 'hvsim') : vmName(vm) } });
    for (const tid of [...tids].sort((a, b) => a - b)) {
      const name = tid === 0 ? 'platform' : vm === undefined ? cpuName(tid - 1) : vcpuName(vm, tid - 1);
      out.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name } });
    }
  }

  // Flow arrows attach to slices, so events on a flow become (possibly zero-length) slices.
  const flowFirst = new Map<number, number>();
  const flowLast = new Map<number, number>();
  events.forEach((e, i) => {
    if (e.flow === undefined) return;
    if (!flowFirst.has(e.flow)) flowFirst.set(e.flow, i);
    flowLast.set(e.flow, i);
  });

  events.forEach((e, i) => {
    const pid = pidOf(e);
    const base = { name: entryName(e), cat: e.source, ts: us(e.cycle), pid, tid: tidOf(e), args: entryArgs(e) };
    if (e.duration !== undefined || e.flow !== undefined) out.push({ ...base, ph: 'X', dur: us(e.duration ?? 0) });
    else out.push({ ...base, ph: 'i', s: 't' });
    if (e.flow !== undefined && flowFirst.get(e.flow) !== flowLast.get(e.flow)) {
      const ph = flowFirst.get(e.flow) === i ? 's' : flowLast.get(e.flow) === i ? 'f' : 't';
      out.push({ name: 'interrupt path', cat: 'flow', ph, id: e.flow, ts: base.ts, pid, tid: base.tid, ...(ph === 's' ? {} : { bp: 'e' as const }) });
    }
  });
  return { traceEvents: out, displayTimeUnit: 'ns', otherData: { generator: 'hvsim', clockHz } };
}

/** One JSON object per line, each event as recorded, ending with a newline. */
export function toJsonLines(events: readonly TraceEvent[]): string {
  let s = '';
  for (const e of events) s += JSON.stringify(e) + '\n';
  return s;
}
