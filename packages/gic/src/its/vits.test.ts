/**
 * The ITS as KVM's emulated vITS: over a guest-physical view of memory
 * (core's GuestPhysicalMemory through memslots), with `commandErrors:
 * 'ignore'`, which behaves as Linux's vgic-its.c: a command that fails or
 * cannot be read is skipped (IHI0069 5.3 lets an ITS ignore it; vgic-its.c
 * cites the same rule) and a GITS_CWRITER beyond the queue is ignored.
 */
import { DELIVERY_STATUS, GuestPhysicalMemory, Memslots, PhysicalMemory } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { GicV3 } from '../v3/gic-v3.js';
import { GICD, GICR, GICR_STRIDE } from '../v3/regs.js';
import { encodeItsCommand, type ItsCommandFields, type ItsCommandName } from './commands.js';
import { GITS } from './regs.js';

const GUEST = 0x4000_0000;
const HOST = 0x2_0000_0000;
const PROP = GUEST;
const PEND = (cpu: number): number => GUEST + 0x10_0000 + cpu * 0x1_0000;
const DEVICES = GUEST + 0x20_0000;
const COLLECTIONS = GUEST + 0x21_0000;
const QUEUE = GUEST + 0x23_0000;
const ITT = GUEST + 0x30_0000;
const VALID = 1n << 63n;
const LPI = 8192;

function makeVits(): {
  host: PhysicalMemory;
  guest: GuestPhysicalMemory;
  gic: GicV3;
  cmd: (name: ItsCommandName, fields?: Partial<ItsCommandFields>) => void;
  its: ReturnType<GicV3['createIts']>;
} {
  const host = new PhysicalMemory();
  host.addRegion(HOST, 0x100_0000, { name: 'vm ram' });
  const slots = new Memslots();
  slots.add({ id: 0, guestPhysical: GUEST, size: 0x100_0000, hostPhysical: HOST });
  const guest = new GuestPhysicalMemory(host, slots);
  // The emulated distributor and vITS of one VM, all tables at guest-physical addresses.
  const gic = new GicV3({ cpus: 2, lpis: { memory: guest } });
  const its = gic.createIts({ commandErrors: 'ignore' });
  const r = gic.redistributorRegion;
  gic.distributorFor(0).mmioWrite(GICD.CTLR, 4, 0x2);
  guest.writeBytes(PROP, new Uint8Array(2 ** 16 - LPI).fill(0xa2)); // priority 0xa0, disabled
  for (const c of [0, 1]) {
    r.mmioWrite(c * GICR_STRIDE + GICR.WAKER, 4, 0);
    r.mmioWrite64(c * GICR_STRIDE + 0x70, BigInt(PROP) | 15n);
    r.mmioWrite64(c * GICR_STRIDE + 0x78, BigInt(PEND(c)) | (1n << 62n));
    r.mmioWrite(c * GICR_STRIDE, 4, 1);
  }
  its.mmioWrite64(GITS.BASER, BigInt(DEVICES) | VALID);
  its.mmioWrite64(GITS.BASER + 8, BigInt(COLLECTIONS) | VALID);
  its.mmioWrite64(GITS.CBASER, BigInt(QUEUE) | VALID);
  its.mmioWrite(GITS.CTLR, 4, 1);
  let cwriter = 0;
  const cmd = (name: ItsCommandName, fields: Partial<ItsCommandFields> = {}): void => {
    const w = encodeItsCommand(name, fields);
    for (let i = 0; i < 8; i++) guest.write32(QUEUE + cwriter + 4 * i, w[i]!);
    cwriter = (cwriter + 32) % 0x1000;
    its.mmioWrite(GITS.CWRITER, 4, cwriter);
  };
  return { host, guest, gic, cmd, its };
}

describe('the emulated vITS over guest-physical memory (host-seams G10b)', () => {
  it('translates through tables at guest-physical addresses, which land in host memory through the memslot', () => {
    const { host, guest, gic, cmd, its } = makeVits();
    cmd('MAPC', { icid: 1, rdbase: 1, valid: 1 });
    cmd('MAPD', { deviceId: 3, size: 4, ittAddress: ITT, valid: 1 });
    cmd('MAPTI', { deviceId: 3, eventId: 2, intid: LPI + 40, icid: 1 });
    guest.write8(PROP + 40, 0xa3); // enable
    cmd('INV', { deviceId: 3, eventId: 2 });
    expect(its.commandErrorCount).toBe(0);
    // MAPC wrote the collection table entry at guest COLLECTIONS + 8, that is host HOST + 0x21_0008.
    expect(host.read64(HOST + (COLLECTIONS - GUEST) + 8)).not.toBe(0n);
    expect(its.deliverMsi(GITS.TRANSLATER, 2, 3)).toBe(DELIVERY_STATUS.DELIVERED);
    const out = new Int32Array(4);
    expect(Array.from(out.subarray(0, gic.pendingInterrupts(1, out)))).toEqual([LPI + 40]);
  });

  it('lookup gives the pINTID, collection and redistributor, or the reason a translation would drop, without injecting (IHI0069 5.2)', () => {
    const { gic, cmd, its } = makeVits();
    cmd('MAPC', { icid: 1, rdbase: 1, valid: 1 });
    cmd('MAPD', { deviceId: 3, size: 4, ittAddress: ITT, valid: 1 });
    cmd('MAPTI', { deviceId: 3, eventId: 2, intid: LPI + 40, icid: 1 });
    cmd('MAPTI', { deviceId: 3, eventId: 5, intid: LPI + 41, icid: 6 });
    expect(its.lookup(3, 2)).toEqual({ result: 'lpi', intid: LPI + 40, collection: 1, vpeId: -1, target: 1, doorbell: -1 });
    expect(gic.pendingInterrupts(1, new Int32Array(4))).toBe(0);
    expect(its.lookup(3, 5)).toEqual({ result: 'unmapped-collection', intid: -1, collection: 6, vpeId: -1, target: -1, doorbell: -1 });
    expect(its.lookup(3, 4).result).toBe('unmapped-interrupt');
    expect(its.lookup(3, 32).result).toBe('event-out-of-range'); // MAPD Size 4: 32 EventIDs
    expect(its.lookup(4, 0).result).toBe('unmapped-device');
    expect(its.lookup(70000, 0).result).toBe('device-out-of-range');
    expect(its.dropped()).toBe(0);
    its.mmioWrite(GITS.CTLR, 4, 0);
    expect(its.lookup(3, 2).result).toBe('disabled');
  });

  it("commandErrors: 'ignore' skips a failing command and keeps going, as vgic-its.c does", () => {
    const { cmd, its } = makeVits();
    cmd('INT', { deviceId: 7, eventId: 0 }); // unmapped device: error 0x010304... skipped
    expect(its.commandErrorCount).toBe(1);
    expect(its.isStalled).toBe(false);
    cmd('MAPC', { icid: 0, rdbase: 0, valid: 1 });
    expect(its.mmioRead(GITS.CREADR, 4)).toBe(0x40); // both commands consumed, Stalled = 0
    expect(its.commandErrorCount).toBe(1);
  });

  it('a GITS_CWRITER beyond the queue is ignored; a queue outside guest memory is skipped command by command', () => {
    const { its } = makeVits();
    its.mmioWrite(GITS.CWRITER, 4, 0x2000); // the queue is 4 KiB
    expect(its.mmioRead(GITS.CWRITER, 4)).toBe(0);
    expect(its.commandErrorCount).toBe(0);
    // Move the queue to a guest address no memslot maps (CBASER is written with the ITS disabled).
    its.mmioWrite(GITS.CTLR, 4, 0);
    its.mmioWrite64(GITS.CBASER, BigInt(GUEST + 0x200_0000) | VALID);
    its.mmioWrite(GITS.CTLR, 4, 1);
    expect(() => its.mmioWrite(GITS.CWRITER, 4, 0x40)).not.toThrow();
    expect(its.mmioRead(GITS.CREADR, 4)).toBe(0x40);
    expect(its.commandError?.kind).toBe('memory-fault');
    expect(its.isStalled).toBe(false);
  });
});
