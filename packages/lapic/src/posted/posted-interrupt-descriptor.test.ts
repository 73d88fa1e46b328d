import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysicalMemory, UsageError } from '@hvsim/core';
import { LocalApic } from '../apic/local-apic.js';
import { PID_CONTROL, PID_OFFSET, POST_RESULT, PostedInterruptDescriptor, POSTED_INTR_VECTOR, POSTED_INTR_WAKEUP_VECTOR } from './posted-interrupt-descriptor.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

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
        const want = new Uint32Array(8);
        for (const v of expected) want[v >>> 5] = want[v >>> 5]! | (1 << (v & 31));
        expect(Array.from(got)).toEqual(Array.from(want));
      }),
      { seed, numRuns },
    );
  });
});

describe('fused operations for hot paths (VT-d 5.2.3, 9.11; SDM 3C 30.6)', () => {
  it('checkAndPost: posts with NOTIFY and COALESCED bits, and changes nothing on reserved bits', () => {
    const { mem, pid } = setup();
    expect(pid.checkAndPost(0x30)).toBe(POST_RESULT.NOTIFY); // ON was clear
    expect(pid.checkAndPost(0x30)).toBe(POST_RESULT.COALESCED); // PIR bit and ON already set
    expect(pid.checkAndPost(0x31)).toBe(POST_RESULT.POSTED);
    pid.clearOn();
    pid.sn = true;
    expect(pid.checkAndPost(0x32)).toBe(POST_RESULT.POSTED); // SN suppresses a non-urgent post
    expect(pid.checkAndPost(0x32, true)).toBe(POST_RESULT.NOTIFY | POST_RESULT.COALESCED); // urgent overrides SN
    const before = Array.from({ length: 16 }, (_, i) => mem.read32(0x10040 + 4 * i));
    mem.write32(0x10040 + 0x30, 1); // bit 384: reserved (511:320)
    expect(pid.checkAndPost(0x40)).toBe(POST_RESULT.RESERVED);
    expect(pid.testPir(0x40)).toBe(false);
    mem.write32(0x10040 + 0x30, 0);
    mem.write32(0x10060, mem.read32(0x10060) | (1 << 2)); // bit 258: reserved
    expect(pid.checkAndPost(0x40, true)).toBe(POST_RESULT.RESERVED);
    mem.write32(0x10060, before[8]!);
    expect(Array.from({ length: 16 }, (_, i) => mem.read32(0x10040 + 4 * i))).toEqual(before);
    expect(() => pid.checkAndPost(256)).toThrow(/vector must be an integer in \[0, 255\], got 256/);
  });

  it('checkAndPost keeps NV and NDST as the notifying post read them (VT-d 5.2.3: the notification event is NV to NDST)', () => {
    const { pid } = setup();
    pid.updateControl({ nv: 0xf2, ndst: 0x0300 });
    expect(pid.checkAndPost(0x30) & POST_RESULT.NOTIFY).toBe(POST_RESULT.NOTIFY);
    expect([pid.notifiedVector, pid.notifiedDestination]).toEqual([0xf2, 0x0300]);
    pid.updateControl({ nv: 0xf1, ndst: 0xffff_fffe, on: false });
    expect(pid.checkAndPost(0x31, true)).toBe(POST_RESULT.NOTIFY);
    expect([pid.notifiedVector, pid.notifiedDestination]).toEqual([0xf1, 0xffff_fffe]); // x2APIC destinations stay unsigned
    pid.updateControl({ nv: 0x20, ndst: 7 });
    expect(pid.checkAndPost(0x32)).toBe(POST_RESULT.POSTED); // ON set: no notification, the last one's values stay
    expect([pid.notifiedVector, pid.notifiedDestination]).toEqual([0xf1, 0xffff_fffe]);
  });

  it('checkAndPost answers INACCESSIBLE for a descriptor with nothing behind it and writes nothing', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0x10000, 0x1000);
    const pid = new PostedInterruptDescriptor(mem, 0x20000);
    expect(pid.checkAndPost(0x30)).toBe(POST_RESULT.INACCESSIBLE);
    expect(pid.isAccessible()).toBe(false);
  });

  it('checkAndPost has the effects of reservedBitsSet + post (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.integer({ min: 0, max: 3 })), { maxLength: 40 }), (ops) => {
        const a = setup();
        const b = setup();
        for (const [v, urgent, control] of ops) {
          // control: 0 post, 1 toggle SN, 2 clear ON, 3 toggle a reserved bit.
          if (control === 1) [a.pid, b.pid].forEach((p) => (p.sn = !p.sn));
          else if (control === 2) [a.pid, b.pid].forEach((p) => p.clearOn());
          else if (control === 3) [a.mem, b.mem].forEach((m) => m.write32(0x10040 + 0x3c, m.read32(0x10040 + 0x3c) ^ 1));
          else {
            const got = a.pid.checkAndPost(v, urgent);
            let want: number = POST_RESULT.RESERVED;
            if (!b.pid.reservedBitsSet()) {
              const coalesced = b.pid.testPir(v);
              want = (b.pid.post(v, urgent) ? POST_RESULT.NOTIFY : 0) | (coalesced ? POST_RESULT.COALESCED : 0);
            }
            expect(got).toBe(want);
          }
        }
        for (let i = 0; i < 16; i++) expect(a.mem.read32(0x10040 + 4 * i)).toBe(b.mem.read32(0x10040 + 4 * i));
      }),
      { seed, numRuns },
    );
  });

  it('swapPir moves the PIR out by 64-bit halves and says which words held vectors', () => {
    const { mem, pid } = setup();
    const writes: number[] = [];
    mem.addWriteObserver((addr, size) => writes.push(addr, size));
    const into = new Uint32Array(8).fill(0xdead);
    expect(pid.swapPir(into)).toBe(0);
    expect(writes).toEqual([]);
    pid.testAndSetPir(0x21); // word 1
    pid.testAndSetPir(0xff); // word 7
    writes.length = 0;
    expect(pid.swapPir(into)).toBe((1 << 1) | (1 << 7));
    expect(into[1]).toBe(2);
    expect(into[7]).toBe(0x8000_0000);
    expect(into[0]).toBe(0); // the other half of a non-zero quadword is written too
    expect(into[6]).toBe(0);
    expect(into[2]).toBe(0xdead); // zero quadwords are skipped
    expect(pid.hasPending()).toBe(false);
    expect(writes).toEqual([0x10040, 8, 0x10040 + 24, 8]);
    expect(() => pid.swapPir(new Uint32Array(4))).toThrow(/swapPir needs an array of at least 8 words, got 4/);
  });

  it('clearOnAndSwapPir clears ON and moves the PIR, as clearOn + swapPir (SDM 3C 30.6 steps 3 and 5)', () => {
    const { mem, pid } = setup();
    pid.updateControl({ nv: 0xf2, sn: true });
    expect(pid.postFromSoftware(0x30)).toBe(true); // ON set
    pid.testAndSetPir(0x31);
    const into = new Uint32Array(8);
    expect(pid.clearOnAndSwapPir(into)).toBe(1 << 1);
    expect(into[1]).toBe(0x3_0000);
    expect([pid.on, pid.sn, pid.nv, pid.hasPending()]).toEqual([false, true, 0xf2, false]);
    expect(mem.read32(0x10060)).toBe((0xf2 << 16) | 2);
    expect(pid.clearOnAndSwapPir(into)).toBe(0); // ON clear, PIR empty: nothing to do
    expect(() => pid.clearOnAndSwapPir(new Uint32Array(7))).toThrow(/clearOnAndSwapPir needs an array of at least 8 words, got 7/);
  });

  it('clearOnAndMergePir clears ON and ORs the PIR into an IRR at an offset, answering the word mask and the top vector (SDM 3C 30.6 steps 3 and 5)', () => {
    const { mem, pid } = setup();
    pid.updateControl({ nv: 0xf2 });
    expect(pid.postFromSoftware(0x30)).toBe(true); // ON set
    pid.testAndSetPir(0x21);
    pid.testAndSetPir(0x7f);
    const virr = new Uint32Array(24);
    virr[8 + 1] = 0x0001_0000; // vector 0x30 already in VIRR: bits are ORed in, none cleared
    virr[8 + 3] = 0x1;
    const writes: [number, number][] = [];
    const detach = mem.addWriteObserver((a, s) => writes.push([a, s]));
    expect(pid.clearOnAndMergePir(virr, 8)).toBe((1 << 1) | (1 << 3) | (0x7f << 8));
    detach();
    expect([virr[9], virr[11], virr[8], virr[10]]).toEqual([0x0001_0002, 0x8000_0001, 0, 0]);
    expect([...virr.subarray(0, 8), ...virr.subarray(16)].every((w) => w === 0)).toBe(true); // only words at..at+7
    expect([pid.on, pid.hasPending(), pid.nv]).toEqual([false, false, 0xf2]);
    // The control word, then each cleared 64-bit half, as clearOnAndSwapPir reports them.
    expect(writes).toEqual([
      [0x10060, 4],
      [0x10040, 8],
      [0x10048, 8],
    ]);
    expect(pid.clearOnAndMergePir(virr, 8)).toBe(0); // ON clear, PIR empty
    pid.testAndSetPir(0);
    expect(pid.clearOnAndMergePir(virr, 0)).toBe(1); // vector 0: the mask tells it from an empty PIR
    expect(virr[0]).toBe(1);
    expect(() => pid.clearOnAndMergePir(virr, 17)).toThrow(/clearOnAndMergePir needs 8 words at 17 \(0x11\) of an array of 24 words/);
    expect(() => pid.clearOnAndMergePir(virr, -1)).toThrow(/clearOnAndMergePir needs 8 words at -1 .*of an array of 24 words/);
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

describe('descriptor over the Memory interface (page view, observers, generation)', () => {
  it('reports writes to write observers while the memory is observed', () => {
    const { mem, pid } = setup();
    const seen: [number, number][] = [];
    const detach = mem.addWriteObserver((a, s) => seen.push([a, s]));
    pid.post(0x41);
    expect(seen).toEqual([
      [0x10048, 4],
      [0x10060, 4],
    ]);
    seen.length = 0;
    pid.readAndClearPir(new Uint32Array(8));
    expect(seen).toEqual([[0x10048, 8]]);
    detach();
    pid.post(0x42);
    expect(seen).toEqual([[0x10048, 8]]);
  });

  it('clearOnAndSwapPir reports the control word, then each cleared PIR half, in order; nothing when there was nothing to do', () => {
    const { mem, pid } = setup();
    pid.post(0x05);
    pid.post(0xc1);
    const seen: [number, number][] = [];
    const detach = mem.addWriteObserver((a, s) => seen.push([a, s]));
    expect(pid.clearOnAndSwapPir(new Uint32Array(8))).toBe((1 << 0) | (1 << 6));
    expect(seen).toEqual([
      [0x10060, 4], // ON cleared (SDM 3C 30.6 step 3)
      [0x10040, 8], // PIR bits 63:0
      [0x10058, 8], // PIR bits 255:192
    ]);
    seen.length = 0;
    expect(pid.clearOnAndSwapPir(new Uint32Array(8))).toBe(0);
    expect(seen).toEqual([]);
    detach();
  });

  it('re-takes its page view when the memory generation changes (restore)', () => {
    const { mem, pid } = setup();
    pid.post(0x50);
    const saved = mem.saveState();
    pid.clear();
    mem.restoreState(saved);
    expect(pid.testPir(0x50)).toBe(true);
    expect(pid.on).toBe(true);
    pid.clear();
    expect(mem.read32(0x10060)).toBe(0);
  });

  it('the hot paths follow the memory to new backing: a removed and re-added region, and a restore (VT-d 9.11)', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0x10000, 0x1000);
    const pid = new PostedInterruptDescriptor(mem, 0x10fc0); // the last descriptor of the page
    pid.nv = 0xf2;
    expect(pid.checkAndPost(0x31)).toBe(POST_RESULT.NOTIFY);
    mem.removeRegion(0x10000);
    expect(pid.checkAndPost(0x32)).toBe(POST_RESULT.INACCESSIBLE);
    mem.addRegion(0x10000, 0x1000);
    // The new region is zero: no ON, no PIR; each hot path writes the new backing.
    expect(pid.checkAndPost(0xff)).toBe(POST_RESULT.NOTIFY);
    expect(pid.postFromSoftware(0x40)).toBe(false);
    expect([mem.read32(0x10fc0 + 28), mem.read32(0x10fc0 + 8), mem.read32(0x10fc0 + 32)]).toEqual([0x8000_0000, 1, 1]);
    const saved = mem.saveState();
    const into = new Uint32Array(8);
    expect(pid.clearOnAndSwapPir(into)).toBe((1 << 7) | (1 << 2));
    mem.restoreState(saved);
    expect(pid.checkAndPost(0xff)).toBe(POST_RESULT.COALESCED);
    expect(pid.swapPir(into)).toBe((1 << 7) | (1 << 2));
    expect([mem.read32(0x10fc0 + 28), mem.read32(0x10fc0 + 8), pid.on]).toEqual([0, 0, true]);
  });

  it('every vector entry point rejects a non-integer or out-of-range vector, naming it, and changes nothing', () => {
    const { mem, pid } = setup();
    const calls: ((v: number) => unknown)[] = [
      (v) => pid.checkAndPost(v),
      (v) => pid.post(v),
      (v) => pid.postFromSoftware(v),
      (v) => pid.testPir(v),
      (v) => pid.testAndSetPir(v),
    ];
    for (const [bad, shown] of [
      [256, '256'],
      [-1, '-1'],
      [1.5, '1.5'],
      [Number.NaN, 'NaN'],
      [0x130, '304 (0x130)'],
    ] as const) {
      for (const call of calls) expect(() => call(bad), shown).toThrow(`vector must be an integer in [0, 255], got ${shown}`);
    }
    // A numeric string is not a vector (no coercion).
    for (const call of calls) expect(() => call('48' as unknown as number)).toThrow(UsageError);
    for (let i = 0; i < 16; i++) expect(mem.read32(0x10040 + 4 * i)).toBe(0);
    expect(pid.checkAndPost(0)).toBe(POST_RESULT.NOTIFY);
    expect(pid.checkAndPost(255)).toBe(POST_RESULT.POSTED);
  });

  it('an unbacked or read-only descriptor never throws: reads zeros, drops writes, isAccessible false', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0x20000, 0x1000, { readOnly: true });
    for (const addr of [0x40000, 0x20000]) {
      const pid = new PostedInterruptDescriptor(mem, addr);
      expect(pid.isAccessible()).toBe(false);
      expect(pid.post(0x30)).toBe(true); // ON reads as clear every time
      expect(pid.postFromSoftware(0x30)).toBe(true);
      expect(pid.hasPending()).toBe(false);
      expect(pid.readAndClearPir(new Uint32Array(8))).toBe(false);
      expect(pid.clearSnAndResync()).toBe(false);
      pid.updateControl({ on: true, nv: 0xf2, ndst: 5 });
      expect([pid.on, pid.nv, pid.ndst, pid.reservedBitsSet()]).toEqual([false, 0, 0, false]);
      pid.clear();
    }
    mem.addRegion(0x40000, 0x1000);
    const late = new PostedInterruptDescriptor(mem, 0x40000);
    expect(late.isAccessible()).toBe(true);
  });
});

describe('control updates (KVM vmx_vcpu_pi_load, pi_update)', () => {
  it('updateControl changes ON, SN, NV and NDST together and keeps the rest', () => {
    const { mem, pid } = setup();
    mem.write32(0x10060, 1 << 2); // a reserved bit stays as it was
    pid.updateControl({ on: true, sn: true, nv: 0xf2, ndst: 0x0200 });
    expect([mem.read32(0x10060), mem.read32(0x10064)]).toEqual([(0xf2 << 16) | 7, 0x200]);
    pid.updateControl({ sn: false });
    expect([pid.on, pid.sn, pid.nv, pid.ndst]).toEqual([true, false, 0xf2, 0x200]);
    expect(() => pid.updateControl({ on: false, nv: 300 })).toThrow('notification vector must be an integer in [0, 255], got 300');
    expect(() => pid.updateControl({ ndst: -1 })).toThrow('notification destination must be an unsigned 32-bit integer, got -1');
    expect(pid.on).toBe(true); // nothing changed by the rejected updates
    pid.writeControl(PID_CONTROL.SN | (0xf1 << PID_CONTROL.NV_SHIFT) | (1 << 3), 7);
    expect([mem.read32(0x10060), pid.ndst]).toEqual([(0xf1 << 16) | 6, 7]); // bit 3 of the argument ignored, bit 2 kept
  });

  it('clearSnAndResync: clears SN and sets ON when the PIR is not empty', () => {
    const { pid } = setup();
    pid.updateControl({ sn: true });
    expect(pid.post(0x61)).toBe(false); // suppressed: ON stays clear
    expect(pid.on).toBe(false);
    expect(pid.clearSnAndResync()).toBe(true);
    expect([pid.on, pid.sn]).toEqual([true, false]);
    pid.readAndClearPir(new Uint32Array(8));
    pid.clearOn();
    pid.sn = true;
    expect(pid.clearSnAndResync()).toBe(false);
    expect([pid.on, pid.sn]).toEqual([false, false]);
  });

  it('readAndClearPir reads by 64-bit halves and ORs every vector', () => {
    const { mem, pid } = setup();
    mem.write32(0x10040 + 4, 0x8000_0000); // vector 63, only the high half of quadword 0
    mem.write32(0x10040 + 24, 1); // vector 192
    const into = new Uint32Array(8);
    into[0] = 1;
    expect(pid.readAndClearPir(into)).toBe(true);
    expect(Array.from(into)).toEqual([1, 0x8000_0000, 0, 0, 0, 0, 1, 0]);
    expect(pid.hasPending()).toBe(false);
    expect(() => pid.readAndClearPir(new Uint32Array(4))).toThrow('readAndClearPir needs an array of at least 8 words, got 4');
  });
});

describe('addresses from a guest or a device', () => {
  it('isValidAddress tells which addresses a descriptor can have; moveTo re-points a view', () => {
    expect([0, 0x40, 2 ** 52].map((a) => PostedInterruptDescriptor.isValidAddress(a))).toEqual([true, true, true]);
    expect([0x41, -64, 2 ** 53, 2 ** 64, 1.5].map((a) => PostedInterruptDescriptor.isValidAddress(a))).toEqual([false, false, false, false, false]);
    const { mem, pid } = setup();
    pid.post(0x33);
    pid.moveTo(0x10080);
    expect([pid.address, pid.hasPending()]).toEqual([0x10080, false]);
    pid.post(0x34);
    expect(mem.read32(0x10080 + 4)).toBe(1 << 20);
    expect(() => pid.moveTo(0x10081)).toThrow('posted-interrupt descriptor address must be 64-byte aligned, got 65665 (0x10081)');
    expect(pid.address).toBe(0x10080);
  });
});
