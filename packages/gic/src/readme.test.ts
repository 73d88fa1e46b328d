// The README's examples, extracted from README.md and run as written (issue 18 item 3), so the
// documentation cannot drift from what is tested. Each test checks what its block leaves behind
// against the section it documents.
import { describe, expect, it } from 'vitest';
import * as core from '@hvsim/core';
import { DELIVERY_STATUS, type MmioBus } from '@hvsim/core';
import * as gicModule from './index.js';
import * as timerModule from './timer/index.js';
import type { GicV2, GicV3, GicV3Its } from './index.js';
import type { GenericTimer } from './timer/index.js';
import { blockUnder, readmeBlocks, runBlock } from '../../../test-support/readme-blocks.js';

const blocks = readmeBlocks(new URL('../README.md', import.meta.url));
const modules = { '@hvsim/core': core, '@hvsim/gic': gicModule, '@hvsim/gic/timer': timerModule };
const run = (heading: string, names: string[]): Record<string, unknown> => runBlock(blockUnder(blocks, heading), modules, names).scope;

describe('README examples (run from README.md as written)', () => {
  it('every ```ts block is one of those checked below', () => {
    expect(blocks.map((b) => b.heading)).toEqual([
      'GICv3',
      'Routing an SPI to another CPU (GICv3)',
      'LPIs through the ITS',
      'GICv2',
      'Registers, inputs, outputs and state',
      'System registers by encoding',
      'Delivery status and flows',
      "An emulated distributor for list registers (KVM's vGIC)",
      'vCPU switch without allocation',
      'The emulated vITS over guest-physical memory',
      'Generic timer (`@hvsim/gic/timer`)',
    ]);
  });

  it('GICv3: boot, an SPI acknowledged and completed, a list register taken by the guest (IHI0069 12.11.42, 12.2.14, 12.4.10)', () => {
    const s = run('GICv3', ['bus', 'irq', 'gic', 'intid', 'vintid', 'elrsr']);
    expect([s.intid, s.vintid, s.elrsr]).toEqual([40n, 27n, 0b1111n]);
    expect(s.irq).toEqual([false]);
    const gic = s.gic as GicV3;
    expect((s.bus as MmioBus).read(0x0800_0000 + gicModule.GICD.CTLR, 4)).toBe(gic.distributorFor(0).mmioRead(gicModule.GICD.CTLR, 4));
  });

  it('Routing an SPI to CPU 1: IROUTER, a wake request while asleep, then the interrupt (IHI0069 12.9.22, 12.11.42)', () => {
    const s = run('Routing an SPI to another CPU (GICv3)', ['asleep', 'hint', 'wakeRequests', 'intid', 'irq', 'aff']);
    expect(s.aff).toBe(1);
    expect(s.asleep).toBe(1023n);
    expect(s.wakeRequests).toEqual([1]);
    expect(s.hint).toMatchObject({ kind: 'custom', name: 'wake-request', source: 'gic', cpu: 1, args: { intid: 40 } });
    expect(s.intid).toBe(40n);
    expect((s.irq as boolean[])[1]).toBe(false);
  });

  it('LPIs through the ITS: MAPC, MAPD, MAPTI, SYNC, then an LPI (IHI0069 5.1, 5.2, 5.3)', () => {
    const s = run('LPIs through the ITS', ['result', 'lpi', 'its', 'bus']);
    expect([s.result, s.lpi]).toEqual(['lpi', 8192n]);
    expect((s.its as GicV3Its).commandErrorCount).toBe(0);
    expect((s.bus as MmioBus).read(0x0808_0000 + gicModule.GITS.CTLR, 4) & 1).toBe(1);
  });

  it('GICv2: banked frames per CPU, an SGI from CPU 0 to CPU 1 (IHI0048B 4.3.15, 4.4.4)', () => {
    const s = run('GICv2', ['iar', 'gic', 'buses']);
    expect(s.iar).toBe(3);
    expect((s.gic as GicV2).cpuInterface(1).mmioRead(gicModule.GICC.RPR, 4)).toBe(0xff);
    expect((s.buses as MmioBus[])[1]!.read(0x0801_0000 + gicModule.GICC.PMR, 4)).toBe(0xf0);
  });

  it('GICv2 frames by number methods: acknowledge and EOI through GICC (IHI0048B 4.4.4, 4.4.5)', () => {
    const s = run('Registers, inputs, outputs and state', ['intid', 'rpr', 'gic']);
    expect([s.intid, s.rpr]).toEqual([40, 0xff]);
    expect((s.gic as GicV2).cpuInterface(0).mmioRead(gicModule.GICC.PMR, 4)).toBe(0xf0);
  });

  it('System registers by encoding: the number path (IHI0069 12.2.14, 12.4.7)', () => {
    const s = run('System registers by encoding', ['IAR1', 'intid', 'gic']);
    expect(s.IAR1).toBe(0xc660);
    expect(s.intid).toBe(27);
    expect((s.gic as GicV3).virtualInterface(0).readElrsr()).toBe(0b1111);
  });

  it('Delivery status: delivered, coalesced, blocked (api.rst KVM_IRQ_LINE_STATUS)', () => {
    const s = run('Delivery status and flows', ['first', 'again', 'disabled', 'delivered']);
    expect([s.first, s.again, s.disabled, s.delivered]).toEqual([DELIVERY_STATUS.DELIVERED, DELIVERY_STATUS.COALESCED, DELIVERY_STATUS.BLOCKED, true]);
  });

  it("An emulated distributor: pending into list registers and folded back (Linux vgic_flush_lr_state)", () => {
    const s = run("An emulated distributor for list registers (KVM's vGIC)", ['kicks', 'n', 'hw', 'dist', 'ids']);
    expect(s.kicks).toEqual([0]);
    expect(s.n).toBe(1);
    expect((s.hw as GicV3).virtualInterface(0).readLrLow(0)).toBe(40);
    expect((s.dist as GicV3).pendingInterrupts(0, s.ids as Int32Array)).toBe(1); // the LR still pending: pending again
  });

  it('vCPU switch: the context words move a list register to another pCPU', () => {
    const s = run('vCPU switch without allocation', ['hw']);
    expect((s.hw as GicV3).virtualInterface(1).readLrLow(0)).toBe(40);
    expect((s.hw as GicV3).virtualInterface(1).readLrHigh(0)).toBe(0x50a0_0000);
  });

  it('The emulated vITS over guest-physical memory, command errors ignored', () => {
    const s = run('The emulated vITS over guest-physical memory', ['vits']);
    expect((s.vits as GicV3Its).isEnabled).toBe(false);
  });

  it('Generic timer: the virtual timer fires at its deadline into PPI 27 (Arm ARM D11.2.4)', () => {
    const s = run('Generic timer (`@hvsim/gic/timer`)', ['ctl', 'ppi', 'irq', 'timer', 'out']);
    expect([s.ctl, s.ppi]).toEqual([0b101n, 27n]);
    expect((s.timer as GenericTimer).outputLevel(0, 'CNTV')).toBe(false); // IMASK set by the number path
    expect((s.out as { lo: number; hi: number }).lo).toBe(100);
  });
});
