/**
 * Local APIC hot paths (issue 3 speed targets). Each bench iteration runs
 * N = 1000 operations, so operations per second = hz x 1000.
 */
import { bench, describe } from 'vitest';
import { Clock, PhysicalMemory } from '@hvsim/core';
import { PostedInterruptDescriptor } from '../posted/posted-interrupt-descriptor.js';
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

  const e2 = x2apic();
  bench('self-IPI via x2APIC ICR writeMsr 0x830 with a number (+ acknowledge + EOI)', () => {
    for (let i = 0; i < N; i++) {
      e2.writeMsr(0x830, 0x40000 | 0x41);
      e2.acknowledge();
      e2.writeMsr(0x80b, 0);
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

  // Host seams (issue 11): APICv posting through the fixed-interrupt sink, and the PIR sync back.
  const memory = new PhysicalMemory();
  memory.addRegion(0x1000, 0x1000);
  const pid = new PostedInterruptDescriptor(memory, 0x1000);
  const g = new LocalApic({ id: 1, clock: new Clock(), deliverFixed: (v) => (pid.postFromSoftware(v), true) });
  g.mmioWrite(0xf0, 4, 0x1ff);
  const target = xapic();
  const pir = new Uint32Array(8);
  bench('accept into the fixed sink (postFromSoftware) + readAndClearPir + acceptVectors + ack + EOI', () => {
    for (let i = 0; i < N; i++) {
      g.acceptInterrupt(msg);
      pid.readAndClearPir(pir);
      pid.clearOn();
      target.acceptVectors(pir);
      pir[2] = 0;
      target.acknowledge();
      target.mmioWrite(0xb0, 4, 0);
    }
  });

  const h = xapic();
  const words = new Uint32Array(8);
  bench('vAPIC exchange: copyIrr + copyIsr + loadIrr + loadIsr + loadTpr', () => {
    for (let i = 0; i < N; i++) {
      h.copyIrr(words);
      h.loadIrr(words);
      h.copyIsr(words);
      h.loadIsr(words);
      h.loadTpr(i & 0xf0);
    }
  });

  const k = xapic();
  bench('eoiVector (edge vector, trace off)', () => {
    for (let i = 0; i < N; i++) k.eoiVector(0x41);
  });
});
