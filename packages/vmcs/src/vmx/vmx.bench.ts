/**
 * Speed targets of issue 4: VMREAD/VMWRITE of a 32-bit field (>= 20 M/s),
 * posted-interrupt processing of one vector through virtual-interrupt
 * delivery and a virtualized EOI (>= 5 M/s), and deciding from the MSR
 * bitmap whether an x2APIC MSR access exits (>= 30 M/s).
 *
 * Each bench iteration runs a batch of operations so the harness's
 * per-iteration timing overhead does not swamp operations of a few
 * nanoseconds; `[ops=N]` in a bench's name tells scripts/bench.mjs to report
 * operations per second (hz x N).
 */
import { bench, describe } from 'vitest';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { VMCS_FIELD } from '../fields/field-table.js';
import { ADDR, apicvOptions, launch, preparedFixture, rootFixture } from '../internal/test-setup.js';
import { setMsrIntercept } from '../apicv/msr-bitmap.js';

const BATCH = 1000;
/** Results go here so the optimizer cannot drop the work. */
const sink = { value: 0 };

describe('VMREAD/VMWRITE of a 32-bit field (target 20 M/s)', () => {
  const { p } = rootFixture();
  const enc = VMCS_FIELD.EXCEPTION_BITMAP;
  bench(`vmread32(EXCEPTION_BITMAP) [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) sink.value ^= p.vmread32(enc);
  });
  bench(`vmwrite32(EXCEPTION_BITMAP) [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) p.vmwrite32(enc, i);
  });
  bench(`vmread(EXCEPTION_BITMAP) (bigint API) [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) if (p.vmread(enc).kind !== 'value') sink.value++;
  });
});

describe('posted interrupt -> virtual-interrupt delivery -> virtualized EOI (target 5 M/s)', () => {
  const f = preparedFixture(apicvOptions());
  launch(f);
  const pid = new PostedInterruptDescriptor(f.memory, ADDR.PID);
  let v = 0x30;
  bench(`post, notification 0xF2 -> posted-interrupt processing, delivery at the boundary, EOI by WRMSR 0x80B [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) {
      v = v === 0xef ? 0x30 : v + 1;
      pid.postFromSoftware(v);
      f.p.externalInterrupt(0xf2, true);
      f.p.instructionBoundary(true);
      f.p.wrmsr(0x80b, 0);
    }
  });
  bench(`sender sets PIR bit and ON with two 32-bit stores, then the same processor path [ops=${BATCH}]`, () => {
    const mem = f.memory;
    for (let i = 0; i < BATCH; i++) {
      v = v === 0xef ? 0x30 : v + 1;
      mem.write32(ADDR.PID + ((v >>> 5) << 2), (1 << (v & 31)) >>> 0); // PIR word (empty before: the last processing took it)
      mem.write32(ADDR.PID + 0x20, 1); // ON (NV/NDST are not used by a software poster here)
      f.p.externalInterrupt(0xf2, true);
      f.p.instructionBoundary(true);
      f.p.wrmsr(0x80b, 0);
    }
  });
  bench(`self IPI by WRMSR 0x83F, delivery, EOI [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) {
      v = v === 0xef ? 0x30 : v + 1;
      f.p.wrmsr(0x83f, v);
      f.p.instructionBoundary(true);
      f.p.wrmsr(0x80b, 0);
    }
  });
});

describe('does an x2APIC MSR access exit? (MSR bitmap; target 30 M/s)', () => {
  const f = preparedFixture(apicvOptions());
  for (let msr = 0x800; msr <= 0x8ff; msr++) setMsrIntercept(f.memory, ADDR.MSR_BITMAP, msr, { write: msr !== 0x808 && msr !== 0x80b && msr !== 0x83f });
  launch(f);
  bench(`msrAccessExits(0x800-0x8ff, write) [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) if (f.p.msrAccessExits(0x800 + (i & 0xff), true)) sink.value++;
  });
  bench(`msrAccessExits(0x800-0x8ff, read) [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) if (f.p.msrAccessExits(0x800 + (i & 0xff), false)) sink.value++;
  });
});
