import { describe, expect, it } from 'vitest';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { LAYOUT, enablePaging, setGate, x86Machine } from '../test-support/x86-machine.js';
import { encodeIdtGate } from './idt-gate.js';

type Routine = Generator<Op, void, number>;

/** INT 0x40 with RSP at `rsp` under paging: the handler reads its frame back, IRET returns (SDM 3A 6.14.2, 6.14.3). */
function deliverWithStackAt(rsp: number) {
  const m = x86Machine({ tracer: undefined });
  const seen: number[] = [];
  m.program.define(0x2000_0000, function* handler(g: X86Guest): Routine {
    const sp = yield g.rsp();
    for (let i = 0; i < 5; i++) seen.push(yield g.ld64(sp + 8 * i)); // RIP, CS, RFLAGS, RSP, SS
    yield g.iret();
  });
  m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
    yield* setGate(g, 0x40, { target: 0x2000_0000 });
    yield* enablePaging(g);
    yield g.int(0x40);
    yield g.st32(LAYOUT.DATA, yield g.rsp());
  });
  m.cpu.setRegisters({ rsp });
  m.cpu.start(0x1000_0000);
  expect(m.cpu.run(1_000_000)).toBe('finished');
  return { seen, rspAfter: m.memory.read32(LAYOUT.DATA), stats: m.cpu.stats() };
}

describe('x86 event frame: one translation and the page view, or access by access', () => {
  it('writes and reads back the same frame whether it lies in one page or straddles two (SDM 3A 6.14.2)', () => {
    const inPage = deliverWithStackAt(0x8_0000);
    const split = deliverWithStackAt(0x7_f010); // the 40-byte frame crosses 0x7f000
    for (const r of [inPage, split]) {
      expect(r.seen[1]).toBe(0x10); // CS (the model's kernel code selector)
      expect(r.seen[4]).toBe(0x18); // SS
      expect(r.seen[2]! & 0x2).toBe(0x2); // RFLAGS bit 1 is always 1
    }
    expect(inPage.seen[3]).toBe(0x8_0000);
    expect(split.seen[3]).toBe(0x7_f010);
    expect(inPage.seen[0]).toBe(split.seen[0]); // the same return RIP
    expect([inPage.rspAfter, split.rspAfter]).toEqual([0x8_0000, 0x7_f010]); // IRET restored RSP
  });
});

describe('IDT gates are read at every delivery (SDM 3A 6.12.1, 6.14.1): the decoded-gate cache is exact', () => {
  it('sees a gate changed by a guest store, by the host, made not present, a new IDTR and a remapped IDT page', () => {
    const m = x86Machine({ tracer: undefined });
    const seen: string[] = [];
    const H = [0x2000_0000, 0x2100_0000, 0x2200_0000];
    H.forEach((address, i) =>
      m.program.define(address, function* handler(g: X86Guest, vector: number): Routine {
        seen.push(`h${i}:${vector}`);
        if (vector === 11) yield g.addRsp(8); // #NP pushes an error code
        yield g.iret();
      }),
    );
    const gate40 = LAYOUT.IDT + 0x40 * 16;
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, 0x40, { target: H[0]! });
      yield* setGate(g, 11, { target: H[2]! });
      yield* enablePaging(g);
      yield g.int(0x40);
      yield g.int(0x40); // the same gate again
      yield* setGate(g, 0x40, { target: H[1]! }); // a guest store
      yield g.int(0x40);
      m.memory.write32(gate40, encodeIdtGate({ target: H[2]! })[0]); // the host (or a device) writes the IDT
      m.memory.write32(gate40 + 4, encodeIdtGate({ target: H[2]! })[1]);
      yield g.int(0x40);
      yield* setGate(g, 0x40, { target: H[2]!, present: false });
      yield g.int(0x40); // #NP now
      // A second IDT at linear 0x4000_1000, first mapped onto the first (PDPT entry 1 -> PD0)...
      yield* setGate(g, 0x40, { target: H[0]! });
      yield g.st64(LAYOUT.PDPT + 8, LAYOUT.PD0 | 3);
      yield g.lidt(0x4000_1000, 0xfff);
      yield g.int(0x40);
      // ...then onto another 2 MiB page whose copy of the IDT says H[1] (PD at 0x6000: VA 0x4000_0000 -> PA 0x20_0000).
      yield* setGate(g, 0x40 + 0x20_0000 / 16, { target: H[1]! }); // PA 0x20_1400: gate 0x40 of the copy
      yield* setGate(g, 11 + 0x20_0000 / 16, { target: H[2]! });
      yield g.st64(0x6000, 0x20_0000 | 0x83);
      yield g.st64(LAYOUT.PDPT + 8, 0x6000 | 3);
      yield g.invlpg(0x4000_1000);
      yield g.int(0x40);
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(10_000_000)).toBe('finished');
    expect(seen).toEqual(['h0:64', 'h0:64', 'h1:64', 'h2:64', 'h2:11', 'h0:64', 'h1:64']);
  });
});

describe('event frames on a stack page used again (SDM 3A 6.14.2)', () => {
  it('pushes each frame through the current translation, tells write observers, and IRET reads it back', () => {
    const m = x86Machine({ tracer: undefined });
    const writes: [number, number][] = [];
    m.memory.addWriteObserver((address, size) => {
      if (address >= 0x60_0000 && address < 0xa0_0000) writes.push([address, size]);
    });
    const rips: number[] = [];
    m.program.define(0x2000_0000, function* handler(g: X86Guest): Routine {
      rips.push(yield g.ld64(yield g.rsp()));
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, 0x40, { target: 0x2000_0000 });
      yield* enablePaging(g);
      yield g.int(0x40);
      yield g.int(0x40); // the same stack page again
      // The stack's 2 MiB page (linear 0x60_0000) moves to physical 0x80_0000.
      yield g.st64(LAYOUT.PD0 + 3 * 8, 0x80_0000 | 0x83);
      yield g.invlpg(0x60_0000);
      yield g.int(0x40);
    });
    m.cpu.setRegisters({ rsp: 0x70_0000 });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    // Three frames of 40 bytes below the 16-aligned RSP: two at physical 0x6f_ffd8, the last at 0x8f_ffd8.
    expect(writes).toEqual([[0x6f_ffd8, 40], [0x6f_ffd8, 40], [0x8f_ffd8, 40]]);
    expect(m.memory.read32(0x8f_ffd8 + 24)).toBe(0x70_0000); // the saved RSP of the last frame
    expect(new Set(rips).size).toBe(3); // each IRET went back to its INT
  });
});
