/**
 * EPT as the second stage of a guest walk (SDM 3C 28.2.1 "EPT Overview"):
 * every guest paging-structure address and the final guest-physical address
 * are translated through EPT. With EPT A/D enabled, guest paging-structure
 * accesses are treated as writes (28.2.4 "Accessed and Dirty Flags for EPT"),
 * and an EPT violation on one sets both bits 0 and 1 of the qualification.
 */
import type { WalkResult } from '../common/walk-result.js';
import type { EptWalker } from '../ept/ept-walker.js';
import { EPT_QUAL } from '../ept/regs.js';
import { ACCESS } from '../x86/regs.js';
import type { TableStage } from '../x86/table-stage.js';

const { READ: Q_READ, WRITE: Q_WRITE, FETCH: Q_FETCH, LINEAR_VALID, FINAL_TRANSLATION } = EPT_QUAL;
const { WRITE, FETCH } = ACCESS;

export class EptStage implements TableStage {
  // EPT permissions of each guest paging-structure page, by guest level.
  private readonly tablePermissions = new Uint8Array(6);

  constructor(private readonly ept: EptWalker) {}

  mapTable(gpa: number, level: number, out: WalkResult): number {
    const access = this.ept.accessedDirtyEnabled ? Q_READ | Q_WRITE : Q_READ;
    const hpa = this.ept.translate(gpa, access, LINEAR_VALID, out);
    if (hpa >= 0) this.tablePermissions[level] = this.ept.lastPermissions;
    return hpa;
  }

  mapTableWrite(gpa: number, hpa: number, level: number, out: WalkResult): number {
    // The A/D update uses the translation the read obtained (no second EPT
    // walk); it needs write permission (SDM 3C 28.2.3.2). With EPT A/D the
    // read was already checked as a write.
    const perms = this.tablePermissions[level] ?? 0;
    if ((perms & Q_WRITE) !== 0) return hpa;
    this.ept.reportViolation(out, gpa, level, Q_WRITE | (perms << 3) | LINEAR_VALID);
    return -1;
  }

  mapFinal(gpa: number, access: number, out: WalkResult): number {
    const eptAccess = (access & FETCH) !== 0 ? Q_FETCH : (access & WRITE) !== 0 ? Q_WRITE : Q_READ;
    const hpa = this.ept.translate(gpa, eptAccess, LINEAR_VALID | FINAL_TRANSLATION, out);
    if (hpa >= 0) {
      out.eptPermissions = this.ept.lastPermissions;
      // A combined mapping is as large as the smaller of the two pages (SDM 3C 28.3.1).
      if (this.ept.lastPageSize < out.pageSize) out.pageSize = this.ept.lastPageSize;
    }
    return hpa;
  }
}
