// Shadow paging (vm.setMmu('shadow')): one guest run under EPT and under shadow paging gives the same results,
// with the exits each MMU takes (Linux vmx.c with !enable_ept; mmu.c kvm_mmu_page_fault, kvm_mmu_invlpg, kvm_mmu_new_pgd).
import { describe, expect, it } from 'vitest';
import { KVM_MEM_LOG_DIRTY_PAGES } from '@hvsim/core';
import type { Op, X86Guest } from '@hvsim/cpu';
import { KVM_CAP, KVM_EXIT, KVM_INTERNAL_ERROR } from '../generic/constants.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';
import { restoreVm, saveVm } from './migration.js';
import type { MmuMode } from './shadow-state.js';

type Routine = Generator<Op, void, number>;

const PF_HANDLER = 0x20_0000;
/** Address space B's tables (guest-physical, built by the guest) and two data pages. */
const B = { PML4: 0x40_0000, PDPT: 0x40_1000, PD: 0x40_2000, PT: 0x40_3000 };
const DATA0 = 0x50_0000;
const DATA1 = 0x60_0000;
/** A linear address mapped (4 KiB) only in address space B. */
const LA = 0x1000_0000;
const P_RW = 0x3; // present, writable (SDM 3A 4.5 Table 4-15..4-19)
const PS = 0x80;
const IOREGSEL = GUEST.IOAPIC;
const IOWIN = GUEST.IOAPIC + 0x10;

/** What the guest saw, the MMIO exits and the exits by reason. */
function runGuest(mode: MmuMode) {
  const seen: number[] = [];
  const faults: number[] = [];
  const m = tinyVmm({
    *code(g: X86Guest): Routine {
      // Address space B: the first 8 MiB identity-mapped with 2 MiB pages, LA → DATA0 through a 4 KiB PT.
      yield g.st64(B.PML4, B.PDPT | P_RW);
      yield g.st64(B.PDPT, B.PD | P_RW);
      for (let i = 0; i < 4; i++) yield g.st64(B.PD + i * 8, (i * 0x20_0000) | P_RW | PS);
      yield g.st64(B.PD + ((LA >>> 21) & 511) * 8, B.PT | P_RW);
      yield g.st64(B.PT + ((LA >>> 12) & 511) * 8, DATA0 | P_RW);
      yield g.st32(DATA0, 0xaaaa);
      yield g.st32(DATA1, 0xbbbb);
      const a = yield g.movFromCr(3); // address space A: the VMM's tables
      yield g.movToCr(3, B.PML4);
      seen.push((yield g.movFromCr(3)) === B.PML4 ? 1 : 0);
      seen.push(yield g.ld32(LA)); // DATA0
      // The guest edits a live PTE (a write-protected page under shadow paging: emulated), then INVLPGs it.
      yield g.st64(B.PT + ((LA >>> 12) & 511) * 8, DATA1 | P_RW);
      yield g.invlpg(LA);
      seen.push(yield g.ld32(LA)); // DATA1
      // Back to A, where LA is not mapped: the guest's #PF handler switches to B and the load retries.
      yield g.movToCr(3, a);
      seen.push(yield g.ld32(LA));
      seen.push((yield g.movFromCr(3)) === B.PML4 ? 1 : 0);
      yield g.movToCr(3, a);
      // MMIO: the in-kernel IOAPIC (version register) and a device in the hole (KVM_EXIT_MMIO).
      yield g.st32(IOREGSEL, 1);
      seen.push(yield g.ld32(IOWIN));
      yield g.st32(GUEST.HOLE + 0x10, 0x1234);
      seen.push(yield g.ld32(GUEST.HOLE + 0x20));
      seen.push(yield g.ld32(GUEST.HOLE + 0x20));
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.vm.program.define(PF_HANDLER, function* pageFault(g: X86Guest, vector: number, error: number): Routine {
    faults.push(vector, error, yield g.movFromCr(2));
    yield g.movToCr(3, B.PML4);
    yield g.addRsp(8); // the error code
    yield g.iret();
  });
  m.setGate(14, PF_HANDLER);
  m.vm.setMmu(mode);
  const mmio: number[] = [];
  for (;;) {
    const r = m.runUntilStop();
    if (r !== KVM_EXIT.MMIO) {
      expect(r).toBe(KVM_EXIT.IO);
      break;
    }
    const x = m.vcpu.kvmRun.mmio;
    mmio.push(x.phys_addr, x.is_write, x.data[0]! | (x.data[1]! << 8));
    if (x.is_write === 0) x.data.set([0x78, 0x56, 0, 0]);
  }
  const exits = m.vm.stats;
  return { m, seen, faults, mmio, exits: { pf: exits.count('EXCEPTION_NMI'), cr: exits.count('CR_ACCESS'), invlpg: exits.count('INVLPG'), eptViolation: exits.count('EPT_VIOLATION'), eptMisconfig: exits.count('EPT_MISCONFIG') } };
}

describe('shadow paging: the same guest under EPT and without it', () => {
  it('4-level tables built by the guest, CR3 switches, a PTE edit with INVLPG, a guest #PF, MMIO: identical results (SDM 3A 4.5, 4.7, 4.10.4.1)', () => {
    const ept = runGuest('ept');
    const shadow = runGuest('shadow');
    for (const r of [ept, shadow]) {
      expect(r.seen).toEqual([1, 0xaaaa, 0xbbbb, 0xbbbb, 1, 0x0017_0020, 0x5678, 0x5678]);
      expect(r.faults).toEqual([14, 0, LA]); // not present, supervisor read (SDM 3A 4.7): CR2 = the address
      expect(r.mmio).toEqual([GUEST.HOLE + 0x10, 1, 0x1234, GUEST.HOLE + 0x20, 0, 0, GUEST.HOLE + 0x20, 0, 0]);
    }
    // EPT: no #PF, CR3 or INVLPG exits; the MMIO pages took EPT violations, then misconfigurations.
    expect([ept.exits.pf, ept.exits.cr, ept.exits.invlpg]).toEqual([0, 0, 0]);
    expect(ept.exits.eptViolation).toBeGreaterThan(0);
    expect(ept.exits.eptMisconfig).toBeGreaterThan(0);
    // Shadow: no EPT exits; every CR3 access exits (1 store + 2 loads/stores in the main code + 1 in the handler + 3 loads),
    // the one INVLPG exits, and #PF exits fill the shadow tables, inject the guest's #PF, emulate the PTE edit and find MMIO.
    expect([shadow.exits.eptViolation, shadow.exits.eptMisconfig]).toEqual([0, 0]);
    expect(shadow.exits.cr).toBe(7);
    expect(shadow.exits.invlpg).toBe(1);
    const s = shadow.m.vcpu.shadow!;
    expect(s.intercepts).toEqual({ cr3Loads: 4, cr3Stores: 3, invlpgs: 1, crWrites: 0 });
    expect(s.faults.injected).toBe(1);
    expect(s.faults.emulated).toBe(1);
    expect(s.faults.mmio).toBe(5); // IOREGSEL, IOWIN, the hole's write and two reads (the second from the MMIO spte)
    expect(shadow.exits.pf).toBe(s.faults.fixed + s.faults.injected + s.faults.emulated + s.faults.mmio);
    expect(s.mmu.stats().mmioSpteExits).toBeGreaterThan(0);
  });

  it('the guest sees its own CR0/CR4/CR3 (read shadows, the MMU\'s CR3), the hardware runs the shadow root with CR0.WP (SDM 3C 25.6.6)', () => {
    const { m } = runGuest('shadow');
    const sregs = m.vcpu.getSregs();
    const hwCr3 = m.vcpu.vmx.vmreadNumber(0x6802); // GUEST_CR3
    expect(sregs.cr3).not.toBe(hwCr3);
    expect(hwCr3).toBe(m.vcpu.shadow!.mmu.shadowRoot);
    expect(sregs.cr0 & 0x1_0000).toBe(0); // the guest's WP is 0 (tinyVmm's CR0)
    expect(m.vcpu.vmx.vmreadNumber(0x6800) & 0x1_0000).toBe(0x1_0000); // the hardware's WP is 1
    expect(sregs.cr4 & (1 << 13)).toBe(0);
  });

  it('setMmu: EINVAL for a bad value, after a vCPU ran; the default is EPT; APICv VMs may choose shadow paging', () => {
    const { m } = runGuest('ept');
    expect(m.vm.mmuMode).toBe('ept');
    expect(m.vm.shadowPages).toBeUndefined();
    expectErrno(() => m.vm.setMmu('shadow'), 'EINVAL', /before a vCPU runs \(vcpu 0 has\)/);
    expectErrno(() => m.vm.setMmu('npt' as MmuMode), 'EINVAL', /'ept' or 'shadow', got npt/);
    const apicv = tinyVmm({ interruptMode: 'apicv', *code() {} });
    apicv.vm.setMmu('shadow');
    expect(apicv.vm.mmuMode).toBe('shadow');
    expect(apicv.vcpu.shadow).toBeDefined();
    expect(m.kvm.checkExtension(KVM_CAP.SYNC_MMU)).toBe(1);
  });

  it('memslot changes zap the shadow pages; dirty logging write-protects the pages it hands out (api.rst 4.8; mmu.rst)', () => {
    const writes: number[] = [];
    let step = 0;
    const m = tinyVmm({
      *code(g: X86Guest): Routine {
        for (;;) {
          yield g.st32(DATA0 + step * 8, step);
          writes.push(step);
          yield g.out(GUEST.POWER, 0);
        }
      },
    });
    m.vm.setMmu('shadow');
    m.vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: GUEST.RAM, userspaceAddr: m.ram });
    const bit = (log: Uint32Array, gpa: number): number => ((log[gpa >>> 17] ?? 0) >>> ((gpa >>> 12) & 31)) & 1;
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(bit(m.vm.getDirtyLog(0), DATA0)).toBe(1);
    const flushes = m.vm.shadowPages!.stats().remoteFlushes;
    expect(bit(m.vm.getDirtyLog(0), DATA0)).toBe(0);
    expect(m.vm.shadowPages!.stats().remoteFlushes).toBe(flushes); // nothing handed out: nothing re-protected
    const pf = m.vm.stats.count('EXCEPTION_NMI');
    step = 1;
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    // The write after KVM_GET_DIRTY_LOG faults (the spte lost W: one #PF exit, fixed) and is logged again.
    expect(m.vm.stats.count('EXCEPTION_NMI')).toBe(pf + 1);
    expect(bit(m.vm.getDirtyLog(0), DATA0)).toBe(1);
    expect(bit(m.vm.getDirtyLog(0), DATA0)).toBe(0);
    const zaps = m.vm.shadowPages!.stats().zapAlls;
    m.vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: 0x100_0000, memorySize: 0x10_0000, userspaceAddr: m.kvm.mmap(0x10_0000) });
    step = 2;
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(m.vm.shadowPages!.stats().zapAlls).toBe(zaps + 1);
    expect(writes).toEqual([0, 1, 2]);
    expectErrno(() => m.vm.getDirtyLog(1), 'ENOENT', /slot 1 does not exist or does not log/);
  });

  it('MOV to CR0/CR4 of host-owned bits exits: the read shadows change, the MMU context follows; a bad value is #GP (SDM 3C 25.6.6, 26.1.3)', () => {
    const seen: number[] = [];
    const m = tinyVmm({
      *code(g: X86Guest): Routine {
        // Only the guest-owned TS changes: no exit, and the host-owned bits (the hardware's WP) keep their values (SDM 3C 26.3).
        yield g.movToCr(0, (yield g.movFromCr(0)) | 8);
        yield g.out(GUEST.POWER, 0);
        const cr0 = yield g.movFromCr(0);
        yield g.movToCr(0, cr0 | 0x1_0000); // CR0.WP
        seen.push((yield g.movFromCr(0)) & 0x1_0000);
        const cr4 = yield g.movFromCr(4);
        seen.push(cr4 & (1 << 13)); // VMXE hidden by the read shadow
        yield g.movToCr(4, cr4 | (1 << 7)); // CR4.PGE
        seen.push((yield g.movFromCr(4)) & (1 << 7));
        seen.push((yield g.movFromCr(0)) & 0x1_0008);
        yield g.out(GUEST.POWER, 0);
      },
    });
    m.vm.setMmu('shadow');
    const s = m.vcpu.shadow!;
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(s.intercepts.crWrites).toBe(0);
    expect(m.vcpu.vmx.vmreadNumber(0x6800) & 0x1_0008).toBe(0x1_0008); // GUEST_CR0: WP still forced on, TS the guest's
    expect(m.vcpu.getSregs().cr0 & 0x1_0008).toBe(8); // the guest's WP is still 0
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(seen).toEqual([0x1_0000, 0, 1 << 7, 0x1_0008]);
    expect(s.intercepts.crWrites).toBe(2);
    expect([s.mmu.context.cr0Wp, s.mmu.context.cr4Pge]).toEqual([true, true]);
    expect(m.vcpu.getSregs().cr4 & (1 << 7)).toBe(1 << 7);
    // A vCPU created afterwards joins the VM's shadow pages.
    const ap = m.vm.createVcpu(1);
    expect(ap.shadow?.mmu.vm).toBe(m.vm.shadowPages);
  });

  it('a guest without paging (CR0.PG = 0, as after INIT) cannot run under shadow paging here: KVM_EXIT_INTERNAL_ERROR (KVM would use its nonpaging MMU)', () => {
    const m = tinyVmm({ *code(g: X86Guest): Routine { yield g.out(GUEST.POWER, 0); } });
    m.vm.setMmu('shadow');
    m.vcpu.setSregs({ cr0: 0x11, cr4: 0, efer: 0 });
    expect(m.vcpu.getSregs().cr0).toBe(0x11);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.INTERNAL_ERROR);
    expect(m.vcpu.kvmRun.internal.suberror).toBe(KVM_INTERNAL_ERROR.EMULATION);
  });

  it.each(['shadow', 'ept'] as const)('save/restore mid-flight of a shadow-paged VM: only guest state is saved (CR3 the guest\'s); restored into a VM with the %s MMU it finishes like the run that never stopped', (mode) => {
    const build = () => {
      const m = tinyVmm({
        snapshots: true,
        *code(g: X86Guest): Routine {
          yield g.st64(B.PML4, B.PDPT | P_RW);
          yield g.st64(B.PDPT, B.PD | P_RW);
          for (let i = 0; i < 4; i++) yield g.st64(B.PD + i * 8, (i * 0x20_0000) | P_RW | PS);
          yield g.st64(B.PD + ((LA >>> 21) & 511) * 8, B.PT | P_RW);
          yield g.movToCr(3, B.PML4);
          for (let i = 0; i < 4; i++) {
            yield g.st64(B.PT + ((LA >>> 12) & 511) * 8, (DATA0 + i * 0x1000) | P_RW);
            yield g.invlpg(LA);
            yield g.st32(LA + 4 * i, 0x100 + i);
            yield g.out(0x80, i);
          }
          yield g.out(GUEST.POWER, 0);
        },
      });
      return m;
    };
    const drive = (m: ReturnType<typeof build>, stopAt = -1): number[] => {
      const trace: number[] = [];
      for (;;) {
        const run = m.vcpu.run();
        expect(run.exit_reason).toBe(KVM_EXIT.IO);
        if (run.io.port === GUEST.POWER) return trace;
        trace.push(run.ioData[0]!);
        if (run.ioData[0] === stopAt) return trace;
      }
    };
    const words = (m: ReturnType<typeof build>): number[] => [0, 1, 2, 3].map((i) => m.kvm.memory.read32(m.ram + DATA0 + i * 0x1000 + 4 * i));
    const src = build();
    src.vm.setMmu('shadow');
    expect(drive(src, 1)).toEqual([0, 1]);
    src.vcpu.kvmRun.immediate_exit = 1;
    expect(() => src.vcpu.run()).toThrow(/EINTR/);
    src.vcpu.kvmRun.immediate_exit = 0;
    const saved = JSON.parse(JSON.stringify(saveVm(src.vm))) as { vcpus: { sregs: { cr3: number } }[] };
    expect(saved.vcpus[0]!.sregs.cr3).toBe(B.PML4); // the guest's CR3, not the shadow root
    const dst = build();
    dst.vm.setMmu(mode);
    restoreVm(dst.vm, saved);
    expect(drive(dst)).toEqual([2, 3]);
    expect(words(dst)).toEqual([0x100, 0x101, 0x102, 0x103]); // what the uninterrupted run writes (each PTE edit took effect)
  });
});
