import { describe, expect, it } from 'vitest';
import { X86PagingContext } from './paging-context.js';

describe('X86PagingContext (SDM 3A 2.5 "Control Registers", 4.5 Table 4-14)', () => {
  it('decodes CR0, CR3, CR4, IA32_EFER and RFLAGS', () => {
    const c = X86PagingContext.fromRegisters({
      cr0: 0x8001_0033n,
      cr3: 0x8000_0000_1234_5003n, // bit 63 is not part of CR3
      cr4: (1n << 7n) | (1n << 12n) | (1n << 17n) | (1n << 20n) | (1n << 21n) | (1n << 22n),
      efer: 0xd01n,
      rflags: 0x4_0202n,
      pkru: 0x55,
    });
    expect([c.cr0Wp, c.cr4Pge, c.cr4La57, c.cr4Pcide, c.cr4Smep, c.cr4Smap, c.cr4Pke, c.cr4Pks, c.eferNxe, c.rflagsAc]).toEqual([true, true, true, true, true, true, true, false, true, true]);
    expect(c.rootAddress).toBe(0x1234_5000);
    expect(c.pcid).toBe(3);
    expect(c.levels).toBe(5);
    expect(c.pkru).toBe(0x55);
  });

  it('masks the root to MAXPHYADDR, and the PCID only counts with CR4.PCIDE', () => {
    const c = new X86PagingContext({ cr3: 0x1f_0000_1fff, maxPhyAddr: 36 });
    expect(c.rootAddress).toBe(0xf_0000_1000);
    expect(c.pcid).toBe(0);
    c.maxPhyAddr = 40;
    expect(c.rootAddress).toBe(0x1f_0000_1000);
    c.cr4Pcide = true;
    expect(c.pcid).toBe(0xfff);
    expect(() => (c.maxPhyAddr = 53)).toThrow(/MAXPHYADDR/);
    expect(() => (c.cr3 = -1)).toThrow(/CR3/);
  });

  it('saves and restores every field', () => {
    const c = new X86PagingContext({ cr3: 0x5000, cr0Wp: true, cr4Smap: true, pkru: 12, maxPhyAddr: 39 });
    const d = new X86PagingContext();
    d.restoreState(JSON.parse(JSON.stringify(c.saveState())));
    expect(d.saveState()).toEqual(c.saveState());
    expect(d.rootAddress).toBe(0x5000);
    expect(() => d.restoreState({ ...c.saveState(), maxPhyAddr: 60 })).toThrow(/maxPhyAddr/);
  });

  it('rejects a PKRU or IA32_PKRS that is not a 32-bit value, and a bad MAXPHYADDR or CR3, naming them', () => {
    expect(() => new X86PagingContext({ pkru: -1 })).toThrow(/PKRU.*-1/);
    expect(() => new X86PagingContext({ pkrs: 2 ** 32 })).toThrow(/IA32_PKRS/);
    expect(() => new X86PagingContext({ maxPhyAddr: 53 })).toThrow(/MAXPHYADDR.*53/);
    expect(() => new X86PagingContext({ cr3: 2 ** 52 })).toThrow(/CR3/);
    expect(new X86PagingContext({ pkru: 0xffff_ffff }).pkru).toBe(0xffff_ffff);
  });
});
