/**
 * Exporters of recorded events: Chrome Trace Event JSON (opens in Perfetto
 * and chrome://tracing) and JSON lines.
 */
import { UsageError } from '../errors/hvsim-error.js';
import { describeValue } from '../errors/validate.js';
import type { TraceArg, TraceEvent } from './events.js';

/** One entry of the Chrome Trace Event format's `traceEvents` array. */
export interface ChromeTraceEntry {
  name: string;
  /** Category: the emitting model. */
  cat?: string;
  /** Phase: `X` complete, `i` instant, `M` metadata, `s`/`t`/`f` flow. */
  ph: 'X' | 'i' | 'M' | 's' | 't' | 'f';
  /** Timestamp in microseconds. */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  /** Instant-event scope: thread. */
  s?: 't';
  id?: number;
  bp?: 'e';
  args?: Record<string, TraceArg>;
}

/** The Chrome Trace Event JSON object format. */
export interface ChromeTrace {
  traceEvents: ChromeTraceEntry[];
  displayTimeUnit: 'ns' | 'ms';
  otherData: Record<string, string | number>;
}

/** Options of {@link toChromeTrace}. */
export interface ChromeTraceOptions {
  /** Clock rate used to turn cycles into microseconds. */
  clockHz: number;
  /** Process id to put events under (default 1). */
  pid?: number;
  /** Process name shown by viewers (default `hvsim`). */
  processName?: string;
  /** Name of a CPU's row (default `cpu N`). */
  cpuName?: (cpu: number) => string;
}

// Facts every event has that go into the entry itself rather than into args.
const STRUCTURAL = new Set(['kind', 'cycle', 'cpu', 'source', 'duration', 'flow', 'args']);

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
 * Converts events to the Chrome Trace Event format: one row (thread) per CPU
 * plus a `platform` row for events with no CPU, events with a duration as
 * complete (`X`) slices and others as thread-scoped instants, and the events
 * sharing a `flow` number linked by flow arrows.
 */
export function toChromeTrace(events: readonly TraceEvent[], options: ChromeTraceOptions): ChromeTrace {
  const { clockHz } = options;
  if (typeof clockHz !== 'number' || !(clockHz > 0) || !Number.isFinite(clockHz)) {
    throw new UsageError('bad-argument', `clockHz must be a positive number, got ${describeValue(clockHz)}`);
  }
  const pid = options.pid ?? 1;
  const us = (cycles: number): number => (cycles / clockHz) * 1e6;
  const tidOf = (e: TraceEvent): number => (e.cpu === undefined ? 0 : e.cpu + 1);
  const cpuName = options.cpuName ?? ((cpu: number) => `cpu ${cpu}`);

  const out: ChromeTraceEntry[] = [{ name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name: options.processName ?? 'hvsim' } }];
  const tids = new Set<number>();
  for (const e of events) tids.add(tidOf(e));
  for (const tid of [...tids].sort((a, b) => a - b)) {
    out.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name: tid === 0 ? 'platform' : cpuName(tid - 1) } });
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
