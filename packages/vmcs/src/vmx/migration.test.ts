// A VM migrated into a host whose clock is far ahead loses no tick (host-seams
// issue, "Time"; docs/conventions.md "Time": saved states hold deadlines relative
// to the clock at the save). The guest's two LAPIC timers (SDM 3A 11.5.4, periodic
// and TSC-deadline 11.5.4.1) and the VMX-preemption timer of the vCPU in VMX
// non-root operation (SDM 3C 26.5.1) are saved, sent as JSON and restored into
// fresh models on a clock ~10^12 cycles ahead that already has host events pending.
import { describe, expect, it } from 'vitest';
import { Clock, PhysicalMemory } from '@hvsim/core';
import { APIC, IA32_TSC_DEADLINE_MSR, LocalApic } from '@hvsim/lapic';
import { ADDR, launch } from '../internal/test-setup.js';
import { prepareVmcs } from './prepare-vmcs.js';
import { VmxProcessor } from './processor.js';
import { PIN_BASED, VM_EXIT } from './controls.js';
import { VMCS_FIELD } from '../fields/field-table.js';
import { EXIT_REASON } from './exit-reasons.js';

/** 2.5 GHz TSC, 25 MHz APIC timer: one timer tick (divide by 1) is 100 cycles. */
const TSC_HZ = 2_500_000_000;
const TIMER_HZ = 25_000_000;
const CYCLES_PER_TICK = TSC_HZ / TIMER_HZ;
const PERIOD_TICKS = 7;
const PERIOD = PERIOD_TICKS * CYCLES_PER_TICK; // 700 cycles
const PREEMPTION_VALUE = 3_000; // units of 2^rate TSC cycles
/** The destination host has run for ~10^12 cycles (400 s at 2.5 GHz). */
const FAR_AHEAD = 1_000_000_000_037;
/** The source guest's TSC runs ahead of its host's by this much (VMX TSC offsetting). */
const SOURCE_TSC_OFFSET = 4_000_000;

/** One line of the merged timeline: what fired, at which cycle of the clock it ran on. */
type Event = readonly [cycle: number, what: string];

/** The guest side of one VM: two vCPU LAPICs (periodic on vCPU 0, TSC-deadline on vCPU 1) and vCPU 0's VMX processor. */
interface Vm {
  clock: Clock;
  memory: PhysicalMemory;
  apic0: LocalApic;
  apic1: LocalApic;
  vmx: VmxProcessor;
  log: Event[];
}

/** A guest LAPIC whose fixed interrupts (its timer's) are logged through the fixed-interrupt sink, as a VMM posting them would see them. */
function guestApic(id: number, clock: Clock, log: Event[], tscOffset: number): LocalApic {
  const apic = new LocalApic({
    id,
    clock,
    tscFrequencyHz: TSC_HZ,
    timerFrequencyHz: TIMER_HZ,
    tscOffset,
    deliverFixed: (vector) => {
      log.push([clock.now(), `apic${id} vector 0x${vector.toString(16)}`]);
      return true;
    },
  });
  apic.mmioWrite(APIC.SVR, 4, 0x1ff);
  return apic;
}

/** The VMX processor's `onEvent` (the preemption timer reaching 0) is logged too. */
function wire(clock: Clock, memory: PhysicalMemory, log: Event[], tscOffset: number): Vm {
  const vmx = new VmxProcessor({ memory, clock, onEvent: () => log.push([clock.now(), 'preemption timer']) });
  return { clock, memory, apic0: guestApic(0, clock, log, 0), apic1: guestApic(1, clock, log, tscOffset), vmx, log };
}

/** Where the VMX processor's entry with the preemption timer armed happens on the source clock. */
const ENTRY_AT = 123_456;

/** The source host: everything running, saved 50_000 cycles after the VM entry. */
function sourceVm(): { vm: Vm; savedAt: number } {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x10_0000);
  const vm = wire(clock, memory, [], SOURCE_TSC_OFFSET);
  const { apic0, apic1, vmx } = vm;
  clock.advance(ENTRY_AT);
  // vCPU 0: periodic timer, divide by 1, 7 ticks (SDM 3A 11.5.4, Figure 11-8 mode 01b).
  apic0.mmioWrite(APIC.TIMER_DIVIDE_CONFIG, 4, 0xb);
  apic0.mmioWrite(APIC.LVT_TIMER, 4, 0x2_0000 | 0x41);
  apic0.mmioWrite(APIC.TIMER_INITIAL_COUNT, 4, PERIOD_TICKS);
  // vCPU 1: TSC-deadline mode (11.5.4.1), the deadline in the guest's TSC (host TSC + offset).
  apic1.mmioWrite(APIC.LVT_TIMER, 4, 0x4_0000 | 0x42);
  apic1.writeMsr(IA32_TSC_DEADLINE_MSR, BigInt(ENTRY_AT + SOURCE_TSC_OFFSET + 60_000));
  // vCPU 0 enters the guest with the VMX-preemption timer armed (SDM 3C 26.5.1).
  const rev = vmx.capabilities.revisionId;
  memory.write32(ADDR.VMXON, rev);
  memory.write32(ADDR.VMCS, rev);
  vmx.vmxon(ADDR.VMXON);
  vmx.vmclear(ADDR.VMCS);
  vmx.vmptrld(ADDR.VMCS);
  prepareVmcs(vmx, { pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, exit: VM_EXIT.SAVE_PREEMPTION_TIMER, fields: { VMX_PREEMPTION_TIMER_VALUE: PREEMPTION_VALUE } });
  launch({ p: vmx, memory, clock });
  clock.advance(50_000);
  return { vm, savedAt: clock.now() };
}

/** The cycle of the preemption timer's expiry on the source: it counts down each time TSC bit `rate` changes, from the entry (26.5.1). */
function preemptionDeadline(vmx: VmxProcessor): number {
  const unit = 2 ** vmx.capabilities.preemptionTimerRate;
  return (Math.floor(ENTRY_AT / unit) + PREEMPTION_VALUE) * unit;
}

/** Cycles after the save at which each remaining guest event is due, from the spec's rules alone. */
function dueAfterSave(vmx: VmxProcessor, savedAt: number, horizon: number): Event[] {
  const due: Event[] = [];
  // Periodic: a tick every PERIOD cycles since the initial-count write at ENTRY_AT (11.5.4).
  for (let at = ENTRY_AT + PERIOD; at <= savedAt + horizon; at += PERIOD) if (at > savedAt) due.push([at - savedAt, 'apic0 vector 0x41']);
  // TSC deadline: when the guest's TSC reaches the value written (11.5.4.1).
  due.push([ENTRY_AT + 60_000 - savedAt, 'apic1 vector 0x42']);
  due.push([preemptionDeadline(vmx) - savedAt, 'preemption timer']);
  return due.sort((a, b) => a[0] - b[0]);
}

const HORIZON = 100_000;
const HOST_EVENTS = [1, 699, 5_000, 9_999, 10_000, 45_000, 99_999];

describe('migration into a host clock far ahead (SDM 3A 11.5.4, SDM 3C 26.5.1)', () => {
  it('the source, never stopped, runs the reference timeline', () => {
    const { vm, savedAt } = sourceVm();
    expect(preemptionDeadline(vm.vmx)).toBeGreaterThan(savedAt);
    expect(vm.log).toHaveLength(Math.floor((savedAt - ENTRY_AT) / PERIOD)); // only periodic ticks so far
    const before = vm.log.length;
    vm.clock.advance(HORIZON);
    expect(vm.log.slice(before).map(([cycle, what]): Event => [cycle - savedAt, what])).toEqual(dueAfterSave(vm.vmx, savedAt, HORIZON));
  });

  it('restored into fresh models on a clock 10^12 cycles ahead with host events pending: every tick and the preemption exit at the same cycles after the restore', () => {
    const { vm: src, savedAt } = sourceVm();
    const tmcct = src.apic0.mmioRead(APIC.TIMER_CURRENT_COUNT, 4);
    const deadline = src.apic1.readMsr(IA32_TSC_DEADLINE_MSR);
    const sent = JSON.stringify({ apic0: src.apic0.saveState(), apic1: src.apic1.saveState(), vmx: src.vmx.saveState(), memory: src.memory.saveState() });

    const clock = new Clock();
    clock.advance(FAR_AHEAD);
    const start = clock.now();
    const log: Event[] = [];
    for (const after of HOST_EVENTS) clock.schedule(start + after, (now) => log.push([now, 'host']));
    const saved = JSON.parse(sent) as { apic0: unknown; apic1: unknown; vmx: unknown; memory: unknown };
    const memory = new PhysicalMemory();
    memory.restoreState(saved.memory);
    // The VMM keeps the guest's TSC continuous and sets the new offset before loading the
    // LAPIC state, as QEMU writes IA32_TSC before IA32_TSC_DEADLINE.
    const dst = wire(clock, memory, log, SOURCE_TSC_OFFSET + savedAt - start);
    dst.apic0.restoreState(saved.apic0);
    dst.apic1.restoreState(saved.apic1);
    dst.vmx.restoreState(saved.vmx);

    expect(dst.vmx.vmxOperation).toBe('non-root');
    expect(dst.apic0.mmioRead(APIC.TIMER_CURRENT_COUNT, 4)).toBe(tmcct);
    expect(dst.apic1.readMsr(IA32_TSC_DEADLINE_MSR)).toBe(deadline);
    expect(start + dst.apic1.tscOffset).toBe(savedAt + SOURCE_TSC_OFFSET); // the guest's TSC did not jump

    clock.advance(HORIZON);
    const relative = log.map(([cycle, what]): Event => [cycle - start, what]);
    const expected = [...dueAfterSave(dst.vmx, savedAt, HORIZON), ...HOST_EVENTS.map((c): Event => [c, 'host'])];
    // One timeline, in clock order; at equal cycles the host's events (scheduled first) run first.
    expect(relative).toEqual(expected.sort((a, b) => a[0] - b[0] || (a[1] === 'host' ? -1 : b[1] === 'host' ? 1 : 0)));
    // The deadline fired when the guest's TSC reached it and disarmed itself (11.5.4.1).
    const fired = relative.find(([, w]) => w === 'apic1 vector 0x42')!;
    expect(BigInt(start + fired[0] + dst.apic1.tscOffset)).toBe(deadline);
    expect(dst.apic1.readMsr(IA32_TSC_DEADLINE_MSR)).toBe(0n);
    // The expired preemption timer is a VM exit (reason 52) at the next boundary, saving 0 (26.5.1).
    const exit = dst.vmx.instructionBoundary(true);
    expect(exit.kind === 'exit' && exit.exit.basicReason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(dst.vmx.vmread32(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE)).toBe(0);
  });

  it('an exit before the migrated deadline saves the value the source would have saved at the same point (SDM 3C 26.5.1)', () => {
    // FAR_AHEAD is not a multiple of 2^rate: the migrated deadline falls between two changes of TSC bit X.
    for (const after of [1, 1_000, 20_001, 40_000]) {
      const { vm: src, savedAt } = sourceVm();
      const saved = JSON.parse(JSON.stringify({ vmx: src.vmx.saveState(), memory: src.memory.saveState() })) as { vmx: unknown; memory: unknown };
      const clock = new Clock();
      clock.advance(FAR_AHEAD);
      const memory = new PhysicalMemory();
      memory.restoreState(saved.memory);
      const dst = new VmxProcessor({ memory, clock });
      dst.restoreState(saved.vmx);
      clock.advance(after);
      src.clock.advance(after);
      // The source's count: the changes of bit X still to come before its deadline.
      const expected = preemptionDeadline(src.vmx) / 2 ** src.vmx.capabilities.preemptionTimerRate - Math.floor(src.clock.now() / 2 ** src.vmx.capabilities.preemptionTimerRate);
      expect(src.vmx.reportExit(EXIT_REASON.CPUID).kind).toBe('exit');
      expect(src.vmx.vmread32(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE)).toBe(expected);
      expect(dst.reportExit(EXIT_REASON.CPUID).kind).toBe('exit');
      expect(dst.vmread32(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE)).toBe(expected); // a whole count, not one short
      expect(savedAt).toBe(ENTRY_AT + 50_000);
    }
  });

  it('no preemption exit one cycle before the migrated deadline, the exit at it (SDM 3C 26.5.1)', () => {
    const { vm: src, savedAt } = sourceVm();
    const remaining = preemptionDeadline(src.vmx) - savedAt;
    const saved = JSON.parse(JSON.stringify({ vmx: src.vmx.saveState(), memory: src.memory.saveState() })) as { vmx: unknown; memory: unknown };
    const clock = new Clock();
    clock.advance(FAR_AHEAD);
    clock.schedule(FAR_AHEAD + remaining, () => undefined); // a host event at the same cycle
    const memory = new PhysicalMemory();
    memory.restoreState(saved.memory);
    const dst = new VmxProcessor({ memory, clock });
    dst.restoreState(saved.vmx);
    clock.advance(remaining - 1);
    expect(dst.instructionBoundary(true).kind).toBe('continue');
    expect(dst.preemptionTimerExpired).toBe(false);
    clock.advance(1);
    const exit = dst.instructionBoundary(true);
    expect(exit.kind === 'exit' && exit.exit.basicReason).toBe(EXIT_REASON.PREEMPTION_TIMER);
  });
});
