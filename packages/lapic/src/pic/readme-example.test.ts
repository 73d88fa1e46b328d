/** The README's PIC example, run as written (8259A datasheet, "Interrupt Sequence"). */
import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, LevelLine, PioBus } from '@hvsim/core';
import { PicPair } from '../index.js';

describe('README: the i8259A PIC pair', () => {
  it('works as documented', () => {
    const intr = new LevelLine();
    const pic = new PicPair({ output: intr });
    const ports = new PioBus();
    pic.attach(ports);
    for (const [port, value] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01],
                                 [0xa0, 0x11], [0xa1, 0x28], [0xa1, 0x02], [0xa1, 0x01]]) ports.write(port!, 1, value!);
    expect(pic.setIrq(12, true)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(intr.level).toBe(true);
    const vector = pic.acknowledge();
    ports.write(0xa0, 1, 0x20);
    ports.write(0x20, 1, 0x20);
    expect(vector.toString(16)).toBe('2c');
    expect(intr.level).toBe(false);
  });
});
