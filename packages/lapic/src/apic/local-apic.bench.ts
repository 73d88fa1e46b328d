/**
 * Local APIC hot paths (issue 3 speed targets). Each bench iteration runs
 * N = 1000 operations, so operations per second = hz x 1000.
 */
import { bench, describe } from 'vitest';
import { Clock } from '@hvsim/core';
import { LocalApic } from './local-apic.js';

const N = 1000;

function xapic(): LocalApic {
  const apic = new LocalApic({ id: 0, clock: new Clock() });
  apic.mmioWrite(0xf0, 4, 0x1ff);
  return apic;
}

function x2apic(): LocalApic {
  const apic = xapic();
  apic.writeMsr(0x1b, 0xfee00d00n);
  apic.writeMsr(0x80f, 0x1ffn);
  return apic;
}

const msg = { vector: 0x41, deliveryMode: 0, trigger: 'edge' as const };

describe(`local APIC, ${N} operations per iteration`, () => {
  const a = xapic();
  bench('accept + acknowledge + EOI (xAPIC MMIO EOI)', () => {
    for (let i = 0; i < N; i++) {
      a.acceptInterrupt(msg);
      a.acknowledge();
      a.mmioWrite(0xb0, 4, 0);
    }
  });

  const b = x2apic();
  bench('accept + acknowledge + EOI (x2APIC writeMsr 0x80B)', () => {
    for (let i = 0; i < N; i++) {
      b.acceptInterrupt(msg);
      b.acknowledge();
      b.writeMsr(0x80b, 0n);
    }
  });

  const c = x2apic();
  bench('x2APIC EOI writeMsr alone (empty ISR)', () => {
    for (let i = 0; i < N; i++) c.writeMsr(0x80b, 0n);
  });

  const d = xapic();
  bench('self-IPI via xAPIC ICR write, to IRR (+ acknowledge + EOI)', () => {
    for (let i = 0; i < N; i++) {
      d.mmioWrite(0x300, 4, 0x40000 | 0x41);
      d.acknowledge();
      d.mmioWrite(0xb0, 4, 0);
    }
  });

  const e = x2apic();
  const icr = 0x40000n | 0x41n;
  bench('self-IPI via x2APIC ICR writeMsr 0x830 (+ acknowledge + EOI)', () => {
    for (let i = 0; i < N; i++) {
      e.writeMsr(0x830, icr);
      e.acknowledge();
      e.writeMsr(0x80b, 0n);
    }
  });

  const f = x2apic();
  bench('self-IPI via x2APIC SELF IPI writeMsr 0x83F (+ acknowledge + EOI)', () => {
    for (let i = 0; i < N; i++) {
      f.writeMsr(0x83f, 0x41n);
      f.acknowledge();
      f.writeMsr(0x80b, 0n);
    }
  });
});
