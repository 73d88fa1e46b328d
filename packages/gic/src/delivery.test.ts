/**
 * Delivery status and flow identifiers (core's DeliveryStatus and
 * InterruptMessage.flow): what GicV2/GicV3.acceptInterrupt and the ITS's
 * deliverMsi report, and the flow carried into their trace events with the
 * sources `gic` and `its`.
 */
import { DELIVERY_STATUS, RecordingTracer } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { GICD } from './v3/regs.js';
import { GICD as GICD2 } from './v2/regs.js';
import { GITS } from './its/regs.js';
import { GicV3 } from './v3/gic-v3.js';
import { GicV2 } from './v2/gic-v2.js';
import { bringUpV3, makeV3 } from './test-support/v3.js';
import { bringUpV2, makeV2 } from './test-support/v2.js';
import { enableLpi, makeItsRig, mapDevice } from './test-support/its.js';

describe('acceptInterrupt returns a DeliveryStatus', () => {
  it('GicV3: BLOCKED while the SPI is disabled, then COALESCED, DELIVERED once enabled and new (IHI0069 4.1.2)', () => {
    const rig = makeV3({ cpus: 1 });
    bringUpV3(rig);
    const gic = rig.gic;
    // SPI 40 is disabled: it becomes pending in the distributor but is not forwarded.
    expect(gic.acceptInterrupt({ vector: 40, trigger: 'edge' })).toBe(DELIVERY_STATUS.BLOCKED);
    expect(gic.acceptInterrupt({ vector: 40, trigger: 'edge' })).toBe(DELIVERY_STATUS.COALESCED);
    rig.wgicd(GICD.ISENABLER + 4, 1 << 9);
    expect(gic.acceptInterrupt({ vector: 41, trigger: 'edge' })).toBe(DELIVERY_STATUS.DELIVERED);
    expect(gic.acceptInterrupt({ vector: 41, trigger: 'edge' })).toBe(DELIVERY_STATUS.COALESCED);
    // Level: asserting a high line again is COALESCED; deasserting reports whether the line changed.
    rig.wgicd(GICD.ISENABLER + 4, 1 << 10);
    expect(gic.acceptInterrupt({ vector: 42, trigger: 'level' })).toBe(DELIVERY_STATUS.DELIVERED);
    expect(gic.acceptInterrupt({ vector: 42, trigger: 'level', level: true })).toBe(DELIVERY_STATUS.COALESCED);
    expect(gic.acceptInterrupt({ vector: 42, trigger: 'level', level: false })).toBe(DELIVERY_STATUS.DELIVERED);
    expect(gic.acceptInterrupt({ vector: 42, trigger: 'level', level: false })).toBe(DELIVERY_STATUS.COALESCED);
    // The distributor's Group 1 disabled: BLOCKED (IHI0069 12.9.4 GICD_CTLR.EnableGrp1).
    rig.wgicd(GICD.CTLR, 0x1);
    rig.wgicd(GICD.ISENABLER + 4, 1 << 11);
    expect(gic.acceptInterrupt({ vector: 43, trigger: 'edge' })).toBe(DELIVERY_STATUS.BLOCKED);
    expect(() => gic.acceptInterrupt({ vector: 20, trigger: 'edge' })).toThrow(/SPI must be an integer INTID in \[32, 95\], got 20/);
  });

  it('GicV2: an edge message is a pulse; a level-sensitive SPI it leaves not pending is BLOCKED (IHI0048B 1.4.2)', () => {
    const rig = makeV2({ cpus: 2 });
    bringUpV2(rig);
    rig.wgicd(0, GICD2.ICFGR + 8, 0x2); // SPI 32 edge
    rig.wgicd(0, GICD2.ISENABLER + 4, 0x3);
    expect(rig.gic.acceptInterrupt({ vector: 32, trigger: 'edge' })).toBe(DELIVERY_STATUS.DELIVERED);
    expect(rig.gic.acceptInterrupt({ vector: 32, trigger: 'edge' })).toBe(DELIVERY_STATUS.COALESCED);
    expect(rig.gic.acceptInterrupt({ vector: 33, trigger: 'edge' })).toBe(DELIVERY_STATUS.BLOCKED); // level SPI pulsed
    expect(rig.gic.acceptInterrupt({ vector: 33, trigger: 'level' })).toBe(DELIVERY_STATUS.DELIVERED);
    rig.gic.distributorFor(0).mmioWrite(GICD2.ITARGETSR + 34, 1, 0); // SPI 34 targets no CPU interface
    rig.wgicd(0, GICD2.ISENABLER + 4, 0x4);
    expect(rig.gic.acceptInterrupt({ vector: 34, trigger: 'level' })).toBe(DELIVERY_STATUS.BLOCKED);
  });

  it('carries the message flow into the raised, delivered, acknowledged and EOI events (source gic)', () => {
    const tracer = new RecordingTracer({ capacity: 100 });
    const rig = makeV3({ cpus: 1, tracer });
    bringUpV3(rig);
    rig.wgicd(GICD.ICFGR + 8, 2 << 16); // SPI 40 edge-triggered
    rig.wgicd(GICD.ISENABLER + 4, 1 << 8);
    rig.gic.acceptInterrupt({ vector: 40, trigger: 'edge', flow: 77 });
    const id = rig.gic.read(0, 'ICC_IAR1_EL1');
    rig.gic.write(0, 'ICC_EOIR1_EL1', id);
    const events = tracer.events().filter((e) => 'vector' in e && e.vector === 40);
    expect(events.map((e) => e.kind)).toEqual(['interrupt.raised', 'interrupt.delivered', 'interrupt.acknowledged', 'interrupt.eoi']);
    expect(events.every((e) => e.flow === 77 && e.source === 'gic')).toBe(true);
  });
});

describe('a flow per list register', () => {
  it('the guest acknowledge and EOI of a tagged list register carry its flow (GicV3 ICV, GicV2 GICV)', () => {
    const tracer = new RecordingTracer({ capacity: 100 });
    const rig = makeV3({ cpus: 1, tracer });
    const v = rig.gic.virtualInterface(0);
    rig.gic.write(0, 'ICH_HCR_EL2', 1n);
    rig.gic.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
    v.writeLr(0, 27, 0x50a0_0000);
    v.setLrFlow(0, 9);
    rig.gic.setVirtualRouting(0, { imo: true, fmo: true });
    rig.gic.write(0, 'ICC_EOIR1_EL1', rig.gic.read(0, 'ICC_IAR1_EL1'));
    const events = tracer.events().filter((e) => 'vector' in e && e.vector === 27);
    expect(events.map((e) => `${e.kind} ${e.flow}`)).toEqual(['interrupt.acknowledged 9', 'interrupt.eoi 9']);
    expect(() => v.setLrFlow(4, 1)).toThrow(/list register must be an integer in \[0, 3\], got 4/);
    const t2 = new RecordingTracer({ capacity: 100 });
    const v2 = makeV2({ cpus: 1, tracer: t2 });
    const h = v2.gic.hypervisorInterface(0);
    h.writeLr(0, 0x1000_001b);
    h.setLrFlow(0, 4);
    h.mmioWrite(0, 4, 1); // GICH_HCR.En
    h.writeVmcr(0xf000_0001);
    const id = v2.gic.virtualCpuInterface(0).mmioRead(0x0c, 4);
    v2.gic.virtualCpuInterface(0).mmioWrite(0x10, 4, id);
    expect(t2.events().filter((e) => 'vector' in e && e.vector === 27).map((e) => `${e.kind} ${e.flow}`)).toEqual(['interrupt.acknowledged 4', 'interrupt.eoi 4']);
  });
});

describe('the ITS deliverMsi returns a DeliveryStatus (IHI0069 5.2)', () => {
  it('DELIVERED, COALESCED, BLOCKED (disabled or unmapped) and DROPPED (out of range), with the flow in its events', () => {
    const tracer = new RecordingTracer({ capacity: 100 });
    const rig = makeItsRig({ cpus: 1, its: { tracer } });
    mapDevice(rig, 1, 2);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: 8200, icid: 0 });
    enableLpi(rig, 0, 8200);
    const at = GITS.TRANSLATER;
    expect(rig.its.deliverMsiFlow(at, 0, 1, 5)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(rig.its.deliverMsi(at, 0, 1)).toBe(DELIVERY_STATUS.COALESCED);
    expect(rig.its.deliverMsi(at, 1, 1)).toBe(DELIVERY_STATUS.BLOCKED); // unmapped event
    expect(rig.its.deliverMsi(at, 0, 2)).toBe(DELIVERY_STATUS.BLOCKED); // unmapped device
    expect(rig.its.deliverMsi(at, 9, 1)).toBe(DELIVERY_STATUS.DROPPED); // EventID beyond the ITT
    rig.its.mmioWrite(GITS.CTLR, 4, 0);
    expect(rig.its.deliverMsi(at, 0, 1)).toBe(DELIVERY_STATUS.BLOCKED); // disabled
    const flowed = tracer.events().filter((e) => e.flow === 5);
    expect(flowed.map((e) => `${e.source} ${e.kind}`)).toEqual(['its msi', 'its interrupt.raised']);
    expect(tracer.events().some((e) => e.source === 'gic-its')).toBe(false);
  });
});

describe('host-side misuse is a UsageError naming the bad value', () => {
  it('misspelled options, bigints on the MMIO number path, a bad commandErrors mode', () => {
    expect(() => new GicV3({ cpus: 1, spi: 64 } as never)).toThrow(/GicV3 has no option "spi"/);
    expect(() => new GicV3({ cpus: 1, lpis: { memory: undefined, idbits: 16 } } as never)).toThrow(/GicV3 lpis has no option "idbits"/);
    expect(() => new GicV2({ cpus: 1, onIRQ: () => undefined } as never)).toThrow(/GicV2 has no option "onIRQ"/);
    const gic = new GicV3({ cpus: 1 });
    expect(() => gic.distributorFor(0).mmioWrite(0, 4, 1n as never)).toThrow(/GICD write value must be a number, got 1n/);
    expect(() => gic.redistributorRegion.mmioRead(0n as never, 4)).toThrow(/GICR offset must be a non-negative integer number, got 0n/);
    expect(() => gic.distributorFor(0).mmioWrite64(0x6100, 5 as never)).toThrow(/GICD 64-bit write value must be a bigint, got 5/);
    expect(() => gic.writeSysreg(0, 0xc230, 1n as never)).toThrow(/lo 1n/);
    const rig = makeItsRig({ cpus: 1, raw: true });
    expect(() => rig.gic.createIts({ commandErrors: 'skip' as never })).toThrow(/commandErrors must be 'stall' or 'ignore', got "skip"/);
    expect(() => rig.its.mmioWrite(GITS.CWRITER, 4, 32n as never)).toThrow(/GITS write value must be a number/);
  });
});
