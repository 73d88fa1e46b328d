/**
 * Memslots as the second stage of a guest walk made by software (the shadow
 * MMU's guest walker, arch/x86/kvm/mmu/paging_tmpl.h, FNAME(walk_addr_generic)): guest paging-structure addresses
 * become host-physical addresses through the slots; the final address stays
 * guest-physical (the shadow MMU maps it itself).
 */
import type { WalkResult } from '../common/walk-result.js';
import type { TableStage } from '../x86/table-stage.js';
import type { GuestPhysicalMap } from './memslots.js';

/** The second stage of a shadow-paging walk: guest-physical to host-physical through the memslots, as a {@link TableStage}. */
export class MemslotStage implements TableStage {
  constructor(private readonly map: GuestPhysicalMap) {}

  mapTable(gpa: number, level: number, out: WalkResult): number {
    const hpa = this.map.translate(gpa);
    if (hpa < 0) {
      out.status = 'no-memslot';
      out.guestPhysicalAddress = gpa;
      out.level = level;
    }
    return hpa;
  }

  mapTableWrite(_gpa: number, hpa: number): number {
    return hpa;
  }

  mapFinal(gpa: number): number {
    return gpa;
  }
}
