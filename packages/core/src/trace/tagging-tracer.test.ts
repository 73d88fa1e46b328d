import { describe, expect, it } from 'vitest';
import type { TraceEvent, Tracer } from './events.js';
import { toChromeTrace } from './exporters.js';
import { RecordingTracer } from './recording-tracer.js';
import { TaggingTracer } from './tagging-tracer.js';

describe('TaggingTracer', () => {
  it('stamps vm, vcpu and a source prefix on the event it forwards, allocating no new event', () => {
    const rec = new RecordingTracer();
    const guest = new TaggingTracer(rec, { vm: 3, vcpu: 1, sourcePrefix: 'guest' });
    const e: TraceEvent = { kind: 'interrupt.delivered', cycle: 10, cpu: 0, source: 'lapic', vector: 0x30 };
    guest.emit(e);
    expect(rec.events()[0]).toBe(e);
    expect(e).toEqual({ kind: 'interrupt.delivered', cycle: 10, cpu: 0, source: 'guest.lapic', vector: 0x30, vm: 3, vcpu: 1 });
    const f: TraceEvent = { kind: 'vm.entry', cycle: 11, source: 'lapic' };
    guest.emit(f);
    // The prefixed name is made once per distinct source.
    expect(f.source).toBe(e.source);
  });

  it('leaves a vm or vcpu already stamped by an inner wrapper (a nested guest) alone', () => {
    const rec = new RecordingTracer();
    const l1 = new TaggingTracer(rec, { vm: 1, vcpu: 0 });
    const l2 = new TaggingTracer(l1, { vm: 2 });
    l2.emit({ kind: 'vm.entry', cycle: 0, source: 'vmx' });
    expect(rec.events()[0]).toMatchObject({ vm: 2, vcpu: 0 });
  });

  it('checks its options, naming the bad value', () => {
    const rec = new RecordingTracer();
    expect(() => new TaggingTracer(rec, { vm: -1 })).toThrow('vm must be an integer in [0, 2147483647], got -1');
    expect(() => new TaggingTracer(rec, { vm: 1, cpu: 2 } as never)).toThrow('TaggingTracer has no option "cpu" (known: vm, vcpu, sourcePrefix)');
    expect(() => new TaggingTracer(rec, { vm: 0, vcpu: 0.5 })).toThrow(/vcpu must be an integer/);
    expect(() => new TaggingTracer(rec, { vm: 0, sourcePrefix: '' })).toThrow('sourcePrefix must be a non-empty string, got ""');
    expect(() => new TaggingTracer({} as unknown as Tracer, { vm: 0 })).toThrow(/needs a target tracer with emit\(\), got object/);
  });
});

describe('toChromeTrace with VMs', () => {
  it('puts the host and each VM in its own named process, rows by vcpu, and joins flows across them', () => {
    const rec = new RecordingTracer();
    const vm0 = new TaggingTracer(rec, { vm: 0 });
    const vm5vcpu1 = new TaggingTracer(rec, { vm: 5, vcpu: 1 });
    rec.emit({ kind: 'msi', cycle: 0, source: 'iommu', address: 0xfee0_0000, data: 0x41, flow: 9 });
    rec.emit({ kind: 'interrupt.delivered', cycle: 100, cpu: 0, source: 'lapic', vector: 0xf2, flow: 9 });
    vm0.emit({ kind: 'interrupt.delivered', cycle: 200, cpu: 0, source: 'lapic', vector: 0x41, flow: 9 });
    vm0.emit({ kind: 'interrupt.eoi', cycle: 300, cpu: 0, source: 'lapic', vector: 0x41, flow: 9 });
    vm5vcpu1.emit({ kind: 'vm.entry', cycle: 400, cpu: 3, source: 'vmx' });
    const trace = toChromeTrace(rec.events(), { clockHz: 1e6, vmName: (vm) => `guest ${vm}` });
    const meta = trace.traceEvents.filter((e) => e.ph === 'M').map((e) => [e.name, e.pid, e.tid, e.args?.name]);
    expect(meta).toEqual([
      ['process_name', 1, 0, 'hvsim'],
      ['thread_name', 1, 0, 'platform'],
      ['thread_name', 1, 1, 'cpu 0'],
      ['process_name', 2, 0, 'guest 0'],
      ['thread_name', 2, 1, 'vcpu 0'],
      ['process_name', 7, 0, 'guest 5'],
      ['thread_name', 7, 2, 'vcpu 1'],
    ]);
    // Host LAPIC cpu 0 and guest LAPIC cpu 0 land in different processes.
    const delivered = trace.traceEvents.filter((e) => e.name.startsWith('interrupt.delivered'));
    expect(delivered.map((e) => [e.pid, e.tid])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(delivered[1]!.args).not.toHaveProperty('vm');
    // One flow, from the host process into the VM's.
    const flow = trace.traceEvents.filter((e) => e.cat === 'flow');
    expect(flow.map((e) => [e.ph, e.id, e.pid])).toEqual([
      ['s', 9, 1],
      ['t', 9, 1],
      ['t', 9, 2],
      ['f', 9, 2],
    ]);
  });
});

describe('trace options are checked', () => {
  it('refuses misspelled options of RecordingTracer and toChromeTrace', () => {
    expect(() => new RecordingTracer({ capcity: 3 } as never)).toThrow('RecordingTracer has no option "capcity" (known: capacity)');
    expect(() => toChromeTrace([], { clockHz: 1, vmname: () => 'x' } as never)).toThrow(/toChromeTrace has no option "vmname"/);
  });
});
