/**
 * The second-level page walk (VT-d 3.7 "Second-Level Translation", 9.8):
 * 3- or 4-level tables of 512 8-byte entries, 4 KiB pages, 2 MiB and 1 GiB
 * pages where PS = 1, read/write permission ANDed over every level. Faults
 * follow VT-d 7.1.3 (LSL.1 access error, LSL.2 reserved bits, LGN.2/LGN.3
 * permission).
 */
import type { Memory } from '@hvsim/core';
import { pageAddress } from '../address.js';
import { VTD_FAULT_REASON } from '../faults/fault-reason.js';
import { SL_ENTRY } from './tables.js';

/** What a successful walk found; reused by the caller. */
export interface WalkOutput {
  /** Physical address of the 4 KiB frame that holds the input address. */
  frame: number;
  /** Effective permissions: bit 0 read, bit 1 write. */
  perm: number;
  /** log2 of the mapping's page size: 12, 21 or 30. */
  pageShift: number;
  /** Memory references the walk made. */
  references: number;
}

/** Bytes one entry maps at each level (index = level): 4 KiB, 2 MiB, 1 GiB, 512 GiB. */
const LEVEL_SPAN = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];
/** log2 of LEVEL_SPAN. */
const LEVEL_SHIFT = [0, 12, 21, 30, 39];

/** Walks second-level tables in one memory. */
export class SecondLevelWalker {
  constructor(private readonly memory: Memory) {}

  /** Walks from the table at `root` for `iova`. Returns 0 and fills `out` on success, or the VT-d fault reason. */
  walk(root: number, levels: number, iova: number, write: boolean, out: WalkOutput): number {
    const memory = this.memory;
    let table = root;
    let perm = 3;
    out.references = 0;
    for (let level = levels; level >= 1; level--) {
      const span = LEVEL_SPAN[level]!;
      const index = Math.floor(iova / span) % 512;
      const at = table + index * 8;
      let lo: number;
      let hi: number;
      try {
        lo = memory.read32(at);
        hi = memory.read32(at + 4);
      } catch {
        return VTD_FAULT_REASON.PAGING_ENTRY_ACCESS;
      }
      out.references++;
      // Not-present (R = W = 0) and permission failures are permission faults (LGN.2, LGN.3).
      if (write ? (lo & 2) === 0 : (lo & 1) === 0) {
        return write ? VTD_FAULT_REASON.WRITE_NOT_PERMITTED : VTD_FAULT_REASON.READ_NOT_PERMITTED;
      }
      perm &= lo & 3;
      const large = (level === 2 || level === 3) && (lo & 0x80) !== 0;
      let reserved = (lo & SL_ENTRY.RESERVED_W0) | (hi & SL_ENTRY.RESERVED_W1);
      if (level === 4) reserved |= lo & SL_ENTRY.RESERVED_PML4E;
      if (large) reserved |= lo & (level === 2 ? SL_ENTRY.RESERVED_2M : SL_ENTRY.RESERVED_1G);
      if (reserved !== 0) return VTD_FAULT_REASON.PAGING_ENTRY_RESERVED;
      const address = pageAddress(lo, hi & 0xffff);
      if (level === 1 || large) {
        out.frame = address + Math.floor((iova % span) / 4096) * 4096;
        out.perm = perm;
        out.pageShift = LEVEL_SHIFT[level]!;
        return 0;
      }
      table = address;
    }
    // Unreachable with levels >= 1 (the context entry's AW was validated).
    return VTD_FAULT_REASON.CONTEXT_ENTRY_INVALID;
  }
}
