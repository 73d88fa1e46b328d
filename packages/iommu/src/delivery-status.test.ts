/**
 * What became of each interrupt request (core's DELIVERY_STATUS, as
 * KVM_SIGNAL_MSI answers from it) and the flow id that follows it into the
 * trace.
 */
import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, RecordingTracer } from '@hvsim/core';
import { PostedInterruptDescriptor, encodeRemappableMsi } from '@hvsim/lapic';
import { VTD_FAULT_REASON } from './faults/fault-reason.js';
import { GCMD } from './regs.js';
import { TestBed, iecDescriptor } from './test-support/testbed.js';

const SID = 0x0100;
const PID = 0x6000;

function remapping(tracer?: RecordingTracer): TestBed {
  const bed = new TestBed({ x2apicTarget: true, ...(tracer ? { tracer } : {}) });
  bed.enableQueue();
  bed.setInterruptTable();
  bed.submit(iecDescriptor(true));
  bed.command(GCMD.IRE);
  bed.remappedIrte(1, { vector: 0x41, dest: 2, svt: 1, sid: SID });
  bed.postedIrte(2, { vector: 0x55, pda: PID, svt: 1, sid: SID });
  const pid = new PostedInterruptDescriptor(bed.memory, PID);
  pid.nv = 0xf2;
  return bed;
}

function msi(handle: number): number {
  return encodeRemappableMsi({ handle, shv: false, subhandle: 0 }).address;
}

describe('sendMsi status', () => {
  it('passes on what the interrupt target answered for pass-through and remapped interrupts (VT-d 5.1.1, 5.1.3)', () => {
    const off = new TestBed();
    off.target.answer = DELIVERY_STATUS.COALESCED;
    expect(off.iommu.sendMsi(SID, 0xfee0_0000, 0x30)).toMatchObject({ outcome: 'passthrough', status: DELIVERY_STATUS.COALESCED });
    const bed = remapping();
    expect(bed.iommu.sendMsi(SID, msi(1), 0).status).toBe(DELIVERY_STATUS.DELIVERED);
    bed.target.answer = DELIVERY_STATUS.DROPPED;
    expect(bed.iommu.sendMsi(SID, msi(1), 0)).toMatchObject({ outcome: 'remapped', status: DELIVERY_STATUS.DROPPED });
    // IntelIommu as an MsiTarget answers the same.
    bed.target.answer = DELIVERY_STATUS.COALESCED;
    expect(bed.iommu.deliverMsi(msi(1), 0, SID)).toBe(DELIVERY_STATUS.COALESCED);
  });

  it('is BLOCKED for every remapping fault', () => {
    const bed = remapping();
    expect(bed.iommu.sendMsi(0x0200, msi(1), 0)).toMatchObject({ outcome: 'blocked', status: DELIVERY_STATUS.BLOCKED, faultReason: VTD_FAULT_REASON.IR_SOURCE_ID_INVALID });
    expect(bed.iommu.sendMsi(SID, msi(7), 0).status).toBe(DELIVERY_STATUS.BLOCKED);
    expect(bed.iommu.sendMsi(SID, 0xfee0_0000, 0x30).status).toBe(DELIVERY_STATUS.BLOCKED); // compatibility format, CFIS = 0
  });

  it('is DELIVERED for a new PIR bit and COALESCED when the bit was already set (VT-d 9.11), with or without a notification', () => {
    const bed = remapping();
    expect(bed.iommu.sendMsi(SID, msi(2), 0)).toMatchObject({ outcome: 'posted', status: DELIVERY_STATUS.DELIVERED, notified: true });
    expect(bed.iommu.sendMsi(SID, msi(2), 0)).toMatchObject({ outcome: 'posted', status: DELIVERY_STATUS.COALESCED, notified: false });
    const pid = new PostedInterruptDescriptor(bed.memory, PID);
    const words = new Uint32Array(8);
    pid.readAndClearPir(words);
    pid.clearOn();
    expect(bed.iommu.sendMsi(SID, msi(2), 0)).toMatchObject({ status: DELIVERY_STATUS.DELIVERED, notified: true });
    expect(bed.target.deliveries.filter((d) => d.data === 0xf2)).toHaveLength(2);
  });
});

describe('flow ids in trace events (core FlowIds)', () => {
  it('repeats the flow of sendMsi in the msi, posted, coalesced and fault events', () => {
    const tracer = new RecordingTracer();
    const bed = remapping(tracer);
    bed.iommu.sendMsi(SID, msi(1), 0, 11);
    bed.iommu.sendMsi(SID, msi(2), 0, 12);
    bed.iommu.sendMsi(SID, msi(2), 0, 13);
    bed.iommu.sendMsi(0x0200, msi(2), 0, 14);
    bed.iommu.sendMsi(SID, msi(1), 0);
    const events = tracer.events().filter((e) => e.source === 'iommu').map((e) => [e.kind, e.flow]);
    expect(events).toEqual([
      ['msi', 11],
      ['interrupt.posted', 12],
      ['interrupt.coalesced', 13],
      ['fault', 14],
      ['msi', 0],
    ]);
  });
});
