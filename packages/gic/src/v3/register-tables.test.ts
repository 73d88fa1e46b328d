/**
 * Conformance of the register descriptions: after reset every register that
 * names a reset value reads it through the frame (IHI0069 12.9 GICD, 12.10
 * GICR RD_base with LPIs, 12.19 GITS; IHI0048B 4.3 GICv2 GICD), and a
 * register with no write handler ignores writes (read-only, IHI0069 12.1.2).
 */
import { PhysicalMemory, type MmioDevice } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import type { RegisterTable } from '../common/register-table.js';
import { GicV3Its } from '../its/its.js';
import { LpiRedistributor } from '../lpi/lpi-redistributor.js';
import { GicV2 } from '../v2/gic-v2.js';
import { GICV2_CPU_FRAME_REGISTERS } from '../v2/cpu-frame.js';
import { GICV2_GICD_REGISTER_TABLE } from '../v2/distributor.js';
import { GICH_REGISTER_TABLE } from '../v2/virtual-interface.js';
import { GICD_REGISTER_TABLE } from './distributor.js';
import { VpeRedistributor } from '../v4/vpe-redistributor.js';
import { GICR_VLPI_BASE } from '../v4/regs.js';
import { GicV3 } from './gic-v3.js';
import { GICR_RD_REGISTER_TABLE } from './redistributor.js';

/** Every word of every register of `table` that names a reset value, as the frame `dev` reads it. */
function checkResets(table: RegisterTable<never>, dev: MmioDevice): number {
  const expected: string[] = [];
  const actual: string[] = [];
  for (const r of table.registers) {
    if (r.reset === undefined) continue;
    // One comparison for the whole table: an expect per register costs more than the reads.
    expected.push(`${r.name} 0x${r.reset.toString(16)}`);
    actual.push(`${r.name} 0x${dev.mmioRead(r.offset, 4).toString(16)}`);
    if (r.width === 64) {
      expected.push(`${r.name}[63:32] 0x${(r.resetHigh ?? 0).toString(16)}`);
      actual.push(`${r.name}[63:32] 0x${dev.mmioRead(r.offset + 4, 4).toString(16)}`);
    }
  }
  expect(actual).toEqual(expected);
  return table.registers.filter((r) => r.reset !== undefined).length;
}

/** Writes all ones to every word of the read-only registers of `table`; every register reads as before. */
function checkReadOnly(table: RegisterTable<never>, dev: MmioDevice): void {
  const snapshot = (): number[] => table.registers.flatMap((r) => (r.width === 64 ? [dev.mmioRead(r.offset, 4), dev.mmioRead(r.offset + 4, 4)] : [dev.mmioRead(r.offset, 4)]));
  const before = snapshot();
  for (const r of table.registers) {
    if (r.write !== undefined) continue;
    dev.mmioWrite(r.offset, 4, 0xffff_ffff);
    if (r.width === 64) dev.mmioWrite(r.offset + 4, 4, 0xffff_ffff);
  }
  expect(snapshot()).toEqual(before);
}

function gicWithLpis(): GicV3 {
  const memory = new PhysicalMemory();
  memory.addRegion(0x4000_0000, 0x10_0000);
  return new GicV3({ cpus: 2, spis: 64, lpis: { memory, gicv4: 'v4.1' } });
}

describe('register descriptions: reset values and read-only registers', () => {
  it('GICv3 GICD (IHI0069 12.9)', () => {
    const gic = new GicV3({ cpus: 2, spis: 64 });
    const table = GICD_REGISTER_TABLE as unknown as RegisterTable<never>;
    expect(checkResets(table, gic.distributorFor(0))).toBeGreaterThan(1000); // CTLR, IIDR, TYPER2 and 1020 IROUTERs
    checkReadOnly(table, gic.distributorFor(0));
  });

  it('GICv3 GICR RD_base, without and with LPIs (IHI0069 12.10, 12.11)', () => {
    const rdOf = (gic: GicV3, cpu: number): MmioDevice => {
      const region = gic.redistributorRegion;
      return {
        mmioRead: (offset, size) => region.mmioRead(cpu * region.stride + offset, size),
        mmioWrite: (offset, size, value) => region.mmioWrite(cpu * region.stride + offset, size, value),
      };
    };
    const plain = rdOf(new GicV3({ cpus: 2, spis: 64 }), 1);
    checkResets(GICR_RD_REGISTER_TABLE, plain);
    checkReadOnly(GICR_RD_REGISTER_TABLE, plain);
    // With LPIs the LPI part serves its registers (GICR_CTLR among them).
    const lpi = rdOf(gicWithLpis(), 1);
    checkResets(LpiRedistributor.REGISTERS, lpi);
    checkReadOnly(LpiRedistributor.REGISTERS, lpi);
    // CES = 1 with LPIs: software may clear EnableLPIs (IHI0069 12.11.2); RES0 without.
    expect(lpi.mmioRead(0, 4)).toBe(0x2);
    expect(plain.mmioRead(0, 4)).toBe(0);
  });

  it('GITS control frame (IHI0069 12.19)', () => {
    const its = gicWithLpis().createIts();
    const table = GicV3Its.REGISTERS as unknown as RegisterTable<never>;
    expect(checkResets(table, its)).toBeGreaterThanOrEqual(5);
    checkReadOnly(table, its);
  });

  it('GICv2 GICD (IHI0048B 4.3)', () => {
    const gic = new GicV2({ cpus: 2, spis: 64 });
    const table = GICV2_GICD_REGISTER_TABLE as unknown as RegisterTable<never>;
    expect(checkResets(table, gic.distributorFor(0))).toBeGreaterThanOrEqual(3);
    checkReadOnly(table, gic.distributorFor(0));
  });

  it('GICv2 GICC and GICV: one description serves both frames (IHI0048B 4.4, 5.4)', () => {
    const gic = new GicV2({ cpus: 2, spis: 64 });
    const table = GICV2_CPU_FRAME_REGISTERS as unknown as RegisterTable<never>;
    for (const frame of [gic.cpuInterface(1), gic.virtualCpuInterface(1)]) {
      expect(checkResets(table, frame)).toBeGreaterThanOrEqual(10);
      checkReadOnly(table, frame);
    }
  });

  it('GICv2 GICH (IHI0048B 5.3)', () => {
    const gic = new GicV2({ cpus: 2, spis: 64, listRegisters: 4 });
    const table = GICH_REGISTER_TABLE as unknown as RegisterTable<never>;
    expect(checkResets(table, gic.hypervisorInterface(1))).toBeGreaterThanOrEqual(64);
    checkReadOnly(table, gic.hypervisorInterface(1));
    expect(gic.hypervisorInterface(1).mmioRead(0x30, 4)).toBe(0b1111); // GICH_ELRSR0: the four list registers are empty
  });

  it('GICv4 GICR VLPI_base (IHI0069 12.11)', () => {
    const gic = gicWithLpis();
    const region = gic.redistributorRegion;
    const vlpi: MmioDevice = {
      mmioRead: (offset, size) => region.mmioRead(region.stride + GICR_VLPI_BASE + offset, size),
      mmioWrite: (offset, size, value) => region.mmioWrite(region.stride + GICR_VLPI_BASE + offset, size, value),
    };
    const table = VpeRedistributor.REGISTERS as unknown as RegisterTable<never>;
    expect(checkResets(table, vlpi)).toBeGreaterThanOrEqual(2);
    checkReadOnly(table, vlpi);
  });
});
