/**
 * ITS tables in memory (IHI0069 5.2 "The ITS", 5.2.1-5.2.5 and 12.19 GITS_BASER<n>
 * GITS_BASER<n>): the device table, the collection table and the vPE table,
 * flat or two-level, and the interrupt translation tables (ITTs) a MAPD
 * names. The architecture fixes how tables are found (base, page size,
 * number of pages, Indirect with 8-byte level-1 entries whose bit 63 is
 * Valid) and leaves entry formats IMPLEMENTATION DEFINED; software only
 * learns the entry sizes (GITS_BASER<n>.Entry_Size, GITS_TYPER.ITT_entry_size).
 * This model's formats, as little-endian 32-bit words:
 *
 * - device table entry (16 bytes): w0 = Valid[31] | Size[4:0] (EventID bits - 1); w2,w3 = ITT address.
 * - collection table entry (8 bytes): w0 = Valid[31] | processor number[15:0].
 * - ITT entry (16 bytes): w0 = Valid[31] | Virtual[30] | ICID[15:0]; w1 = pINTID or vINTID;
 *   w2 = vPEID; w3 = doorbell pINTID (1023 = none).
 * - vPE table entry (32 bytes): w0 = Valid[31] | VPT_size[23:16] (vINTID bits - 1) | processor number[15:0];
 *   w1,w2 = VPT address; w3 = default doorbell pINTID (GICv4.1; 1023 = none); w4,w5 = VCONF address (GICv4.1).
 *
 * The GICv4.1 redistributor reads the same vPE table through GICR_VPROPBASER,
 * so both share {@link tableEntryAddress} and {@link readVpeEntry}.
 */
import type { Memory } from '@hvsim/core';
import { joinAddress } from '../lpi/regs.js';

/** Where a table is and how it is laid out (decoded from GITS_BASER<n> or GICv4.1 GICR_VPROPBASER). */
export interface TableGeometry {
  /** The Valid bit: the table is allocated. */
  valid: boolean;
  /** Physical address of the table (level 1 when indirect). */
  base: number;
  /** Page size in bytes: 4 KiB, 16 KiB or 64 KiB. */
  pageBytes: number;
  /** Number of pages allocated (Size + 1). */
  pages: number;
  /** Bytes per entry (Entry_Size + 1). */
  entryBytes: number;
  /** Two-level table (Indirect). */
  indirect: boolean;
}

/** {@link tableEntryAddress}: the ID is beyond the table. */
export const TABLE_OUT_OF_RANGE = -1;
/** {@link tableEntryAddress}: the level-1 entry covering the ID is not valid (no level-2 page). */
export const TABLE_L2_INVALID = -2;
/** {@link tableEntryAddress}: the table itself is not valid. */
export const TABLE_INVALID = -3;

/** Number of IDs a table can hold. */
export function tableCapacity(t: TableGeometry): number {
  const bytes = t.pages * t.pageBytes;
  if (!t.indirect) return Math.floor(bytes / t.entryBytes);
  return (bytes / 8) * Math.floor(t.pageBytes / t.entryBytes);
}

/**
 * Address of the entry for `id` (IHI0069 5.2.5: a two-level table has
 * 8-byte level-1 entries, Valid in bit 63, each pointing at one page of
 * entries), or one of the negative TABLE_* codes.
 */
export function tableEntryAddress(memory: Memory, t: TableGeometry, id: number): number {
  if (!t.valid) return TABLE_INVALID;
  if (id < 0 || id >= tableCapacity(t)) return TABLE_OUT_OF_RANGE;
  if (!t.indirect) return t.base + id * t.entryBytes;
  const perPage = Math.floor(t.pageBytes / t.entryBytes);
  const l1 = t.base + Math.floor(id / perPage) * 8;
  const hi = memory.read32(l1 + 4);
  if ((hi & 0x8000_0000) === 0) return TABLE_L2_INVALID;
  const page = joinAddress(memory.read32(l1), hi, ~(t.pageBytes - 1));
  return page + (id % perPage) * t.entryBytes;
}

/** A device table entry. */
export interface DeviceEntry {
  valid: boolean;
  /** EventID bits - 1 (MAPD Size). */
  size: number;
  ittAddress: number;
}

export function readDeviceEntry(memory: Memory, addr: number): DeviceEntry {
  const w0 = memory.read32(addr);
  return { valid: w0 >>> 31 === 1, size: w0 & 0x1f, ittAddress: readAddress(memory, addr + 8) };
}

export function writeDeviceEntry(memory: Memory, addr: number, e: DeviceEntry): void {
  memory.write32(addr, ((e.valid ? 0x8000_0000 : 0) | (e.size & 0x1f)) >>> 0);
  memory.write32(addr + 4, 0);
  writeAddress(memory, addr + 8, e.ittAddress);
}

/** Collection table entry: the target processor number, or -1 when not valid. */
export function readCollectionEntry(memory: Memory, addr: number): number {
  const w0 = memory.read32(addr);
  return w0 >>> 31 === 1 ? w0 & 0xffff : -1;
}

export function writeCollectionEntry(memory: Memory, addr: number, target: number): void {
  memory.write32(addr, target < 0 ? 0 : (0x8000_0000 | (target & 0xffff)) >>> 0);
  memory.write32(addr + 4, 0);
}

/** ITT entry kinds. */
export const ITE_INVALID = 0;
export const ITE_PHYSICAL = 1;
export const ITE_VIRTUAL = 2;

/** An interrupt translation table entry. */
export interface InterruptTranslationEntry {
  kind: number;
  /** pINTID (physical) or vINTID (virtual). */
  intid: number;
  /** ICID (physical) or vPEID (virtual). */
  target: number;
  /** Doorbell pINTID of a virtual entry, 1023 for none. */
  doorbell: number;
}

export function readIte(memory: Memory, addr: number): InterruptTranslationEntry {
  const w0 = memory.read32(addr);
  if (w0 >>> 31 === 0) return { kind: ITE_INVALID, intid: 0, target: 0, doorbell: 0 };
  const virtual = ((w0 >>> 30) & 1) === 1;
  return {
    kind: virtual ? ITE_VIRTUAL : ITE_PHYSICAL,
    intid: memory.read32(addr + 4),
    target: virtual ? memory.read32(addr + 8) & 0xffff : w0 & 0xffff,
    doorbell: virtual ? memory.read32(addr + 12) : 0,
  };
}

export function writeIte(memory: Memory, addr: number, e: InterruptTranslationEntry): void {
  if (e.kind === ITE_INVALID) {
    for (let i = 0; i < 16; i += 4) memory.write32(addr + i, 0);
    return;
  }
  const virtual = e.kind === ITE_VIRTUAL;
  memory.write32(addr, (0x8000_0000 | (virtual ? 0x4000_0000 : e.target & 0xffff)) >>> 0);
  memory.write32(addr + 4, e.intid >>> 0);
  memory.write32(addr + 8, virtual ? e.target & 0xffff : 0);
  memory.write32(addr + 12, virtual ? e.doorbell >>> 0 : 0);
}

/** A vPE table entry (what VMAPP records). */
export interface VpeEntry {
  /** The entry's Valid bit. */
  valid: boolean;
  /** The vPEID this entry maps. */
  vpeId: number;
  /** Processor number of the redistributor the vPE is mapped to. */
  rd: number;
  /** Physical address of the virtual LPI pending table (VPT_addr). */
  vptAddress: number;
  /** vINTID bits - 1 the VPT covers. */
  vptSize: number;
  /** GICv4.1 default doorbell pINTID, 1023 for none. */
  defaultDoorbell: number;
  /** GICv4.1 vLPI configuration table (VCONF_addr). */
  vconfAddress: number;
}

export function readVpeEntry(memory: Memory, addr: number, vpeId: number): VpeEntry {
  const w0 = memory.read32(addr);
  return {
    valid: w0 >>> 31 === 1,
    vpeId,
    rd: w0 & 0xffff,
    vptSize: (w0 >>> 16) & 0xff,
    vptAddress: readAddress(memory, addr + 4),
    defaultDoorbell: memory.read32(addr + 12),
    vconfAddress: readAddress(memory, addr + 16),
  };
}

export function writeVpeEntry(memory: Memory, addr: number, e: VpeEntry): void {
  memory.write32(addr, e.valid ? (0x8000_0000 | ((e.vptSize & 0xff) << 16) | (e.rd & 0xffff)) >>> 0 : 0);
  writeAddress(memory, addr + 4, e.vptAddress);
  memory.write32(addr + 12, e.defaultDoorbell >>> 0);
  writeAddress(memory, addr + 16, e.vconfAddress);
  memory.write32(addr + 24, 0);
  memory.write32(addr + 28, 0);
}

function readAddress(memory: Memory, addr: number): number {
  return joinAddress(memory.read32(addr), memory.read32(addr + 4), 0xffff_ffff);
}

function writeAddress(memory: Memory, addr: number, value: number): void {
  memory.write32(addr, value % 0x1_0000_0000 >>> 0);
  memory.write32(addr + 4, Math.floor(value / 0x1_0000_0000) >>> 0);
}
