/**
 * Reads and writes of the per-interrupt register arrays that the GICv2
 * distributor, the GICv3 distributor and the GICv3 redistributor share
 * (IHI0048B 4.3.4-4.3.12, IHI0069 12.9 and 12.10): the frame views decode an
 * offset with `decodeArrayAccess` and call these with the INTIDs covered.
 * INTIDs outside `[lo, hi)` — beyond this configuration (ITLinesNumber), or owned by another frame —
 * read as zero and ignore writes (RAZ/WI).
 */
import type { IrqEngine } from './irq-state.js';
import { SGI_COUNT } from './intid.js';
import { forEachSetBit } from './register-array.js';

/** Bounds of the INTIDs a frame owns, plus the frame's special rules. */
export interface ArrayScope {
  /** First INTID this frame may touch. */
  lo: number;
  /** One past the last INTID this frame may touch. */
  hi: number;
  /** GICv2: SGI pending state is per source (ISPENDR/ICPENDR SGI bits are read-only views). */
  sgiPerSource: boolean;
}

function owned(e: IrqEngine, scope: ArrayScope, intid: number): boolean {
  return intid >= scope.lo && intid < scope.hi && intid < e.lines;
}

/** Reads `count` INTIDs of array `name` from `intid` as seen by `cpu`. */
export function readArray(e: IrqEngine, scope: ArrayScope, cpu: number, name: string, intid: number, count: number): number {
  let v = 0;
  switch (name) {
    case 'IPRIORITYR':
    case 'IPRIORITYR0':
      for (let k = 0; k < count; k++) if (owned(e, scope, intid + k)) v |= e.priority[e.slot(cpu, intid + k)]! << (8 * k);
      return v >>> 0;
    case 'ICFGR':
      // Int_config[1] per interrupt; bit 0 of each field is RES0 (IHI0069 12.9.9).
      for (let k = 0; k < count; k++) if (owned(e, scope, intid + k) && e.edge[e.slot(cpu, intid + k)] === 1) v |= 2 << (2 * k);
      return v >>> 0;
    case 'NSACR':
    case 'IGRPMODR':
    case 'IGRPMODR0':
      return 0;
    default:
      break;
  }
  for (let k = 0; k < count; k++) {
    const i = intid + k;
    if (!owned(e, scope, i)) continue;
    const s = e.slot(cpu, i);
    let bit: boolean;
    switch (name) {
      case 'IGROUPR':
      case 'IGROUPR0':
        bit = e.group[s] === 1;
        break;
      case 'ISENABLER':
      case 'ICENABLER':
      case 'ISENABLER0':
      case 'ICENABLER0':
        bit = e.enabled[s] === 1;
        break;
      case 'ISPENDR':
      case 'ICPENDR':
      case 'ISPENDR0':
      case 'ICPENDR0':
        bit = e.isPending(cpu, i);
        break;
      case 'ISACTIVER':
      case 'ICACTIVER':
      case 'ISACTIVER0':
      case 'ICACTIVER0':
        bit = e.active[s] === 1;
        break;
      default:
        bit = false;
    }
    if (bit) v |= 1 << k;
  }
  return v >>> 0;
}

/** Writes `count` INTIDs of array `name` from `intid` as `cpu`. */
export function writeArray(e: IrqEngine, scope: ArrayScope, cpu: number, name: string, intid: number, count: number, value: number): void {
  switch (name) {
    case 'IPRIORITYR':
    case 'IPRIORITYR0':
      for (let k = 0; k < count; k++) if (owned(e, scope, intid + k)) e.setPriority(cpu, intid + k, (value >>> (8 * k)) & 0xff);
      return;
    case 'ICFGR':
      for (let k = 0; k < count; k++) {
        const i = intid + k;
        // SGIs are always edge-triggered: their Int_config is read-only (IHI0069 12.9.9).
        if (!owned(e, scope, i) || i < SGI_COUNT) continue;
        e.setEdge(cpu, i, ((value >>> (2 * k + 1)) & 1) === 1);
      }
      return;
    case 'NSACR':
    case 'IGRPMODR':
    case 'IGRPMODR0':
      // RAZ/WI with a single Security state (IHI0069 12.9.15 GICD_IGRPMODR, 12.9.31 GICD_NSACR).
      return;
    default:
      break;
  }
  if (name === 'IGROUPR' || name === 'IGROUPR0') {
    for (let k = 0; k < count; k++) if (owned(e, scope, intid + k)) e.setGroup(cpu, intid + k, (value >>> k) & 1);
    return;
  }
  // Set/clear pairs (IHI0048B 4.3.5-4.3.10, IHI0069 12.9.5-12.9.28 GICD_IC/IS*): each 1 bit acts, 0 bits do nothing.
  const sgiRo = scope.sgiPerSource;
  switch (name) {
    case 'ISENABLER':
    case 'ISENABLER0':
      forEachSetBit(value, intid, count, (i) => {
        if (owned(e, scope, i)) e.setEnabled(cpu, i, true);
      });
      return;
    case 'ICENABLER':
    case 'ICENABLER0':
      forEachSetBit(value, intid, count, (i) => {
        if (owned(e, scope, i)) e.setEnabled(cpu, i, false);
      });
      return;
    case 'ISPENDR':
    case 'ISPENDR0':
      // GICv2: SGI pending bits are read-only here; GICD_SPENDSGIR sets them (IHI0048B 4.3.7).
      forEachSetBit(value, intid, count, (i) => {
        if (owned(e, scope, i) && !(sgiRo && i < SGI_COUNT)) e.setPending(cpu, i);
      });
      return;
    case 'ICPENDR':
    case 'ICPENDR0':
      forEachSetBit(value, intid, count, (i) => {
        if (owned(e, scope, i) && !(sgiRo && i < SGI_COUNT)) e.clearPending(cpu, i);
      });
      return;
    case 'ISACTIVER':
    case 'ISACTIVER0':
      forEachSetBit(value, intid, count, (i) => {
        if (owned(e, scope, i)) e.setActive(cpu, i, true);
      });
      return;
    case 'ICACTIVER':
    case 'ICACTIVER0':
      forEachSetBit(value, intid, count, (i) => {
        if (owned(e, scope, i)) e.setActive(cpu, i, false);
      });
      return;
    default:
      return;
  }
}
