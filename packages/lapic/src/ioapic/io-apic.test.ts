import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clock, DELIVERY_STATUS, UsageError } from '@hvsim/core';
import { ApicBus } from '../bus/apic-bus.js';
import { APIC } from '../apic/regs.js';
import { IoApic } from './io-apic.js';
import { IOAPIC } from './regs.js';
import { makeApic, numRuns, seed, wr } from '../test-support/helpers.js';

function reg(io: IoApic, index: number): number {
  io.mmioWrite(IOAPIC.IOREGSEL, 4, index);
  return io.mmioRead(IOAPIC.IOWIN, 4);
}

function setReg(io: IoApic, index: number, value: number): void {
  io.mmioWrite(IOAPIC.IOREGSEL, 4, index);
  io.mmioWrite(IOAPIC.IOWIN, 4, value);
}

function setup(version: 0x11 | 0x20 = 0x20, onEoi?: (pin: number, vector: number) => void) {
  const clock = new Clock();
  const bus = new ApicBus();
  const io = new IoApic({ id: 2, version, onEoi });
  const cpus = [0, 1].map((id) => {
    const { apic } = makeApic({ id, clock });
    bus.attach(apic);
    return apic;
  });
  bus.attach(io);
  return { io, cpus, bus };
}

describe('IOAPIC registers (82093AA 3.2)', () => {
  it('ID, version and arbitration ID', () => {
    const { io } = setup();
    expect(reg(io, 0x00)).toBe(0x0200_0000);
    expect(reg(io, 0x01)).toBe(0x0017_0020); // 24 entries, version 0x20
    expect(reg(io, 0x02)).toBe(0x0200_0000);
    setReg(io, 0x00, 0xffff_ffff);
    expect(reg(io, 0x00)).toBe(0x0f00_0000);
    setReg(io, 0x01, 0); // read-only
    expect(reg(io, 0x01)).toBe(0x0017_0020);
    expect(io.mmioRead(IOAPIC.IOREGSEL, 4)).toBe(0x01);
  });

  it('redirection entries reset masked; RO bits (delivery status, remote IRR) ignore writes', () => {
    const { io } = setup();
    for (let pin = 0; pin < 24; pin++) {
      expect(reg(io, 0x10 + 2 * pin)).toBe(0x0001_0000);
      expect(reg(io, 0x11 + 2 * pin)).toBe(0);
    }
    setReg(io, 0x10, 0xffff_ffff);
    expect(reg(io, 0x10)).toBe(0x0001_afff);
    setReg(io, 0x11, 0xffff_ffff);
    expect(reg(io, 0x11)).toBe(0xff00_0000);
    expect(reg(io, 0x40)).toBe(0); // past entry 23
  });

  it('only 32-bit accesses are decoded; other offsets read 0', () => {
    const { io } = setup();
    io.mmioWrite(IOAPIC.IOREGSEL, 1, 0x01);
    expect(io.mmioRead(IOAPIC.IOREGSEL, 4)).toBe(0);
    expect(io.mmioRead(0x20, 4)).toBe(0);
    expect(() => io.mmioRead(0x1000, 4)).toThrow(UsageError);
    expect(() => io.setIrq(24, true)).toThrow('IOAPIC pin must be an integer in [0, 23], got 24');
  });
});

describe('IOAPIC delivery (82093AA 3.2.4)', () => {
  it('edge pins deliver on the rising edge only, and not while masked', () => {
    const { io, cpus } = setup();
    setReg(io, 0x10 + 2 * 4, 0x31);
    setReg(io, 0x11 + 2 * 4, 0x0100_0000);
    io.setIrq(4, true);
    expect(cpus[1]!.isRequested(0x31)).toBe(true);
    cpus[1]!.acknowledge();
    wr(cpus[1]!, APIC.EOI, 0);
    io.setIrq(4, true);
    expect(cpus[1]!.isRequested(0x31)).toBe(false);
    io.setIrq(4, false);
    setReg(io, 0x10 + 2 * 4, 0x1_0031);
    io.setIrq(4, true);
    expect(cpus[1]!.isRequested(0x31)).toBe(false);
  });

  it('level pins hold remote IRR until EOI, then re-deliver while still asserted (vmx_apic_passthrough_test)', () => {
    const { io, cpus } = setup();
    setReg(io, 0x10 + 2 * 9, 0x8000 | 0x49); // level, fixed, physical dest 0
    io.setIrq(9, true);
    expect(io.remoteIrr(9)).toBe(true);
    expect(cpus[0]!.isLevelTriggered(0x49)).toBe(true);
    expect(cpus[0]!.acknowledge()).toBe(0x49);
    io.setIrq(9, true);
    expect(cpus[0]!.isRequested(0x49)).toBe(false);
    wr(cpus[0]!, APIC.EOI, 0); // broadcast EOI
    expect(cpus[0]!.isRequested(0x49)).toBe(true); // still asserted: sent again
    expect(io.remoteIrr(9)).toBe(true);
    expect(cpus[0]!.acknowledge()).toBe(0x49);
    io.setIrq(9, false);
    wr(cpus[0]!, APIC.EOI, 0);
    expect(io.remoteIrr(9)).toBe(false);
    expect(cpus[0]!.isRequested(0x49)).toBe(false);
  });

  it('with EOI-broadcast suppression the IOAPIC EOI register clears remote IRR (directed EOI)', () => {
    const { io, cpus } = setup();
    wr(cpus[0]!, APIC.SVR, 0x11ff);
    setReg(io, 0x10 + 2 * 3, 0x8000 | 0x4a);
    io.setIrq(3, true);
    cpus[0]!.acknowledge();
    io.setIrq(3, false);
    wr(cpus[0]!, APIC.EOI, 0);
    expect(io.remoteIrr(3)).toBe(true);
    io.mmioWrite(IOAPIC.EOI, 4, 0x4a);
    expect(io.remoteIrr(3)).toBe(false);
  });

  it('a version 0x11 IOAPIC has no EOI register', () => {
    const { io, cpus } = setup(0x11);
    wr(cpus[0]!, APIC.SVR, 0x11ff);
    setReg(io, 0x10, 0x8000 | 0x4b);
    io.setIrq(0, true);
    io.mmioWrite(IOAPIC.EOI, 4, 0x4b);
    expect(io.remoteIrr(0)).toBe(true);
  });

  it('active-low polarity, logical destinations, and unmasking an asserted level pin', () => {
    const { io, cpus } = setup();
    cpus.forEach((c, i) => wr(c, APIC.LDR, (1 << (24 + i)) >>> 0));
    setReg(io, 0x11 + 2 * 5, 0x0300_0000);
    setReg(io, 0x10 + 2 * 5, 0x1_0000 | 0x8000 | 0x2000 | 0x800 | 0x4c); // masked, level, active low, logical
    io.setIrq(5, false); // asserted (active low) but masked
    expect(cpus[0]!.isRequested(0x4c)).toBe(false);
    setReg(io, 0x10 + 2 * 5, 0x8000 | 0x2000 | 0x800 | 0x4c);
    expect(cpus.map((c) => c.isRequested(0x4c))).toEqual([true, true]);
  });

  it.each([
    ['011b', 3],
    ['110b (no start-up from an IOAPIC)', 6],
  ])('a redirection entry with reserved delivery mode %s sends nothing (82093AA 3.2.4)', (_name, mode) => {
    const { io, cpus } = setup();
    setReg(io, 0x10 + 2 * 5, 0x8000 | (mode << 8) | 0x4c); // level
    setReg(io, 0x10 + 2 * 5 + 1, 1 << 24); // to APIC 1, an AP waiting for SIPI
    expect(io.setIrq(5, true)).toBe(DELIVERY_STATUS.DROPPED);
    expect(cpus[1]!.waitingForSipi).toBe(true);
    expect(cpus[1]!.pendingSignals).toBe(0);
    expect(io.remoteIrr(5)).toBe(false);
  });

  it('NMI and ExtINT entries reach the processor signals', () => {
    const { io, cpus } = setup();
    setReg(io, 0x10 + 2 * 2, 0x400);
    io.setIrq(2, true);
    expect(cpus[0]!.takeNmi()).toBe(true);
    setReg(io, 0x10, 0x700);
    io.setIrq(0, true);
    expect(cpus[0]!.takeExtInt()).toBe(true);
  });

  it('save, restore and continue behaves like never stopping', () => {
    const a = setup();
    setReg(a.io, 0x10 + 2 * 9, 0x8000 | 0x49);
    a.io.setIrq(9, true);
    const saved = JSON.parse(JSON.stringify(a.io.saveState()));
    const b = setup();
    b.io.restoreState(saved);
    expect(b.io.saveState()).toEqual(a.io.saveState());
    expect(b.io.remoteIrr(9)).toBe(true);
    // EOI in both: both re-deliver (pin still asserted)
    for (const s of [a, b]) {
      s.io.eoi(0x49);
      expect(s.cpus[0]!.isRequested(0x49)).toBe(true);
    }
    expect(() => b.io.restoreState({ ...saved, type: 'hvsim.lapic' })).toThrow(/cannot restore a state of type/);
    expect(() => b.io.restoreState({ ...saved, rteLow: [...saved.rteLow.slice(1), 0x1000] })).toThrow(/reserved bits/);
    expect(() => b.io.restoreState({ ...saved, pins: [true] })).toThrow(/pins must be an array of 24 booleans/);
  });
});

describe('IOAPIC level-triggered invariants (82093AA 3.2.4, SDM 3A 11.8.5)', () => {
  it('property: an asserted unmasked level pin is always in service or pending, and Remote IRR mirrors that', () => {
    type Op = { k: 'level'; v: boolean } | { k: 'mask'; v: boolean } | { k: 'ack' } | { k: 'eoi' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant('level' as const), v: fc.boolean() }),
      fc.record({ k: fc.constant('mask' as const), v: fc.boolean() }),
      fc.record({ k: fc.constant('ack' as const) }),
      fc.record({ k: fc.constant('eoi' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { io, cpus } = setup();
        const V = 0x61;
        let masked = false;
        setReg(io, 0x10 + 2 * 7, 0x8000 | V);
        for (const o of ops) {
          if (o.k === 'level') io.setIrq(7, o.v);
          else if (o.k === 'mask') {
            masked = o.v;
            setReg(io, 0x10 + 2 * 7, (o.v ? 0x1_0000 : 0) | 0x8000 | V);
          } else if (o.k === 'ack') cpus[0]!.acknowledge();
          else wr(cpus[0]!, APIC.EOI, 0);
          const outstanding = cpus[0]!.isRequested(V) || cpus[0]!.isInService(V);
          expect(io.remoteIrr(7)).toBe(outstanding);
          if (io.pinLevel(7) && !masked) expect(outstanding).toBe(true);
        }
      }),
      { seed, numRuns },
    );
  });
});

describe('wiring through core InterruptLine', () => {
  it('ioapic.line(pin) and apic.lintLine(pin) drive the pins', () => {
    const { io, cpus } = setup();
    setReg(io, 0x10 + 2 * 6, 0x46);
    io.line(6).setLevel(true);
    expect(cpus[0]!.isRequested(0x46)).toBe(true);
    expect(() => io.line(30)).toThrow('IOAPIC pin must be an integer in [0, 23], got 30');
    wr(cpus[1]!, APIC.LVT_LINT1, 4 << 8);
    cpus[1]!.lintLine(1).setLevel(true);
    expect(cpus[1]!.takeNmi()).toBe(true);
    expect(() => cpus[1]!.lintLine(2 as 1)).toThrow('LINT pin must be 0 or 1, got 2');
  });
});

describe('Remote IRR only for interrupts that come back with an EOI', () => {
  it('level-triggered NMI or ExtINT entries do not leave Remote IRR set', () => {
    const { io, cpus } = setup();
    setReg(io, 0x10 + 2 * 8, 0x8000 | 0x400); // level, NMI
    io.setIrq(8, true);
    expect(cpus[0]!.takeNmi()).toBe(true);
    expect(io.remoteIrr(8)).toBe(false);
    setReg(io, 0x10 + 2 * 10, 0x8000 | 0x700); // level, ExtINT
    io.setIrq(10, true);
    expect(cpus[0]!.takeExtInt()).toBe(true);
    expect(io.remoteIrr(10)).toBe(false);
  });
});

describe('IOAPIC bad input', () => {
  it('rejects bad indirect indexes and values', () => {
    const io = new IoApic();
    expect(() => io.readIndirect(256)).toThrow('IOAPIC register index must be an integer in [0, 255], got 256');
    expect(() => io.writeIndirect(0x10, -1)).toThrow('IOAPIC register value must be an unsigned 32-bit integer');
    expect(() => new IoApic({ id: 16 })).toThrow('IoApic id must be an integer in [0, 15]');
    expect(() => new IoApic({ version: 0x12 as 0x11 })).toThrow('IoApic version must be 0x11 or 0x20');
    expect(() => io.setIrq(24, true)).toThrow('IOAPIC pin must be an integer in [0, 23], got 24');
    expect(() => io.setIrq(3, 1 as unknown as boolean)).toThrow('IOAPIC pin level must be a boolean, got 1');
    expect(io.pinLevel(3)).toBe(false);
  });
});

describe('atomic restore (issue 12 bug 10)', () => {
  it('a state with one bad field changes nothing', () => {
    const { io } = setup();
    setReg(io, 0x10, 0x8031);
    io.setIrq(0, true);
    const before = JSON.stringify(io.saveState());
    const good = new IoApic({ id: 5 }).saveState();
    for (const patch of [
      (s: Record<string, unknown>) => (s.pins = [true]),
      (s: Record<string, unknown>) => (s.rteHigh = new Array<number>(24).fill(0x00ff_0000)),
      (s: Record<string, unknown>) => (s.heldEdges = 1 << 24),
      (s: Record<string, unknown>) => (s.ioregsel = -1),
    ]) {
      const s = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      patch(s);
      expect(() => io.restoreState(s)).toThrow();
      expect(JSON.stringify(io.saveState())).toBe(before);
    }
  });
});

describe('ack notifier onEoi (KVM kvm_ioapic_update_eoi -> kvm_notify_acked_irq)', () => {
  it('runs for each entry with the vector before Remote IRR is cleared; a line it lowers is not delivered again (irqfd resample)', () => {
    const seen: [number, number, boolean][] = [];
    const wired: { io?: IoApic } = {};
    const { cpus, io } = setup(0x20, (pin, vector) => {
      seen.push([pin, vector, wired.io!.remoteIrr(pin)]);
      wired.io!.setIrq(pin, false); // the resampler de-asserts; the device re-raises if it still needs service
    });
    wired.io = io;
    setReg(io, 0x10 + 2 * 5, 0x8000 | 0x51); // level, vector 0x51
    setReg(io, 0x10 + 2 * 6, 0x8000 | 0x51); // a second pin with the same vector, idle
    io.setIrq(5, true);
    expect(cpus[0]!.acknowledge()).toBe(0x51);
    wr(cpus[0]!, APIC.EOI, 0); // SDM 3A 11.8.5: level EOI broadcast
    expect(seen).toEqual([
      [5, 0x51, true], // Remote IRR still set when the notifier runs
      [6, 0x51, false],
    ]);
    expect(io.remoteIrr(5)).toBe(false);
    expect(cpus[0]!.isRequested(0x51)).toBe(false); // lowered by the notifier: no re-delivery
  });

  it('without the notifier lowering it, a still-asserted line is delivered again; the EOI register calls it too', () => {
    const pins: number[] = [];
    const { io, cpus } = setup(0x20, (pin) => pins.push(pin));
    setReg(io, 0x10 + 2 * 4, 0x8000 | 0x52);
    io.setIrq(4, true);
    cpus[0]!.acknowledge();
    wr(cpus[0]!, APIC.EOI, 0);
    expect(cpus[0]!.isRequested(0x52)).toBe(true);
    io.mmioWrite(IOAPIC.EOI, 4, 0x52);
    expect(pins).toEqual([4, 4]);
    io.mmioWrite(IOAPIC.EOI, 4, 0x53); // no entry has 0x53
    expect(pins).toEqual([4, 4]);
  });

  it('rejects a non-function', () => {
    expect(() => new IoApic({ onEoi: 5 as never })).toThrow(new UsageError('bad-argument', 'onEoi must be a function, got 5 (0x5)'));
  });
});
