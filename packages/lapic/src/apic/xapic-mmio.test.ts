import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { LocalApic } from './local-apic.js';
import { APIC, ESR_BIT } from './regs.js';
import { makeApic, numRuns, rd, seed, toX2apic, wr } from '../test-support/helpers.js';

describe('xAPIC register reset values (SDM 3A 11.4.7.1)', () => {
  const apic = new LocalApic({ id: 3 });
  it.each([
    ['ID', APIC.ID, 0x0300_0000],
    ['VERSION (0x15, 7 LVTs, EOI-broadcast suppression)', APIC.VERSION, 0x0106_0015],
    ['TPR', APIC.TPR, 0],
    ['APR', APIC.APR, 0],
    ['PPR', APIC.PPR, 0],
    ['LDR', APIC.LDR, 0],
    ['DFR', APIC.DFR, 0xffff_ffff],
    ['SVR', APIC.SVR, 0xff],
    ['ESR', APIC.ESR, 0],
    ['LVT CMCI', APIC.LVT_CMCI, 0x1_0000],
    ['ICR low', APIC.ICR_LOW, 0],
    ['ICR high', APIC.ICR_HIGH, 0],
    ['LVT timer', APIC.LVT_TIMER, 0x1_0000],
    ['LVT thermal', APIC.LVT_THERMAL, 0x1_0000],
    ['LVT perf', APIC.LVT_PERF, 0x1_0000],
    ['LVT LINT0', APIC.LVT_LINT0, 0x1_0000],
    ['LVT LINT1', APIC.LVT_LINT1, 0x1_0000],
    ['LVT error', APIC.LVT_ERROR, 0x1_0000],
    ['timer initial count', APIC.TIMER_INITIAL_COUNT, 0],
    ['timer current count', APIC.TIMER_CURRENT_COUNT, 0],
    ['timer divide config', APIC.TIMER_DIVIDE_CONFIG, 0],
    ['ISR0', APIC.ISR0, 0],
    ['TMR7', APIC.TMR0 + 0x70, 0],
    ['IRR3', APIC.IRR0 + 0x30, 0],
  ])('%s', (_name, offset, value) => {
    expect(rd(apic, offset)).toBe(value);
  });

  it('IA32_APIC_BASE = 0xFEE00900 on the BSP, 0xFEE00800 on an AP (SDM 3A 11.4.4)', () => {
    expect(new LocalApic({ id: 0 }).readMsr(0x1b)).toBe(0xfee00900n);
    expect(apic.readMsr(0x1b)).toBe(0xfee00800n);
    expect(apic.mode).toBe('xapic');
    expect(apic.softwareEnabled).toBe(false);
  });

  it('version register reflects the options (SDM 3A 11.4.8; KVM 0x00050014 without CMCI)', () => {
    const kvmLike = new LocalApic({ id: 1, version: 0x14, lvtCount: 6, eoiBroadcastSuppression: false });
    expect(rd(kvmLike, APIC.VERSION)).toBe(0x0005_0014);
    // kvm-unit-tests apic.c test_lapic_existence: version byte in 0x10-0x15
    expect(rd(apic, APIC.VERSION) & 0xff).toBeGreaterThanOrEqual(0x10);
  });
});

describe('xAPIC register access (SDM 3A Table 11-1)', () => {
  // register, value written, expected read-back
  it.each([
    ['ID is read-only (Nehalem and later)', APIC.ID, 0xffff_ffff, 0x0100_0000],
    ['TPR keeps bits 7:0', APIC.TPR, 0xffff_ffff, 0xff],
    ['APR is not supported since the Pentium 4: reads 0', APIC.APR, 0xffff_ffff, 0],
    ['PPR is read-only', APIC.PPR, 0xffff_ffff, 0],
    ['LDR keeps bits 31:24', APIC.LDR, 0xffff_ffff, 0xff00_0000],
    ['DFR: model 31:28 writable, 27:0 read as 1', APIC.DFR, 0x0000_0000, 0x0fff_ffff],
    ['SVR: vector, enable, focus, EOI suppression', APIC.SVR, 0xffff_ffff, 0x13ff],
    ['ISR is read-only', APIC.ISR0 + 0x10, 0xffff_ffff, 0],
    ['TMR is read-only', APIC.TMR0, 0xffff_ffff, 0],
    ['IRR is read-only', APIC.IRR0 + 0x70, 0xffff_ffff, 0],
    ['ICR high keeps the destination 31:24', APIC.ICR_HIGH, 0xffff_ffff, 0xff00_0000],
    ['LVT timer: vector, mask, mode', APIC.LVT_TIMER, 0xffff_ffff & ~(1 << 17), 0x0005_00ff],
    ['LVT thermal: vector, mode, mask', APIC.LVT_THERMAL, 0xffff_ffff, 0x0001_07ff],
    ['LVT perf: vector, mode, mask', APIC.LVT_PERF, 0xffff_ffff, 0x0001_07ff],
    ['LVT CMCI: vector, mode, mask', APIC.LVT_CMCI, 0xffff_ffff, 0x0001_07ff],
    ['LVT LINT0: no remote IRR / status from software', APIC.LVT_LINT0, 0x0001_ffff, 0x0001_a7ff],
    ['LVT LINT1', APIC.LVT_LINT1, 0x0001_0000, 0x0001_0000],
    ['LVT error: vector, mask', APIC.LVT_ERROR, 0xffff_ffff, 0x0001_00ff],
    ['timer initial count is 32 bits', APIC.TIMER_INITIAL_COUNT, 0xffff_ffff, 0xffff_ffff],
    ['timer current count is read-only', APIC.TIMER_CURRENT_COUNT, 0x1234, 0],
    ['divide config keeps bits 0, 1, 3', APIC.TIMER_DIVIDE_CONFIG, 0xffff_ffff, 0xb],
    ['version is read-only', APIC.VERSION, 0, 0x0106_0015],
    ['EOI reads as 0', APIC.EOI, 0, 0],
    ['RRD reads as 0', APIC.RRD, 0xffff_ffff, 0],
  ])('%s', (_name, offset, value, expected) => {
    const { apic } = makeApic({ id: 1 });
    wr(apic, offset, value);
    expect(rd(apic, offset)).toBe(expected);
  });

  it('reserved offsets set ESR bit 7 (illegal register address) and read 0 (SDM 3A 11.5.3)', () => {
    for (const offset of [0x00, 0x10, 0x40, 0x70, 0x290, 0x2e0, 0x3a0, 0x3d0, 0x3f0, 0x400, 0xff0]) {
      const { apic } = makeApic({ id: 1 });
      expect(rd(apic, offset)).toBe(0);
      wr(apic, APIC.ESR, 0);
      expect(rd(apic, APIC.ESR)).toBe(ESR_BIT.ILLEGAL_REGISTER_ADDRESS);
      wr(apic, offset, 0x1234);
      wr(apic, APIC.ESR, 0);
      expect(rd(apic, APIC.ESR)).toBe(ESR_BIT.ILLEGAL_REGISTER_ADDRESS);
    }
  });

  it('CMCI offset is reserved when the APIC has 6 LVT entries', () => {
    const { apic } = makeApic({ id: 1, lvtCount: 6 });
    expect(rd(apic, APIC.LVT_CMCI)).toBe(0);
    wr(apic, APIC.ESR, 0);
    expect(rd(apic, APIC.ESR)).toBe(ESR_BIT.ILLEGAL_REGISTER_ADDRESS);
    expect(() => apic.raiseLocalInterrupt('cmci')).toThrow('no CMCI LVT entry');
  });

  it('narrow reads return bytes of the register; narrow or misaligned writes are ignored (SDM 3A 11.4.1; as KVM)', () => {
    const { apic } = makeApic({ id: 0x12 });
    expect(apic.mmioRead(APIC.ID + 3, 1)).toBe(0x12);
    expect(apic.mmioRead(APIC.ID + 2, 2)).toBe(0x1200);
    expect(apic.mmioRead(APIC.VERSION, 1)).toBe(0x15);
    expect(apic.mmioRead(APIC.VERSION + 4, 4)).toBe(0); // bytes 4-15: undefined, read 0
    apic.mmioWrite(APIC.TPR, 1, 0x50);
    apic.mmioWrite(APIC.TPR, 2, 0x50);
    apic.mmioWrite(APIC.TPR + 4, 4, 0x50);
    expect(rd(apic, APIC.TPR)).toBe(0);
  });

  it('rejects offsets outside the page and sizes the bus never produces', () => {
    const { apic } = makeApic();
    expect(() => apic.mmioRead(0x1000, 4)).toThrow(UsageError);
    expect(() => apic.mmioRead(-4, 4)).toThrow('xAPIC page offset must be an integer in [0, 0xfff], got -4');
    expect(() => apic.mmioWrite(0, 3 as 4, 0)).toThrow('xAPIC access size must be 1, 2 or 4 bytes, got 3 (0x3)');
  });
});

describe('SVR (SDM 3A 11.9, 11.4.7.2)', () => {
  it('software disable masks every LVT and keeps them masked', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_LINT0, 0x0000_0030);
    expect(rd(apic, APIC.LVT_LINT0)).toBe(0x30);
    wr(apic, APIC.SVR, 0x0ff);
    expect(rd(apic, APIC.LVT_LINT0)).toBe(0x1_0030);
    wr(apic, APIC.LVT_LINT0, 0x0000_0031);
    expect(rd(apic, APIC.LVT_LINT0)).toBe(0x1_0031);
    // Re-enabling does not unmask
    wr(apic, APIC.SVR, 0x1ff);
    expect(rd(apic, APIC.LVT_LINT0)).toBe(0x1_0031);
  });

  it('EOI-broadcast suppression is writable only when the version register advertises it', () => {
    const { apic } = makeApic({ eoiBroadcastSuppression: false });
    wr(apic, APIC.SVR, 0x11ff);
    expect(rd(apic, APIC.SVR)).toBe(0x1ff);
    expect(rd(apic, APIC.VERSION) & (1 << 24)).toBe(0);
  });

  it('a software-disabled APIC drops fixed interrupts but takes NMI (SDM 3A 11.4.7.2)', () => {
    const { apic } = makeApic({}, false);
    apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' });
    expect(apic.isRequested(0x40)).toBe(false);
    apic.acceptInterrupt({ vector: 0, deliveryMode: 4, trigger: 'edge' });
    expect(apic.takeNmi()).toBe(true);
  });

  it('acknowledge with nothing deliverable returns the spurious vector (SDM 3A 11.9)', () => {
    const { apic } = makeApic();
    wr(apic, APIC.SVR, 0x1e7);
    expect(apic.acknowledge()).toBe(0xe7);
    wr(apic, APIC.TPR, 0x50);
    apic.acceptInterrupt({ vector: 0x45, trigger: 'edge' });
    expect(apic.hasPendingInterrupt()).toBe(false);
    expect(apic.acknowledge()).toBe(0xe7);
    expect(apic.isRequested(0x45)).toBe(true);
  });
});

describe('ESR (SDM 3A 11.5.3)', () => {
  it('latches on write: errors appear only after the next ESR write, which also clears them', () => {
    const { apic } = makeApic();
    apic.acceptInterrupt({ vector: 5, trigger: 'edge' });
    expect(rd(apic, APIC.ESR)).toBe(0);
    wr(apic, APIC.ESR, 0xffff);
    expect(rd(apic, APIC.ESR)).toBe(ESR_BIT.RECEIVE_ILLEGAL_VECTOR);
    wr(apic, APIC.ESR, 0);
    expect(rd(apic, APIC.ESR)).toBe(0);
  });

  it('illegal vectors: receive sets bit 6 and IRR 0-15 stay clear; send sets bit 5', () => {
    const { apic } = makeApic();
    for (let v = 0; v < 16; v++) apic.acceptInterrupt({ vector: v, trigger: 'edge' });
    expect(rd(apic, APIC.IRR0)).toBe(0);
    wr(apic, APIC.ICR_HIGH, 0x0100_0000);
    wr(apic, APIC.ICR_LOW, 0x0000_0007); // fixed, physical, to APIC 1 (absent)
    wr(apic, APIC.ESR, 0);
    expect(rd(apic, APIC.ESR)).toBe(ESR_BIT.RECEIVE_ILLEGAL_VECTOR | ESR_BIT.SEND_ILLEGAL_VECTOR);
  });

  it('an error signals the error LVT', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_ERROR, 0xfe);
    apic.acceptInterrupt({ vector: 3, trigger: 'edge' });
    expect(apic.isRequested(0xfe)).toBe(true);
    expect(apic.acknowledge()).toBe(0xfe);
  });

  it('an illegal vector in the error LVT logs the error once and does not recurse', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_ERROR, 0x02);
    apic.acceptInterrupt({ vector: 3, trigger: 'edge' });
    wr(apic, APIC.ESR, 0);
    expect(rd(apic, APIC.ESR)).toBe(ESR_BIT.RECEIVE_ILLEGAL_VECTOR);
    expect(apic.hasPendingInterrupt()).toBe(false);
  });
});

describe('construction', () => {
  it('validates its options', () => {
    expect(() => new LocalApic(null as never)).toThrow('LocalApic options must be an object, got null');
    expect(() => new LocalApic({ id: 0xffff_ffff })).toThrow('LocalApic id must be an integer in [0, 4294967294]');
    expect(() => new LocalApic({ id: 300, x2apic: false })).toThrow('an APIC without x2APIC support needs an 8-bit id');
    expect(() => new LocalApic({ id: 0, lvtCount: 5 as 6 })).toThrow('lvtCount must be 6 or 7, got 5');
    expect(() => new LocalApic({ id: 0, maxPhysAddrBits: 60 })).toThrow('maxPhysAddrBits');
    expect(() => new LocalApic({ id: 0 }).isRequested(300)).toThrow('interrupt vector must be an integer in [0, 255], got 300');
  });
});

describe('model options', () => {
  it('xapicIdWritable: the xAPIC ID takes bits 31:24 (pre-Nehalem, KVM)', () => {
    const { apic } = makeApic({ id: 1, xapicIdWritable: true });
    wr(apic, APIC.ID, 0xffff_ffff);
    expect(rd(apic, APIC.ID)).toBe(0xff00_0000);
    expect(apic.apicId).toBe(0xff);
  });

  it('writes to APR and RRD do not set the illegal-register-address error (SDM 3A Table 11-1 note 1)', () => {
    const { apic } = makeApic();
    wr(apic, APIC.APR, 1);
    wr(apic, APIC.RRD, 1);
    wr(apic, APIC.ESR, 0);
    expect(rd(apic, APIC.ESR)).toBe(0);
  });

  it('arbitrationPriority computes the P6 APR for lowest-priority studies', () => {
    const { apic } = makeApic();
    wr(apic, APIC.TPR, 0x20);
    apic.acceptInterrupt({ vector: 0x41, trigger: 'edge' });
    expect(apic.arbitrationPriority).toBe(0x40);
  });
});

describe('256-bit registers as eight 32-bit words (SDM 3A 11.8.4, Figure 11-20)', () => {
  it('property: IRR and TMR words at 0x200 and 0x180 + 0x10 * n reflect accepted vectors, in both views', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.integer({ min: 16, max: 255 }), fc.boolean()), { selector: (t) => t[0], maxLength: 40 }), (accepts) => {
        const { apic } = makeApic();
        const irr = new Uint32Array(8);
        const tmr = new Uint32Array(8);
        for (const [v, level] of accepts) {
          apic.acceptInterrupt({ vector: v, trigger: level ? 'level' : 'edge' });
          irr[v >>> 5] = (irr[v >>> 5]! | (1 << (v & 31))) >>> 0;
          if (level) tmr[v >>> 5] = (tmr[v >>> 5]! | (1 << (v & 31))) >>> 0;
        }
        // Every word read, compared once per run (one expect per word made this test slow).
        const got: unknown[] = [];
        const want: unknown[] = [];
        for (let n = 0; n < 8; n++) {
          got.push(rd(apic, APIC.IRR0 + 0x10 * n), rd(apic, APIC.TMR0 + 0x10 * n), rd(apic, APIC.ISR0 + 0x10 * n));
          want.push(irr[n], tmr[n], 0);
        }
        toX2apic(apic);
        for (let n = 0; n < 8; n++) {
          got.push(apic.readMsr(0x820 + n));
          want.push(BigInt(irr[n]!));
        }
        expect(got).toEqual(want);
      }),
      { seed, numRuns },
    );
  });
});
