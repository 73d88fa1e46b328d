/**
 * A GIC as the emulated distributor of a hypervisor's vGIC (host-seams G10a,
 * KVM's vgic_flush_lr_state / vgic_fold_lr_state): enumerate a CPU's pending
 * interrupts without acknowledging them, move them into list registers of
 * the hardware virtual interface, and fold the list registers back. Also the
 * typed-array vCPU context (G10c).
 */
import { UsageError } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { LR_STATE } from './virtual-interface.js';
import { GICD, GICR, GICR_STRIDE } from '../v3/regs.js';
import { GICD as GICD2 } from '../v2/regs.js';
import { GicV3 } from '../v3/gic-v3.js';
import { GicV2 } from '../v2/gic-v2.js';
import { enableLpi, makeItsRig, mapDevice } from '../test-support/its.js';

/** The guest's distributor set-up through trapped MMIO: SPIs 40-63 Group 1, enabled, edge, priorities given. */
function emulatedV3(priorities: Record<number, number>, kicks: number[] = []): GicV3 {
  const dist = new GicV3({ cpus: 2, onPendingChange: (cpu) => kicks.push(cpu) });
  const d = dist.distributorFor(0);
  for (const c of [0, 1]) dist.redistributorRegion.mmioWrite(c * GICR_STRIDE + GICR.WAKER, 4, 0);
  d.mmioWrite(GICD.CTLR, 4, 0x2);
  d.mmioWrite(GICD.IGROUPR + 4, 4, 0xffff_ff00);
  d.mmioWrite(GICD.ICFGR + 8, 4, 0xaaaa_0000); // SPIs 40-47 edge
  d.mmioWrite(GICD.ICFGR + 12, 4, 0xaaaa_aaaa); // SPIs 48-63 edge
  for (const [id, p] of Object.entries(priorities)) d.mmioWrite(GICD.IPRIORITYR + Number(id), 1, p);
  d.mmioWrite(GICD.ISENABLER + 4, 4, 0xffff_ff00);
  return dist;
}

/** KVM's flush: the best `lrs` pending interrupts into list registers of `hw`'s CPU 0, pending, Group 1. */
function flush(dist: GicV3, hw: GicV3, lrs: number): number[] {
  const buf = new Int32Array(lrs);
  const n = dist.pendingInterrupts(0, buf);
  const v = hw.virtualInterface(0);
  for (let i = 0; i < n; i++) {
    const id = buf[i]!;
    const state = dist.takeForListRegister(0, id) & 3;
    v.writeLr(i, id, (state << 30) | (dist.interruptGroup(0, id) << 28) | (dist.interruptPriority(0, id) << 16));
  }
  return Array.from(buf.subarray(0, n));
}

/** KVM's sync: every list register back into the distributor, then emptied. */
function fold(dist: GicV3, hw: GicV3, lrs: number): void {
  const v = hw.virtualInterface(0);
  for (let i = 0; i < lrs; i++) {
    const id = v.readLrLow(i);
    const state = (v.readLrHigh(i) >>> 30) & 3;
    if (id !== 0 || state !== 0) dist.foldListRegister(0, id, state);
    v.writeLr(i, 0, 0);
  }
}

function hardware(): GicV3 {
  const hw = new GicV3({ cpus: 1, listRegisters: 4 });
  hw.write(0, 'ICH_HCR_EL2', 1n);
  hw.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
  hw.setVirtualRouting(0, { imo: true, fmo: true });
  return hw;
}

describe('an emulated distributor feeding list registers (KVM vgic flush and fold)', () => {
  it('enumerates by priority then arrival without acknowledging, and kicks the CPU (IHI0069 4.1.1)', () => {
    const kicks: number[] = [];
    const dist = emulatedV3({ 40: 0x80, 41: 0x40, 42: 0x80 }, kicks);
    for (const id of [42, 40, 41]) dist.acceptInterrupt({ vector: id, trigger: 'edge' });
    expect(kicks).toEqual([0, 0, 0]);
    const buf = new Int32Array(8);
    expect(dist.pendingInterrupts(0, buf)).toBe(3);
    expect(Array.from(buf.subarray(0, 3))).toEqual([41, 42, 40]);
    expect(dist.pendingInterrupts(0, buf)).toBe(3); // nothing was acknowledged
    expect(dist.pendingInterrupts(1, buf)).toBe(0); // routed to PE 0
    expect(dist.pendingInterrupts(0, new Int32Array(2))).toBe(2); // bounded by the array
    expect(dist.interruptPriority(0, 41)).toBe(0x40);
    expect(dist.interruptGroup(0, 41)).toBe(1);
  });

  it('flush, the guest acknowledges and completes in the virtual CPU interface, fold: state moves back exactly', () => {
    const dist = emulatedV3({ 40: 0x80, 41: 0x40, 42: 0x80 });
    const hw = hardware();
    for (const id of [42, 40, 41]) dist.acceptInterrupt({ vector: id, trigger: 'edge' });
    expect(flush(dist, hw, 2)).toEqual([41, 42]);
    const buf = new Int32Array(8);
    expect(Array.from(buf.subarray(0, dist.pendingInterrupts(0, buf)))).toEqual([40]); // the edges live in the LRs now
    expect(hw.read(0, 'ICC_IAR1_EL1')).toBe(41n); // ICV: no exit
    expect(hw.read(0, 'ICC_IAR1_EL1')).toBe(1023n); // 42 (0x80) cannot preempt 41 (0x40)
    hw.write(0, 'ICC_EOIR1_EL1', 41n);
    expect(hw.read(0, 'ICC_IAR1_EL1')).toBe(42n);
    fold(dist, hw, 2);
    const active = new Int32Array(4);
    expect(Array.from(active.subarray(0, dist.activeInterrupts(0, active)))).toEqual([42]);
    expect(Array.from(buf.subarray(0, dist.pendingInterrupts(0, buf)))).toEqual([40]);
    // 42 comes back as an active LR; the guest completes it; the fold deactivates it in the distributor.
    const v = hw.virtualInterface(0);
    expect(dist.takeForListRegister(0, 42)).toBe(LR_STATE.ACTIVE);
    v.writeLr(0, 42, (LR_STATE.ACTIVE << 30) | (1 << 28) | (0x80 << 16));
    hw.write(0, 'ICC_EOIR1_EL1', 42n);
    fold(dist, hw, 1);
    expect(dist.activeInterrupts(0, active)).toBe(0);
  });

  it('a level-sensitive SPI stays pending while its line is high; an acknowledge clears its software latch', () => {
    const dist = emulatedV3({ 50: 0x80 });
    dist.distributorFor(0).mmioWrite(GICD.ICFGR + 12, 4, 0); // SPIs 48-63 level
    const hw = hardware();
    dist.setSpiLevel(50, true);
    expect(flush(dist, hw, 1)).toEqual([50]);
    expect(dist.pendingInterrupts(0, new Int32Array(4))).toBe(1); // still pending in the distributor
    expect(hw.read(0, 'ICC_IAR1_EL1')).toBe(50n);
    fold(dist, hw, 1); // active in the LR: active here, so not a candidate
    expect(dist.pendingInterrupts(0, new Int32Array(4))).toBe(0);
    dist.setSpiLevel(50, false);
    dist.foldListRegister(0, 50, LR_STATE.INVALID); // the guest's EOI, seen at the next sync
    expect(dist.pendingInterrupts(0, new Int32Array(4))).toBe(0);
    // GICD_ISPENDR on a level interrupt sets the latch; a list register that comes back not pending clears it.
    dist.distributorFor(0).mmioWrite(GICD.ISPENDR + 4, 4, 1 << 18);
    expect(dist.takeForListRegister(0, 50)).toBe(LR_STATE.PENDING);
    dist.foldListRegister(0, 50, LR_STATE.ACTIVE);
    dist.foldListRegister(0, 50, LR_STATE.INVALID);
    expect(dist.pendingInterrupts(0, new Int32Array(4))).toBe(0);
  });

  it('GICv2 SGIs go one source per list register (IHI0048B 5.3.8 CPUID)', () => {
    const dist = new GicV2({ cpus: 4 });
    dist.distributorFor(0).mmioWrite(GICD2.CTLR, 4, 1);
    dist.distributorFor(0).mmioWrite(GICD2.ISENABLER, 4, 0xffff);
    for (const src of [2, 1]) dist.distributorFor(src).mmioWrite(GICD2.SGIR, 4, (1 << 16) | 3); // SGI 3 to CPU 0
    const first = dist.takeForListRegister(0, 3);
    expect(first & 3).toBe(LR_STATE.PENDING);
    expect(first >>> 2).toBe(1);
    const second = dist.takeForListRegister(0, 3);
    expect(second >>> 2).toBe(2);
    expect(dist.pendingInterrupts(0, new Int32Array(4))).toBe(0);
    dist.foldListRegister(0, 3, LR_STATE.PENDING, 1);
    expect(dist.pendingInterrupts(0, new Int32Array(4))).toBe(1);
    dist.foldListRegister(0, 3, LR_STATE.ACTIVE, 2);
    expect(dist.activeInterrupts(0, new Int32Array(4))).toBe(1);
    expect(() => dist.foldListRegister(0, 3, 4)).toThrow(/list register state must be an integer in \[0, 3\], got 4/);
    expect(() => dist.foldListRegister(0, 3, 1, 8)).toThrow(/GICv2 SGI source CPU/);
  });

  it('LPIs: enumerated above the SPIs by priority, taken and folded (IHI0069 5.1)', () => {
    const rig = makeItsRig({ cpus: 1 });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: 8192 + 7, icid: 0 });
    enableLpi(rig, 0, 8192 + 7, 0x20);
    rig.its.translate(1, 0);
    const buf = new Int32Array(4);
    expect(Array.from(buf.subarray(0, rig.gic.pendingInterrupts(0, buf)))).toEqual([8192 + 7]);
    expect(rig.gic.interruptPriority(0, 8192 + 7)).toBe(0x20);
    expect(rig.gic.interruptGroup(0, 8192 + 7)).toBe(1);
    expect(rig.gic.takeForListRegister(0, 8192 + 7)).toBe(LR_STATE.PENDING);
    expect(rig.gic.pendingInterrupts(0, buf)).toBe(0);
    rig.gic.foldListRegister(0, 8192 + 7, LR_STATE.PENDING);
    expect(rig.gic.pendingInterrupts(0, buf)).toBe(1);
  });

  it('EOIcount: deactivateInterrupt completes an active interrupt that was in no list register', () => {
    const dist = emulatedV3({ 40: 0x80 });
    dist.acceptInterrupt({ vector: 40, trigger: 'edge' });
    dist.takeForListRegister(0, 40);
    dist.foldListRegister(0, 40, LR_STATE.ACTIVE);
    expect(dist.activeInterrupts(0, new Int32Array(4))).toBe(1);
    dist.deactivateInterrupt(0, 40);
    expect(dist.activeInterrupts(0, new Int32Array(4))).toBe(0);
    expect(() => dist.deactivateInterrupt(0, 2000)).toThrow(UsageError);
  });
});

describe('typed-array vCPU context (host-seams G10c)', () => {
  it('GicV3: vcpu_put on PE 0, vcpu_load on PE 1 equals the JSON context; nothing allocated per switch', () => {
    const hw = new GicV3({ cpus: 2 });
    const v = hw.virtualInterface(0);
    v.writeHcr(1 | (1 << 12) | (3 << 27));
    v.writeVmcr(0xf000_0003);
    v.writeLr(1, 27, 0x50a0_0000);
    v.writeLr(3, 30, 0x9080_0000);
    hw.setVirtualRouting(0, { imo: true, fmo: true });
    expect(() => hw.read(0, 'ICC_IAR1_EL1')).toThrow(); // TALL1 traps
    const words = new Uint32Array(hw.virtualInterfaceWords);
    expect(words.length).toBe(11 + 2 * 4);
    hw.saveVirtualInterfaceWords(0, words);
    hw.restoreVirtualInterfaceWords(1, words);
    const a = { ...hw.saveVirtualInterface(0) };
    const b = { ...hw.saveVirtualInterface(1) };
    expect(b).toEqual(a);
    expect(hw.virqLevel(1)).toBe(true);
    expect(() => hw.saveVirtualInterfaceWords(0, new Uint32Array(3))).toThrow(/needs 19 words from offset 0 \(0x0\), the array has 3/);
  });

  it('GicV2: the same through GICH', () => {
    const hw = new GicV2({ cpus: 2 });
    hw.hypervisorInterface(0).writeLr(0, 0x1000_001b);
    hw.hypervisorInterface(0).writeVmcr(0xf000_0001);
    const words = new Uint32Array(hw.virtualInterfaceWords + 5);
    hw.saveVirtualInterfaceWords(0, words, 5);
    hw.restoreVirtualInterfaceWords(1, words, 5);
    expect(hw.saveVirtualInterface(1)).toEqual(hw.saveVirtualInterface(0));
  });
});
