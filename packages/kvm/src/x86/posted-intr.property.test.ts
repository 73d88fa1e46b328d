// Property: whatever happens between posts — vcpu_load on either CPU, vcpu_put (preempted or not), blocking
// with the wake-up vector, software posts (KVM) and hardware posts (VT-d, which honour SN) — no posted vector
// is lost: the descriptor keeps "PIR not empty ⇒ ON or SN", a load leaves "PIR not empty ⇒ ON", and the
// PIR-to-VIRR sync of the next VM entry finds every vector posted (SDM 3C 30.6; VT-d 5.2.3; Linux
// vmx_vcpu_pi_load / vmx_vcpu_pi_put / vmx_sync_pir_to_irr).
import { beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { GUEST, tinyVmm as makeVmm, type TinyVmm, type TinyVmmOptions } from '../test-support/tiny-vmm.js';
import type { MmuMode } from './shadow-state.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

type Routine = Generator<Op, void, number>;
/** The MMU the tests of the current `describe.each` run on (every test runs on EPT and on shadow paging). */
let mmu: MmuMode = 'ept';
const tinyVmm = (options: TinyVmmOptions): TinyVmm => makeVmm({ mmu, ...options });

const step = fc.oneof(
  fc.record({ kind: fc.constant('software' as const), vector: fc.integer({ min: 32, max: 255 }) }),
  fc.record({ kind: fc.constant('hardware' as const), vector: fc.integer({ min: 32, max: 255 }) }),
  fc.record({ kind: fc.constant('load' as const), cpu: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constant('put' as const), preempted: fc.boolean() }),
  fc.record({ kind: fc.constant('block' as const) }),
);

// Every test runs on EPT and on shadow paging (the interrupt path does not depend on the MMU: same exits).
describe.each<MmuMode>(['ept', 'shadow'])('%s', (mmuMode) => {
  beforeEach(() => {
    mmu = mmuMode;
  });

  describe('posted interrupts are never lost across load, put and blocking (property)', () => {
    it('every vector posted reaches the VIRR at the next entry', () => {
      const m = tinyVmm({
        interruptMode: 'apicv',
        physicalCpus: 2,
        *code(g: X86Guest): Routine {
          yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
          yield g.sti();
          yield g.out(0x80, 0);
        },
      });
      m.vcpu.run(); // APIC enabled, interrupts on, vCPU put
      const v = m.vcpu;
      const posted = v.posted!;
      const pid = posted.pid;
      const cpus = m.vm.interrupts.physicalCpus!;
      cpus.cpu(1);
      const memory = m.kvm.memory;
      const vapic = v.apicv!.vapicPage;
      const virr = (vector: number): boolean => ((memory.read32(vapic + 0x200 + (vector >>> 5) * 0x10) >>> (vector & 31)) & 1) === 1;
      fc.assert(
        fc.property(fc.array(step, { maxLength: 24 }), (steps) => {
          for (let i = 0; i < 8; i++) memory.write32(vapic + 0x200 + i * 0x10, 0); // a fresh VIRR
          const want = new Set<number>();
          for (const s of steps) {
            switch (s.kind) {
              case 'software':
                m.vm.signalMsi({ addressLo: 0xfee0_0000, data: s.vector });
                want.add(s.vector);
                break;
              case 'hardware':
                // As the IOMMU posts: PIR, then ON and a notification unless SN or ON was set.
                if (pid.post(s.vector)) cpus.byApicId((pid.ndst >>> 8) & 0xff)?.sendIpi(pid.nv);
                want.add(s.vector);
                break;
              case 'load':
                if (v.blocking) v.blocking = false;
                v.load(cpus.cpu(s.cpu));
                if (pid.hasPending()) expect(pid.on).toBe(true);
                break;
              case 'put':
                if (!v.blocking) v.put(s.preempted);
                break;
              case 'block':
                if (!v.blocking) {
                  v.blocking = true;
                  v.put(false);
                }
                break;
            }
            if (pid.hasPending()) expect(pid.on || pid.sn).toBe(true);
          }
          // The next KVM_RUN: vcpu_load, then vcpu_enter_guest's sync.
          v.blocking = false;
          v.load();
          posted.syncPirToIrr(v.vmx);
          for (const vector of want) expect(virr(vector)).toBe(true);
          expect(pid.hasPending()).toBe(false);
          v.put(false);
        }),
        { seed, numRuns },
      );
    });
  });
});
