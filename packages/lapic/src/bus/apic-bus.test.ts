import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clock, DELIVERY_STATUS, RecordingTracer, UsageError } from '@hvsim/core';
import { LocalApic } from '../apic/local-apic.js';
import { APIC } from '../apic/regs.js';
import { encodeMsi, encodeRemappableMsi } from '../msi/msi.js';
import { IoApic } from '../ioapic/io-apic.js';
import { ApicBus } from './apic-bus.js';
import { matchesDestination } from './destination.js';
import { makeApic, numRuns, rd, seed, toX2apic, wr } from '../test-support/helpers.js';

function system(n: number, x2apic = false): { bus: ApicBus; apics: LocalApic[]; clock: Clock } {
  const clock = new Clock();
  const bus = new ApicBus();
  const apics: LocalApic[] = [];
  for (let i = 0; i < n; i++) {
    const { apic } = makeApic({ id: i, clock, xapicIdWritable: true });
    if (x2apic) {
      toX2apic(apic);
      apic.writeMsr(0x80f, 0x1ffn);
    }
    bus.attach(apic);
    apics.push(apic);
  }
  return { bus, apics, clock };
}

function ipi(from: LocalApic, low: number, dest: number): void {
  if (from.isX2apic) {
    from.writeMsr(0x830, (BigInt(dest) << 32n) | BigInt(low));
  } else {
    wr(from, APIC.ICR_HIGH, (dest << 24) >>> 0);
    wr(from, APIC.ICR_LOW, low);
  }
}

const got = (apics: LocalApic[], v: number): number[] => apics.flatMap((a, i) => (a.isRequested(v) ? [i] : []));

describe('IPIs through the ICR (SDM 3A 11.6.1)', () => {
  it('physical destination reaches the APIC with that ID', () => {
    const { apics } = system(4);
    ipi(apics[0]!, 0x41, 2);
    expect(got(apics, 0x41)).toEqual([2]);
    expect(rd(apics[0]!, APIC.ICR_LOW)).toBe(0x41); // delivery status idle
    expect(rd(apics[0]!, APIC.ICR_HIGH)).toBe(0x0200_0000);
  });

  it('shorthands: self, all including self, all excluding self (kvm-unit-tests test_self_ipi, test_physical_broadcast)', () => {
    const { apics } = system(4);
    ipi(apics[1]!, 0x40000 | 0x50, 0);
    expect(got(apics, 0x50)).toEqual([1]);
    ipi(apics[1]!, 0x80000 | 0x51, 0);
    expect(got(apics, 0x51)).toEqual([0, 1, 2, 3]);
    ipi(apics[1]!, 0xc0000 | 0x52, 0);
    expect(got(apics, 0x52)).toEqual([0, 2, 3]);
  });

  it('physical broadcast 0xFF (xAPIC) and 0xFFFFFFFF (x2APIC) reach every APIC once', () => {
    const { apics } = system(3);
    ipi(apics[0]!, 0x60, 0xff);
    expect(got(apics, 0x60)).toEqual([0, 1, 2]);
    const x = system(3, true);
    ipi(x.apics[2]!, 0x61, 0xff); // not a broadcast in x2APIC: APIC ID 0xFF does not exist
    expect(got(x.apics, 0x61)).toEqual([]);
    ipi(x.apics[2]!, 0x61, 0xffff_ffff);
    expect(got(x.apics, 0x61)).toEqual([0, 1, 2]);
    for (const a of x.apics) expect(a.acknowledge()).toBe(0x61);
  });

  it('logical flat model: LDR[31:24] & MDA (SDM 3A 11.6.2.2)', () => {
    const { apics } = system(4);
    apics.forEach((a, i) => wr(a, APIC.LDR, (1 << (24 + i)) >>> 0));
    ipi(apics[0]!, 0x800 | 0x70, 0b1010);
    expect(got(apics, 0x70)).toEqual([1, 3]);
  });

  it('logical cluster model: cluster in 7:4, members in 3:0', () => {
    const { apics } = system(4);
    apics.forEach((a, i) => {
      wr(a, APIC.DFR, 0x0fff_ffff);
      wr(a, APIC.LDR, ((((i >> 1) + 1) << 28) | (1 << (24 + (i & 1)))) >>> 0);
    });
    ipi(apics[0]!, 0x800 | 0x71, 0x23); // cluster 2, members 0 and 1 -> APICs 2, 3
    expect(got(apics, 0x71)).toEqual([2, 3]);
    ipi(apics[0]!, 0x800 | 0x72, 0x12); // cluster 1, member 1 -> APIC 1
    expect(got(apics, 0x72)).toEqual([1]);
  });

  it('x2APIC logical: cluster ID 31:16 and the 16-bit member bitmap (SDM 3A 11.12.10.2)', () => {
    const { apics } = system(20, true);
    ipi(apics[0]!, 0x800 | 0x73, (1 << 16) | 0b101); // cluster 1 = IDs 16-31, bits 0 and 2 -> 16, 18
    expect(got(apics, 0x73)).toEqual([16, 18]);
  });

  it('NMI, INIT and SIPI IPIs reach the processor signals', () => {
    const { apics } = system(2);
    ipi(apics[0]!, 0x400, 1);
    expect(apics[1]!.takeNmi()).toBe(true);
    ipi(apics[0]!, 0x4500, 1); // INIT assert
    expect(apics[1]!.takeInit()).toBe(true);
    ipi(apics[0]!, 0x4620, 1); // SIPI vector 0x20
    expect(apics[1]!.takeSipi()).toBe(0x20);
    ipi(apics[0]!, 0x200, 1); // SMI
    expect(apics[1]!.takeSmi()).toBe(true);
  });

  it('reserved ICR delivery modes 3 and 7 send nothing', () => {
    const { apics } = system(2);
    ipi(apics[0]!, 0x300 | 0x44, 1);
    ipi(apics[0]!, 0x700 | 0x44, 1);
    expect(apics[1]!.isRequested(0x44)).toBe(false);
    expect(apics[1]!.pendingSignals).toBe(0);
  });

  it('lowest priority goes to one APIC: the focus processor, else the lowest TPR (SDM 3A 11.6.2.4)', () => {
    const { apics } = system(4);
    apics.forEach((a, i) => wr(a, APIC.TPR, 0x40 - i * 0x10));
    ipi(apics[0]!, 0x100 | 0x80000 | 0x90, 0); // lowest priority to all: APIC 3 has TPR 0x10
    expect(got(apics, 0x90)).toEqual([3]);
    wr(apics[1]!, APIC.TPR, 0);
    apics[1]!.acceptInterrupt({ vector: 0x91, trigger: 'edge' });
    ipi(apics[0]!, 0x100 | 0x80000 | 0x91, 0); // APIC 1 has 0x91 pending: focus
    expect(got(apics, 0x91)).toEqual([1]);
    expect(apics[3]!.isRequested(0x91)).toBe(false);
  });

  it('lowest priority skips software-disabled APICs, which would drop the interrupt (SDM 3A 11.4.7.2)', () => {
    const { apics } = system(4);
    apics.forEach((a, i) => wr(a, APIC.TPR, 0x40 - i * 0x10)); // APIC 3 has the lowest TPR
    wr(apics[3]!, APIC.SVR, 0xff); // ... but is software-disabled
    ipi(apics[0]!, 0x100 | 0x80000 | 0x93, 0);
    expect(got(apics, 0x93)).toEqual([2]);
    for (const a of apics) wr(a, APIC.SVR, 0xff);
    ipi(apics[0]!, 0x100 | 0x80000 | 0x94, 0); // nobody can take it
    expect(got(apics, 0x94)).toEqual([]);
  });

  it('with focus checking disabled (SVR bit 9) a processor holding the vector does not win (SDM 3A 11.6.2.4, 11.9)', () => {
    const { apics } = system(4);
    apics.forEach((a, i) => wr(a, APIC.TPR, 0x40 - i * 0x10)); // APIC 3 has the lowest TPR
    apics[1]!.acceptInterrupt({ vector: 0x92, trigger: 'edge' });
    wr(apics[1]!, APIC.SVR, 0x3ff); // focus disabled on APIC 1
    ipi(apics[0]!, 0x100 | 0x80000 | 0x92, 0);
    expect(got(apics, 0x92)).toEqual([1, 3]); // APIC 1 only still has its own; the IPI went to APIC 3
  });

  it('level and trigger bits are ignored: every IPI is issued edge-triggered, asserted (SDM 3A 11.6.1, Table 11-3 note 2)', () => {
    const { bus, apics } = system(2);
    const io = new IoApic();
    bus.attach(io);
    const eois: number[] = [];
    const realEoi = io.eoi.bind(io);
    io.eoi = (v: number): void => {
      eois.push(v);
      realEoi(v);
    };
    ipi(apics[0]!, 0xc000 | 0x71, 1); // fixed, level-triggered, assert
    expect(apics[1]!.isRequested(0x71)).toBe(true);
    expect(apics[1]!.isLevelTriggered(0x71)).toBe(false); // TMR clear: accepted as edge
    ipi(apics[0]!, 0x8000 | 0x72, 1); // fixed, level-triggered, "de-assert": still delivered
    expect(apics[1]!.isRequested(0x72)).toBe(true);
    expect(apics[1]!.acknowledge()).toBe(0x72);
    wr(apics[1]!, APIC.EOI, 0);
    expect(eois).toEqual([]); // edge vectors send no EOI message to the IOAPICs
    ipi(apics[0]!, 0x4000 | 0x8000 | 0x40000 | 0x73, 0); // self, level
    expect(apics[0]!.isRequested(0x73) && !apics[0]!.isLevelTriggered(0x73)).toBe(true);
  });

  it('invalid Table 11-3 combinations (self shorthand with NMI) are delivered as written, as KVM does', () => {
    const { apics } = system(2);
    ipi(apics[0]!, 0x40000 | 0x400, 0); // self, NMI
    expect(apics[0]!.takeNmi()).toBe(true);
    expect(apics[1]!.takeNmi()).toBe(false);
  });

  it('level EOIs go back to the IOAPICs unless EOI-broadcast suppression is set', () => {
    const bus = new ApicBus();
    const { apic } = makeApic();
    bus.attach(apic);
    const eois: number[] = [];
    bus.attach({ connect: () => undefined, eoi: (v: number) => eois.push(v) } as never);
    apic.acceptInterrupt({ vector: 0x61, trigger: 'level', level: true });
    apic.acknowledge();
    wr(apic, APIC.EOI, 0);
    apic.acceptInterrupt({ vector: 0x62, trigger: 'edge' });
    apic.acknowledge();
    wr(apic, APIC.EOI, 0);
    expect(eois).toEqual([0x61]);
    wr(apic, APIC.SVR, 0x11ff);
    apic.acceptInterrupt({ vector: 0x63, trigger: 'level', level: true });
    apic.acknowledge();
    wr(apic, APIC.EOI, 0);
    expect(eois).toEqual([0x61]);
  });

  it('an APIC without a bus is a one-CPU system', () => {
    const { apic } = makeApic({ id: 5 });
    ipi(apic, 0x66, 5);
    ipi(apic, 0x67, 6);
    ipi(apic, 0xc0000 | 0x68, 0);
    expect([apic.isRequested(0x66), apic.isRequested(0x67), apic.isRequested(0x68)]).toEqual([true, false, false]);
  });

  it('attach twice is an error', () => {
    const { bus, apics } = system(1);
    expect(() => bus.attach(apics[0]!)).toThrow(UsageError);
  });

  it('property: indexed delivery reaches exactly the APICs the destination rules select', () => {
    const apicConf = fc.record({ ldrByte: fc.integer({ min: 0, max: 255 }), cluster: fc.boolean(), x2: fc.boolean() });
    fc.assert(
      fc.property(
        fc.array(apicConf, { minLength: 1, maxLength: 24 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.boolean(),
        (confs, logical, destRaw, x2sender) => {
          const clock = new Clock();
          const bus = new ApicBus();
          const apics = confs.map((c, i) => {
            const { apic } = makeApic({ id: i * 3, clock });
            if (c.x2) {
              toX2apic(apic);
              apic.writeMsr(0x80f, 0x1ffn);
            } else {
              wr(apic, APIC.LDR, (c.ldrByte << 24) >>> 0);
              if (c.cluster) wr(apic, APIC.DFR, 0x0fff_ffff);
            }
            bus.attach(apic);
            return apic;
          });
          const dest = x2sender ? destRaw % 4 === 0 ? 0xffff_ffff : destRaw & 0x3_ffff : destRaw & 0xff;
          const expected = apics.flatMap((a, i) => (matchesDestination(a, dest, logical, x2sender) ? [i] : []));
          bus.deliver({ destination: dest, logical, shorthand: 0, vector: 0x80, deliveryMode: 0, trigger: 'edge', level: true, x2apicDestination: x2sender });
          expect(got(apics, 0x80)).toEqual(expected);
        },
      ),
      { seed, numRuns },
    );
  });
});

describe('MSI delivery (SDM 3A 11.11)', () => {
  it('decodes address and data and delivers', () => {
    const { bus, apics } = system(4);
    const { address, data } = encodeMsi({ destinationId: 2, destinationMode: 'physical', redirectionHint: false, vector: 0x55, deliveryMode: 0, trigger: 'edge', level: false });
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.lastAcceptedCount).toBe(1);
    expect(got(apics, 0x55)).toEqual([2]);
  });

  it('level-triggered MSIs set TMR; lowest priority picks one', () => {
    const { bus, apics } = system(4);
    apics.forEach((a, i) => wr(a, APIC.LDR, (1 << (24 + i)) >>> 0));
    const { address, data } = encodeMsi({ destinationId: 0x0f, destinationMode: 'logical', redirectionHint: true, vector: 0x56, deliveryMode: 1, trigger: 'level', level: true });
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.lastAcceptedCount).toBe(1);
    const hit = got(apics, 0x56);
    expect(hit).toHaveLength(1);
    expect(apics[hit[0]!]!.isLevelTriggered(0x56)).toBe(true);
  });

  it('broadcast MSI 0xFF reaches x2APIC-mode APICs too (8-bit destination)', () => {
    const { bus, apics } = system(3, true);
    const { address, data } = encodeMsi({ destinationId: 0xff, destinationMode: 'physical', redirectionHint: false, vector: 0x57, deliveryMode: 0, trigger: 'edge', level: false });
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.lastAcceptedCount).toBe(3);
    expect(got(apics, 0x57)).toEqual([0, 1, 2]);
  });

  it('the extended destination ID option reaches APIC IDs above 255', () => {
    const clock = new Clock();
    const bus = new ApicBus({ extendedDestinationId: true });
    const { apic } = makeApic({ id: 300, clock });
    toX2apic(apic);
    apic.writeMsr(0x80f, 0x1ffn);
    bus.attach(apic);
    const { address, data } = encodeMsi({ destinationId: 300, destinationMode: 'physical', redirectionHint: false, vector: 0x58, deliveryMode: 0, trigger: 'edge', level: false }, { extendedDestinationId: true });
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.lastAcceptedCount).toBe(1);
    expect(apic.isRequested(0x58)).toBe(true);
  });

  it('RH = 1 with logical DM redirects a fixed MSI to one processor of the group, the lowest priority (SDM 3A 11.11.1)', () => {
    const { bus, apics } = system(4);
    apics.forEach((a, i) => {
      wr(a, APIC.LDR, (1 << (24 + i)) >>> 0);
      wr(a, APIC.TPR, 0x40 - i * 0x10); // APIC 3 has the lowest TPR
    });
    const msi = (redirectionHint: boolean, destinationMode: 'physical' | 'logical', destinationId: number, vector: number) =>
      encodeMsi({ destinationId, destinationMode, redirectionHint, vector, deliveryMode: 0, trigger: 'edge', level: true });
    let { address, data } = msi(true, 'logical', 0x0f, 0x66);
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.lastAcceptedCount).toBe(1);
    expect(got(apics, 0x66)).toEqual([3]);
    ({ address, data } = msi(false, 'logical', 0x0f, 0x67)); // RH = 0: every processor of the group
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.lastAcceptedCount).toBe(4);
    ({ address, data } = msi(true, 'physical', 1, 0x68)); // physical: only the addressed processor
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.lastAcceptedCount).toBe(1);
    expect(got(apics, 0x68)).toEqual([1]);
  });

  it.each([
    ['011b', 3],
    ['110b (no start-up from a device)', 6],
  ])('an MSI with reserved delivery mode %s is dropped and traced (SDM 3A 11.11.2)', (_name, mode) => {
    const tracer = new RecordingTracer();
    const bus = new ApicBus({ tracer });
    const { apic } = makeApic({ id: 1 }); // an AP waiting for SIPI
    bus.attach(apic);
    const { address, data } = encodeMsi({ destinationId: 1, destinationMode: 'physical', redirectionHint: false, vector: 0x9a, deliveryMode: mode, trigger: 'edge', level: true });
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DROPPED);
    expect(bus.lastAcceptedCount).toBe(0);
    expect(apic.waitingForSipi).toBe(true);
    expect(apic.pendingSignals).toBe(0);
    expect(apic.isRequested(0x9a)).toBe(false);
    expect(tracer.events().map((e) => e.kind)).toEqual(['msi', 'interrupt.dropped']);
  });

  it('a remappable-format MSI without an IOMMU is dropped and traced', () => {
    const tracer = new RecordingTracer();
    const bus = new ApicBus({ tracer });
    const { address, data } = encodeRemappableMsi({ handle: 3, shv: false, subhandle: 0 });
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DROPPED);
    expect(tracer.events().map((e) => e.kind)).toEqual(['msi', 'interrupt.dropped']);
    expect(() => bus.deliverMsi(0xfec00000, 0)).toThrow('MSI address must be in [0xfee00000, 0xfeefffff]');
  });
});

describe('bus bookkeeping', () => {
  it('an xAPIC ID or LDR write re-indexes the APIC', () => {
    const { apics, bus } = system(2);
    wr(apics[1]!, APIC.ID, 0x2000_0000);
    expect(bus.apicById(0x20)).toBe(apics[1]);
    expect(bus.apicById(1)).toBeUndefined();
    ipi(apics[0]!, 0x74, 0x20);
    expect(got(apics, 0x74)).toEqual([1]);
    wr(apics[1]!, APIC.LDR, 0x8000_0000);
    ipi(apics[0]!, 0x800 | 0x75, 0x80);
    expect(got(apics, 0x75)).toEqual([1]);
  });

  it('lowest-priority ties rotate; the cursor is saved and restored', () => {
    const { apics, bus } = system(3);
    const order: number[] = [];
    for (let i = 0; i < 3; i++) {
      ipi(apics[0]!, 0x100 | 0x80000 | (0x80 + i), 0);
      order.push(got(apics, 0x80 + i)[0]!);
    }
    expect(new Set(order).size).toBe(3);
    const saved = bus.saveState();
    ipi(apics[0]!, 0x100 | 0x80000 | 0x90, 0);
    const next = got(apics, 0x90)[0];
    const b = system(3);
    b.bus.restoreState(saved);
    ipi(b.apics[0]!, 0x100 | 0x80000 | 0x90, 0);
    expect(got(b.apics, 0x90)[0]).toBe(next);
    expect(() => b.bus.restoreState({ type: 'hvsim.apic-bus', version: 1, rotate: -1 })).toThrow(/rotate must be an integer/);
  });

  it('traces IPIs, deliveries, acknowledges and EOIs with the CPU', () => {
    const tracer = new RecordingTracer();
    const clock = new Clock();
    const bus = new ApicBus();
    const apics = [0, 1].map((id) => {
      const { apic } = makeApic({ id, clock, tracer });
      bus.attach(apic);
      return apic;
    });
    ipi(apics[0]!, 0x41, 1);
    apics[1]!.acknowledge();
    wr(apics[1]!, APIC.EOI, 0);
    expect(tracer.events().map((e) => [e.kind, e.cpu])).toEqual([
      ['ipi.sent', 0],
      ['interrupt.delivered', 1],
      ['interrupt.acknowledged', 1],
      ['interrupt.eoi', 1],
    ]);
  });
});

describe('lowest-priority IPI support (SDM 3A 11.5.3 redirectable IPI)', () => {
  it('an APIC that cannot send lowest-priority IPIs sets ESR bit 4 and sends nothing', () => {
    const clock = new Clock();
    const bus = new ApicBus();
    const { apic: a } = makeApic({ id: 0, clock, lowestPriorityIpi: false });
    const { apic: b } = makeApic({ id: 1, clock });
    bus.attach(a);
    bus.attach(b);
    ipi(a, 0x100 | 0x66, 1);
    expect(b.isRequested(0x66)).toBe(false);
    wr(a, APIC.ESR, 0);
    expect(rd(a, APIC.ESR)).toBe(1 << 4);
  });
});

describe('bus edge cases', () => {
  it('two APICs with the same xAPIC ID both receive a physical message; lists what is attached', () => {
    const { apics, bus } = system(3);
    wr(apics[2]!, APIC.ID, 0x0100_0000);
    expect(bus.apicById(1)).toBeUndefined(); // ambiguous
    ipi(apics[0]!, 0x77, 1);
    expect(got(apics, 0x77)).toEqual([1, 2]);
    expect(bus.apics).toHaveLength(3);
    expect(bus.ioapics).toHaveLength(0);
  });

  it('a reserved delivery mode reaching an APIC is dropped and traced', () => {
    const tracer = new RecordingTracer();
    const { apic } = makeApic({ tracer });
    apic.acceptInterrupt({ vector: 0x40, deliveryMode: 3, trigger: 'edge' });
    expect(apic.pendingSignals).toBe(0);
    expect(apic.isRequested(0x40)).toBe(false);
    expect(tracer.events().at(-1)).toMatchObject({ kind: 'interrupt.dropped', args: { why: 'reserved-delivery-mode' } });
  });
});

describe('re-entrant delivery', () => {
  it('a notifier that sends an IPI while a broadcast is in flight does not disturb it', () => {
    const clock = new Clock();
    const bus = new ApicBus();
    const apics: LocalApic[] = [];
    for (let id = 0; id < 4; id++) {
      const { apic } = makeApic({
        id,
        clock,
        // CPU 1 answers every interrupt at once with an IPI to CPU 3 (vector 0x99) from its own APIC.
        onInterrupt: id === 1 ? () => ipi(apics[1]!, 0x99, 3) : undefined,
      });
      bus.attach(apic);
      apics.push(apic);
    }
    ipi(apics[0]!, 0x80000 | 0x70, 0); // all including self
    expect(got(apics, 0x70)).toEqual([0, 1, 2, 3]);
    expect(got(apics, 0x99)).toEqual([3]);
  });

  it('an IOAPIC pin raised from a notifier during delivery keeps both messages intact', () => {
    const clock = new Clock();
    const bus = new ApicBus();
    const io = new IoApic();
    const apics: LocalApic[] = [];
    for (let id = 0; id < 2; id++) {
      const { apic } = makeApic({ id, clock, onInterrupt: id === 0 ? () => io.setIrq(2, true) : undefined });
      wr(apic, APIC.LDR, (1 << (24 + id)) >>> 0);
      bus.attach(apic);
      apics.push(apic);
    }
    bus.attach(io);
    io.writeIndirect(0x10 + 2, 0x800 | 0x61); // pin 1: logical, both CPUs
    io.writeIndirect(0x11 + 2, 0x0300_0000);
    io.writeIndirect(0x10 + 4, 0x62); // pin 2: physical to CPU 1
    io.writeIndirect(0x11 + 4, 0x0100_0000);
    io.setIrq(1, true);
    expect(got(apics, 0x61)).toEqual([0, 1]);
    expect(got(apics, 0x62)).toEqual([1]);
  });
});

describe('detach and reset', () => {
  it('a detached APIC no longer receives; an IOAPIC reset masks every entry', () => {
    const { bus, apics } = system(3);
    bus.detach(apics[1]!);
    ipi(apics[0]!, 0x80000 | 0x55, 0);
    expect(got(apics, 0x55)).toEqual([0, 2]);
    expect(() => bus.detach(apics[1]!)).toThrow('local APIC 1 is not attached to this bus');
    const io = new IoApic({ id: 3 });
    bus.attach(io);
    io.writeIndirect(0x00, 0x0500_0000);
    io.writeIndirect(0x10, 0x56);
    io.reset();
    expect([io.readIndirect(0x00), io.readIndirect(0x10)]).toEqual([0x0300_0000, 0x1_0000]);
    bus.detach(io);
    expect(bus.ioapics).toHaveLength(0);
    expect(() => bus.detach(io)).toThrow('this IOAPIC is not attached to this bus');
  });
});

describe('bad input', () => {
  it('attach and detach take only LocalApic and IoApic instances', () => {
    const bus = new ApicBus();
    expect(() => bus.attach({ id: 3 } as unknown as LocalApic)).toThrow('ApicBus connects LocalApic and IoApic instances');
    expect(() => bus.detach(null as unknown as LocalApic)).toThrow(UsageError);
  });

  it('a malformed bus message is a usage error', () => {
    const { bus } = system(1);
    const m = { destination: 0, logical: false, shorthand: 0, vector: 300, deliveryMode: 0, trigger: 'edge' as const, level: true, x2apicDestination: false };
    expect(() => bus.deliver(m)).toThrow('APIC bus message needs a vector in [0, 255], a delivery mode in [0, 7] and a shorthand in [0, 3], got 300 (0x12c), 0 (0x0), 0 (0x0)');
    expect(() => bus.deliver({ ...m, vector: 1, deliveryMode: 9 })).toThrow(UsageError);
    expect(() => bus.deliverMsi(0xfee00000, -1)).toThrow('MSI data must be an unsigned 32-bit integer');
  });
});

describe('lowest-priority vector hashing (KVM)', () => {
  it('picks the (vector mod n)-th candidate whatever the priorities', () => {
    const clock = new Clock();
    const bus = new ApicBus({ lowestPriority: 'vector-hashing' });
    const apics = [0, 1, 2].map((id) => {
      const { apic } = makeApic({ id, clock });
      bus.attach(apic);
      return apic;
    });
    wr(apics[1]!, APIC.TPR, 0xf0);
    ipi(apics[0]!, 0x100 | 0x80000 | 0x61, 0); // 0x61 = 97, 97 % 3 = 1 -> APIC 1 despite its TPR
    expect(got(apics, 0x61)).toEqual([1]);
    expect(() => new ApicBus({ lowestPriority: 'random' as 'priority' })).toThrow("lowestPriority must be 'priority' or 'vector-hashing'");
  });

  it('IoApic.setIrq reports the delivery status (KVM_IRQ_LINE_STATUS)', () => {
    const { bus, apics } = system(2);
    const io = new IoApic();
    bus.attach(io);
    io.writeIndirect(0x10, 0x8000 | 0x45); // level, to APIC 0
    expect(io.setIrq(0, true)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.lastAcceptedCount).toBe(1);
    expect(io.setIrq(0, true)).toBe(DELIVERY_STATUS.COALESCED); // Remote IRR set
    expect(apics[0]!.isRequested(0x45)).toBe(true);
  });
});

describe('MP initialization protocol (SDM 3A 9.4.4.1 INIT-SIPI-SIPI)', () => {
  it('the BSP wakes an AP: INIT, INIT "de-assert" (issued as INIT since the Pentium 4), SIPI; the second SIPI is ignored', () => {
    const { apics } = system(2);
    const [bsp, ap] = apics as [LocalApic, LocalApic];
    ap.takeSipi(); // nothing pending at power-up
    ipi(bsp, 0xc500, 1); // INIT, level-triggered, assert
    expect(ap.takeInit()).toBe(true);
    // SDM 3A 11.6.1: the level and trigger flags have no meaning since the Pentium 4; the message
    // is issued asserted and edge-triggered, so the AP is INITed again and still waits for SIPI.
    ipi(bsp, 0x8500, 1); // INIT level de-assert as Linux still sends it
    expect(ap.takeInit()).toBe(true);
    expect(ap.waitingForSipi).toBe(true);
    ipi(bsp, 0x0600 | 0x9a, 1); // SIPI, start page 0x9A000
    ipi(bsp, 0x0600 | 0x9b, 1); // second SIPI: the AP has left wait-for-SIPI
    expect(ap.takeSipi()).toBe(0x9a);
    expect(ap.takeSipi()).toBe(-1);
    expect(ap.waitingForSipi).toBe(false);
    expect(bsp.pendingSignals).toBe(0);
  });
});

describe('atomic restore (issue 12 bug 10)', () => {
  it('a bad state changes nothing', () => {
    const bus = new ApicBus();
    bus.restoreState({ type: 'hvsim.apic-bus', version: 1, rotate: 7 });
    expect(() => bus.restoreState({ type: 'hvsim.apic-bus', version: 1, rotate: -1 })).toThrow();
    expect(() => bus.restoreState({ type: 'hvsim.apic-bus', version: 2, rotate: 1 })).toThrow();
    expect(bus.saveState()).toEqual({ type: 'hvsim.apic-bus', version: 1, rotate: 7 });
  });
});

describe('host-side misuse is a UsageError (issue 12)', () => {
  it('misspelled options and two APICs with one ID', () => {
    expect(() => new ApicBus({ lowestPriorty: 'priority' } as never)).toThrow('ApicBus has no option "lowestPriorty"');
    expect(() => new LocalApic({ id: 0, tscFrequncyHz: 1 } as never)).toThrow('LocalApic has no option "tscFrequncyHz"');
    expect(() => new IoApic({ holdMaskedEdge: true } as never)).toThrow('IoApic has no option "holdMaskedEdge"');
    const bus = new ApicBus();
    bus.attach(new LocalApic({ id: 3 }));
    expect(() => bus.attach(new LocalApic({ id: 3 }))).toThrow('another local APIC with id 3 is already attached to this bus');
  });
});

describe('matched destinations beside accepted ones (KVM kvm_irq_delivery_to_apic, irq_comm.c)', () => {
  const fixed = (destinationId: number, vector: number, destinationMode: 'physical' | 'logical' = 'physical', redirectionHint = false) =>
    encodeMsi({ destinationId, destinationMode, redirectionHint, vector, deliveryMode: 0, trigger: 'edge', level: true });

  it('no APIC matched: BLOCKED with lastMatchedCount 0 (KVM answers -1)', () => {
    const { bus } = system(2);
    const { address, data } = fixed(7, 0x40);
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.BLOCKED);
    expect(bus.lastMatchedCount).toBe(0);
    expect(bus.lastAcceptedCount).toBe(0);
  });

  it('matched but refused (software-disabled, SDM 3A 11.4.7.2): BLOCKED with lastMatchedCount 1 (KVM answers 0)', () => {
    const { bus, apics } = system(2);
    wr(apics[1]!, APIC.SVR, 0xff);
    const { address, data } = fixed(1, 0x41);
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.BLOCKED);
    expect(bus.lastMatchedCount).toBe(1);
    expect(bus.lastAcceptedCount).toBe(0);
  });

  it('a logical group counts every match; lowest priority counts the one chosen; none enabled counts 0', () => {
    const { bus, apics } = system(4);
    apics.forEach((a, i) => wr(a, APIC.LDR, (1 << (24 + i)) >>> 0));
    wr(apics[2]!, APIC.SVR, 0xff); // disabled: matched, refuses
    let { address, data } = fixed(0x0f, 0x42, 'logical');
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect([bus.lastMatchedCount, bus.lastAcceptedCount]).toEqual([4, 3]);
    ({ address, data } = fixed(0x0f, 0x43, 'logical', true)); // RH=1: lowest priority among the enabled
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    expect([bus.lastMatchedCount, bus.lastAcceptedCount]).toEqual([1, 1]);
    ({ address, data } = fixed(0x04, 0x44, 'logical', true)); // only the disabled APIC: no candidate
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.BLOCKED);
    expect([bus.lastMatchedCount, bus.lastAcceptedCount]).toEqual([0, 0]);
  });

  it('a remappable MSI without an IOMMU matches nothing (dropped)', () => {
    const { bus } = system(1);
    const { address } = encodeRemappableMsi({ handle: 1, shv: false, subhandle: 0 });
    expect(bus.deliverMsi(address, 0)).toBe(DELIVERY_STATUS.DROPPED);
    expect(bus.lastMatchedCount).toBe(0);
  });

  it('property: lastMatchedCount is the number of APICs the physical or broadcast destination names', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 0xff }), (n, dest) => {
        const { bus } = system(n);
        const { address, data } = fixed(dest, 0x50);
        bus.deliverMsi(address, data);
        expect(bus.lastMatchedCount).toBe(dest === 0xff ? n : dest < n ? 1 : 0);
        expect(bus.lastAcceptedCount).toBe(bus.lastMatchedCount);
      }),
      { seed, numRuns },
    );
  });
});
