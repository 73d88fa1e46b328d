import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysicalMemory, UsageError } from '@hvsim/core';
import { LocalApic } from '../apic/local-apic.js';
import { PID_OFFSET, PostedInterruptDescriptor, POSTED_INTR_VECTOR, POSTED_INTR_WAKEUP_VECTOR } from './posted-interrupt-descriptor.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);

function setup(): { mem: PhysicalMemory; pid: PostedInterruptDescriptor } {
  const mem = new PhysicalMemory();
  mem.addRegion(0x10000, 0x1000);
  return { mem, pid: new PostedInterruptDescriptor(mem, 0x10040) };
}

describe('PostedInterruptDescriptor layout (SDM 3C 30.6, VT-d 9.11)', () => {
  it('places PIR, ON, SN, NV and NDST at their bits in memory', () => {
    const { mem, pid } = setup();
    pid.on = true;
    expect(mem.read32(0x10040 + 0x20)).toBe(1); // bit 256
    pid.sn = true;
    expect(mem.read32(0x10060)).toBe(3); // bit 257
    pid.nv = POSTED_INTR_VECTOR;
    expect(mem.read32(0x10060)).toBe((0xf2 << 16) | 3); // bits 279:272
    pid.ndst = 0x0300;
    expect(mem.read32(0x10064)).toBe(0x300); // bits 319:288
    pid.testAndSetPir(0x41);
    expect(mem.read32(0x10040 + 8)).toBe(1 << 1); // vector 65 = word 2 bit 1
    expect(pid.pirWord(2)).toBe(2);
    pid.on = false;
    pid.sn = false;
    expect([pid.on, pid.sn, pid.nv, pid.ndst]).toEqual([false, false, 0xf2, 0x300]);
    expect(POSTED_INTR_WAKEUP_VECTOR).toBe(0xf1);
  });

  it('reads memory every time (another agent may change it)', () => {
    const { mem, pid } = setup();
    mem.write32(0x10060, 1);
    expect(pid.on).toBe(true);
    mem.write32(0x10040 + 28, 0x8000_0000);
    expect(pid.hasPending()).toBe(true);
    expect(pid.testPir(255)).toBe(true);
  });

  it('rejects a misaligned address and bad values', () => {
    const mem = new PhysicalMemory();
    expect(() => new PostedInterruptDescriptor(mem, 0x1020)).toThrow(UsageError);
    expect(() => new PostedInterruptDescriptor(mem, 0x1020)).toThrow('posted-interrupt descriptor address must be 64-byte aligned, got 4128 (0x1020)');
    const { pid } = setup();
    expect(() => (pid.nv = 256)).toThrow('notification vector must be an integer in [0, 255]');
    expect(() => pid.testAndSetPir(256)).toThrow('vector must be an integer in [0, 255], got 256');
    expect(() => pid.pirWord(8)).toThrow('PIR word index');
  });

  it('detects reserved bits (VT-d 9.11: 271:258, 287:280, 511:320)', () => {
    const { mem, pid } = setup();
    pid.on = true;
    pid.sn = true;
    pid.nv = 0xff;
    pid.ndst = 0xffff_ffff;
    expect(pid.reservedBitsSet()).toBe(false);
    for (const [off, value] of [
      [PID_OFFSET.CONTROL, 1 << 2],
      [PID_OFFSET.CONTROL, 1 << 15],
      [PID_OFFSET.CONTROL, 1 << 24],
      [0x28, 1],
      [0x3c, 0x8000_0000],
    ] as const) {
      const saved = mem.read32(0x10040 + off);
      mem.write32(0x10040 + off, (saved | value) >>> 0);
      expect(pid.reservedBitsSet()).toBe(true);
      mem.write32(0x10040 + off, saved);
    }
    pid.clear();
    expect(mem.readBytes(0x10040, 64).every((b) => b === 0)).toBe(true);
  });
});

describe('posting (VT-d 5.2.3 / 9.11; KVM posted_intr.c)', () => {
  it('post: notification only when ON was clear and (urgent or not SN)', () => {
    const { pid } = setup();
    expect(pid.post(0x30)).toBe(true);
    expect(pid.on).toBe(true);
    expect(pid.post(0x31)).toBe(false); // ON already set
    pid.clearOn();
    pid.sn = true;
    expect(pid.post(0x32)).toBe(false); // suppressed
    expect(pid.on).toBe(false);
    expect(pid.post(0x33, true)).toBe(true); // urgent overrides SN
    expect(pid.on).toBe(true);
    const into = new Uint32Array(8);
    expect(pid.takePir(into)).toBe(true);
    expect(into[1]).toBe(0xf0000); // bits 16..19 of word 1 = vectors 0x30..0x33
    expect(pid.hasPending()).toBe(false);
    expect(pid.takePir(into)).toBe(false);
  });

  it('postFromSoftware: stops at an already-set PIR bit or ON', () => {
    const { pid } = setup();
    pid.sn = true; // not consulted
    expect(pid.postFromSoftware(0x40)).toBe(true);
    expect(pid.postFromSoftware(0x40)).toBe(false);
    expect(pid.postFromSoftware(0x41)).toBe(false); // ON already set
    expect(pid.testPir(0x41)).toBe(true);
  });

  it('takePir ORs into the target and nothing posted is lost', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.boolean()), { maxLength: 60 }), (ops) => {
        const { pid } = setup();
        const expected = new Set<number>();
        const got = new Uint32Array(8);
        for (const [v, urgent, take] of ops) {
          if (take) {
            pid.takePir(got);
            pid.clearOn();
          } else {
            pid.post(v, urgent);
            expected.add(v);
          }
        }
        pid.takePir(got);
        for (let v = 0; v < 256; v++) expect(((got[v >>> 5]! >>> (v & 31)) & 1) === 1).toBe(expected.has(v));
      }),
      { seed, numRuns },
    );
  });
});

describe('PIR to IRR (KVM vmx_sync_pir_to_irr with the LocalApic model)', () => {
  it('takePir + acceptVectors moves every posted vector into the IRR exactly once', () => {
    const { pid } = setup();
    const apic = new LocalApic({ id: 0 });
    apic.mmioWrite(0xf0, 4, 0x1ff);
    for (const v of [0x31, 0x80, 0xf1]) pid.post(v);
    const pir = new Uint32Array(8);
    expect(pid.takePir(pir)).toBe(true);
    pid.clearOn();
    expect(apic.acceptVectors(pir)).toBe(true);
    expect([apic.isRequested(0x31), apic.isRequested(0x80), apic.isRequested(0xf1)]).toEqual([true, true, true]);
    expect(apic.acknowledge()).toBe(0xf1);
    expect(pid.hasPending()).toBe(false);
    expect(apic.acceptVectors(new Uint32Array(8))).toBe(false);
    expect(() => apic.acceptVectors(new Uint32Array(2))).toThrow('acceptVectors needs a Uint32Array of 8 words');
  });
});
