import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Clock, DELIVERY_STATUS, LevelLine, PioBus, RecordingTracer, SnapshotError, UsageError } from '@hvsim/core';
import { PicPair } from './pic-pair.js';
import { PIC_PORT } from './regs.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

/** A pair on a port bus, initialised the way Linux's init_8259A does (vectors 0x20 and 0x28). */
function linuxPic(options: { autoEoi?: boolean; sfnm?: boolean } = {}) {
  const line = new LevelLine();
  const eois: number[] = [];
  const tracer = new RecordingTracer({ capacity: 256 });
  const pic = new PicPair({ output: line, onEoi: (irq) => eois.push(irq), tracer, clock: new Clock() });
  const bus = new PioBus();
  pic.attach(bus);
  const icw4 = 0x01 | (options.autoEoi ? 0x02 : 0) | (options.sfnm ? 0x10 : 0);
  bus.write(0x20, 1, 0x11); // ICW1: edge, cascade, ICW4 follows
  bus.write(0x21, 1, 0x20); // ICW2: vectors 0x20-0x27
  bus.write(0x21, 1, 0x04); // ICW3: slave on IR2
  bus.write(0x21, 1, icw4);
  bus.write(0xa0, 1, 0x11);
  bus.write(0xa1, 1, 0x28);
  bus.write(0xa1, 1, 0x02); // ICW3: slave ID 2
  bus.write(0xa1, 1, 0x01);
  return { pic, bus, line, eois, tracer };
}

const EOI = 0x20;
const readIsr = (bus: PioBus, port: number) => (bus.write(port, 1, 0x0b), bus.read(port, 1));
const readIrr = (bus: PioBus, port: number) => (bus.write(port, 1, 0x0a), bus.read(port, 1));

describe('PicPair initialization (8259A datasheet, ICW1-ICW4)', () => {
  it('takes the ICW sequence, then the data port is the IMR (OCW1)', () => {
    const { pic, bus } = linuxPic();
    expect(pic.registers('master')).toMatchObject({ irqBase: 0x20, icw3: 0x04, init4: true, single: false, initState: 0, microprocessorMode: true });
    expect(pic.registers('slave')).toMatchObject({ irqBase: 0x28, icw3: 0x02 });
    bus.write(0x21, 1, 0xfb);
    expect(bus.read(0x21, 1)).toBe(0xfb);
  });

  it('skips ICW3 for a single chip and ICW4 without IC4', () => {
    const pic = new PicPair();
    pic.masterPorts.pioWrite(0, 1, 0x12); // SNGL, no IC4
    pic.masterPorts.pioWrite(1, 1, 0x40);
    expect(pic.registers('master').initState).toBe(0);
    pic.masterPorts.pioWrite(1, 1, 0x0f);
    expect(pic.registers('master').imr).toBe(0x0f);
  });

  it('ICW1 clears the IMR, resets priority and the status-read selection, and resets edge sense', () => {
    const { pic, bus } = linuxPic();
    bus.write(0x21, 1, 0xff);
    bus.write(0x20, 1, 0xc3); // OCW2 set priority: IR3 lowest
    bus.write(0x20, 1, 0x0b); // read ISR
    pic.setIrq(1, true);
    expect(pic.registers('master').priorityAdd).toBe(4);
    bus.write(0x20, 1, 0x11);
    const m = pic.registers('master');
    expect(m).toMatchObject({ imr: 0, priorityAdd: 0, readRegSelect: false, irr: 0, initState: 1 });
    bus.write(0x21, 1, 0x20);
    bus.write(0x21, 1, 0x04);
    bus.write(0x21, 1, 0x01);
    // IR1 is still high: no new edge, no request.
    expect(pic.setIrq(1, true)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(pic.interruptRequested).toBe(false);
    pic.setIrq(1, false);
    pic.setIrq(1, true);
    expect(pic.interruptRequested).toBe(true);
  });

  it('sets every ICW4 function to zero when IC4 is clear, and traces the unmodelled MCS-80/85 mode', () => {
    const tracer = new RecordingTracer({ capacity: 16 });
    const pic = new PicPair({ tracer });
    pic.masterPorts.pioWrite(0, 1, 0x13);
    pic.masterPorts.pioWrite(1, 1, 0x20);
    pic.masterPorts.pioWrite(1, 1, 0x03); // ICW4: 8086, AEOI
    expect(pic.registers('master').autoEoi).toBe(true);
    pic.masterPorts.pioWrite(0, 1, 0x12);
    pic.masterPorts.pioWrite(1, 1, 0x20);
    expect(pic.registers('master')).toMatchObject({ autoEoi: false, microprocessorMode: false });
    expect(tracer.events().some((e) => e.kind === 'custom' && e.name === 'pic.mcs80-mode')).toBe(true);
  });
});

describe('PicPair interrupt sequence (8259A datasheet, "Interrupt Sequence", "Fully Nested Mode")', () => {
  it('raises INT for an edge, returns base + level on INTA and sets ISR', () => {
    const { pic, bus, line } = linuxPic();
    expect(pic.setIrq(1, true)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(line.level).toBe(true);
    expect(readIrr(bus, 0x20)).toBe(0x02);
    expect(pic.acknowledge()).toBe(0x21);
    expect(readIsr(bus, 0x20)).toBe(0x02);
    expect(readIrr(bus, 0x20)).toBe(0);
    expect(line.level).toBe(false);
  });

  it('lets a higher level preempt and holds lower ones until EOI', () => {
    const { pic, bus, line, eois } = linuxPic();
    pic.setIrq(4, true);
    expect(pic.acknowledge()).toBe(0x24);
    pic.setIrq(6, true);
    expect(line.level).toBe(false); // IR6 is below IR4 in service
    pic.setIrq(1, true);
    expect(line.level).toBe(true); // IR1 preempts
    expect(pic.acknowledge()).toBe(0x21);
    expect(readIsr(bus, 0x20)).toBe(0x12);
    bus.write(0x20, 1, EOI); // non-specific EOI clears the highest in service: IR1
    expect(eois).toEqual([1]);
    expect(line.level).toBe(false);
    bus.write(0x20, 1, EOI);
    expect(eois).toEqual([1, 4]);
    expect(line.level).toBe(true);
    expect(pic.acknowledge()).toBe(0x26);
  });

  it('clears the named level with a specific EOI', () => {
    const { pic, bus } = linuxPic();
    pic.setIrq(3, true);
    pic.acknowledge();
    pic.setIrq(0, true);
    pic.acknowledge();
    bus.write(0x20, 1, 0x63); // specific EOI, level 3
    expect(readIsr(bus, 0x20)).toBe(0x01);
  });

  it('answers a spurious IR7 when the request went away before INTA, without setting ISR', () => {
    const { pic, bus } = linuxPic();
    expect(pic.acknowledge()).toBe(0x27);
    expect(readIsr(bus, 0x20)).toBe(0);
    expect(pic.acknowledgedFlow).toBe(0);
  });

  it('masks with the IMR and reports the masked line as blocked (KVM_IRQ_LINE_STATUS)', () => {
    const { pic, bus, line } = linuxPic();
    bus.write(0x21, 1, 0x08);
    expect(pic.setIrq(3, true)).toBe(DELIVERY_STATUS.BLOCKED);
    expect(line.level).toBe(false);
    expect(readIrr(bus, 0x20)).toBe(0x08); // the request is latched, only masked
    bus.write(0x21, 1, 0);
    expect(line.level).toBe(true);
  });

  it('reports a second edge on a pending request as coalesced', () => {
    const { pic } = linuxPic();
    pic.setIrq(5, true);
    pic.setIrq(5, false);
    expect(pic.setIrq(5, true)).toBe(DELIVERY_STATUS.COALESCED);
    expect(pic.acknowledge()).toBe(0x25);
    expect(pic.acknowledge()).toBe(0x27); // one request, one acknowledge
  });
});

describe('PicPair cascade (8259A datasheet, "Cascading")', () => {
  it('delivers slave requests through master IR2 with the slave vector', () => {
    const { pic, bus, line } = linuxPic();
    pic.setIrq(12, true);
    expect(line.level).toBe(true);
    expect(pic.acknowledge()).toBe(0x2c);
    expect(readIsr(bus, 0x20)).toBe(0x04);
    expect(readIsr(bus, 0xa0)).toBe(0x10);
    bus.write(0xa0, 1, EOI);
    bus.write(0x20, 1, EOI);
    expect(readIsr(bus, 0x20)).toBe(0);
  });

  it('delivers a second slave request after the first completes on both chips', () => {
    const { pic, bus } = linuxPic();
    pic.setIrq(9, true);
    pic.setIrq(14, true);
    expect(pic.acknowledge()).toBe(0x29);
    bus.write(0xa0, 1, EOI);
    bus.write(0x20, 1, EOI);
    expect(pic.acknowledge()).toBe(0x2e);
  });

  it('blocks a higher slave request behind its in-service cascade input unless special fully nested mode', () => {
    for (const sfnm of [false, true]) {
      const { pic, bus, line } = linuxPic({ sfnm });
      pic.setIrq(14, true);
      expect(pic.acknowledge()).toBe(0x2e);
      pic.setIrq(9, true); // higher priority on the slave
      expect(line.level).toBe(sfnm);
      if (sfnm) expect(pic.acknowledge()).toBe(0x29);
      bus.write(0xa0, 1, EOI);
    }
  });

  it('answers a spurious slave IR7 when the slave request vanished after the master latched the cascade edge', () => {
    const { pic, bus } = linuxPic();
    pic.setIrq(10, true);
    pic.slavePorts.pioWrite(1, 1, 0x04); // mask it on the slave after the master saw the cascade
    expect(pic.interruptRequested).toBe(true); // master IR2 is edge-latched
    expect(pic.acknowledge()).toBe(0x2f); // the slave answers IR7: the spurious IRQ 15 an OS must expect
    expect(readIsr(bus, 0xa0)).toBe(0);
    expect(readIsr(bus, 0x20)).toBe(0x04); // the master's cascade level is in service: the OS EOIs the master only
    bus.write(0x20, 1, EOI);
    pic.slavePorts.pioWrite(1, 1, 0);
    expect(pic.acknowledge()).toBe(0x2a);
  });
});

describe('PicPair modes (8259A datasheet, OCW2 and OCW3)', () => {
  it('automatic EOI leaves nothing in service', () => {
    const { pic, bus } = linuxPic({ autoEoi: true });
    pic.setIrq(0, true);
    expect(pic.acknowledge()).toBe(0x20);
    expect(readIsr(bus, 0x20)).toBe(0);
  });

  it('rotates priority on a non-specific EOI and in automatic EOI mode', () => {
    const { pic, bus } = linuxPic();
    pic.setIrq(3, true);
    pic.acknowledge();
    bus.write(0x20, 1, 0xa0); // rotate on non-specific EOI: IR3 becomes lowest
    expect(pic.registers('master').priorityAdd).toBe(4);
    pic.setIrq(3, false);
    pic.setIrq(3, true);
    pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x25); // IR4 is now highest, then IR5
    const aeoi = linuxPic({ autoEoi: true });
    aeoi.bus.write(0x20, 1, 0x80); // rotate in AEOI: set
    aeoi.pic.setIrq(6, true);
    aeoi.pic.acknowledge();
    expect(aeoi.pic.registers('master').priorityAdd).toBe(7);
    aeoi.bus.write(0x20, 1, 0x00);
    expect(aeoi.pic.registers('master').rotateOnAutoEoi).toBe(false);
  });

  it('sets the lowest priority with OCW2 set-priority and rotates on a specific EOI', () => {
    const { pic, bus } = linuxPic();
    bus.write(0x20, 1, 0xc5); // IR5 lowest → IR6 highest
    pic.setIrq(0, true);
    pic.setIrq(7, true);
    expect(pic.acknowledge()).toBe(0x27);
    bus.write(0x20, 1, 0xe7); // rotate on specific EOI of IR7: IR0 highest again
    expect(pic.registers('master').priorityAdd).toBe(0);
    bus.write(0x20, 1, 0x40); // NOP
    expect(pic.acknowledge()).toBe(0x20);
  });

  it('special mask mode lets lower levels through past a masked in-service level', () => {
    const { pic, bus, line } = linuxPic();
    pic.setIrq(1, true);
    pic.acknowledge();
    pic.setIrq(5, true);
    expect(line.level).toBe(false);
    bus.write(0x21, 1, 0x02); // mask IR1 (in service)
    bus.write(0x20, 1, 0x68); // OCW3: ESMM + SMM
    expect(line.level).toBe(true);
    expect(pic.acknowledge()).toBe(0x25);
    bus.write(0x20, 1, 0x48); // reset special mask mode
    expect(pic.registers('master').specialMask).toBe(false);
  });

  it('poll: the next read is an acknowledge returning 0x80 | level, or 0 with nothing pending', () => {
    const { pic, bus } = linuxPic();
    pic.setIrq(6, true);
    bus.write(0x20, 1, 0x0c); // OCW3 poll
    expect(bus.read(0x20, 1)).toBe(0x86);
    expect(readIsr(bus, 0x20)).toBe(0x40);
    bus.write(0x20, 1, 0x0c);
    expect(bus.read(0x21, 1)).toBe(0); // either port; nothing above IR6 in service
    pic.setIrq(11, true);
    bus.write(0xa0, 1, 0x0c);
    expect(bus.read(0xa0, 1)).toBe(0x83);
  });

  it('keeps the status-read selection until changed (RR clear leaves it)', () => {
    const { pic, bus } = linuxPic();
    pic.setIrq(2 + 8, true);
    pic.acknowledge();
    bus.write(0xa0, 1, 0x0b);
    bus.write(0xa0, 1, 0x08); // OCW3 without RR
    expect(bus.read(0xa0, 1)).toBe(0x04);
  });
});

describe('PicPair level-triggered inputs (PIIX ELCR1/ELCR2)', () => {
  it('keeps a level request pending while the line is high and withdraws it when low', () => {
    const { pic, bus, line } = linuxPic();
    bus.write(PIC_PORT.ELCR2, 1, 0x08); // IRQ 11 level
    pic.setIrq(11, true);
    expect(pic.acknowledge()).toBe(0x2b);
    bus.write(0xa0, 1, EOI);
    bus.write(0x20, 1, EOI);
    expect(line.level).toBe(true); // still high: requested again
    expect(pic.setIrq(11, true)).toBe(DELIVERY_STATUS.COALESCED);
    pic.setIrq(11, false);
    expect(readIrr(bus, 0xa0)).toBe(0); // the slave's request follows the line
    // The master latched the cascade edge; the acknowledge finds the slave empty: spurious IRQ 15.
    expect(pic.acknowledge()).toBe(0x2f);
    bus.write(0x20, 1, EOI);
    expect(line.level).toBe(false);
  });

  it('has reserved, read-as-zero ELCR bits for IRQ 0, 1, 2, 8 and 13', () => {
    const { bus } = linuxPic();
    bus.write(PIC_PORT.ELCR1, 2, 0xffff);
    expect(bus.read(PIC_PORT.ELCR1, 1)).toBe(0xf8);
    expect(bus.read(PIC_PORT.ELCR2, 1)).toBe(0xde);
  });

  it('makes every input level-triggered with ICW1 LTIM', () => {
    const pic = new PicPair();
    pic.masterPorts.pioWrite(0, 1, 0x1b); // LTIM, single, IC4
    pic.masterPorts.pioWrite(1, 1, 0x40);
    pic.masterPorts.pioWrite(1, 1, 0x01);
    pic.setIrq(0, true);
    pic.setIrq(0, false);
    expect(pic.interruptRequested).toBe(false);
  });
});

describe('PicPair ports and host interface', () => {
  it('splits a 16-bit port access into byte cycles, as the ISA bus does', () => {
    const { pic } = linuxPic();
    pic.masterPorts.pioWrite(0, 2, 0xab0a); // OCW3 read IRR, then IMR = 0xab
    expect(pic.registers('master').imr).toBe(0xab);
    expect(pic.masterPorts.pioRead(0, 2)).toBe(0xab00);
    expect(pic.masterPorts.pioRead(1, 2)).toBe(0xffab);
  });

  it('rejects bad host arguments, naming the value', () => {
    const pic = new PicPair();
    expect(() => pic.setIrq(16, true)).toThrow(/PIC IRQ must be an integer in \[0, 15\], got 16/);
    expect(() => pic.setIrq(1, 1 as never)).toThrow(/level must be a boolean, got 1/);
    expect(() => pic.registers('third' as never)).toThrow(/'master' or 'slave', got "third"/);
    expect(() => new PicPair({ ouput: undefined } as never)).toThrow(UsageError);
    expect(() => pic.lineLevel(-1)).toThrow(UsageError);
  });

  it('carries a flow identifier from the request to the acknowledge and EOI traces', () => {
    const { pic, bus, tracer } = linuxPic();
    pic.setIrq(4, true, 77);
    pic.acknowledge();
    expect(pic.acknowledgedFlow).toBe(77);
    bus.write(0x20, 1, EOI);
    const kinds = tracer.events().filter((e) => e.flow === 77).map((e) => e.kind);
    expect(kinds).toEqual(['interrupt.raised', 'interrupt.acknowledged', 'interrupt.eoi']);
  });

  it('resets to power-on state', () => {
    const { pic, line } = linuxPic();
    pic.setIrq(1, true);
    pic.reset();
    expect(line.level).toBe(false);
    expect(pic.registers('master')).toMatchObject({ irqBase: 0, irr: 0, imr: 0 });
  });
});

describe('PicPair snapshots', () => {
  it('rejects foreign, malformed and out-of-range states and changes nothing', () => {
    const { pic } = linuxPic();
    pic.setIrq(3, true);
    const before = JSON.stringify(pic.saveState());
    const bad = [
      { type: 'hvsim.ioapic', version: 1 },
      { ...pic.saveState(), version: 2 },
      { ...pic.saveState(), lines: 0x10000 },
      { ...pic.saveState(), master: { ...pic.saveState().master, irqBase: 0x21 } },
      { ...pic.saveState(), slave: { ...pic.saveState().slave, elcr: 0x01 } },
      { ...pic.saveState(), slave: { ...pic.saveState().slave, poll: 1 } },
    ];
    for (const state of bad) {
      expect(() => pic.restoreState(state)).toThrow(SnapshotError);
      expect(JSON.stringify(pic.saveState())).toBe(before);
    }
  });

  it('continues after save, JSON and restore exactly like never stopping (property)', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('irq' as const), irq: fc.integer({ min: 0, max: 15 }), level: fc.boolean() }),
      fc.record({ k: fc.constant('ack' as const) }),
      fc.record({ k: fc.constant('out' as const), port: fc.constantFrom(0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ k: fc.constant('in' as const), port: fc.constantFrom(0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1) }),
    );
    type Op = { k: 'irq'; irq: number; level: boolean } | { k: 'ack' } | { k: 'out'; port: number; value: number } | { k: 'in'; port: number };
    const run = (t: ReturnType<typeof linuxPic>, ops: Op[]) =>
      ops.map((o) => {
        if (o.k === 'irq') return t.pic.setIrq(o.irq, o.level);
        if (o.k === 'ack') return t.pic.acknowledge();
        if (o.k === 'in') return t.bus.read(o.port, 1);
        t.bus.write(o.port, 1, o.value);
        return -1;
      });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.array(op, { maxLength: 40 }), (first, second) => {
        const a = linuxPic();
        const b = linuxPic();
        run(a, first);
        run(b, first);
        b.pic.restoreState(JSON.parse(JSON.stringify(b.pic.saveState())));
        const fresh = linuxPic();
        fresh.pic.restoreState(JSON.parse(JSON.stringify(a.pic.saveState())));
        const expected = run(a, second);
        expect(run(fresh, second)).toEqual(expected);
        expect(fresh.line.level).toBe(a.line.level);
        // Every vector handed out lies in one of the two programmed blocks or is a spurious IR7.
        for (const v of expected) if (v >= 0x20 && v !== -1) expect(v < 0x100).toBe(true);
      }),
      { seed, numRuns },
    );
  });
});
