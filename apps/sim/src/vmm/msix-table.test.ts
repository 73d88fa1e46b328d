import { describe, expect, it } from 'vitest';
import { NIC_MSIX } from '../devices/nic-regs.js';
import { msixTableEmulation } from './msix-table.js';

describe('the VMM\'s emulated MSI-X table entry (PCI 3.0 6.8.2)', () => {
  it('keeps the guest\'s entry, routes on unmask and on a change while unmasked, passes the mask on, reads other entries and the PBA as 0', () => {
    const routes: number[][] = [];
    const controls: number[] = [];
    const mmio = msixTableEmulation(0x1000, { route: (e) => routes.push([...e]), control: (m) => controls.push(m) });
    const word = (v: number): Uint8Array => new Uint8Array(new Uint32Array([v]).buffer);
    const read = (gpa: number): number => {
      const d = word(0xdead_beef);
      expect(mmio(gpa, false, d, 4)).toBe(true);
      return new DataView(d.buffer).getUint32(0, true);
    };
    expect(read(0x100c)).toBe(NIC_MSIX.MASKED); // masked at reset (6.8.2.9)
    expect(mmio(0x1000, true, word(0x0809_0040), 4)).toBe(true);
    expect(mmio(0x1008, true, word(7), 4)).toBe(true);
    expect(routes).toEqual([]); // masked: nothing routed yet
    mmio(0x100c, true, word(0), 4); // unmask
    expect(routes).toEqual([[0x0809_0040, 0, 7, 0]]);
    mmio(0x1008, true, word(8), 4); // a live change
    expect(routes.at(-1)).toEqual([0x0809_0040, 0, 8, 0]);
    mmio(0x100c, true, word(NIC_MSIX.MASKED), 4);
    expect(controls).toEqual([0, NIC_MSIX.MASKED]);
    expect(routes).toHaveLength(2);
    expect([read(0x1000), read(0x1008), read(0x1010), read(0x1800)]).toEqual([0x0809_0040, 8, 0, 0]);
    expect(mmio(0x2000, false, word(0), 4)).toBe(false); // not the table's page
  });
});
