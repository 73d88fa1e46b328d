import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { propertyParams } from '../test-support/property.js';
import { HCR_BIT, LR_PFIELD_EOI, LR_STATE, MISR_BIT, VirtualInterfaceCore } from './virtual-interface.js';

interface Rig {
  v: VirtualInterfaceCore;
  virq: boolean;
  vfiq: boolean;
  maint: boolean;
  hwDeactivated: number[];
}

function rig(lrs = 4, group0AlwaysFiq = true): Rig {
  const r: Rig = { virq: false, vfiq: false, maint: false, hwDeactivated: [], v: undefined as never };
  r.v = new VirtualInterfaceCore(
    0,
    { listRegisters: lrs, priorityBits: 5, preemptionBits: 5, group0AlwaysFiq },
    {
      onVirq: (_c, l) => (r.virq = l),
      onVfiq: (_c, l) => (r.vfiq = l),
      onMaintenance: (_c, l) => (r.maint = l),
      onHwDeactivate: (_c, p) => r.hwDeactivated.push(p),
    },
  );
  r.v.eng1 = true;
  r.v.eng0 = true;
  r.v.pmr = 0xf8;
  r.v.hcr = HCR_BIT.EN;
  return r;
}

// IHI0069 6.2 / IHI0048B 5.1: list registers and the virtual CPU interface.
describe('VirtualInterfaceCore', () => {
  it('signals the highest-priority pending LR and acknowledges it (pending -> active)', () => {
    const r = rig();
    const { v } = r;
    v.setListRegister(0, 40, 0, 0xa0, LR_STATE.PENDING, 1, 0);
    v.setListRegister(1, 41, 0, 0x80, LR_STATE.PENDING, 1, 0);
    expect(r.virq).toBe(true);
    expect(v.highestPending(2, 1023, false)).toBe(41);
    expect(v.acknowledge(2, 1023, false)).toBe(41);
    expect(v.lrState[1]).toBe(LR_STATE.ACTIVE);
    expect(v.runningPriority()).toBe(0x80);
    // 0xa0 cannot preempt 0x80
    expect(r.virq).toBe(false);
    expect(v.acknowledge(2, 1023, false)).toBe(1023);
    v.endOfInterrupt(1, 41, -1);
    expect(v.lrState[1]).toBe(LR_STATE.INVALID);
    expect(r.virq).toBe(true);
  });

  it('needs HCR.En, the group enable and priority below VPMR to signal', () => {
    const r = rig();
    const { v } = r;
    v.setListRegister(0, 40, 0, 0xf8, LR_STATE.PENDING, 1, 0);
    expect(r.virq).toBe(false); // 0xf8 is not below VPMR 0xf8
    v.pmr = 0xff & v.priorityMask;
    v.update();
    expect(v.pmr).toBe(0xf8);
    v.lrPriority[0] = 0xf0;
    v.update();
    expect(r.virq).toBe(true);
    v.eng1 = false;
    v.update();
    expect(r.virq).toBe(false);
    v.eng1 = true;
    v.hcr = 0;
    v.update();
    expect(r.virq).toBe(false);
  });

  it('Group 0 is a virtual FIQ (always in GICv3, with VFIQEn in GICv2)', () => {
    const r3 = rig(4, true);
    r3.v.setListRegister(0, 40, 0, 0x80, LR_STATE.PENDING, 0, 0);
    expect([r3.virq, r3.vfiq]).toEqual([false, true]);
    const r2 = rig(4, false);
    r2.v.setListRegister(0, 40, 0, 0x80, LR_STATE.PENDING, 0, 0);
    expect([r2.virq, r2.vfiq]).toEqual([true, false]);
    r2.v.fiqEn = true;
    r2.v.update();
    expect([r2.virq, r2.vfiq]).toEqual([false, true]);
  });

  // IHI0069 6.2.4: hardware interrupts.
  it('deactivating a HW list register deactivates the physical INTID', () => {
    const r = rig();
    r.v.setListRegister(2, 27, 27, 0xa0, LR_STATE.PENDING, 1, 1);
    expect(r.v.acknowledge(2, 1023, false)).toBe(27);
    r.v.endOfInterrupt(1, 27, -1);
    expect(r.hwDeactivated).toEqual([27]);
    expect(r.v.elrsr(0)).toBe(0b1111);
  });

  // IHI0069 12.4.3 ICH_EISR_EL2, 12.4.7 ICH_MISR_EL2.EOI
  it('EOI maintenance: an LR with EOI = 1 that becomes invalid raises the maintenance interrupt', () => {
    const r = rig();
    r.v.setListRegister(0, 40, LR_PFIELD_EOI, 0xa0, LR_STATE.PENDING, 1, 0);
    expect(r.maint).toBe(false);
    r.v.acknowledge(2, 1023, false);
    r.v.endOfInterrupt(1, 40, -1);
    expect(r.v.eisr(0)).toBe(1);
    expect(r.v.elrsr(0)).toBe(0b1110);
    expect(r.v.misr() & MISR_BIT.EOI).toBe(MISR_BIT.EOI);
    expect(r.maint).toBe(true);
    r.v.setListRegister(0, 0, 0, 0, LR_STATE.INVALID, 0, 0);
    expect(r.maint).toBe(false);
  });

  // IHI0069 12.4.7: U, NP, LRENP, VGrp*E/D.
  it.each([
    ['UIE with at most one valid LR asserts U', HCR_BIT.UIE, MISR_BIT.U],
    ['NPIE with no pending LR asserts NP', HCR_BIT.NPIE, MISR_BIT.NP],
    ['VGrp1EIE with Group 1 enabled asserts VGrp1E', HCR_BIT.VGRP1EIE, MISR_BIT.VGRP1E],
    ['VGrp0EIE with Group 0 enabled asserts VGrp0E', HCR_BIT.VGRP0EIE, MISR_BIT.VGRP0E],
    ['LRENPIE alone (EOIcount 0) asserts nothing', HCR_BIT.LRENPIE, 0],
  ])('%s (IHI0069 12.4.7)', (_name, hcr, misr) => {
    const r = rig();
    r.v.hcr = HCR_BIT.EN | hcr;
    r.v.update();
    expect(r.v.misr()).toBe(misr);
    expect(r.maint).toBe(misr !== 0);
  });

  it('VGrp0DIE with Group 0 disabled asserts VGrp0D', () => {
    const r = rig();
    r.v.eng0 = false;
    r.v.hcr = HCR_BIT.EN | HCR_BIT.VGRP0DIE;
    r.v.update();
    expect(r.v.misr()).toBe(MISR_BIT.VGRP0D);
    expect(r.maint).toBe(true);
    r.v.eng0 = true;
    r.v.update();
    expect(r.maint).toBe(false);
  });

  it('U deasserts with two valid LRs; NP deasserts with a pending LR; disable conditions follow VMCR', () => {
    const r = rig();
    r.v.hcr = HCR_BIT.EN | HCR_BIT.UIE | HCR_BIT.NPIE | HCR_BIT.VGRP1DIE;
    r.v.setListRegister(0, 40, 0, 0xa0, LR_STATE.PENDING, 1, 0);
    expect(r.v.misr()).toBe(MISR_BIT.U); // one valid LR
    r.v.setListRegister(1, 41, 0, 0xa0, LR_STATE.ACTIVE, 1, 0);
    expect(r.v.misr()).toBe(0);
    r.v.eng1 = false;
    r.v.update();
    expect(r.v.misr()).toBe(MISR_BIT.VGRP1D);
    r.v.hcr = HCR_BIT.VGRP1DIE; // En clear: no maintenance interrupt even with a condition
    r.v.update();
    expect(r.maint).toBe(false);
  });

  // IHI0069 pseudocode VirtualWriteEOIR1, 12.4.5 ICH_HCR_EL2.EOIcount and LRENP.
  it('an EOI matching no LR increments EOIcount and, with LRENPIE, raises LRENP', () => {
    const r = rig();
    r.v.hcr = HCR_BIT.EN | HCR_BIT.LRENPIE;
    r.v.setListRegister(0, 40, 0, 0xa0, LR_STATE.PENDING, 1, 0);
    r.v.acknowledge(2, 1023, false);
    // the hypervisor moved the active interrupt out of the LR
    r.v.setListRegister(0, 0, 0, 0, LR_STATE.INVALID, 0, 0);
    r.v.endOfInterrupt(1, 40, -1);
    expect(r.v.eoiCount).toBe(1);
    expect(r.v.misr()).toBe(MISR_BIT.LRENP);
    expect(r.maint).toBe(true);
  });

  it('an EOI with nothing active is ignored (CONSTRAINED UNPREDICTABLE choice)', () => {
    const r = rig();
    r.v.endOfInterrupt(1, 40, -1);
    expect(r.v.eoiCount).toBe(0);
  });

  // IHI0069 12.3.6 ICV_DIR_EL1 with EOImode = 1
  it('EOImode = 1 splits priority drop from deactivation; DIR deactivates or counts', () => {
    const r = rig();
    r.v.eoiMode = true;
    r.v.setListRegister(0, 40, 0, 0xa0, LR_STATE.PENDING, 1, 0);
    r.v.acknowledge(2, 1023, false);
    r.v.endOfInterrupt(1, 40, -1);
    expect(r.v.runningPriority()).toBe(0xff);
    expect(r.v.lrState[0]).toBe(LR_STATE.ACTIVE);
    r.v.deactivate(40, -1);
    expect(r.v.lrState[0]).toBe(LR_STATE.INVALID);
    r.v.deactivate(99, -1);
    expect(r.v.eoiCount).toBe(1);
    r.v.eoiMode = false;
    r.v.deactivate(98, -1);
    expect(r.v.eoiCount).toBe(1);
  });

  it('a vLPI in a list register is deactivated by EOI even with EOImode = 1', () => {
    const r = rig();
    r.v.eoiMode = true;
    r.v.setListRegister(0, 8192, 0, 0xa0, LR_STATE.PENDING, 1, 0);
    expect(r.v.acknowledge(2, 1023, false)).toBe(8192);
    r.v.endOfInterrupt(1, 8192, -1);
    expect(r.v.lrState[0]).toBe(LR_STATE.INVALID);
  });

  it('NP: an active-and-pending list register does not count as pending (IHI0069 12.4.7)', () => {
    const r = rig();
    r.v.hcr = HCR_BIT.EN | HCR_BIT.NPIE;
    r.v.setListRegister(0, 40, 0, 0xa0, LR_STATE.PENDING_ACTIVE, 1, 0);
    expect(r.v.misr()).toBe(MISR_BIT.NP);
    r.v.setListRegister(1, 41, 0, 0xa0, LR_STATE.PENDING, 1, 0);
    expect(r.v.misr()).toBe(0);
  });

  it('active and pending goes back to pending on deactivation', () => {
    const r = rig();
    r.v.setListRegister(0, 40, 0, 0xa0, LR_STATE.PENDING_ACTIVE, 1, 0);
    r.v.apr.activate(0xa0, 1);
    r.v.endOfInterrupt(1, 40, -1);
    expect(r.v.lrState[0]).toBe(LR_STATE.PENDING);
    expect(r.virq).toBe(true);
  });
});

describe('VirtualInterfaceCore invariants (property)', () => {
  // IHI0069 6.2.2 / 4.8: the guest acknowledges the highest-priority pending LR of an enabled
  // group with priority below VPMR; acknowledging and completing until spurious drains exactly
  // those, and leaves every other LR as it was.
  it('acknowledges in priority order and loses no eligible list register', () => {
    const lrArb = fc.record({
      state: fc.integer({ min: 0, max: 3 }),
      priority: fc.integer({ min: 0, max: 31 }).map((p) => p << 3),
      group: fc.integer({ min: 0, max: 1 }),
    });
    fc.assert(
      fc.property(
        fc.array(lrArb, { minLength: 1, maxLength: 16 }),
        fc.integer({ min: 0, max: 31 }).map((p) => p << 3),
        fc.boolean(),
        fc.boolean(),
        (lrs, pmr, eng0, eng1) => {
          const r = rig(lrs.length);
          const v = r.v;
          v.pmr = pmr;
          v.eng0 = eng0;
          v.eng1 = eng1;
          // Active LRs hold no active priority here; only pending-only LRs are eligible.
          lrs.forEach((l, i) => v.setListRegister(i, 100 + i, 0, l.priority, l.state === 1 ? 1 : l.state === 0 ? 0 : 2, l.group, 0));
          const eligible = (i: number): boolean => {
            const l = lrs[i]!;
            return l.state === 1 && (l.group === 0 ? eng0 : eng1) && l.priority < pmr;
          };
          const expected = lrs.map((_, i) => i).filter(eligible);
          const order: number[] = [];
          let last = -1;
          for (;;) {
            const id = v.acknowledge(3, 1023, false);
            if (id === 1023) break;
            const i = id - 100;
            expect(eligible(i)).toBe(true);
            expect(lrs[i]!.priority).toBeGreaterThanOrEqual(last);
            last = lrs[i]!.priority;
            order.push(i);
            v.endOfInterrupt(lrs[i]!.group, id, -1);
            expect(v.lrState[i]).toBe(LR_STATE.INVALID);
          }
          expect(order.sort((a, b) => a - b)).toEqual(expected);
          lrs.forEach((l, i) => {
            if (!expected.includes(i)) expect(v.lrState[i]).toBe(l.state === 1 ? 1 : l.state === 0 ? 0 : 2);
          });
          expect(v.runningPriority()).toBe(0xff);
        },
      ),
      propertyParams,
    );
  });
});
