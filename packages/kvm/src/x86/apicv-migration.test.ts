// Save/restore under APICv: the posted interrupt still in the PIR and the in-service vector in the
// virtual-APIC page travel in KVM_GET_LAPIC's image (synced first, as kvm_apic_get_state does) and come
// back through KVM_SET_LAPIC into the destination's virtual-APIC page with RVI/SVI recomputed
// (vmx_apicv_post_state_restore); nothing is lost (api.rst 4.57, 4.58).
import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { VMCS_FIELD } from '@hvsim/vmcs';
import { KVM_EXIT } from '../generic/constants.js';
import { GUEST, tinyVmm, type TinyVmm } from '../test-support/tiny-vmm.js';
import { restoreVm, saveVm } from './migration.js';

type Routine = Generator<Op, void, number>;
const TICKS = 0x6000;
const MSIS = 0x6004;
const TIMER = 0x20_0000;
const MSI = 0x20_1000;

function apicvGuest(): TinyVmm {
  const m = tinyVmm({
    interruptMode: 'apicv',
    snapshots: true,
    *code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
      yield g.st32(GUEST.APIC + APIC.LVT_TIMER, (1 << 17) | 0x30);
      yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 300);
      yield g.sti();
      while ((yield g.ld32(TICKS)) < 3) yield g.compute(2000);
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.vm.program.define(TIMER, function* timer(g: X86Guest): Routine {
    const t = yield g.ld32(TICKS);
    yield g.st32(TICKS, t + 1);
    yield g.out(0x80, t + 1);
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.vm.program.define(MSI, function* msi(g: X86Guest): Routine {
    const n = yield g.ld32(MSIS);
    yield g.st32(MSIS, n + 1);
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.setGate(0x30, TIMER);
  m.setGate(0x41, MSI);
  return m;
}

/** The VMM loop: records tick reports; at tick 2 (inside the timer handler) sends MSI 0x41 and stops if asked. */
function drive(m: TinyVmm, trace: number[], stopAtTick2 = false): 'power' | 'stopped' {
  for (let i = 0; i < 100; i++) {
    const run = m.vcpu.run();
    if (run.exit_reason !== KVM_EXIT.IO) throw new Error(`unexpected exit ${run.exit_reason}`);
    if (run.io.port === GUEST.POWER) return 'power';
    trace.push(run.ioData[0]!);
    if (run.ioData[0] === 2 && !trace.includes(-2)) {
      trace.push(-2);
      expect(m.vm.signalMsi({ addressLo: 0xfee0_0000, data: 0x41 })).toBe(1);
      if (stopAtTick2) return 'stopped';
    }
  }
  throw new Error('the guest did not finish');
}

const word = (m: TinyVmm, gpa: number): number => m.kvm.memory.read32(m.ram + gpa);

describe('save/restore of an APICv vCPU mid-flight (migration.ts through KVM_GET/SET_LAPIC)', () => {
  it('saved in the timer handler with an MSI posted and not yet synced: the destination continues like the run that never stopped', () => {
    const a = apicvGuest();
    const traceA: number[] = [];
    expect(drive(a, traceA)).toBe('power');

    const b = apicvGuest();
    const traceB: number[] = [];
    expect(drive(b, traceB, true)).toBe('stopped');
    expect(b.vcpu.posted!.pid.testPir(0x41)).toBe(true); // posted, still in the PIR
    b.vcpu.kvmRun.immediate_exit = 1;
    expect(() => b.vcpu.run()).toThrow(/EINTR/);
    b.vcpu.kvmRun.immediate_exit = 0;
    const saved = JSON.stringify(saveVm(b.vm));
    const image = new DataView(b.vcpu.getLapic().buffer);
    expect(image.getUint32(0x200 + 2 * 0x10, true) & (1 << 1)).not.toBe(0); // IRR 0x41
    expect(image.getUint32(0x100 + 1 * 0x10, true) & (1 << 16)).not.toBe(0); // ISR 0x30

    const c = apicvGuest();
    restoreVm(c.vm, JSON.parse(saved));
    // RVI 0x41 and SVI 0x30 in the destination's guest interrupt status.
    expect(c.vcpu.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTR_STATUS)).toBe((0x30 << 8) | 0x41);
    expect(drive(c, traceB)).toBe('power');
    expect(traceB).toEqual(traceA);
    expect(word(c, TICKS)).toBe(word(a, TICKS));
    expect(word(c, MSIS)).toBe(1);
    expect(c.vcpu.stats.count('EXTERNAL_INTERRUPT')).toBe(0);
  });
});
