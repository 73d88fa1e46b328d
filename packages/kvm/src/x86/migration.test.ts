import { describe, expect, it } from 'vitest';
import { SnapshotError, UsageError } from '@hvsim/core';
import { checkAtomicRestore } from '@hvsim/core/testing';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_EXIT, KVM_MEM } from '../generic/constants.js';
import { GUEST, tinyVmm, type TinyVmm } from '../test-support/tiny-vmm.js';
import { restoreVcpu, restoreVm, saveVcpu, saveVm } from './migration.js';

type Routine = Generator<Op, void, number>;
const TIMER_HANDLER = 0x20_0000;
const MSI_HANDLER = 0x21_0000;
/** Guest memory the guest keeps its state in (never host variables: they are not migrated). */
const TICKS = 0x5_0000;
const MSIS = 0x5_0004;
const BUFFER = 0x40_0000;
const PORT_IN_HANDLER = 0x80;

/**
 * A guest whose LAPIC timer ticks (periodic, vector 0x30) while it halts; the
 * timer handler counts in guest memory and does an OUT in the middle (the
 * VMM's chance to save), and an MSI handler (0x41) counts too. `pages` > 0:
 * after the ticks the guest fills that many buffer pages, a tick between
 * each (for live migration).
 */
function timerGuest(options: { ticks: number; pages?: number; log?: boolean }): TinyVmm {
  const pages = options.pages ?? 0;
  function* code(g: X86Guest): Routine {
    yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
    yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb); // divide by 1
    yield g.st32(GUEST.APIC + APIC.LVT_TIMER, (1 << 17) | 0x30); // periodic
    yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 20_000);
    yield g.sti();
    for (;;) {
      const t = yield g.ld32(TICKS);
      if (t >= options.ticks) break;
      yield g.hlt();
    }
    for (let p = 0; p < pages; p++) {
      for (let w = 0; w < 16; w++) yield g.st32(BUFFER + p * 4096 + w * 4, (p << 8) | w);
      yield g.hlt();
    }
    yield g.out(GUEST.POWER, 0);
  }
  const m = tinyVmm({ code, snapshots: true });
  if (options.log === true) m.vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: GUEST.RAM, userspaceAddr: m.ram });
  m.vm.program.define(TIMER_HANDLER, function* timer(g: X86Guest): Routine {
    const t = yield g.ld32(TICKS);
    yield g.st32(TICKS, t + 1);
    yield g.out(PORT_IN_HANDLER, t + 1);
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.vm.program.define(MSI_HANDLER, function* msi(g: X86Guest): Routine {
    const n = yield g.ld32(MSIS);
    yield g.st32(MSIS, n + 1);
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.setGate(0x30, TIMER_HANDLER);
  m.setGate(0x41, MSI_HANDLER);
  return m;
}

/** Runs a VMM loop: records the ports of OUT 0x80, and at tick `at` (inside the handler) sends MSI 0x41 and calls `atTick`. Returns at the power port. */
function drive(m: TinyVmm, trace: number[], atTick?: { tick: number; then: () => 'stop' | 'go' }): 'power' | 'stopped' {
  for (let i = 0; i < 1000; i++) {
    const run = m.vcpu.run();
    if (run.exit_reason !== KVM_EXIT.IO) throw new Error(`unexpected exit ${run.exit_reason}`);
    if (run.io.port === GUEST.POWER) return 'power';
    trace.push(run.ioData[0]!);
    if (atTick && run.ioData[0] === atTick.tick) {
      expect(m.vm.signalMsi({ addressLo: 0xfee0_0000, data: 0x41 })).toBe(1); // pending: the handler runs with IF = 0
      if (atTick.then() === 'stop') return 'stopped';
    }
  }
  throw new Error('the guest did not finish');
}

const guestWord = (m: TinyVmm, gpa: number): number => m.kvm.memory.read32(m.ram + gpa);

describe('save/restore of a vCPU and a VM mid-flight (QEMU-style, through the KVM API)', () => {
  it('saved inside the timer handler with an MSI pending, restored into a fresh Kvm: continues like the run that never stopped, no interrupt lost', () => {
    const a = timerGuest({ ticks: 3 });
    const traceA: number[] = [];
    expect(drive(a, traceA, { tick: 2, then: () => 'go' })).toBe('power');

    const b = timerGuest({ ticks: 3 });
    const traceB: number[] = [];
    expect(drive(b, traceB, { tick: 2, then: () => 'stop' })).toBe('stopped');
    expect(b.vcpu.apic!.isRequested(0x41)).toBe(true);
    expect(b.vcpu.apic!.isInService(0x30)).toBe(true);
    expect(() => saveVcpu(b.vcpu)).toThrow(/immediate_exit/);
    b.vcpu.kvmRun.immediate_exit = 1;
    expect(() => b.vcpu.run()).toThrow(/EINTR/); // completes the OUT, runs no guest code (api.rst 5)
    b.vcpu.kvmRun.immediate_exit = 0;
    const saved = JSON.stringify(saveVm(b.vm));

    const c = timerGuest({ ticks: 3 }); // the destination: same VM shape and guest program, a different host
    restoreVm(c.vm, JSON.parse(saved));
    expect(c.vcpu.apic!.isRequested(0x41)).toBe(true);
    expect(c.vcpu.getRegs()).toEqual(b.vcpu.getRegs());
    expect(drive(c, traceB)).toBe('power');
    expect(traceB).toEqual(traceA);
    for (const gpa of [TICKS, MSIS]) expect(guestWord(c, gpa)).toBe(guestWord(a, gpa));
    expect(guestWord(c, MSIS)).toBe(1);
  });

  it('saved inside an NMI handler with a second NMI pending (KVM_GET/SET_VCPU_EVENTS: nmi.masked, nmi.pending): the restored vCPU takes it after IRET', () => {
    const NMIS = 0x5_0008;
    const build = (): TinyVmm => {
      const m = tinyVmm({
        snapshots: true,
        *code(g) {
          yield g.out(0x80, 0);
          yield g.compute(100);
          yield g.out(GUEST.POWER, 0);
        },
      });
      m.vm.program.define(0x22_0000, function* nmi(g: X86Guest): Routine {
        const n = yield g.ld32(NMIS);
        yield g.st32(NMIS, n + 1);
        yield g.out(PORT_IN_HANDLER, 0xaa);
        yield g.iret();
      });
      m.setGate(2, 0x22_0000);
      return m;
    };
    const src = build();
    src.vcpu.run();
    src.vcpu.nmi();
    expect(src.vcpu.run().ioData[0]).toBe(0xaa); // in the NMI handler
    src.vcpu.nmi(); // blocked until IRET
    src.vcpu.kvmRun.immediate_exit = 1;
    expect(() => src.vcpu.run()).toThrow(/EINTR/);
    const e = src.vcpu.getVcpuEvents();
    expect([e.nmi.masked, e.nmi.pending]).toEqual([1, 1]);
    const dst = build();
    restoreVm(dst.vm, JSON.parse(JSON.stringify(saveVm(src.vm))));
    expect(dst.vcpu.getVcpuEvents().nmi).toEqual(e.nmi);
    expect(dst.vcpu.run().ioData[0]).toBe(0xaa); // the pending NMI, after the first handler's IRET
    expect(dst.vcpu.run().io.port).toBe(GUEST.POWER);
    expect(guestWord(dst, NMIS)).toBe(2);
  });

  it('a vCPU restore checks the whole state and changes nothing when it throws (checkAtomicRestore)', () => {
    const b = timerGuest({ ticks: 2 });
    drive(b, [], { tick: 1, then: () => 'stop' });
    b.vcpu.kvmRun.immediate_exit = 1;
    expect(() => b.vcpu.run()).toThrow(/EINTR/);
    const good = saveVcpu(b.vcpu);
    const c = timerGuest({ ticks: 2 });
    const model = { saveState: () => saveVcpu(c.vcpu), restoreState: (s: unknown) => restoreVcpu(c.vcpu, s) };
    const report = checkAtomicRestore(model, good, [
      { label: 'foreign type', state: { ...good, type: 'hvsim.x86-cpu' } },
      { label: 'another vCPU id', state: { ...good, id: 3 } },
      { label: 'an exception vector of 40', state: { ...good, events: { ...good.events, exception: { ...good.events.exception, injected: 1, nr: 40 } } } },
      { label: 'a LAPIC image of 12 bytes', state: { ...good, lapic: 'AAAAAAAAAAAAAAAA' } },
      { label: 'malformed guest code frames', state: { ...good, cpu: { ...(good.cpu as object), frames: [{}] } } },
    ], { maxCorruptions: 120 });
    expect(report.refused).toBe(5);
    expect(() => restoreVcpu(c.vcpu, { ...good, id: 3 })).toThrow(SnapshotError);
  });

  it('live migration: dirty-page rounds (KVM_GET_DIRTY_LOG, api.rst 4.8) while the source runs, then stop-and-copy; the destination finishes with the same memory', () => {
    const src = timerGuest({ ticks: 1, pages: 6, log: true });
    const dst = timerGuest({ ticks: 1, pages: 6, log: true });
    const copyPages = (bitmap: Uint32Array): number => {
      let n = 0;
      for (let page = 0; page * 4096 < GUEST.RAM; page++) {
        if ((bitmap[page >>> 5]! & (1 << (page & 31))) === 0) continue;
        dst.kvm.memory.writeBytes(dst.ram + page * 4096, src.kvm.memory.readBytes(src.ram + page * 4096, 4096));
        n++;
      }
      return n;
    };
    src.vm.getDirtyLog(0);
    dst.kvm.memory.writeBytes(dst.ram, src.kvm.memory.readBytes(src.ram, GUEST.RAM)); // round 0: everything
    const rounds: number[] = [];
    for (let r = 0; r < 3; r++) {
      const run = src.vcpu.run({ maxCycles: 15_000 }); // the source keeps running
      if (run.exit_reason === KVM_EXIT.IO && run.io.port === PORT_IN_HANDLER) {
        src.vcpu.kvmRun.immediate_exit = 1;
        expect(() => src.vcpu.run()).toThrow(/EINTR/);
        src.vcpu.kvmRun.immediate_exit = 0;
      }
      rounds.push(copyPages(src.vm.getDirtyLog(0)));
    }
    expect(rounds.some((n) => n > 0)).toBe(true);
    expect(Math.max(...rounds)).toBeLessThan(16); // only what the guest wrote, not the 2048 pages of RAM
    // Stop and copy: the last dirty pages, then the device and vCPU state without RAM.
    copyPages(src.vm.getDirtyLog(0));
    restoreVm(dst.vm, JSON.parse(JSON.stringify(saveVm(src.vm, { ram: false }))));
    const traceSrc: number[] = [];
    const traceDst: number[] = [];
    expect(drive(src, traceSrc)).toBe('power');
    expect(drive(dst, traceDst)).toBe('power');
    for (let p = 0; p < 6; p++) {
      for (let w = 0; w < 16; w++) expect(guestWord(dst, BUFFER + p * 4096 + w * 4)).toBe((p << 8) | w);
    }
    expect(Buffer.compare(dst.kvm.memory.readBytes(dst.ram, GUEST.RAM), src.kvm.memory.readBytes(src.ram, GUEST.RAM))).toBe(0); // all of RAM
  });

  it('a VM restore refuses a target of another shape (memslots, irqchip) with a SnapshotError naming it, and a save needs { snapshots: true } while guest code runs', () => {
    const b = timerGuest({ ticks: 1 });
    drive(b, [], { tick: 1, then: () => 'stop' });
    b.vcpu.kvmRun.immediate_exit = 1;
    expect(() => b.vcpu.run()).toThrow(/EINTR/);
    const state = saveVm(b.vm);
    const other = timerGuest({ ticks: 1 });
    other.vm.setUserMemoryRegion({ slot: 5, flags: 0, guestPhysAddr: GUEST.HOLE, memorySize: 0x1000, userspaceAddr: other.kvm.mmap(0x1000) });
    expect(() => restoreVm(other.vm, state)).toThrow(/memslots/);
    const plain = tinyVmm({
      *code(g) {
        yield g.out(0x80, 0);
        yield g.out(GUEST.POWER, 0);
      },
    });
    plain.vcpu.run();
    plain.vcpu.kvmRun.immediate_exit = 1;
    expect(() => plain.vcpu.run()).toThrow(/EINTR/);
    expect(() => saveVcpu(plain.vcpu)).toThrow(UsageError);
    expect(() => saveVcpu(plain.vcpu)).toThrow(/snapshots: true/);
  });
});
