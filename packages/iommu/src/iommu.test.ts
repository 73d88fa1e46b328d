import { describe, expect, it } from 'vitest';
import { Clock, PhysicalMemory, RecordingTracer, SnapshotError, UsageError } from '@hvsim/core';
import { decodeMsi, encodeRemappableMsi, PostedInterruptDescriptor } from '@hvsim/lapic';
import { CAP, ECAP } from './capabilities.js';
import { VTD_FAULT_REASON as FR } from './faults/fault-reason.js';
import { IntelIommu } from './iommu.js';
import { FSTS, GCMD, VTD } from './regs.js';
import { TestBed, iecDescriptor, recordingTarget, waitDescriptor } from './test-support/testbed.js';

const bit64 = (value: bigint, f: { lsb: number }): boolean => ((value >> BigInt(f.lsb)) & 1n) === 1n;

describe('the OS sequence that enables interrupt remapping (VT-d 5.1.1, 6.5.2; Linux intel_irq_remapping)', () => {
  it('programs IRTA, SIRTP, a global IEC invalidation, IRE, clears CFI, then remaps and posts MSIs', () => {
    const bed = new TestBed();
    const NIC = 0x0300; // 03:00.0
    // Firmware left compatibility-format interrupts allowed.
    bed.command(GCMD.CFI);
    expect(bed.read32(VTD.GSTS) & GCMD.CFI).toBe(GCMD.CFI);

    // 1. Capabilities: interrupt remapping, queued invalidation, posting.
    const ecap = bed.read64(VTD.ECAP);
    const cap = bed.read64(VTD.CAP);
    expect(bit64(ecap, ECAP.IR) && bit64(ecap, ECAP.QI) && bit64(cap, CAP.PI)).toBe(true);

    // 2. Queued invalidation: IQA, IQT = 0, QIE, wait for QIES.
    bed.enableQueue();
    expect(bed.read32(VTD.GSTS) & GCMD.QIE).toBe(GCMD.QIE);

    // 3. IRTA (65536 entries, xAPIC mode), SIRTP, wait for IRTPS.
    const irt = bed.allocPage(256);
    bed.irt = irt;
    bed.write64(VTD.IRTA, BigInt(irt) | 0xfn);
    bed.command(GCMD.SIRTP);
    expect(bed.read32(VTD.GSTS) & GCMD.SIRTP).toBe(GCMD.SIRTP);

    // 4. Global IEC invalidation, with a wait descriptor the driver polls.
    bed.submit(iecDescriptor(true), waitDescriptor({ statusAddress: 0x7000, statusData: 1 }));
    expect(bed.memory.read32(0x7000)).toBe(1);

    // 5. IRE, wait for IRES; 6. clear CFI to block compatibility-format interrupts.
    bed.command(GCMD.IRE);
    expect(bed.read32(VTD.GSTS) & GCMD.IRE).toBe(GCMD.IRE);
    bed.command(GCMD.CFI, false);
    expect(bed.read32(VTD.GSTS) & GCMD.CFI).toBe(0);

    // A host interrupt: IRTE 0 remaps vector 0x41 to APIC 2, requester-ID checked.
    bed.remappedIrte(0, { vector: 0x41, dest: 2, svt: 1, sq: 0, sid: NIC });
    // A guest interrupt: IRTE 1 posts vector 0x55 into a vCPU's descriptor.
    const pid = new PostedInterruptDescriptor(bed.memory, 0x6000);
    pid.nv = 0xf2;
    pid.ndst = 5 << 8;
    bed.postedIrte(1, { vector: 0x55, pda: 0x6000, svt: 1, sid: NIC });

    // The NIC's MSI-X table holds remappable-format messages (SHV = 1, subhandle 0).
    const m0 = encodeRemappableMsi({ handle: 0, shv: true, subhandle: 0 });
    const m1 = encodeRemappableMsi({ handle: 1, shv: true, subhandle: 0 });
    expect(bed.iommu.sendMsi(NIC, m0.address, m0.data).outcome).toBe('remapped');
    const host = bed.target.deliveries[0]!;
    expect(decodeMsi(host.address, host.data)).toMatchObject({ destinationId: 2, destinationMode: 'physical', vector: 0x41, deliveryMode: 0, trigger: 'edge' });
    expect(bed.iommu.sendMsi(NIC, m1.address, m1.data)).toMatchObject({ outcome: 'posted', notified: true });
    expect(pid.testPir(0x55)).toBe(true);
    const notification = bed.target.deliveries[1]!;
    expect(decodeMsi(notification.address, notification.data)).toMatchObject({ destinationId: 5, vector: 0xf2 });
    // A compatibility-format MSI is now blocked and recorded.
    expect(bed.iommu.sendMsi(NIC, 0xfee0_2000, 0x41).faultReason).toBe(FR.IR_COMPATIBILITY_BLOCKED);
    expect(bed.read32(VTD.FSTS) & FSTS.PPF).toBe(FSTS.PPF);
  });
});

describe('a device cannot raise another device\'s interrupt (VT-d 9.10 source-ID verification)', () => {
  it('blocks the forged request, records it with the forger\'s source ID and raises the fault event', () => {
    const bed = new TestBed();
    const VICTIM = 0x0100;
    const FORGER = 0x0200;
    bed.write32(VTD.FEDATA, 0x4e);
    bed.write32(VTD.FEADDR, 0xfee0_0000);
    bed.write32(VTD.FECTL, 0);
    bed.setInterruptTable();
    bed.command(GCMD.IRE);
    bed.remappedIrte(0x20, { vector: 0x70, dest: 1, svt: 1, sq: 0, sid: VICTIM });
    const m = encodeRemappableMsi({ handle: 0x20, shv: true, subhandle: 0 });
    const r = bed.iommu.sendMsi(FORGER, m.address, m.data);
    expect(r).toMatchObject({ outcome: 'blocked', faultReason: FR.IR_SOURCE_ID_INVALID, faultRecorded: true, interruptIndex: 0x20 });
    expect(bed.iommu.faultRecord(0)).toMatchObject({ fault: true, sourceId: FORGER, reason: 0x26, interruptIndex: 0x20, read: false });
    // Only the fault event reached the CPUs, not vector 0x70.
    expect(bed.target.deliveries.map((d) => d.data)).toEqual([0x4e]);
    // The victim itself still gets through.
    expect(bed.iommu.sendMsi(VICTIM, m.address, m.data).outcome).toBe('remapped');
    expect(bed.target.deliveries[1]!.data & 0xff).toBe(0x70);
  });
});

describe('save and restore of the whole unit, stale VT-d 6.2 cache entries included', () => {
  /** Drives a unit through DMA, stale caches, faults, remapping and posting. */
  function drive(bed: TestBed): PostedInterruptDescriptor {
    bed.setRootTable();
    const sl = bed.attach(0x0100, 3);
    bed.map(sl, 0x1000, 0x9000);
    bed.command(GCMD.TE);
    bed.enableQueue();
    bed.setInterruptTable();
    bed.submit(iecDescriptor(true));
    bed.command(GCMD.IRE);
    bed.remappedIrte(1, { vector: 0x41, dest: 2 });
    const pid = new PostedInterruptDescriptor(bed.memory, 0x6000);
    pid.nv = 0xf2;
    pid.ndst = 0x100;
    bed.postedIrte(2, { vector: 0x55, pda: 0x6000 });
    bed.iommu.dmaRead(0x0100, 0x1000, 4);
    bed.iommu.sendMsi(0x0100, encodeRemappableMsi({ handle: 1, shv: false, subhandle: 0 }).address, 0);
    bed.iommu.sendMsi(0x0100, encodeRemappableMsi({ handle: 2, shv: false, subhandle: 0 }).address, 0);
    bed.iommu.dmaRead(0x0100, 0x5000, 4); // fault recorded, IP pending (masked)
    // Stale state: tables change without invalidation.
    bed.map(sl, 0x1000, 0xa000);
    bed.remappedIrte(1, { vector: 0x42, dest: 2 });
    return pid;
  }

  /** The same follow-up on any unit: results and deliveries must match. */
  function followUp(iommu: IntelIommu, target: ReturnType<typeof recordingTarget>): unknown[] {
    const out: unknown[] = [];
    out.push({ ...iommu.dmaRead(0x0100, 0x1000, 4) });
    out.push({ ...iommu.sendMsi(0x0100, encodeRemappableMsi({ handle: 1, shv: false, subhandle: 0 }).address, 0) });
    out.push({ ...iommu.sendMsi(0x0100, encodeRemappableMsi({ handle: 2, shv: false, subhandle: 0 }).address, 0) });
    iommu.mmioWrite(VTD.FECTL, 4, 0); // unmask: the held fault event goes out
    out.push(iommu.faultRecord(0), iommu.mmioRead(VTD.FSTS, 4), iommu.mmioRead(VTD.GSTS, 4));
    out.push(target.deliveries.map((d) => ({ ...d })));
    return out;
  }

  it('continues exactly as if it had never stopped, stale cache entries included', () => {
    const a = new TestBed();
    drive(a);
    const state = JSON.parse(JSON.stringify(a.iommu.saveState())) as unknown;
    const memoryState = JSON.parse(JSON.stringify(a.memory.saveState())) as unknown;

    const memory = new PhysicalMemory();
    memory.restoreState(memoryState);
    const target = recordingTarget();
    const b = new IntelIommu({ memory, target });
    b.restoreState(state);

    a.target.deliveries.length = 0;
    const expected = followUp(a.iommu, a.target);
    const got = followUp(b, target);
    expect(got).toEqual(expected);
    // The stale IOTLB entry and IEC entry were used on both.
    expect((expected[0] as { physicalAddress: number }).physicalAddress).toBe(0x9000);
    expect(b.saveState()).toEqual(a.iommu.saveState());
  });

  it('rejects foreign, wrong-version, mismatched and malformed states', () => {
    const bed = new TestBed();
    drive(bed);
    const good = bed.iommu.saveState();
    const fresh = (): IntelIommu => new IntelIommu({ memory: new PhysicalMemory(), target: recordingTarget() });
    expect(() => fresh().restoreState({ ...good, type: 'hvsim.lapic' })).toThrow(SnapshotError);
    expect(() => fresh().restoreState({ ...good, version: 2 })).toThrow(/version/);
    expect(() => new IntelIommu({ memory: new PhysicalMemory(), target: recordingTarget(), features: { postedInterrupts: false } }).restoreState(good)).toThrow(
      /postedInterrupts/,
    );
    expect(() => fresh().restoreState({ ...good, interruptEntryCache: [[1, 2, 3]] })).toThrow(/interruptEntryCache\[0\]/);
    expect(() => fresh().restoreState({ ...good, gsts: -1 })).toThrow(/gsts/);
    // Cached entries must be ones the hardware could have cached (present, valid IRTEs; valid context entries).
    expect(() => fresh().restoreState({ ...good, interruptEntryCache: [[1, 0, 0, 0, 0, 0]] })).toThrow(/interruptEntryCache\[0\] \(index 1\)/);
    expect(() => fresh().restoreState({ ...good, contextCache: [[0x100, 1, 0, 0, 2, 0x1000]] })).toThrow(/contextCache\[0\]/);
    expect(() => fresh().restoreState({ ...good, contextCache: [[0x100, 1, 3, 0, 4, 0x1000]] })).toThrow(SnapshotError);
    expect(() => fresh().restoreState({ ...good, queue: { ...good.queue, head: 1e6 } })).toThrow(/queue\.head/);
    expect(() => fresh().restoreState({ ...good, queue: { ...good.queue, enabled: !good.queue.enabled } })).toThrow(/QIES/);
    expect(() => fresh().restoreState('nope')).toThrow(SnapshotError);
  });
});

describe('tracing and counters (VT-d 7.2 fault reporting: nothing blocked without a record or a counter)', () => {
  it('emits fault events stamped with the clock\'s cycle', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x100_0000);
    const tracer = new RecordingTracer();
    const clock = new Clock();
    clock.advance(42);
    const iommu = new IntelIommu({ memory, target: recordingTarget(), tracer, clock });
    iommu.mmioWrite(VTD.GCMD, 4, GCMD.TE);
    // TE with root table 0: bus 0's root entry is not present.
    iommu.dmaRead(0x0010, 0x1000, 4);
    expect(tracer.events()).toContainEqual(expect.objectContaining({ kind: 'fault', cycle: 42, source: 'iommu', what: 'ROOT_ENTRY_NOT_PRESENT', code: 1 }));
    expect(iommu.stats).toMatchObject({ dmaRequests: 1, dmaFaults: 1, faultsRecorded: 1 });
  });

  it('emits interrupt.posted and tlb.miss events', () => {
    const tracer = new RecordingTracer();
    const bed = new TestBed({ tracer });
    bed.setRootTable();
    const sl = bed.attach(0x0100, 1);
    bed.map(sl, 0x1000, 0x9000);
    bed.command(GCMD.TE);
    bed.iommu.dmaRead(0x0100, 0x1000, 4);
    bed.iommu.dmaRead(0x0100, 0x1004, 4);
    expect(tracer.events().filter((e) => e.kind === 'tlb.miss')).toHaveLength(1);
    bed.setInterruptTable();
    bed.command(GCMD.IRE);
    const pid = new PostedInterruptDescriptor(bed.memory, 0x6000);
    pid.nv = 0xf2;
    bed.postedIrte(2, { vector: 0x55, pda: 0x6000 });
    bed.iommu.sendMsi(0x0100, encodeRemappableMsi({ handle: 2, shv: false, subhandle: 0 }).address, 0);
    expect(tracer.events()).toContainEqual(expect.objectContaining({ kind: 'interrupt.posted', vector: 0x55, args: { sid: 0x0100, index: 2, notified: true } }));
  });

  it('counts DMA that reaches no memory', () => {
    const bed = new TestBed();
    expect(bed.iommu.dmaRead(0x10, 0x3000_0000, 4).status).toBe('unsupported-request');
    expect(bed.iommu.stats.unsupportedRequests).toBe(1);
  });
});

describe('host-side arguments are checked (issue 12)', () => {
  it('names a misspelled option, a bad wiring and a bigint where a number belongs', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_0000);
    const target = recordingTarget();
    expect(() => new IntelIommu({ memory, target, featurs: {} } as never)).toThrow(/IntelIommu has no option "featurs"/);
    expect(() => new IntelIommu({ memory, target, features: { postedInterrupt: true } as never })).toThrow(/no option "postedInterrupt"/);
    expect(() => new IntelIommu({ memory, target, features: { passThrough: 1 as never } })).toThrow(/features.passThrough must be a boolean/);
    expect(() => new IntelIommu({ memory: {} as never, target })).toThrow(/Memory interface/);
    expect(() => new IntelIommu({ memory, target: {} as never })).toThrow(/deliverMsi/);
    const iommu = new IntelIommu({ memory, target });
    expect(() => iommu.sendMsi(1n as never, 0xfee0_0000, 0)).toThrow(UsageError);
    expect(() => iommu.sendMsi(1, 0xfee0_0000n as never, 0)).toThrow(/MSI address/);
    expect(() => iommu.sendMsi(1, 0xfee0_0000, 0n as never)).toThrow(/MSI data/);
    expect(() => iommu.sendMsi(1, 0xfee0_0000, 0, 1n as never)).toThrow(/flow must be/);
    expect(() => iommu.dmaRead(1, 0x1000n as never, 4)).toThrow(/DMA address/);
    expect(() => iommu.dmaWrite(1, 0x1000, 4, 1n as never)).toThrow(/DMA write value/);
    expect(() => iommu.mmioRead(0x10n as never, 4)).toThrow(/register offset/);
    expect(() => iommu.mmioWrite(0x10, 4, 1n as never)).toThrow(UsageError);
  });
});
