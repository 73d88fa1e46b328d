/**
 * Nothing a guest or device can do escapes as a host error (issue 12):
 * random register writes of every size and offset (64-bit too, with address
 * bits far above the host address width), random root/context/second-level
 * table and IRT contents, random invalidation descriptors, random MSIs and
 * DMA. Every operation returns normally (faults are values), the queue never
 * stops with work left and IQE clear, and the state saved afterwards
 * restores through JSON into a fresh unit that saves the same state.
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { IntelIommu } from './iommu.js';
import { FSTS, GCMD, VTD } from './regs.js';
import { TestBed, ccDescriptor, iecDescriptor, iotlbDescriptor, recordingTarget, waitDescriptor } from './test-support/testbed.js';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { DESCRIPTOR_TYPE } from './qi/descriptors.js';
import { itInParts } from './test-support/property-share.js';

const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

/** Where the interesting tables live: the first 128 KiB of memory (register values point there). */
const TABLE_AREA = 0x2_0000;
const SID = 0x0100;
/** The posted-interrupt descriptor the setup's posted IRTE names. */
const PID = 0x6000;

/** A working configuration to start from: tables, a mapped device, remapped and posted IRTEs, the queue. */
function setUp(bed: TestBed, s: number, eime: boolean): void {
  bed.setRootTable();
  bed.slRoot = bed.attach(SID, 1);
  bed.map(bed.slRoot, 0, 0x30_0000);
  bed.map(bed.slRoot, 0x1000, 0x30_1000, { write: false });
  bed.map(bed.slRoot, 0x20_0000, 0x40_0000, { pageSize: 0x20_0000 });
  bed.enableQueue();
  bed.setInterruptTable(s, eime);
  bed.submit(iecDescriptor(true));
  bed.remappedIrte(1, { vector: 0x41, dest: 2, svt: 1, sid: SID });
  bed.postedIrte(2, { vector: 0x55, pda: PID });
  new PostedInterruptDescriptor(bed.memory, PID).nv = 0xf2;
  bed.command(GCMD.IRE);
  bed.command(GCMD.TE);
}

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** A 64-bit register value: a table address in the table area with random low flags, or anything at all. */
const value64 = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: TABLE_AREA / 0x1000 - 1 }), fc.integer({ min: 0, max: 0xfff })).map(([page, low]) => BigInt(page * 0x1000 + low)),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 0xffff })).map(([bit, page]) => (1n << BigInt(48 + bit)) | BigInt(page * 0x1000)),
);
/** A word for the tables: mostly plausible entries (present, small addresses), sometimes anything. */
const tableWord = fc.oneof(
  u32,
  fc.tuple(fc.integer({ min: 0, max: TABLE_AREA / 0x1000 - 1 }), fc.integer({ min: 0, max: 0xff })).map(([page, low]) => page * 0x1000 + (low | 1)),
  fc.constantFrom(0, 1, 3, 0x8001, 0x80, 0x8000_0000, 0xffff_ffff),
);
const descriptorWord0 = fc.oneof(
  fc.tuple(fc.constantFrom(...Object.values(DESCRIPTOR_TYPE)), fc.integer({ min: 0, max: 0xfff_ffff })).map(([t, rest]) => ((rest << 4) | t) >>> 0),
  fc.constantFrom(DESCRIPTOR_TYPE.INTERRUPT_ENTRY_CACHE, DESCRIPTOR_TYPE.INVALIDATION_WAIT | 0x20, DESCRIPTOR_TYPE.IOTLB | 0x10, DESCRIPTOR_TYPE.CONTEXT_CACHE | 0x10),
  u32,
);
const registerOffset = fc.oneof(
  fc.constantFrom(...Object.values(VTD)),
  fc.integer({ min: 0, max: 0xfff }),
);

const op = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), offset: registerOffset, size: fc.constantFrom(1 as const, 2 as const, 4 as const), value: u32 }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('write64' as const),
      offset: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(VTD.RTADDR, VTD.CCMD, VTD.IQT, VTD.IQA, VTD.IRTA, VTD.IVA, VTD.IOTLB) },
        fc.integer({ min: 0, max: 0x1ff }).map((i) => i * 8),
      ),
      value: value64,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('command' as const),
      bits: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(GCMD.TE, GCMD.SRTP, GCMD.QIE, GCMD.IRE, GCMD.SIRTP, GCMD.CFI).map((b) => [b]) }, fc.subarray([GCMD.TE, GCMD.SRTP, GCMD.QIE, GCMD.IRE, GCMD.SIRTP, GCMD.CFI], { minLength: 2, maxLength: 2 })),
      on: fc.boolean(),
    }),
  },
  fc.record({ kind: fc.constant('read' as const), offset: registerOffset, size: fc.constantFrom(1 as const, 2 as const, 4 as const) }),
  fc.record({
    kind: fc.constant('memory' as const),
    table: fc.integer({ min: 0, max: 6 }),
    at: fc.integer({ min: 0, max: 0x3fc }).map((i) => i * 4),
    words: fc.array(tableWord, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('descriptor' as const), w0: fc.constant(-1), w1: fc.integer({ min: 0, max: 4 }), w2: fc.integer({ min: 0, max: 7 }), w3: fc.constant(0) }),
  fc.record({ kind: fc.constant('descriptor' as const), w0: descriptorWord0, w1: tableWord, w2: tableWord, w3: fc.oneof(fc.constant(0), u32) }),
  fc.record({ kind: fc.constant('msi' as const), sid: fc.integer({ min: 0, max: 0xffff }), address: fc.integer({ min: 0xfee0_0000, max: 0xfeef_ffff }), data: u32 }),
  fc.record({
    kind: fc.constant('msi' as const),
    sid: fc.constantFrom(SID, SID + 1, 0x0200),
    // Remappable format: handle in bits 19:5, SHV bit 3; a few small handles, sub-handles in the data.
    address: fc.tuple(fc.integer({ min: 0, max: 7 }), fc.boolean()).map(([handle, shv]) => (0xfee0_0010 | (handle << 5) | (shv ? 8 : 0)) >>> 0),
    data: fc.oneof(fc.integer({ min: 0, max: 3 }), u32),
  }),
  fc.record({
    kind: fc.constant('dma' as const),
    sid: fc.oneof(fc.constantFrom(SID, SID + 1), fc.integer({ min: 0, max: 0xffff })),
    page: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0x200, 0x201, 0x3ff),fc.integer({ min: 0, max: 0x1_ffff }), fc.constantFrom(0xfee00, 0xfffff, 2 ** 36 - 1, 2 ** 41 - 1)),
    offset: fc.integer({ min: 0, max: 0xffc }),
    size: fc.constantFrom(1 as const, 2 as const, 4 as const),
    write: fc.boolean(),
    value: fc.integer({ min: 0, max: 0xff }),
  }),
  fc.record({ kind: fc.constant('burst' as const), sid: fc.integer({ min: 0, max: 0xffff }), iova: fc.integer({ min: 0, max: 0x2000_0000 }), length: fc.integer({ min: 1, max: 0x1800 }), write: fc.boolean() }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function apply(bed: TestBed, o: Op): void {
  const iommu = bed.iommu;
  switch (o.kind) {
    case 'write':
      iommu.mmioWrite(o.offset, o.size, o.size === 4 ? o.value : o.value & (o.size === 2 ? 0xffff : 0xff));
      return;
    case 'write64':
      iommu.mmioWrite64(o.offset, o.value);
      return;
    case 'command': {
      const bits = o.bits.reduce((a, b) => a | b, 0);
      const status = iommu.mmioRead(VTD.GSTS, 4) & 0x96ff_ffff;
      iommu.mmioWrite(VTD.GCMD, 4, (o.on ? status | bits : status & ~bits) >>> 0);
      return;
    }
    case 'read':
      iommu.mmioRead(o.offset, o.size);
      return;
    case 'memory': {
      // Corrupt a table the setup built (or low memory when there is none).
      const bases = [bed.rootTable, bed.rootTable < 0 ? -1 : bed.contextTable(SID >>> 8), bed.slRoot, bed.irt, bed.queueBase, PID, 0];
      const base = bases[o.table]! < 0 ? 0 : bases[o.table]!;
      o.words.forEach((w, i) => {
        bed.memory.write32(base + o.at + i * 4, w >>> 0);
      });
      return;
    }
    case 'descriptor': {
      // Software's view: IQA low bits as the queue base in the table area (or wherever IQA points, if it is there).
      const iqa = iommu.mmioRead64(VTD.IQA);
      const base = Number(iqa & 0xffff_ffff_f000n);
      const tail = iommu.mmioRead(VTD.IQT, 4) >>> 4;
      const entries = 2 ** (Number(iqa & 7n) + 8);
      const at = base + (tail % entries) * 16;
      // w0 = -1: a well-formed descriptor chosen by w1 (and a wait status address by w2).
      const words: readonly number[] =
        o.w0 === -1
          ? [iecDescriptor(true), iecDescriptor(false, o.w2, 1), iotlbDescriptor(1), ccDescriptor(1), waitDescriptor({ statusAddress: 0x8000 + o.w2 * 4, statusData: o.w2, interrupt: o.w2 > 3 })][o.w1]!
          : [o.w0, o.w1, o.w2, o.w3];
      if (bed.memory.isWritable(at, 16)) bed.writeEntry(at, words[0]!, words[1]!, words[2]!, words[3]!);
      iommu.mmioWrite(VTD.IQT, 4, ((tail + 1) % entries) << 4);
      return;
    }
    case 'msi':
      iommu.sendMsi(o.sid, o.address, o.data);
      return;
    case 'dma': {
      const iova = o.page * 0x1000 + o.offset;
      if (o.write) iommu.dmaWrite(o.sid, iova, o.size, o.size === 1 ? o.value : o.value * 0x101);
      else iommu.dmaRead(o.sid, iova, o.size);
      return;
    }
    case 'burst': {
      const buffer = new Uint8Array(o.length);
      if (o.write) iommu.dmaWriteBytes(o.sid, o.iova, buffer);
      else iommu.dmaReadBytes(o.sid, o.iova, buffer);
      return;
    }
  }
}

describe('nothing escapes (issue 12)', () => {
  itInParts('every random guest/device operation returns normally, the queue is never left stuck, and the state round-trips', numRuns, 3, (params) => {
    // One unit and one copy for all runs (a unit costs milliseconds to build): each run starts from
    // zeroed tables and the unit's reset state.
    const bed = new TestBed({ x2apicTarget: true });
    const reset = bed.iommu.saveState();
    const copy = new IntelIommu({ memory: bed.memory, target: recordingTarget(true) });
    fc.assert(
      fc.property(fc.option(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.boolean()), { freq: 4 }), fc.array(op, { minLength: 1, maxLength: 40, size: 'max' }), (setup, ops) => {
        bed.memory.fill(0, TABLE_AREA, 0);
        bed.iommu.restoreState(reset);
        bed.rootTable = -1;
        bed.slRoot = -1;
        bed.irt = -1;
        bed.queueBase = -1;
        if (setup !== null) setUp(bed, setup[0], setup[1]);
        const stuck: string[] = [];
        for (const o of ops) {
          apply(bed, o);
          const status = bed.iommu.globalStatus;
          const fsts = bed.iommu.mmioRead(VTD.FSTS, 4);
          if ((status & GCMD.QIE) !== 0 && (fsts & FSTS.IQE) === 0) {
            // Processing is synchronous: an enabled queue without an error has no work left.
            const iqh = bed.iommu.mmioRead(VTD.IQH, 4);
            const iqt = bed.iommu.mmioRead(VTD.IQT, 4);
            if (iqh !== iqt) stuck.push(`after ${o.kind}: IQH 0x${iqh.toString(16)} != IQT 0x${iqt.toString(16)}`);
          }
        }
        expect(stuck).toEqual([]);
        const json = JSON.stringify(bed.iommu.saveState());
        copy.restoreState(JSON.parse(json));
        expect(JSON.stringify(copy.saveState())).toBe(json);
      }),
      params,
    );
  });
});
