import { describe, expect, it } from 'vitest';
import { PENDING_SIGNAL } from './signals.js';
import { APIC } from './regs.js';
import { makeApic, rd, wr } from '../test-support/helpers.js';

const NMI = 4 << 8;
const SMI = 2 << 8;
const INIT = 5 << 8;
const EXTINT = 7 << 8;
const LEVEL = 1 << 15;
const ACTIVE_LOW = 1 << 13;
const MASKED = 1 << 16;
const REMOTE_IRR = 1 << 14;

describe('LVT entries (SDM 3A 11.5.1)', () => {
  it('LINT1 in NMI mode raises an NMI on the rising edge; NMIs while one is pending merge', () => {
    let wakes = 0;
    const { apic } = makeApic({ onInterrupt: () => wakes++ });
    wr(apic, APIC.LVT_LINT1, NMI);
    apic.setLint(1, true);
    apic.setLint(1, true); // no edge
    expect(apic.pendingSignals).toBe(PENDING_SIGNAL.NMI);
    expect(wakes).toBe(1);
    apic.setLint(1, false);
    apic.setLint(1, true);
    expect(apic.takeNmi()).toBe(true);
    expect(apic.takeNmi()).toBe(false);
  });

  it('LINT0 in ExtINT mode follows the pin level (INTR from the 8259)', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_LINT0, EXTINT);
    apic.setLint(0, true);
    expect(apic.pendingSignals & PENDING_SIGNAL.EXTINT).toBe(PENDING_SIGNAL.EXTINT);
    apic.setLint(0, false);
    expect(apic.takeExtInt()).toBe(false);
    apic.setLint(0, true);
    expect(apic.takeExtInt()).toBe(true);
  });

  it('level-triggered fixed LINT sets remote IRR until the EOI, then re-samples the pin', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_LINT0, LEVEL | 0x50);
    apic.setLint(0, true);
    expect(rd(apic, APIC.LVT_LINT0) & REMOTE_IRR).toBe(REMOTE_IRR);
    expect(apic.isLevelTriggered(0x50)).toBe(true);
    expect(apic.acknowledge()).toBe(0x50);
    apic.setLint(0, true); // still asserted, remote IRR blocks a second delivery
    expect(apic.isRequested(0x50)).toBe(false);
    wr(apic, APIC.EOI, 0);
    // pin still asserted: delivered again
    expect(apic.isRequested(0x50)).toBe(true);
    expect(apic.acknowledge()).toBe(0x50);
    apic.setLint(0, false);
    wr(apic, APIC.EOI, 0);
    expect(rd(apic, APIC.LVT_LINT0) & REMOTE_IRR).toBe(0);
    expect(apic.isRequested(0x50)).toBe(false);
  });

  it('polarity: an active-low pin asserts when driven low', () => {
    const { apic } = makeApic();
    apic.setLint(1, true);
    wr(apic, APIC.LVT_LINT1, ACTIVE_LOW | 0x60);
    apic.setLint(1, false);
    expect(apic.isRequested(0x60)).toBe(true);
  });

  it('a masked LINT delivers nothing; unmasking an asserted level pin delivers it', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_LINT0, MASKED | LEVEL | 0x51);
    apic.setLint(0, true);
    expect(apic.isRequested(0x51)).toBe(false);
    wr(apic, APIC.LVT_LINT0, LEVEL | 0x51);
    expect(apic.isRequested(0x51)).toBe(true);
  });

  it('thermal, performance and CMCI entries deliver through their LVT with their delivery mode', () => {
    const { apic } = makeApic();
    expect(apic.raiseLocalInterrupt('thermal')).toBe(false); // masked at reset
    wr(apic, APIC.LVT_THERMAL, 0x90);
    wr(apic, APIC.LVT_PERF, NMI);
    wr(apic, APIC.LVT_CMCI, SMI);
    expect(apic.raiseLocalInterrupt('thermal')).toBe(true);
    expect(apic.isRequested(0x90)).toBe(true);
    apic.raiseLocalInterrupt('perf');
    expect(apic.takeNmi()).toBe(true);
    apic.raiseLocalInterrupt('cmci');
    expect(apic.takeSmi()).toBe(true);
    expect(() => apic.raiseLocalInterrupt('bogus' as 'perf')).toThrow("local interrupt source must be 'thermal', 'perf' or 'cmci'");
  });

  it('the performance-counter entry masks itself when it signals; software unmasks it (SDM 3A 11.5.1, Mask)', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_PERF, 0x61);
    expect(apic.raiseLocalInterrupt('perf')).toBe(true);
    expect(rd(apic, APIC.LVT_PERF)).toBe(MASKED | 0x61);
    expect(apic.raiseLocalInterrupt('perf')).toBe(false); // masked until software re-arms it
    expect(apic.acknowledge()).toBe(0x61);
    wr(apic, APIC.LVT_PERF, NMI); // as Linux's PMI handler does
    expect(apic.raiseLocalInterrupt('perf')).toBe(true);
    expect(apic.takeNmi()).toBe(true);
    // The other entries keep their mask clear.
    wr(apic, APIC.LVT_THERMAL, 0x62);
    apic.raiseLocalInterrupt('thermal');
    expect(rd(apic, APIC.LVT_THERMAL)).toBe(0x62);
  });

  it.each([
    ['001b (lowest priority)', 1],
    ['011b', 3],
    ['110b (start-up)', 6],
  ])('reserved LVT delivery mode %s signals nothing (SDM 3A 11.5.1)', (_name, mode) => {
    const { apic } = makeApic({ id: 1 }); // an AP, waiting for SIPI: a start-up would be taken
    wr(apic, APIC.LVT_THERMAL, (mode << 8) | 0x63);
    wr(apic, APIC.LVT_LINT0, (mode << 8) | 0x64);
    expect(apic.raiseLocalInterrupt('thermal')).toBe(false);
    apic.setLint(0, true);
    expect(apic.isRequested(0x63) || apic.isRequested(0x64)).toBe(false);
    expect(apic.pendingSignals).toBe(0);
    expect(apic.waitingForSipi).toBe(true);
  });

  it('an LVT with an illegal vector sets receive-illegal-vector (SDM 3A 11.5.3)', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_THERMAL, 0x0f);
    apic.raiseLocalInterrupt('thermal');
    wr(apic, APIC.ESR, 0);
    expect(rd(apic, APIC.ESR)).toBe(1 << 6);
    expect(rd(apic, APIC.IRR0)).toBe(0);
  });

  it('LVT INIT delivery resets the APIC and waits for SIPI', () => {
    const { apic } = makeApic({ id: 1 });
    wr(apic, APIC.LVT_LINT1, INIT);
    wr(apic, APIC.TPR, 0x20);
    apic.setLint(1, true);
    expect(apic.takeInit()).toBe(true);
    expect(rd(apic, APIC.TPR)).toBe(0);
    expect(rd(apic, APIC.SVR)).toBe(0xff);
  });

  it('with the APIC globally disabled LINT0 is INTR and LINT1 is NMI (SDM 3A 11.4.3)', () => {
    const { apic } = makeApic();
    apic.writeMsr(0x1b, 0xfee00000n);
    apic.setLint(1, true);
    expect(apic.takeNmi()).toBe(true);
    apic.setLint(0, true);
    expect(apic.takeExtInt()).toBe(true);
    apic.setLint(0, false);
    expect(apic.takeExtInt()).toBe(false);
  });
});

describe('INIT and SIPI (SDM 3A 11.6.1, 11.4.7.3, 9.4)', () => {
  it('INIT resets everything but the ID and mode; an AP then accepts one SIPI (vmx_sipi_signal_test)', () => {
    const { apic } = makeApic({ id: 2, xapicIdWritable: true });
    expect(apic.waitingForSipi).toBe(true); // APs wait for SIPI after power-up
    apic.acceptInterrupt({ vector: 0x10, deliveryMode: 6, trigger: 'edge' });
    expect(apic.takeSipi()).toBe(0x10);
    apic.acceptInterrupt({ vector: 0x20, deliveryMode: 6, trigger: 'edge' });
    expect(apic.takeSipi()).toBe(-1); // ignored outside wait-for-SIPI
    wr(apic, APIC.ID, 0x0700_0000);
    wr(apic, APIC.TPR, 0x30);
    apic.acceptInterrupt({ vector: 0x44, trigger: 'edge' });
    apic.acceptInterrupt({ vector: 0, deliveryMode: 5, trigger: 'edge' });
    expect(apic.takeInit()).toBe(true);
    expect(rd(apic, APIC.ID)).toBe(0x0700_0000);
    expect(rd(apic, APIC.TPR)).toBe(0);
    expect(apic.isRequested(0x44)).toBe(false);
    expect(apic.waitingForSipi).toBe(true);
    apic.acceptInterrupt({ vector: 0x9a, deliveryMode: 6, trigger: 'edge' });
    expect(apic.takeSipi()).toBe(0x9a);
  });

  it('a received INIT level de-assert message is ignored (SDM 3A 11.6.1: not supported since the Pentium 4)', () => {
    const { apic } = makeApic({ id: 2 });
    wr(apic, APIC.TPR, 0x30);
    apic.acceptInterrupt({ vector: 0, deliveryMode: 5, trigger: 'level', level: false });
    expect(apic.takeInit()).toBe(false);
    expect(rd(apic, APIC.TPR)).toBe(0x30);
  });

  it('the BSP does not wait for SIPI', () => {
    const { apic } = makeApic({ id: 0 });
    expect(apic.isBsp).toBe(true);
    apic.acceptInterrupt({ vector: 0x10, deliveryMode: 6, trigger: 'edge' });
    expect(apic.takeSipi()).toBe(-1);
  });

  it('rejects malformed messages', () => {
    const { apic } = makeApic();
    expect(() => apic.acceptInterrupt({ vector: 256, trigger: 'edge' })).toThrow('interrupt vector must be an integer in [0, 255], got 256');
    expect(() => apic.acceptInterrupt({ vector: 1.5, trigger: 'edge' })).toThrow('interrupt vector');
    expect(() => apic.acceptInterrupt({ vector: 1, deliveryMode: 8, trigger: 'edge' })).toThrow('delivery mode must be an integer in [0, 7]');
    expect(() => apic.acceptInterrupt({ vector: 0x40, trigger: 'rising' as 'edge' })).toThrow(/trigger must be 'edge' or 'level', got .rising./);
    expect(() => apic.acceptInterrupt({ vector: 0x40, trigger: 'level', level: 1 as unknown as boolean })).toThrow('level must be a boolean, got 1');
    expect(apic.isRequested(0x40)).toBe(false);
    expect(() => apic.setLint(2 as 0, true)).toThrow('LINT pin must be 0 or 1, got 2');
    expect(() => apic.setLint(0, 'high' as unknown as boolean)).toThrow('LINT level must be a boolean');
  });
});

describe('CR8 (SDM 3A 11.8.6)', () => {
  it('CR8 is TPR[7:4]; writes set TPR = value << 4 and re-evaluate priority', () => {
    const { apic } = makeApic();
    apic.writeCr8(5);
    expect(rd(apic, APIC.TPR)).toBe(0x50);
    wr(apic, APIC.TPR, 0x7f);
    expect(apic.readCr8()).toBe(7);
    expect(() => apic.writeCr8(16)).toThrow(/#GP/);
    expect(() => apic.writeCr8(-1)).toThrow('CR8 value must be a non-negative integer');
  });

  it('with the APIC disabled CR8 is independent of the TPR (kvm-unit-tests test_apic_disable)', () => {
    const { apic } = makeApic();
    apic.writeMsr(0x1b, 0xfee00000n);
    apic.writeCr8(9);
    expect(apic.readCr8()).toBe(9);
    apic.writeMsr(0x1b, 0xfee00800n);
    expect(rd(apic, APIC.TPR)).toBe(0);
    apic.writeCr8(3);
    expect(rd(apic, APIC.TPR)).toBe(0x30);
  });
});

describe('KVM BSP LINT0 reset quirk (option bspLint0ExtInt)', () => {
  it('the BSP resets with LINT0 = ExtINT unmasked; APs and the default keep it masked', () => {
    const { apic: bsp } = makeApic({ id: 0, bspLint0ExtInt: true }, false);
    expect(rd(bsp, APIC.LVT_LINT0)).toBe(0x700);
    bsp.acceptInterrupt({ vector: 0, deliveryMode: 5, trigger: 'edge' }); // INIT
    expect(rd(bsp, APIC.LVT_LINT0)).toBe(0x700);
    bsp.reset();
    expect(rd(bsp, APIC.LVT_LINT0)).toBe(0x700);
    const { apic: ap } = makeApic({ id: 1, bspLint0ExtInt: true }, false);
    expect(rd(ap, APIC.LVT_LINT0)).toBe(0x1_0000);
    const { apic: plain } = makeApic({ id: 0 }, false);
    expect(rd(plain, APIC.LVT_LINT0)).toBe(0x1_0000);
  });
});
