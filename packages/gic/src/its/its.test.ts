import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CpuException, PhysicalMemory, RecordingTracer, SnapshotError, UsageError } from '@hvsim/core';
import { GicV3 } from '../v3/gic-v3.js';
import { CMD_QUEUE, COLLECTION_TABLE, DEVICE_TABLE, ITT, PROP_TABLE, enableLpi, lpiConfig, makeItsRig, mapDevice, type ItsRig } from '../test-support/its.js';
import { itInParts } from '../test-support/property-share.js';
import { encodeItsCommand } from './commands.js';
import { GITS } from './regs.js';

const LPI = 8192;
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);

function ack(rig: ItsRig, cpu = 0): number {
  return Number(rig.gic.read(cpu, 'ICC_IAR1_EL1'));
}

function eoi(rig: ItsRig, intid: number, cpu = 0): void {
  rig.gic.write(cpu, 'ICC_EOIR1_EL1', BigInt(intid));
}

describe('ITS bring-up and translation (IHI0069 5.2 "Interrupt translation", 5.3 MAPD/MAPC/MAPTI/SYNC)', () => {
  it('runs the OS driver sequence, then delivers events as LPIs acknowledged and completed through ICC_*', () => {
    const rig = makeItsRig({ cpus: 2 });
    const { its, gic } = rig;
    expect(its.isEnabled).toBe(true);
    expect(its.commandErrorCount).toBe(0);
    mapDevice(rig, 7);
    rig.cmd('MAPTI', { deviceId: 7, eventId: 0, intid: LPI + 100, icid: 1 });
    rig.cmd('MAPTI', { deviceId: 7, eventId: 1, intid: LPI + 101, icid: 0 });
    rig.cmd('SYNC', { rdbase: 1 });
    enableLpi(rig, 1, LPI + 100, 0x80);
    enableLpi(rig, 0, LPI + 101, 0x80);
    expect(its.translate(7, 0)).toBe('lpi');
    expect(rig.irq[1]).toBe(true);
    expect(rig.irq[0]).toBeFalsy();
    expect(ack(rig, 1)).toBe(LPI + 100);
    expect(rig.irq[1]).toBe(false);
    // LPIs have no active state (IHI0069 5.1): the same event can be pending again before the EOI.
    expect(its.translate(7, 0)).toBe('lpi');
    expect(Number(gic.read(1, 'ICC_RPR_EL1'))).toBe(0x80);
    eoi(rig, LPI + 100, 1);
    expect(Number(gic.read(1, 'ICC_RPR_EL1'))).toBe(0xff);
    expect(ack(rig, 1)).toBe(LPI + 100);
    eoi(rig, LPI + 100, 1);
    its.deliverMsi(0, 1, 7);
    expect(ack(rig, 0)).toBe(LPI + 101);
    eoi(rig, LPI + 101, 0);
    expect(ack(rig, 0)).toBe(1023);
  });

  it('kvm-unit-tests its-trigger: INT per collection, INV after a disable, MAPD V=0 stops delivery', () => {
    const rig = makeItsRig({ cpus: 2, its: { commandErrors: 'ignore' } });
    mapDevice(rig, 2);
    mapDevice(rig, 7);
    rig.cmd('MAPTI', { deviceId: 2, eventId: 20, intid: LPI, icid: 0 });
    rig.cmd('MAPTI', { deviceId: 7, eventId: 31, intid: LPI + 1, icid: 1 });
    for (const c of [0, 1]) {
      enableLpi(rig, c, LPI);
      enableLpi(rig, c, LPI + 1);
    }
    rig.cmd('INT', { deviceId: 2, eventId: 20 });
    expect(ack(rig, 0)).toBe(LPI);
    eoi(rig, LPI, 0);
    rig.cmd('INT', { deviceId: 7, eventId: 31 });
    expect(ack(rig, 1)).toBe(LPI + 1);
    eoi(rig, LPI + 1, 1);
    // Disable LPI 8192 in the configuration table and INV: INT leaves it pending, not signalled.
    rig.memory.write8(PROP_TABLE, lpiConfig(0xa0, false));
    rig.cmd('INV', { deviceId: 2, eventId: 20 });
    rig.cmd('INT', { deviceId: 2, eventId: 20 });
    expect(ack(rig, 0)).toBe(1023);
    rig.memory.write8(PROP_TABLE, lpiConfig(0xa0));
    rig.cmd('INV', { deviceId: 2, eventId: 20 });
    expect(ack(rig, 0)).toBe(LPI);
    eoi(rig, LPI, 0);
    // Unmap device 2: INT is a command error and nothing is delivered.
    rig.cmd('MAPD', { deviceId: 2, valid: 0 });
    rig.cmd('INT', { deviceId: 2, eventId: 20 });
    expect(rig.its.commandError?.code).toBe(0x010304);
    expect(ack(rig, 0)).toBe(1023);
  });

  it('a translation for an unmapped device or event is dropped and counted, never delivered elsewhere (5.2)', () => {
    const rig = makeItsRig({ cpus: 1 });
    mapDevice(rig, 1, 2);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: LPI, icid: 0 });
    enableLpi(rig, 0, LPI);
    expect(rig.its.translate(2, 0)).toBe('unmapped-device');
    expect(rig.its.translate(1, 1)).toBe('unmapped-interrupt');
    expect(rig.its.translate(1, 4)).toBe('event-out-of-range');
    expect(rig.its.translate(70000, 0)).toBe('device-out-of-range');
    expect(rig.its.dropped('unmapped-device')).toBe(1);
    expect(rig.its.dropped()).toBe(4);
    expect(rig.gic.lpiRedistributor(0).pendingIntids()).toEqual([]);
    expect(rig.irq[0]).toBeFalsy();
  });

  it('an event to an unmapped collection is dropped (5.2: the ICID must be mapped)', () => {
    const rig = makeItsRig({ cpus: 1 });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: LPI, icid: 9 });
    expect(rig.its.translate(1, 0)).toBe('unmapped-collection');
    expect(rig.its.commandErrorCount).toBe(0);
  });

  it('translation requests are ignored while GITS_CTLR.Enabled = 0 (12.19)', () => {
    const rig = makeItsRig({ cpus: 1 });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: LPI, icid: 0 });
    rig.its.mmioWrite(GITS.CTLR, 4, 0);
    expect(rig.its.translate(1, 0)).toBe('disabled');
    expect(rig.its.mmioRead(GITS.CTLR, 4) >>> 31).toBe(1); // Quiescent
  });

  it('PE writes to GITS_TRANSLATER need a configured DeviceID (IMPLEMENTATION DEFINED side band); without one the PE takes an SError', () => {
    const rig = makeItsRig({ cpus: 1 });
    expect(() => rig.its.mmioWrite(GITS.TRANSLATER, 4, 0)).toThrow(CpuException);
    expect(() => rig.its.mmioWrite(GITS.TRANSLATER, 4, 0)).toThrow(/has no DeviceID: pass cpuDeviceId/);
    const rig2 = makeItsRig({ cpus: 1, its: { cpuDeviceId: 3 } });
    mapDevice(rig2, 3);
    rig2.cmd('MAPTI', { deviceId: 3, eventId: 0, intid: LPI + 3, icid: 0 });
    rig2.its.mmioWrite(GITS.TRANSLATER, 2, 0);
    expect(rig2.gic.lpiRedistributor(0).isPending(LPI + 3)).toBe(true);
  });

  it('deliverMsi checks the doorbell address when the ITS base is known', () => {
    const rig = makeItsRig({ cpus: 1, its: { baseAddress: 0x0808_0000 } });
    expect(() => rig.its.deliverMsi(0x0808_0000, 0, 1)).toThrow(/GITS_TRANSLATER/);
    expect(() => rig.its.deliverMsi(0x0809_0040, 0, undefined)).toThrow(/sourceId/);
    rig.its.deliverMsi(0x0809_0040, 0, 1);
    expect(rig.its.dropped('unmapped-device')).toBe(1);
  });
});

describe('LPI configuration caching (IHI0069 5.1.1: changes take effect after INV/INVALL or GICR_INVLPIR/INVALLR)', () => {
  it('a priority or enable change in memory is ignored until INV, INVALL or GICR_INVALLR', () => {
    const rig = makeItsRig({ cpus: 1 });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: LPI + 5, icid: 0 });
    rig.its.translate(1, 0);
    expect(rig.irq[0]).toBeFalsy(); // disabled in the configuration table: pending, not signalled
    rig.memory.write8(PROP_TABLE + 5, lpiConfig(0x40));
    expect(rig.irq[0]).toBeFalsy();
    rig.cmd('INV', { deviceId: 1, eventId: 0 });
    expect(rig.irq[0]).toBe(true);
    expect(Number(rig.gic.read(0, 'ICC_HPPIR1_EL1'))).toBe(LPI + 5);
    rig.memory.write8(PROP_TABLE + 5, lpiConfig(0x40, false));
    rig.cmd('INVALL', { icid: 0 });
    expect(rig.irq[0]).toBe(false);
    rig.memory.write8(PROP_TABLE + 5, lpiConfig(0xf0));
    rig.gicr64(0, 0xb0, 0n); // GICR_INVALLR
    expect(rig.irq[0]).toBe(false); // 0xf0 is not below PMR 0xf0
    rig.memory.write8(PROP_TABLE + 5, lpiConfig(0x10));
    rig.gicr64(0, 0xa0, BigInt(LPI + 5)); // GICR_INVLPIR
    expect(ack(rig)).toBe(LPI + 5);
  });

  it('INT, CLEAR and DISCARD (5.3): pending set and cleared by command; DISCARD unmaps', () => {
    const rig = makeItsRig({ cpus: 1 });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 3, intid: LPI + 9, icid: 0 });
    enableLpi(rig, 0, LPI + 9);
    rig.cmd('INT', { deviceId: 1, eventId: 3 });
    expect(rig.gic.lpiRedistributor(0).isPending(LPI + 9)).toBe(true);
    rig.cmd('CLEAR', { deviceId: 1, eventId: 3 });
    expect(rig.irq[0]).toBe(false);
    rig.cmd('INT', { deviceId: 1, eventId: 3 });
    rig.cmd('DISCARD', { deviceId: 1, eventId: 3 });
    expect(rig.gic.lpiRedistributor(0).isPending(LPI + 9)).toBe(false);
    expect(rig.its.translate(1, 3)).toBe('unmapped-interrupt');
  });

  it('MOVI and MOVALL move pending LPIs between redistributors (5.3 MOVI, MOVALL)', () => {
    const rig = makeItsRig({ cpus: 2 });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: LPI + 1, icid: 0 });
    rig.cmd('MAPTI', { deviceId: 1, eventId: 1, intid: LPI + 2, icid: 0 });
    // Each redistributor caches the shared configuration table: invalidate both.
    for (const cpu of [0, 1]) {
      enableLpi(rig, cpu, LPI + 1);
      enableLpi(rig, cpu, LPI + 2);
    }
    rig.its.translate(1, 0);
    rig.its.translate(1, 1);
    rig.cmd('MOVI', { deviceId: 1, eventId: 0, icid: 1 });
    expect(rig.gic.lpiRedistributor(1).pendingIntids()).toEqual([LPI + 1]);
    expect(rig.gic.lpiRedistributor(0).pendingIntids()).toEqual([LPI + 2]);
    rig.cmd('MOVALL', { rdbase: 0, rdbase2: 1 });
    expect(rig.gic.lpiRedistributor(1).pendingIntids()).toEqual([LPI + 1, LPI + 2]);
    expect(ack(rig, 1)).toBe(LPI + 1);
    // The moved event now translates to CPU 1.
    eoi(rig, LPI + 1, 1);
    rig.its.translate(1, 0);
    expect(rig.gic.lpiRedistributor(1).isPending(LPI + 1)).toBe(true);
  });

  it('a two-level device table (GITS_BASER.Indirect, 5.2.5) maps devices through a level-1 entry', () => {
    const rig = makeItsRig({ cpus: 1, twoLevel: true });
    mapDevice(rig, 200);
    rig.cmd('MAPTI', { deviceId: 200, eventId: 0, intid: LPI, icid: 0 });
    enableLpi(rig, 0, LPI);
    expect(rig.its.translate(200, 0)).toBe('lpi');
    // DeviceID 300 falls in a level-1 entry without a level-2 page: MAPD fails (DeviceID out of range).
    mapDevice(rig, 300);
    expect(rig.its.commandError?.code).toBe(0x010801);
    // The entry is in the level-2 page, 16 bytes per device.
    expect(rig.memory.read32(DEVICE_TABLE + 0x1000 + 200 * 16) >>> 31).toBe(1);
  });
});

describe('command queue (IHI0069 5.3, 12.19 GITS_CBASER, 12.19 GITS_CREADR, 12.19 GITS_CWRITER)', () => {
  it('processes with wrap-around from CREADR to CWRITER', () => {
    const rig = makeItsRig({ cpus: 1 });
    mapDevice(rig, 1, 8);
    // 128 commands fill the 4 KiB queue; issue 200 more so the pointers wrap.
    for (let e = 0; e < 200; e++) rig.cmd('MAPTI', { deviceId: 1, eventId: e, intid: LPI + e, icid: 0 });
    expect(rig.its.commandErrorCount).toBe(0);
    const creadr = rig.its.mmioRead(GITS.CREADR, 4);
    expect(creadr).toBe(rig.its.mmioRead(GITS.CWRITER, 4));
    expect(creadr).toBe(((1 + 1 + 1 + 200) * 32) % 0x1000); // MAPC, SYNC, MAPD, 200 MAPTI
    enableLpi(rig, 0, LPI + 199);
    expect(rig.its.translate(1, 199)).toBe('lpi');
  });

  it('stalls on a command error with the error reported; Retry re-executes; CBASER resets CREADR', () => {
    const errors: number[] = [];
    const rig = makeItsRig({ cpus: 1, its: { onSystemError: (e) => errors.push(e.code) } });
    expect((rig.its.typerLow() >>> 18) & 1).toBe(1); // SEIS: errors are reported as system errors
    const before = rig.its.mmioRead(GITS.CREADR, 4);
    rig.cmd('MAPTI', { deviceId: 5, eventId: 0, intid: LPI, icid: 0 }); // device 5 not mapped
    rig.cmd('MAPD', { deviceId: 5, size: 3, ittAddress: ITT(5), valid: 1 });
    expect(rig.its.isStalled).toBe(true);
    expect(rig.its.mmioRead(GITS.CREADR, 4)).toBe(before | 1);
    expect(rig.its.commandError).toEqual({ code: 0x010a04, kind: 'unmapped-device', opcode: 0x0a, offset: before });
    expect(errors).toEqual([0x010a04]);
    // The MAPD behind it has not run.
    expect(rig.its.translate(5, 0)).toBe('unmapped-device');
    // Retry re-executes the same command: still failing, still stalled.
    rig.its.mmioWrite(GITS.CWRITER, 4, rig.its.mmioRead(GITS.CWRITER, 4) | 1);
    expect(rig.its.isStalled).toBe(true);
    expect(errors.length).toBe(2);
    // Software recovers by disabling the ITS and rewriting GITS_CBASER, which resets CREADR.
    rig.its.mmioWrite(GITS.CTLR, 4, 0);
    rig.its64(GITS.CBASER, BigInt(CMD_QUEUE) | (1n << 63n));
    expect(rig.its.mmioRead(GITS.CREADR, 4)).toBe(0);
    expect(rig.its.isStalled).toBe(false);
  });

  it("with commandErrors: 'ignore' an erroneous command is skipped and processing continues", () => {
    const rig = makeItsRig({ cpus: 1, its: { commandErrors: 'ignore' } });
    rig.cmd('MAPTI', { deviceId: 5, eventId: 0, intid: LPI, icid: 0 });
    rig.cmd('MAPD', { deviceId: 5, size: 3, ittAddress: ITT(5), valid: 1 });
    expect(rig.its.isStalled).toBe(false);
    expect(rig.its.commandError?.code).toBe(0x010a04);
    expect(rig.its.translate(5, 0)).toBe('unmapped-interrupt');
  });

  it('a CWRITER beyond the queue stalls with an error (12.19: UNPREDICTABLE, model choice)', () => {
    const rig = makeItsRig({ cpus: 1 });
    rig.its.mmioWrite(GITS.CWRITER, 4, 0x2000);
    expect(rig.its.isStalled).toBe(true);
    expect(rig.its.commandError?.kind).toBe('cwriter-out-of-range');
  });

  it.each([
    ['MAPD DeviceID out of range (table too small)', 'MAPD', { deviceId: 4096, size: 3, ittAddress: ITT(1), valid: 1 }, 0x010801],
    ['MAPD ITT size out of range', 'MAPD', { deviceId: 1, size: 16, ittAddress: ITT(1), valid: 1 }, 0x010802],
    ['MAPC processor out of range', 'MAPC', { icid: 3, rdbase: 9, valid: 1 }, 0x010902],
    ['MAPC collection out of range (table too small)', 'MAPC', { icid: 600, rdbase: 0, valid: 1 }, 0x010903],
    ['MAPTI unmapped device', 'MAPTI', { deviceId: 2, eventId: 0, intid: LPI, icid: 0 }, 0x010a04],
    ['MAPTI EventID out of range', 'MAPTI', { deviceId: 1, eventId: 32, intid: LPI, icid: 0 }, 0x010a05],
    ['MAPTI pINTID out of range', 'MAPTI', { deviceId: 1, eventId: 0, intid: 100, icid: 0 }, 0x010a06],
    ['MAPTI pINTID beyond IDbits', 'MAPTI', { deviceId: 1, eventId: 0, intid: 65536, icid: 0 }, 0x010a06],
    ['INT unmapped interrupt', 'INT', { deviceId: 1, eventId: 4 }, 0x010307],
    ['CLEAR unmapped interrupt (published as 0x010507)', 'CLEAR', { deviceId: 1, eventId: 4 }, 0x010507],
    ['INV unmapped interrupt', 'INV', { deviceId: 1, eventId: 4 }, 0x010c07],
    ['MOVI unmapped interrupt', 'MOVI', { deviceId: 1, eventId: 4, icid: 0 }, 0x010107],
    ['MOVI unmapped collection', 'MOVI', { deviceId: 1, eventId: 0, icid: 77 }, 0x010109],
    ['INVALL unmapped collection', 'INVALL', { icid: 77 }, 0x010d09],
    ['MOVALL processor out of range', 'MOVALL', { rdbase: 0, rdbase2: 5 }, 0x010e01],
    ['DISCARD unmapped interrupt', 'DISCARD', { deviceId: 1, eventId: 9 }, 0x010f07],
    ['SYNC processor out of range', 'SYNC', { rdbase: 4 }, 0x010502],
    ['VMAPP on a GICv3 ITS', 'VMAPP', { vpeId: 1 }, 0x0129ff],
  ] as const)('%s (5.3 error encodings) -> 0x%s', (_label, name, fields, code) => {
    const rig = makeItsRig({ cpus: 2 });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: LPI, icid: 0 });
    rig.cmd(name, fields);
    expect(rig.its.commandError?.code).toBe(code);
    expect(rig.its.isStalled).toBe(true);
  });

  it('commands written while the ITS is disabled run when GITS_CTLR.Enabled is set (12.19)', () => {
    const rig = makeItsRig({ cpus: 1 });
    rig.its.mmioWrite(GITS.CTLR, 4, 0);
    mapDevice(rig, 3);
    expect(rig.its.mmioRead(GITS.CREADR, 4)).not.toBe(rig.its.mmioRead(GITS.CWRITER, 4));
    rig.its.mmioWrite(GITS.CTLR, 4, 1);
    expect(rig.its.mmioRead(GITS.CREADR, 4)).toBe(rig.its.mmioRead(GITS.CWRITER, 4));
    expect(rig.its.translate(3, 0)).toBe('unmapped-interrupt');
  });

  it('an ITT outside memory: MAPTI fails with a memory fault, a translation is dropped as one', () => {
    const rig = makeItsRig({ cpus: 1, its: { commandErrors: 'ignore' } });
    rig.cmd('MAPD', { deviceId: 2, size: 3, ittAddress: 0x1000_0000, valid: 1 });
    rig.cmd('MAPTI', { deviceId: 2, eventId: 0, intid: LPI, icid: 0 });
    expect(rig.its.commandError).toMatchObject({ kind: 'memory-fault', code: 0x010afd });
    expect(rig.its.translate(2, 0)).toBe('memory-fault');
    expect(rig.its.dropped('memory-fault')).toBe(1);
  });

  it('an unknown opcode is a malformed command', () => {
    const rig = makeItsRig({ cpus: 1 });
    const w = encodeItsCommand('SYNC', { rdbase: 0 });
    w[0] = 0x42;
    const at = rig.its.mmioRead(GITS.CWRITER, 4);
    for (let i = 0; i < 8; i++) rig.memory.write32(CMD_QUEUE + at + 4 * i, w[i]!);
    rig.its.mmioWrite(GITS.CWRITER, 4, at + 32);
    expect(rig.its.commandError).toMatchObject({ kind: 'unknown-command', code: 0x0142ff });
  });
});

describe('INTID width (IHI0069 12.9.38 GICD_TYPER.IDbits, 12.2.6 ICC_CTLR_EL1.IDbits)', () => {
  it('LPIs run from 8192 to 2^idBits - 1; wider INTIDs show in ICC_CTLR_EL1 and ICH_VTR_EL2', () => {
    const memory = new PhysicalMemory();
    const narrow = new GicV3({ cpus: 1, lpis: { memory, idBits: 14 } });
    expect((narrow.distributorFor(0).mmioRead(0x4, 4) >>> 19) & 0x1f).toBe(13);
    expect((Number(narrow.read(0, 'ICC_CTLR_EL1')) >>> 11) & 7).toBe(0);
    const its = narrow.createIts();
    expect(its.idBits).toBe(14);
    const wide = new GicV3({ cpus: 1, lpis: { memory, idBits: 24, gicv4: 'v4.1' } });
    expect((wide.distributorFor(0).mmioRead(0x4, 4) >>> 19) & 0x1f).toBe(23);
    expect((Number(wide.read(0, 'ICC_CTLR_EL1')) >>> 11) & 7).toBe(1);
    expect((Number(wide.read(0, 'ICH_VTR_EL2')) >>> 23) & 7).toBe(1);
    expect(() => new GicV3({ cpus: 1, lpis: { memory, idBits: 25 } })).toThrow(/idBits/);
  });

  it('MAPTI beyond the implemented INTIDs is an error (pINTID out of range)', () => {
    const rig = makeItsRig({ cpus: 1 });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: 2 ** 16, icid: 0 });
    expect(rig.its.commandError?.code).toBe(0x010a06);
  });
});

describe('ITS registers (IHI0069 12.19)', () => {
  it('GITS_TYPER, IIDR, PIDR2 and CTLR describe the implementation', () => {
    const rig = makeItsRig({ cpus: 2, raw: true });
    const { its } = rig;
    const typer = its.mmioRead64(GITS.TYPER);
    expect(typer & 1n).toBe(1n); // Physical
    expect((typer >> 1n) & 1n).toBe(0n); // no Virtual without GICv4
    expect((typer >> 4n) & 0xfn).toBe(15n); // ITT_entry_size: 16 bytes
    expect((typer >> 8n) & 0x1fn).toBe(15n); // ID_bits: 16 EventID bits
    expect((typer >> 13n) & 0x1fn).toBe(15n); // Devbits: 16 DeviceID bits
    expect((typer >> 19n) & 1n).toBe(0n); // PTA = 0: processor numbers
    expect((typer >> 36n) & 1n).toBe(0n); // CIL = 0: 16-bit ICIDs
    expect(its.mmioRead(GITS.CTLR, 4)).toBe(0x8000_0000); // disabled, quiescent
    expect(its.mmioRead(GITS.PIDR2, 4)).toBe(0x3b);
    expect(its.mmioRead(GITS.IIDR, 4) & 0xfff).toBe(0x43b);
    const v4 = makeItsRig({ cpus: 1, gicv4: 'v4.1', raw: true }).its;
    const t4 = v4.mmioRead64(GITS.TYPER);
    expect((t4 >> 1n) & 1n).toBe(1n);
    expect((t4 >> 37n) & 1n).toBe(1n); // VMOVP: no ITSList sequencing
    expect((t4 >> 39n) & 1n).toBe(1n); // VSGI
    expect(v4.mmioRead(GITS.PIDR2, 4)).toBe(0x4b);
  });

  it('GITS_BASER<n>: Type and Entry_Size are read-only, unimplemented registers RAZ/WI', () => {
    const rig = makeItsRig({ cpus: 1, raw: true, gicv4: 'v4.0' });
    const { its } = rig;
    const rows: [number, bigint, bigint][] = [
      [0, 1n, 15n],
      [1, 4n, 7n],
      [2, 2n, 31n],
    ];
    for (const [n, type, esz] of rows) {
      its.mmioWrite64(GITS.BASER + 8 * n, 0xffff_ffff_ffff_ffffn);
      const v = its.mmioRead64(GITS.BASER + 8 * n);
      expect((v >> 56n) & 7n).toBe(type);
      expect((v >> 48n) & 0x1fn).toBe(esz);
      expect(v >> 63n).toBe(1n);
      expect((v >> 8n) & 3n).toBe(2n); // Page_Size 0b11 (reserved) kept as 64 KiB
    }
    its.mmioWrite64(GITS.BASER + 8 * 5, 0xffff_ffff_ffff_ffffn);
    expect(its.mmioRead64(GITS.BASER + 8 * 5)).toBe(0n);
  });

  it('GITS_CBASER and GITS_BASER<n> ignore writes while enabled; CREADR is read-only', () => {
    const rig = makeItsRig({ cpus: 1 });
    const cb = rig.its.mmioRead64(GITS.CBASER);
    rig.its64(GITS.CBASER, 0n);
    expect(rig.its.mmioRead64(GITS.CBASER)).toBe(cb);
    const b0 = rig.its.mmioRead64(GITS.BASER);
    rig.its64(GITS.BASER, 0n);
    expect(rig.its.mmioRead64(GITS.BASER)).toBe(b0);
    const r = rig.its.mmioRead(GITS.CREADR, 4);
    rig.its.mmioWrite(GITS.CREADR, 4, 0x20);
    expect(rig.its.mmioRead(GITS.CREADR, 4)).toBe(r);
  });

  it('unsupported access sizes abort; the translation frame reads as zero', () => {
    const { its } = makeItsRig({ cpus: 1, raw: true });
    expect(() => its.mmioRead(GITS.CTLR, 1)).toThrow(/not a supported access/);
    expect(its.mmioRead(GITS.TRANSLATER, 4)).toBe(0);
    expect(() => its.mmioRead(0x30000, 4)).toThrow();
    expect(() => its.mmioWrite64(GITS.SGIR, 1n)).toThrow(/not a supported access/); // no vSGI frame without GICv4.1
    const v41 = makeItsRig({ cpus: 1, gicv4: 'v4.1', raw: true }).its;
    expect(() => v41.mmioWrite(GITS.SGIR, 4, 1)).toThrow(/not a supported access/);
    v41.mmioWrite(GITS.TRANSLATER + 0x100, 4, 1); // reserved: WI
  });
});

describe('save and restore (tables live in memory)', () => {
  it('ITS + GIC + memory restored into fresh instances continue as if never stopped', () => {
    const rig = makeItsRig({ cpus: 2 });
    mapDevice(rig, 4);
    rig.cmd('MAPTI', { deviceId: 4, eventId: 2, intid: LPI + 40, icid: 1 });
    enableLpi(rig, 1, LPI + 40);
    rig.its.translate(4, 2);
    const saved = { gic: structuredClone(rig.gic.saveState()), its: structuredClone(rig.its.saveState()), mem: rig.memory.saveState() };
    const fresh = makeItsRig({ cpus: 2, raw: true });
    fresh.memory.restoreState(saved.mem);
    fresh.gic.restoreState(saved.gic);
    fresh.its.restoreState(saved.its);
    expect(ack(fresh, 1)).toBe(LPI + 40);
    eoi(fresh, LPI + 40, 1);
    expect(fresh.its.translate(4, 2)).toBe('lpi');
    expect(ack(fresh, 1)).toBe(LPI + 40);
    expect(fresh.memory.read32(COLLECTION_TABLE + 8) >>> 31).toBe(1);
    expect(() => fresh.its.restoreState({ type: 'hvsim.gic-v3', version: 1 })).toThrow(SnapshotError);
  });

  it('restoring into a GIC without LPIs is rejected', () => {
    const rig = makeItsRig({ cpus: 1 });
    const plain = new GicV3({ cpus: 1 });
    expect(() => {
      plain.createIts();
    }).toThrow(UsageError);
    const state = rig.gic.saveState();
    expect(state.perCpu[0]!.lpi?.enableLpis).toBe(true);
    expect(() => plain.restoreState(state)).toThrow(SnapshotError);
    const v4 = makeItsRig({ cpus: 1, gicv4: 'v4.1', raw: true });
    expect(() => v4.gic.restoreState(state)).toThrow(SnapshotError); // no GICv4 part in the state
  });
});

describe('translation invariants (property, IHI0069 5.2)', () => {
  itInParts('every accepted event is pending on its collection\'s redistributor until acknowledged; the rest are dropped and counted', Math.min(numRuns, 100), 4, (params) => {
    const op = fc.oneof(
      fc.tuple(fc.constant('map' as const), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 1 })),
      fc.tuple(fc.constant('discard' as const), fc.integer({ min: 0, max: 15 }), fc.constant(0), fc.constant(0)),
      fc.tuple(fc.constant('event' as const), fc.integer({ min: 0, max: 15 }), fc.constant(0), fc.constant(0)),
      fc.tuple(fc.constant('ack' as const), fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 1 })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const rig = makeItsRig({ cpus: 2 });
        mapDevice(rig, 1, 4);
        rig.memory.fill(PROP_TABLE, 64, lpiConfig(0xa0));
        rig.cmd('INVALL', { icid: 0 });
        rig.cmd('INVALL', { icid: 1 });
        const mapping = new Map<number, { intid: number; cpu: number }>();
        const pending = [new Set<number>(), new Set<number>()];
        let drops = 0;
        // Mismatches are collected and asserted once per run (an expect per step costs more than the ITS).
        const failures: string[] = [];
        const check = (ok: boolean, what: () => string): void => {
          if (!ok && failures.length < 8) failures.push(what());
        };
        for (const [kind, event, lpi, cpu] of ops) {
          if (kind === 'map') {
            rig.cmd('MAPTI', { deviceId: 1, eventId: event, intid: LPI + lpi, icid: cpu });
            mapping.set(event, { intid: LPI + lpi, cpu });
          } else if (kind === 'discard') {
            const m = mapping.get(event);
            if (m === undefined) continue; // DISCARD of an unmapped event is a command error, tested apart
            rig.cmd('DISCARD', { deviceId: 1, eventId: event });
            pending[m.cpu]!.delete(m.intid);
            mapping.delete(event);
          } else if (kind === 'event') {
            const m = mapping.get(event);
            const r = rig.its.translate(1, event);
            if (m === undefined) {
              check(r === 'unmapped-interrupt', () => `event ${event}: ${r}, expected unmapped-interrupt`);
              drops++;
            } else {
              check(r === 'lpi', () => `event ${event}: ${r}, expected lpi`);
              pending[m.cpu]!.add(m.intid);
            }
          } else {
            const got = ack(rig, cpu);
            if (pending[cpu]!.size === 0) check(got === 1023, () => `CPU ${cpu} acknowledged ${got} with nothing pending`);
            else {
              check(pending[cpu]!.has(got), () => `CPU ${cpu} acknowledged ${got}, not one of ${[...pending[cpu]!].join(',')}`);
              pending[cpu]!.delete(got);
              eoi(rig, got, cpu);
            }
          }
        }
        expect(failures).toEqual([]);
        expect(rig.its.commandErrorCount).toBe(0);
        for (const cpu of [0, 1]) expect(rig.gic.lpiRedistributor(cpu).pendingIntids()).toEqual([...pending[cpu]!].sort((a, b) => a - b));
        expect(rig.its.dropped()).toBe(drops);
      }),
      params,
    );
  });

  it('emits interrupt.raised, interrupt.dropped and fault (command error) trace events', () => {
    const tracer = new RecordingTracer();
    const rig = makeItsRig({ cpus: 1, its: { tracer } });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: LPI + 4, icid: 0 });
    enableLpi(rig, 0, LPI + 4);
    rig.its.translate(1, 0);
    rig.its.translate(1, 1);
    rig.cmd('MAPTI', { deviceId: 9, eventId: 0, intid: LPI, icid: 0 });
    const kinds = tracer.events().map((e) => e.kind);
    expect(kinds).toEqual(['interrupt.raised', 'interrupt.dropped', 'fault']);
  });
});
