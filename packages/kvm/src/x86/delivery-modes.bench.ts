// Interrupt delivery end to end in each mode, and the cost of halted vCPUs to a running one.
// Emulated: the same timer guest, each interrupt one kick exit (EXTERNAL_INTERRUPT) to deliver and one EOI
// exit (EPT_MISCONFIG). APICv: a periodic LAPIC timer interrupting a computing guest, each interrupt posted (PIR, ON, 0xF2 to the
// CPU running the guest), taken by posted-interrupt processing and virtual-interrupt delivery, handled, and
// EOIed by EOI virtualization: no exit. The "halted" case runs the same guest on vCPU 0 while 1,023 other
// vCPUs of the VM (KVM_MAX_VCPUS is 1,024) sit blocked in kvm_vcpu_block with posting active, on the
// blocked lists of the 4 physical CPUs the VM shares (put as kvm_vcpu_block puts them: their threads are
// asleep while vCPU 0's runs).
import { bench, describe } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { IntelIommu, VtdDriver, apicBusTarget } from '@hvsim/iommu';
import { APIC } from '@hvsim/lapic';
import { KVM_IRQ_ROUTING } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';
import { IrqBypass } from './irq-bypass.js';

type Routine = Generator<Op, void, number>;
const INTERRUPTS = 2000;


function machine(mode: 'emulated' | 'apicv', halted = 0) {
  let ticks = 0;
  let base = 0;
  const m = tinyVmm({
    interruptMode: mode,
    physicalCpus: halted > 0 ? 4 : undefined,
    *code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
      yield g.st32(GUEST.APIC + APIC.LVT_TIMER, (1 << 17) | 0x30);
      yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 50);
      yield g.sti();
      while (ticks < INTERRUPTS) yield g.compute(200);
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.eoiHandler(0x30, 0x20_0000, () => ticks++);
  for (let id = 1; id <= halted; id++) {
    const v = m.vm.createVcpu(id);
    v.setMpState(3); // KVM_MP_STATE_HALTED
    v.blocking = true; // asleep in kvm_vcpu_block: put with the wake-up vector, on its CPU's blocked list
    v.put(false);
  }
  /** Runs the guest from its entry for another INTERRUPTS ticks (the clock and the vCPU carry on). */
  const again = (): void => {
    ticks = 0;
    m.vcpu.setRegs({ rip: GUEST.ENTRY });
    m.runUntilStop();
    check(m, mode, (base += INTERRUPTS));
  };
  return { m, again };
}

function check(m: ReturnType<typeof tinyVmm>, mode: 'emulated' | 'apicv', total: number): void {
  const exits = m.vcpu.stats.count('EXTERNAL_INTERRUPT');
  if (mode === 'emulated' && exits < total - 1) throw new Error(`expected ${total} kick exits, got ${exits}`);
  if (mode === 'apicv' && (exits !== 0 || m.vcpu.posted!.posted < total)) throw new Error(`expected ${total} posted interrupts and no kick exit, got ${m.vcpu.posted?.posted} and ${exits}`);
}

describe('one interrupt end to end', () => {
  const emulated = machine('emulated');
  const apicv = machine('apicv');
  bench(`emulated: timer interrupts, two exits each [ops=${INTERRUPTS}]`, () => {
    emulated.again();
  }, { iterations: 10 });
  bench(`APICv: posted timer interrupts, no exit [ops=${INTERRUPTS}]`, () => {
    apicv.again();
  }, { iterations: 10 });
});

/** An assigned device (VT-d posting, IRQ bypass) interrupting a computing guest every `period` cycles. */
function deviceMachine(period: number) {
  let ticks = 0;
  let base = 0;
  const m = tinyVmm({
    interruptMode: 'apicv',
    *code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.sti();
      while (ticks < INTERRUPTS) yield g.compute(200);
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.eoiHandler(0x30, 0x20_0000, () => ticks++);
  const iommu = new IntelIommu({ memory: m.kvm.memory, target: apicBusTarget(m.vm.interrupts.physicalCpus!.hostBus) });
  const driver = new VtdDriver({ unit: iommu, memory: m.kvm.memory, pages: { allocate: () => m.vm.allocKernelPages(1) } });
  driver.enableInterruptRemapping({ entries: 256 });
  const fd = new EventFd();
  m.vm.setGsiRouting([{ gsi: 24, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: 0xfee0_0000, data: 0x30 } }]);
  m.vm.irqfd({ fd, gsi: 24 });
  const producer = new IrqBypass({ vm: m.vm, driver }).addProducer(0x0300, fd, 24);
  const clock = m.kvm.clock;
  const fire = (): void => {
    iommu.sendMsi(0x0300, producer.msiAddress, 0);
    clock.schedule(clock.now() + period, fire);
  };
  clock.schedule(clock.now() + period, fire);
  const again = (): void => {
    ticks = 0;
    m.vcpu.setRegs({ rip: GUEST.ENTRY });
    m.runUntilStop();
    base += INTERRUPTS;
    if (m.vcpu.stats.count('EXTERNAL_INTERRUPT') !== 0 || m.vcpu.stats.count('EPT_MISCONFIG') !== 0) throw new Error('a posted device interrupt caused an exit');
  };
  return { m, again, total: () => base };
}

describe('one posted device interrupt end to end (MSI → IRTE → descriptor → 0xF2 → virtual-interrupt delivery → handler → virtual EOI)', () => {
  const device = deviceMachine(5000);
  bench(`VT-d posted: device interrupts, no exit [ops=${INTERRUPTS}]`, () => {
    device.again();
  }, { iterations: 10 });
});

describe('halted vCPUs and a running one (APICv)', () => {
  const alone = machine('apicv', 0);
  const crowded = machine('apicv', 1023);
  bench('running vCPU alone', () => {
    alone.again();
  }, { iterations: 10 });
  bench('running vCPU with 1,023 blocked vCPUs on the blocked lists', () => {
    crowded.again();
  }, { iterations: 10 });
});
