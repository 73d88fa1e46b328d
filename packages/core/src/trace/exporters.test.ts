import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/hvsim-error.js';
import type { TraceEvent } from './events.js';
import { toChromeTrace, toJsonLines } from './exporters.js';
import { FanoutTracer, RecordingTracer } from './recording-tracer.js';

const path: TraceEvent[] = [
  { kind: 'msi', cycle: 0, source: 'nic', address: 0xfee00000, data: 0x4041, flow: 1 },
  { kind: 'interrupt.posted', cycle: 300, source: 'iommu', vector: 0x41, flow: 1 },
  { kind: 'vm.exit', cycle: 1000, cpu: 0, source: 'vmx', reason: 1, reasonName: 'EXTERNAL_INTERRUPT', duration: 2000 },
  { kind: 'interrupt.acknowledged', cycle: 4000, cpu: 0, source: 'lapic', vector: 0x41, flow: 1 },
  { kind: 'tlb.miss', cycle: 4100, cpu: 1, source: 'mmu', address: 0x7000, args: { level: 4 } },
];

describe('RecordingTracer', () => {
  it('keeps every event in order when unbounded', () => {
    const t = new RecordingTracer();
    for (const e of path) t.emit(e);
    expect(t.events()).toEqual(path);
    expect(t.size).toBe(5);
    expect(t.dropped).toBe(0);
  });

  it('keeps the newest events in a bounded ring and counts the dropped ones', () => {
    const t = new RecordingTracer({ capacity: 3 });
    for (const e of path) t.emit(e);
    expect(t.events()).toEqual(path.slice(2));
    expect(t.dropped).toBe(2);
    t.clear();
    expect(t.events()).toEqual([]);
    expect(() => new RecordingTracer({ capacity: 0 })).toThrow(/tracer capacity must be an integer in \[1, 2147483648\], got 0/);
  });

  it('fans out to several tracers', () => {
    const a = new RecordingTracer();
    const b = new RecordingTracer();
    new FanoutTracer(a, b).emit(path[0]!);
    expect(a.events()).toEqual([path[0]]);
    expect(b.events()).toEqual([path[0]]);
  });
});

describe('toChromeTrace', () => {
  // Trace Event Format: every event has name, ph, ts (µs), pid, tid; X has dur; i has scope s.
  it('produces the JSON object format with the fields the format requires', () => {
    const trace = JSON.parse(JSON.stringify(toChromeTrace(path, { clockHz: 1e9 }))) as ReturnType<typeof toChromeTrace>;
    expect(trace.displayTimeUnit).toBe('ns');
    for (const e of trace.traceEvents) {
      expect(typeof e.name).toBe('string');
      expect(['X', 'i', 'M', 's', 't', 'f']).toContain(e.ph);
      expect(typeof e.ts).toBe('number');
      expect(Number.isInteger(e.pid)).toBe(true);
      expect(Number.isInteger(e.tid)).toBe(true);
      if (e.ph === 'X') expect(typeof e.dur).toBe('number');
      if (e.ph === 'i') expect(e.s).toBe('t');
      if (e.ph === 's' || e.ph === 't' || e.ph === 'f') expect(typeof e.id).toBe('number');
    }
  });

  it('converts cycles to microseconds at the clock rate and names the rows', () => {
    const trace = toChromeTrace(path, { clockHz: 2e9, processName: 'host' });
    const exit = trace.traceEvents.find((e) => e.name === 'vm.exit EXTERNAL_INTERRUPT')!;
    expect(exit.ph).toBe('X');
    expect(exit.ts).toBe(0.5);
    expect(exit.dur).toBe(1);
    expect(exit.tid).toBe(1);
    expect(exit.cat).toBe('vmx');
    expect(exit.args).toMatchObject({ cycle: 1000, reason: 1, cycles: 2000 });
    const names = trace.traceEvents.filter((e) => e.ph === 'M').map((e) => e.args?.name);
    expect(names).toEqual(['host', 'platform', 'cpu 0', 'cpu 1']);
    const miss = trace.traceEvents.find((e) => e.name === 'tlb.miss')!;
    expect(miss).toMatchObject({ ph: 'i', s: 't', tid: 2, args: { address: 0x7000, level: 4 } });
  });

  it('links the events of one interrupt path with flow start, step and finish', () => {
    const trace = toChromeTrace(path, { clockHz: 1e9 });
    const flows = trace.traceEvents.filter((e) => e.cat === 'flow');
    expect(flows.map((e) => e.ph)).toEqual(['s', 't', 'f']);
    expect(flows.every((e) => e.id === 1)).toBe(true);
    expect(flows[2]!.bp).toBe('e');
    const posted = trace.traceEvents.find((e) => e.name === 'interrupt.posted 0x41')!;
    expect(posted).toMatchObject({ ph: 'X', dur: 0 });
  });

  it('rejects a missing or bad clock rate', () => {
    expect(() => toChromeTrace(path, { clockHz: 0 })).toThrow(/clockHz must be a positive number, got 0/);
    expect(() => toChromeTrace(path, { clockHz: Number.NaN })).toThrow(UsageError);
  });
});

describe('toJsonLines', () => {
  it('writes one parseable object per line', () => {
    const text = toJsonLines(path);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(path.length);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(path);
    expect(text.endsWith('\n')).toBe(true);
    expect(toJsonLines([])).toBe('');
  });
});
