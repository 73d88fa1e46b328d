import { describe, expect, it } from 'vitest';
import { Clock, DELIVERY_STATUS, RecordingTracer, UsageError, type DeliveryStatus } from '@hvsim/core';
import { ApicBus } from '../bus/apic-bus.js';
import { makeApic } from '../test-support/helpers.js';
import { IoApic } from './io-apic.js';
import { encodeRemappableRte, encodeRte, rteMsiAddress, rteMsiData } from './rte.js';

const { DELIVERED, COALESCED, BLOCKED, DROPPED } = DELIVERY_STATUS;

function program(io: IoApic, pin: number, [low, high]: [number, number]): void {
  io.writeIndirect(0x10 + 2 * pin + 1, high);
  io.writeIndirect(0x10 + 2 * pin, low);
}

function onBus(options: ConstructorParameters<typeof IoApic>[0] = {}) {
  const bus = new ApicBus();
  const clock = new Clock();
  const cpus = [0, 1].map((id) => {
    const { apic } = makeApic({ id, clock });
    bus.attach(apic);
    return apic;
  });
  const io = new IoApic(options);
  bus.attach(io);
  return { bus, cpus, io };
}

describe('IoApic.setIrq status (KVM_IRQ_LINE_STATUS, api.rst 4.25; KVM ioapic_set_irq)', () => {
  it('edge: delivered on the rising edge, coalesced with no edge, delivered for a de-assert', () => {
    const { io, cpus } = onBus();
    program(io, 3, encodeRte({ vector: 0x40, destination: 1 }));
    expect(io.setIrq(3, true)).toBe(DELIVERED);
    expect(io.setIrq(3, true)).toBe(COALESCED);
    expect(io.setIrq(3, false)).toBe(DELIVERED);
    expect(cpus[1]!.isRequested(0x40)).toBe(true);
    // Pending in the IRR already: the APIC coalesces it.
    expect(io.setIrq(3, true)).toBe(COALESCED);
  });

  it('level: coalesced while Remote IRR is set; masked: blocked; nothing connected: blocked', () => {
    const { io } = onBus();
    program(io, 4, encodeRte({ vector: 0x41, destination: 0, trigger: 'level' }));
    expect(io.setIrq(4, true)).toBe(DELIVERED);
    expect(io.setIrq(4, true)).toBe(COALESCED);
    program(io, 5, encodeRte({ vector: 0x42, destination: 0, masked: true }));
    expect(io.setIrq(5, true)).toBe(BLOCKED);
    const alone = new IoApic();
    program(alone, 0, encodeRte({ vector: 0x43, destination: 0 }));
    expect(alone.setIrq(0, true)).toBe(BLOCKED);
  });

  it('no matching APIC: blocked (the bus found no destination)', () => {
    const { io } = onBus();
    program(io, 6, encodeRte({ vector: 0x44, destination: 7 }));
    expect(io.setIrq(6, true)).toBe(BLOCKED);
  });

  it('rejects a bad flow', () => {
    const { io } = onBus();
    expect(() => io.setIrq(0, true, -2)).toThrow('flow must be a non-negative 32-bit integer, got -2');
  });
});

describe('IOAPIC output to an MSI target (VT-d 5.1.5.1; a hypervisor GSI routing table)', () => {
  it('sends each entry as the compatibility MSI it describes, with the source ID and flow', () => {
    const writes: [number, number, number | undefined, number | undefined][] = [];
    const io = new IoApic();
    io.connectMsi({ deliverMsi: (a, d, sid, flow) => (writes.push([a, d, sid, flow]), DELIVERED) }, 0xf0f8);
    program(io, 1, encodeRte({ vector: 0x51, destination: 3, logical: true, trigger: 'level', deliveryMode: 1 }));
    expect(io.setIrq(1, true, 9)).toBe(DELIVERED);
    expect(writes).toEqual([[0xfee0_3004, 0xc151, 0xf0f8, 9]]);
    expect(io.remoteIrr(1)).toBe(true);
    expect(() => io.connectMsi({} as never)).toThrow('IOAPIC MSI target must have a deliverMsi method');
    expect(() => io.connectMsi({ deliverMsi: () => DELIVERED }, 0x10000)).toThrow(UsageError);
  });

  it('through an ApicBus as MSI target: same result as the bus connection', () => {
    const { bus, cpus } = onBus();
    const io = new IoApic();
    io.connectMsi(bus);
    program(io, 2, encodeRte({ vector: 0x52, destination: 1, trigger: 'level' }));
    expect(io.setIrq(2, true)).toBe(DELIVERED);
    expect([cpus[1]!.isRequested(0x52), cpus[1]!.isLevelTriggered(0x52)]).toEqual([true, true]);
    expect(io.remoteIrr(2)).toBe(true);
  });

  it('a routing table in between can block: Remote IRR stays clear and the status comes back', () => {
    const io = new IoApic();
    let answer: DeliveryStatus = BLOCKED;
    io.connectMsi({ deliverMsi: () => answer });
    program(io, 0, encodeRte({ vector: 0x53, destination: 0, trigger: 'level' }));
    expect(io.setIrq(0, true)).toBe(BLOCKED);
    expect(io.remoteIrr(0)).toBe(false);
    answer = COALESCED;
    io.eoi(0x53); // nothing pending; the re-sample happens on the next change
    expect(io.setIrq(0, true)).toBe(COALESCED);
    expect(io.remoteIrr(0)).toBe(true);
  });

  it('remappable entries (option remappableFormat) send remappable MSIs; on a plain bus they are dropped', () => {
    const tracer = new RecordingTracer();
    const writes: [number, number][] = [];
    const io = new IoApic({ remappableFormat: true, tracer });
    io.connectMsi({ deliverMsi: (a, d) => (writes.push([a, d]), DELIVERED) });
    const rte = encodeRemappableRte({ index: 0x8005, vector: 0x60, trigger: 'level' });
    expect(rte).toEqual([0x8000 | 0x800 | 0x60, (5 << 17) | (1 << 16)]);
    program(io, 7, rte);
    expect(io.redirectionEntry(7)).toEqual(rte);
    io.setIrq(7, true);
    // handle[14:0] in address bits 19:5, format bit 4, handle[15] in bit 2 (VT-d 5.1.5.1, 5.1.2.2).
    expect(writes).toEqual([[(0xfee0_0000 | (5 << 5) | 0x10 | 0x4) >>> 0, 0xc060]]);
    const { io: plain } = onBus({ remappableFormat: true, tracer });
    program(plain, 0, encodeRemappableRte({ index: 1, vector: 0x61 }));
    expect(plain.setIrq(0, true)).toBe(DROPPED);
    expect(tracer.events().at(-1)!.args).toEqual({ pin: 0, why: 'remappable-rte-without-iommu' });
  });

  it('without remappableFormat, bits 63:48 are reserved and read 0 (82093AA 3.2.4)', () => {
    const io = new IoApic();
    program(io, 0, encodeRemappableRte({ index: 3, vector: 0x62 }));
    expect(io.redirectionEntry(0)[1]).toBe(0);
  });
});

describe('RTE helpers', () => {
  it('encodeRte packs the fields (82093AA 3.2.4) and checks them', () => {
    expect(encodeRte({ vector: 0x30, destination: 0x12, deliveryMode: 4, logical: true, activeLow: true, trigger: 'level', masked: true })).toEqual([
      0x30 | (4 << 8) | (1 << 11) | (1 << 13) | (1 << 15) | (1 << 16),
      0x1200_0000,
    ]);
    expect(() => encodeRte({ vector: 0x30, destination: 0, deliveryMode: 3 })).toThrow('RTE delivery mode 3 is reserved');
    expect(() => encodeRte({ vector: 0x30, destination: 256 })).toThrow('RTE destination must be an integer in [0, 255]');
    expect(() => encodeRte({ vector: 0x30, destination: 0, trigger: 'both' as 'edge' })).toThrow(`RTE trigger must be 'edge' or 'level', got "both"`);
    expect(() => encodeRemappableRte({ index: 0x10000, vector: 1 })).toThrow('interrupt-remapping index');
  });

  it('rteMsiAddress/rteMsiData give the compatibility MSI of an entry (SDM 3A 11.11)', () => {
    const [lo, hi] = encodeRte({ vector: 0x31, destination: 0x0f, deliveryMode: 1, logical: true });
    expect([rteMsiAddress(lo, hi), rteMsiData(lo, hi)]).toEqual([0xfee0_f004, 0x131]);
  });
});

describe('RTE-write callback (KVM_REQ_SCAN_IOAPIC)', () => {
  it('fires for either dword of an entry, and for every pin on reset and restore', () => {
    const pins: number[] = [];
    const io = new IoApic({ onRteWrite: (pin) => pins.push(pin) });
    io.writeIndirect(0x10 + 2 * 9, 0x45);
    io.writeIndirect(0x10 + 2 * 9 + 1, 0x0100_0000);
    io.writeIndirect(0x00, 0); // IOAPICID: not an entry
    expect(pins).toEqual([9, 9]);
    pins.length = 0;
    io.restoreState(io.saveState());
    expect(pins).toHaveLength(24);
    pins.length = 0;
    io.reset();
    expect(pins).toHaveLength(24);
    expect(() => new IoApic({ onRteWrite: 1 as unknown as () => void })).toThrow('onRteWrite must be a function, got 1');
  });
});

describe('masked edges (82093AA 3.2.4 bit 16 vs QEMU ioapic_service)', () => {
  it('default: an edge on a masked pin is lost, unmasking sends nothing', () => {
    const { io, cpus } = onBus();
    program(io, 1, encodeRte({ vector: 0x70, destination: 0, masked: true }));
    expect(io.setIrq(1, true)).toBe(BLOCKED);
    program(io, 1, encodeRte({ vector: 0x70, destination: 0 }));
    expect(cpus[0]!.isRequested(0x70)).toBe(false);
  });

  it('holdMaskedEdges: the edge is held, sent once on unmask, and survives a snapshot', () => {
    const { io, cpus } = onBus({ holdMaskedEdges: true });
    program(io, 1, encodeRte({ vector: 0x71, destination: 0, masked: true }));
    expect(io.setIrq(1, true)).toBe(BLOCKED);
    io.setIrq(1, false); // the line may drop again: the edge stays held
    const saved = io.saveState();
    expect(saved.heldEdges).toBe(1 << 1);
    const copy = new IoApic({ holdMaskedEdges: true });
    copy.restoreState(JSON.parse(JSON.stringify(saved)));
    expect(copy.saveState().heldEdges).toBe(2);
    program(io, 1, encodeRte({ vector: 0x71, destination: 0 }));
    expect(cpus[0]!.isRequested(0x71)).toBe(true);
    expect(cpus[0]!.acknowledge()).toBe(0x71);
    program(io, 1, encodeRte({ vector: 0x71, destination: 0 })); // nothing held any more
    expect(cpus[0]!.isRequested(0x71)).toBe(false);
  });

  it('holdMaskedEdges does not touch level pins: they are re-sampled on unmask as before', () => {
    const { io, cpus } = onBus({ holdMaskedEdges: true });
    program(io, 2, encodeRte({ vector: 0x72, destination: 0, trigger: 'level', masked: true }));
    io.setIrq(2, true);
    io.setIrq(2, false);
    program(io, 2, encodeRte({ vector: 0x72, destination: 0, trigger: 'level' }));
    expect(cpus[0]!.isRequested(0x72)).toBe(false);
  });
});
