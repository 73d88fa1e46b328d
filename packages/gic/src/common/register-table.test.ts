/**
 * Register tables (one description per register, as QEMU's
 * vtd_define_long/quad and Linux's vgic-mmio region tables): lookup by
 * offset, RAZ/WI holes, writes masked to the writable and write-1-to-clear
 * bits, both words of 64-bit registers, and tables checked when built.
 */
import { UsageError } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { RegisterTable } from './register-table.js';

interface Dev {
  ctlr: number;
  base: [number, number];
  status: number;
  writes: number;
}

const table = new RegisterTable<Dev>('TEST', 0x100, [
  { name: 'TEST_CTLR', offset: 0x0, reset: 0x10, writable: 0x3, read: (d) => d.ctlr | 0x10, write: (d, v) => (d.ctlr = v) },
  { name: 'TEST_ID', offset: 0x4, reset: 0x43b, read: () => 0x43b },
  {
    name: 'TEST_BASER',
    offset: 0x8,
    width: 64,
    reset: 0,
    writable: 0xffff_f000,
    writableHigh: 0xff,
    read: (d, w) => d.base[w]!,
    write: (d, v, w) => {
      d.base[w] = v;
      d.writes++;
    },
  },
  { name: 'TEST_STATUSR', offset: 0x10, writable: 0, w1c: 0x5, read: (d) => d.status, write: (d, v) => (d.status &= ~v) },
]);

const dev = (): Dev => ({ ctlr: 0, base: [0, 0], status: 0x7, writes: 0 });

describe('RegisterTable', () => {
  it('reads each register at its offset and RAZ where none is', () => {
    const d = dev();
    expect(table.read(d, 0x0)).toBe(0x10);
    expect(table.read(d, 0x4)).toBe(0x43b);
    expect(table.read(d, 0x14)).toBe(0);
    expect(table.read(d, 0x400)).toBe(0); // beyond the frame
    expect(table.at(0xc)?.name).toBe('TEST_BASER');
    expect(table.named('TEST_ID')?.offset).toBe(0x4);
  });

  it('masks writes to the writable bits and ignores writes to read-only registers and holes', () => {
    const d = dev();
    table.write(d, 0x0, 0xffff_ffff);
    expect(d.ctlr).toBe(0x3);
    table.write(d, 0x4, 0xffff_ffff); // read-only: WI
    table.write(d, 0x14, 0xffff_ffff); // hole: WI
    expect(table.read(d, 0x4)).toBe(0x43b);
  });

  it('writes either word of a 64-bit register with its own mask and knows where 64-bit accesses start', () => {
    const d = dev();
    table.write(d, 0x8, 0x1234_5678);
    table.write(d, 0xc, 0xffff_ffff);
    expect(d.base).toEqual([0x1234_5000, 0xff]);
    expect(d.writes).toBe(2);
    expect(table.is64(0x8)).toBe(true);
    expect(table.is64(0xc)).toBe(false);
    expect(table.is64(0x0)).toBe(false);
  });

  it('passes write-1-to-clear bits to the handler, which clears them', () => {
    const d = dev();
    table.write(d, 0x10, 0xffff_ffff);
    expect(d.status).toBe(0x2); // bits 0 and 2 are W1C; bit 1 is not
  });

  it('refuses overlapping or misplaced descriptions when built', () => {
    const read = (): number => 0;
    expect(() => new RegisterTable('BAD', 0x10, [{ name: 'A', offset: 0, width: 64, read }, { name: 'B', offset: 4, read }])).toThrow(UsageError);
    expect(() => new RegisterTable('BAD', 0x10, [{ name: 'A', offset: 0, width: 64, read }, { name: 'B', offset: 4, read }])).toThrow(/BAD registers A and B overlap/);
    expect(() => new RegisterTable('BAD', 0x10, [{ name: 'C', offset: 4, width: 64, read }])).toThrow(/C at 0x4 is misaligned/);
    expect(() => new RegisterTable('BAD', 0x10, [{ name: 'D', offset: 0x10, read }])).toThrow(/outside the frame/);
  });
});
