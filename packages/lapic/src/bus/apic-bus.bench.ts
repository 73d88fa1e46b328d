/**
 * APIC bus delivery (issue 3 speed targets). Each iteration delivers
 * N = 1000 messages, so messages per second = hz x 1000; for logical and
 * broadcast deliveries, APICs reached per second = hz x 1000 x targets.
 */
import { bench, describe } from 'vitest';
import { Clock } from '@hvsim/core';
import { LocalApic } from '../apic/local-apic.js';
import type { ApicBusMessage } from './apic-message.js';
import { ApicBus } from './apic-bus.js';
import { IoApic } from '../ioapic/io-apic.js';

const N = 1000;

function system(n: number): { bus: ApicBus; apics: LocalApic[] } {
  const clock = new Clock();
  const bus = new ApicBus();
  const apics: LocalApic[] = [];
  for (let i = 0; i < n; i++) {
    const apic = new LocalApic({ id: i, clock });
    apic.writeMsr(0x1b, 0xfee00c00n);
    apic.writeMsr(0x80f, 0x1ffn);
    bus.attach(apic);
    apics.push(apic);
  }
  return { bus, apics };
}

function message(destination: number, logical: boolean): ApicBusMessage {
  return { destination, logical, shorthand: 0, vector: 0x41, deliveryMode: 0, trigger: 'edge', level: true, x2apicDestination: true };
}

describe(`APIC bus, ${N} deliveries per iteration`, () => {
  // Issue 12: physical delivery must not depend on the number of APICs (1 of 1,024 within 1.3x of 1 of 1).
  for (const n of [1, 1024]) {
    const { bus } = system(n);
    const m = message(n - 1, false);
    bench(`physical to a fixed one of ${n} APICs (coalescing into IRR)`, () => {
      for (let i = 0; i < N; i++) bus.deliver(m);
    });
  }
  {
    const { bus } = system(1024);
    const m = message(0, false);
    let next = 0;
    bench('physical to one of 1024 APICs, cycling over all (coalescing into IRR)', () => {
      for (let i = 0; i < N; i++) {
        m.destination = next++ & 1023;
        bus.deliver(m);
      }
    });
  }

  for (const n of [16, 256]) {
    const { bus } = system(n);
    const m = message(0, false);
    bench(`physical to one of ${n} APICs (coalescing into IRR)`, () => {
      for (let i = 0; i < N; i++) {
        m.destination = i & (n - 1);
        bus.deliver(m);
      }
    });
  }

  {
    const { bus, apics } = system(256);
    const m = message(0, false);
    bench('physical to one of 256 APICs + acknowledge + EOI', () => {
      for (let i = 0; i < N; i++) {
        const id = i & 255;
        m.destination = id;
        bus.deliver(m);
        const apic = apics[id]!;
        apic.acknowledge();
        apic.writeMsr(0x80b, 0n);
      }
    });
  }

  {
    const { bus } = system(256);
    // x2APIC cluster 3 (IDs 48-63), 4 members: 4 targets per message
    const m = message((3 << 16) | 0b1111, true);
    bench('x2APIC logical to 4 of 256 APICs', () => {
      for (let i = 0; i < N; i++) bus.deliver(m);
    });
    const m16 = message((3 << 16) | 0xffff, true);
    bench('x2APIC logical to 16 of 256 APICs', () => {
      for (let i = 0; i < N; i++) bus.deliver(m16);
    });
    const b = message(0xffff_ffff, false);
    // 100 messages per iteration: [ops=100] tells scripts/bench.mjs the batch size.
    bench('broadcast to 256 APICs [ops=100]', () => {
      for (let i = 0; i < N / 10; i++) bus.deliver(b);
    });
  }

  {
    const { bus } = system(16);
    const io = new IoApic();
    bus.attach(io);
    io.writeIndirect(0x10, 0x41); // pin 0: edge, fixed, APIC 0
    bench('IoApic.setIrq edge pulse to one APIC (+ status) [ops=500]', () => {
      for (let i = 0; i < N / 2; i++) {
        io.setIrq(0, true);
        io.setIrq(0, false);
      }
    });
    bench('deliverMsi physical to one of 16 APICs', () => {
      for (let i = 0; i < N; i++) bus.deliverMsi((0xfee00000 | ((i & 15) << 12)) >>> 0, 0x41);
    });
  }
});
