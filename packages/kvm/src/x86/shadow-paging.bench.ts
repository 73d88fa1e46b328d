// Shadow paging's own costs (vm.setMmu('shadow'); Linux vmx.c with !enable_ept): guest page faults that KVM
// fixes by filling sptes (kvm_mmu_page_fault on an EXCEPTION_NMI exit with #PF), and guest CR3 switches
// (a CR_ACCESS exit each, kvm_mmu_new_pgd finding the cached root). Per iteration: FAULTS faults, or SWITCHES
// switches, so faults (switches) per second = hz × FAULTS (SWITCHES).
import { bench, describe } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const FAULTS = 256;
const SWITCHES = 256;
const DATA = 0x60_0000; // 256 pages in guest RAM the VMM's tables map (2 MiB pages: 4 KiB sptes, one fault each)
/** Address space B (guest-built: the first 8 MiB with 2 MiB pages). */
const B = { PML4: 0x40_0000, PDPT: 0x40_1000, PD: 0x40_2000 };
const P_RW = 0x3;
const PS = 0x80;

function faulting() {
  const m = tinyVmm({
    mmu: 'shadow',
    *code(g: X86Guest): Routine {
      for (let i = 0; i < FAULTS; i++) yield g.ld32(DATA + i * 4096);
      yield g.out(GUEST.POWER, 0);
    },
  });
  const tables = m.vm.shadowPages!;
  const shadow = m.vcpu.shadow!;
  return (): void => {
    tables.zapAll(); // every spte goes: each page faults again
    const before = shadow.faults.fixed;
    m.vcpu.setRegs({ rip: GUEST.ENTRY });
    m.runUntilStop();
    if (shadow.faults.fixed - before < FAULTS) throw new Error(`expected ${FAULTS} fixed faults, got ${shadow.faults.fixed - before}`);
  };
}

function switching() {
  let built = false;
  const m = tinyVmm({
    mmu: 'shadow',
    *code(g: X86Guest): Routine {
      if (!built) {
        yield g.st64(B.PML4, B.PDPT | P_RW);
        yield g.st64(B.PDPT, B.PD | P_RW);
        for (let i = 0; i < 4; i++) yield g.st64(B.PD + i * 8, (i * 0x20_0000) | P_RW | PS);
        built = true;
      }
      const a = yield g.movFromCr(3);
      for (let i = 0; i < SWITCHES / 2; i++) {
        yield g.movToCr(3, B.PML4);
        yield g.movToCr(3, a);
      }
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.runUntilStop();
  const shadow = m.vcpu.shadow!;
  return (): void => {
    const before = shadow.intercepts.cr3Loads;
    m.vcpu.setRegs({ rip: GUEST.ENTRY });
    m.runUntilStop();
    if (shadow.intercepts.cr3Loads - before !== SWITCHES) throw new Error(`expected ${SWITCHES} CR3 loads, got ${shadow.intercepts.cr3Loads - before}`);
  };
}

describe('shadow paging', () => {
  const fault = faulting();
  bench(`${FAULTS} guest page faults fixed by the shadow MMU (EXCEPTION_NMI exits, sptes filled)`, fault, { time: 1000 });
  const cr3 = switching();
  bench(`${SWITCHES} guest CR3 switches between two address spaces (CR_ACCESS exits, cached roots)`, cr3, { time: 1000 });
});
