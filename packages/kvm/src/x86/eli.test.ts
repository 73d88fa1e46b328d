// ELI, exitless interrupts for an assigned device (Gordon et al., ASPLOS 2012): a shadow IDT with the device's
// vectors present and the rest not present (#NP exits via the exception bitmap, SDM 3C 25.6.3), external-interrupt
// exiting off (SDM 3C 25.6.1), the x2APIC EOI passed to the physical APIC through the MSR bitmap (SDM 3C 25.6.9).
import { beforeEach, describe, expect, it } from 'vitest';
import { encodeIdtGate, type Op, type X86Guest } from '@hvsim/cpu';
import { KVM_EXIT, KVM_IRQ_ROUTING } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { hostIommu } from '../test-support/host-iommu.js';
import { GUEST, tinyVmm as makeVmm, type TinyVmm, type TinyVmmOptions } from '../test-support/tiny-vmm.js';
import type { MmuMode } from './shadow-state.js';
import { Kvm } from '../kvm.js';

type Routine = Generator<Op, void, number>;
/** The MMU the tests of the current `describe.each` run on (every test runs on EPT and on shadow paging). */
let mmu: MmuMode = 'ept';
const tinyVmm = (options: TinyVmmOptions): TinyVmm => makeVmm({ mmu, ...options });
const NIC = 0x0300;
const GSI = 24;
const DEV = 0x30; // the assigned device's vector
const OTHER = 0x41; // an emulated interrupt (KVM_SIGNAL_MSI)
const SHADOW = GUEST.HOLE + 0x10_0000; // mapped by the guest's page tables, no memslot
const HANDLER2 = GUEST.ENTRY + 0xc00;
const X2APIC_ENABLE = 0xfee0_0000 | (1 << 11) | (1 << 10);

interface Counts {
  dev: number;
  dev2: number;
  other: number;
  /** What the guest waits for before its next report (an OUT to port 0x80). */
  until: number;
  /** Extra work between reports. */
  step?: (g: X86Guest) => Routine;
}

/** An x2APIC guest in ELI mode with an assigned NIC whose MSI vector DEV targets vCPU 0. */
function eliVm(halt = false) {
  const c: Counts = { dev: 0, dev2: 0, other: 0, until: 0 };
  const m = tinyVmm({
    interruptMode: 'eli',
    shadowIdt: SHADOW,
    *code(g: X86Guest): Routine {
      yield g.wrmsr(0x1b, X2APIC_ENABLE);
      yield g.wrmsr(0x80f, 0x1ff); // SVR: software-enable
      yield g.ld32(GUEST.IDT + DEV * 16); // the IDT and stack pages mapped before the counting starts
      yield g.st32(GUEST.STACK_TOP - 64, 0);
      yield g.sti();
      for (let round = 0; ; round++) {
        yield g.out(0x80, round);
        if (c.step) yield* c.step(g);
        while (c.dev + c.dev2 + c.other < c.until) yield halt ? g.hlt() : g.compute(100);
      }
    },
  });
  const isr = (count: keyof Pick<Counts, 'dev' | 'dev2' | 'other'>) =>
    function* (g: X86Guest): Routine {
      c[count]++;
      yield g.wrmsr(0x80b, 0); // x2APIC EOI
      yield g.iret();
    };
  m.vm.program.define(GUEST.ENTRY + 0x800, isr('dev'));
  m.vm.program.define(GUEST.ENTRY + 0x900, isr('other'));
  m.vm.program.define(HANDLER2, isr('dev2'));
  m.setGate(DEV, GUEST.ENTRY + 0x800);
  m.setGate(OTHER, GUEST.ENTRY + 0x900);
  const { iommu, driver } = hostIommu(m.vm, m.kvm.memory);
  const dev = m.vm.assignDevice({ sid: NIC, driver });
  const fd = new EventFd();
  m.vm.setGsiRouting([{ gsi: GSI, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: 0xfee0_0000, data: DEV } }]);
  m.vm.irqfd({ fd, gsi: GSI });
  const [p] = dev.setMsiIrqs([{ fd, gsi: GSI }]);
  /** Runs to the next report after scheduling `events` (cycles from now, what). */
  const round = (events: [number, () => void][]): void => {
    for (const [at, fn] of events) m.kvm.clock.schedule(m.vcpu.cpu.localTime + at, fn);
    c.until += events.length;
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
  };
  const device = (): void => {
    expect(iommu.sendMsi(NIC, p!.msiAddress, 0).outcome).toBe('remapped');
  };
  const emulated = (): void => {
    expect(m.vm.signalMsi({ addressLo: 0xfee0_0000, data: OTHER })).toBe(1);
  };
  expect(m.vcpu.run().io.port).toBe(0x80); // x2APIC on, the IDT and stack touched
  round([[2000, device]]); // the first one maps the handler's page (an EPT violation on its fetch)
  return { m, c, p, round, device, emulated, eli: m.vcpu.eli! };
}

// Every test runs on EPT and on shadow paging (the interrupt path does not depend on the MMU: same exits).
describe.each<MmuMode>(['ept', 'shadow'])('%s', (mmuMode) => {
  beforeEach(() => {
    mmu = mmuMode;
  });

  describe('ELI: exitless interrupts for an assigned device (Gordon et al., ASPLOS 2012)', () => {
    it('the device’s interrupt reaches the guest handler through the shadow IDT, and its EOI the physical APIC: 0 exits', () => {
      const { m, c, p, round, device, eli } = eliVm();
      expect(p!.eliVector).toBe(DEV);
      expect(eli.direct).toBe(true);
      const exits = m.vcpu.stats.exits;
      const hostTaken = m.vcpu.pcpu.interrupts[DEV]!;
      for (let i = 0; i < 3; i++) round([[3000, device]]);
      expect(c.dev).toBe(4);
      expect(m.vcpu.stats.exits - exits).toBe(3); // only the three reports (OUT to port 0x80)
      expect(m.vcpu.stats.count('IO_INSTRUCTION')).toBeGreaterThanOrEqual(3);
      expect(m.vcpu.pcpu.hostApic.highestInServiceVector()).toBe(-1); // the guest's EOI ended it in the physical APIC
      expect(m.vcpu.pcpu.interrupts[DEV]).toBe(hostTaken); // the host never handled these
    });

    it('any other interrupt exits (#NP through the not-present shadow gate), is injected with the guest’s IDT, and its EOI exits', () => {
      const { m, c, round, emulated, eli } = eliVm();
      round([[3000, emulated]]); // the first read of the guest's IDT re-faults its page in read-only (write tracking)
      const before = m.vcpu.stats.snapshot();
      const exits = m.vcpu.stats.exits;
      const [np, switches] = [eli.npExits, eli.injectionSwitches];
      round([[3000, emulated]]);
      expect(c.other).toBe(2);
      const after = m.vcpu.stats.snapshot();
      const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
      expect(delta('EXCEPTION_NMI')).toBe(1); // the kick's reschedule IPI, #NP in the shadow
      expect(delta('MSR_WRITE')).toBe(1); // the emulated interrupt's EOI, intercepted in injection mode
      expect(m.vcpu.stats.exits - exits).toBe(3); // and the report's OUT
      expect([eli.npExits - np, eli.injectionSwitches - switches]).toEqual([1, 1]);
      expect(eli.direct).toBe(true); // back once nothing emulated is in service
      expect(m.vcpu.apic!.highestInServiceVector()).toBe(-1);
    });

    it('an intercepted EOI ends the higher-priority in-service interrupt of the two APICs', () => {
      const { m, c, round, device, emulated } = eliVm();
      // The emulated one (0x41) arrives first; the device's (0x30, lower class) is taken once its handler EOIs.
      round([
        [2000, emulated],
        [2001, device],
      ]);
      expect([c.other, c.dev]).toEqual([1, 2]);
      expect(m.vcpu.apic!.highestInServiceVector()).toBe(-1);
      expect(m.vcpu.pcpu.hostApic.highestInServiceVector()).toBe(-1);
    });

    it('keeps the guest’s IDT consistent: a write to it exits and is emulated, and the shadow follows (still 0 exits per interrupt)', () => {
      const { m, c, round, device, eli } = eliVm();
      const gate = encodeIdtGate({ target: HANDLER2 });
      c.step = function* (g: X86Guest): Routine {
        c.step = undefined;
        for (let i = 0; i < 4; i++) yield g.st32(GUEST.IDT + DEV * 16 + 4 * i, gate[i]!);
      };
      round([[3000, device]]); // the handler is replaced before this interrupt
      expect(eli.idtWrites).toBe(4);
      // Under shadow paging each store was a #PF on a write-tracked spte (KVM's page tracking), emulated.
      if (mmu === 'shadow') expect(m.vcpu.shadow!.faults.emulated).toBeGreaterThanOrEqual(4);
      expect(m.vcpu.shadow === undefined).toBe(mmu === 'ept');
      expect(c.dev2).toBe(1);
      expect(m.kvm.memory.read32(m.ram + GUEST.IDT + DEV * 16)).toBe(gate[0]); // the guest's own IDT holds the write
      const exits = m.vcpu.stats.exits;
      round([[3000, device]]);
      expect(c.dev2).toBe(2);
      expect(m.vcpu.stats.exits - exits).toBe(1);
      expect(m.vcpu.getSregs().idt).toEqual({ base: GUEST.IDT, limit: 0xfff }); // not the shadow's
    });

    it('a halted vCPU is not in guest mode: the host takes the device interrupt, the irqfd injects it (injection mode)', () => {
      const { m, c, round, device } = eliVm(true);
      const fdBefore = m.vcpu.pcpu.interrupts[DEV]!;
      round([[50_000, device]]);
      expect(c.dev).toBe(2);
      expect(m.vcpu.pcpu.interrupts[DEV]! - fdBefore).toBe(1); // the host's handler signalled the eventfd
      expect(m.vcpu.stats.count('HLT')).toBeGreaterThanOrEqual(1);
    });

    it('LIDT exits (descriptor-table exiting) and moves the shadowed IDT', () => {
      const { m, c, round, device } = eliVm();
      const NEW_IDT = 0x5000;
      const gate = encodeIdtGate({ target: HANDLER2 });
      gate.forEach((w, i) => {
        m.kvm.memory.write32(m.ram + NEW_IDT + DEV * 16 + 4 * i, w);
      });
      c.step = function* (g: X86Guest): Routine {
        c.step = undefined;
        yield g.lidt(NEW_IDT, 0xfff);
      };
      round([[3000, device]]);
      expect(m.vcpu.stats.count('GDTR_IDTR')).toBe(1);
      expect(c.dev2).toBe(1);
      expect(m.vcpu.getSregs().idt).toEqual({ base: NEW_IDT, limit: 0xfff });
    });

    it('is chosen before the vCPUs with a shadow-IDT address (EINVAL otherwise)', () => {
      const vm = new Kvm().createVm();
      expectErrno(() => vm.interrupts.setMode('eli'), 'EINVAL', /ELI needs shadowIdt, a page-aligned guest address, got undefined/);
      expectErrno(() => vm.interrupts.setMode('eli', { shadowIdt: 0x1234 }), 'EINVAL', /got 4660/);
      expectErrno(() => vm.interrupts.setMode('apicv', { shadowIdt: 0x1000 }), 'EINVAL', /shadowIdt is for the 'eli' mode/);
    });
  });
});
