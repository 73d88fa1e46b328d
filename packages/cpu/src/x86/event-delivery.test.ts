import { describe, expect, it } from 'vitest';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { LAYOUT, enablePaging, setGate, x86Machine } from '../test-support/x86-machine.js';

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
