/**
 * How a guest walk reaches its paging structures when they are not in host
 * physical memory directly: through memslots (the shadow MMU reading guest
 * tables) or through EPT (the two-dimensional walk). A native walk has no
 * stage and uses the addresses as they are.
 */
import type { WalkResult } from '../common/walk-result.js';

/** Second stage of a guest walk. Methods return a host-physical address, or -1 after recording the fault in `out`. */
export interface TableStage {
  /** Maps the guest-physical address of a guest paging-structure entry about to be read. */
  mapTable(gpa: number, level: number, out: WalkResult): number;
  /** Maps a guest paging-structure entry about to be written (an A/D update); `hpa` is what `mapTable` returned for it. */
  mapTableWrite(gpa: number, hpa: number, level: number, out: WalkResult): number;
  /** Maps the final guest-physical address for `access`, or returns `gpa` when the stage does not translate it. */
  mapFinal(gpa: number, access: number, out: WalkResult): number;
}
