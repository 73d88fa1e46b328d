/**
 * Reads and writes of the per-interrupt register arrays that the GICv2
 * distributor, the GICv3 distributor and the GICv3 redistributor share
 * (IHI0048B 4.3.4-4.3.12, IHI0069 12.9 and 12.10): each frame lists its
 * arrays as {@link IntidArray}s (where, and which behaviour), decodes an
 * offset with `decodeArrayAccess` and calls these with the INTIDs covered.
 * INTIDs outside `[lo, hi)` — beyond this configuration (ITLinesNumber), or owned by another frame —
 * read as zero and ignore writes (RAZ/WI).
 */
import type { IrqEngine } from './irq-state.js';
import { SGI_COUNT } from './intid.js';
import { registerArray, type RegisterArray } from './register-array.js';

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

/**
 * One description per register array (IHI0048B 4.3.4-4.3.12, IHI0069 12.9,
 * 12.10): the width of each INTID's field, how a field reads, and how a
 * written field acts on one owned INTID. `onlyOnes`: a set/clear register,
 * where each 1 bit acts and 0 bits do nothing (GICD_IS*R / GICD_IC*R). A
 * register with no `write` ignores writes. The distributor arrays and their
 * GICR_SGI_base copies (`...0`) share one description.
 */
export interface ArrayRegister {
  readonly bits: 1 | 2 | 8;
  readonly onlyOnes?: boolean;
  read(e: IrqEngine, cpu: number, intid: number): number;
  write?(e: IrqEngine, scope: ArrayScope, cpu: number, intid: number, field: number): void;
}

/** A register array in a frame with its behaviour: where it is ({@link RegisterArray}) and what it does. */
export interface IntidArray extends RegisterArray {
  readonly access: ArrayRegister;
}

/** Array `name` at `base` in a frame, covering `intids` INTIDs, behaving as `access` says. */
export function intidArray(name: string, base: number, access: ArrayRegister, intids = 1024): IntidArray {
  return Object.freeze({ ...registerArray(name, base, access.bits, intids), access });
}

/** Reserved or Secure-only arrays with a single Security state: RAZ/WI (IHI0069 12.9.15 GICD_IGRPMODR, 12.9.31 GICD_NSACR). */
export function razWiArray(bits: 1 | 2 | 8): ArrayRegister {
  return { bits, read: () => 0 };
}

const enabled = (e: IrqEngine, cpu: number, i: number): number => e.enabled[e.slot(cpu, i)]!;
const pending = (e: IrqEngine, cpu: number, i: number): number => (e.isPending(cpu, i) ? 1 : 0);
const active = (e: IrqEngine, cpu: number, i: number): number => e.active[e.slot(cpu, i)]!;

/** The behaviour of each per-interrupt array, shared by GICv2's and GICv3's frames. */
export const ARRAY_ACCESS = {
  IGROUPR: { bits: 1, read: (e, cpu, i) => e.group[e.slot(cpu, i)]!, write: (e, _s, cpu, i, f) => e.setGroup(cpu, i, f) },
  ISENABLER: { bits: 1, onlyOnes: true, read: enabled, write: (e, _s, cpu, i) => e.setEnabled(cpu, i, true) },
  ICENABLER: { bits: 1, onlyOnes: true, read: enabled, write: (e, _s, cpu, i) => e.setEnabled(cpu, i, false) },
  // GICv2: SGI pending bits are read-only here; GICD_SPENDSGIR/CPENDSGIR set and clear them (IHI0048B 4.3.7, 4.3.8).
  ISPENDR: {
    bits: 1,
    onlyOnes: true,
    read: pending,
    write: (e, s, cpu, i) => {
      if (!(s.sgiPerSource && i < SGI_COUNT)) e.setPending(cpu, i);
    },
  },
  ICPENDR: {
    bits: 1,
    onlyOnes: true,
    read: pending,
    write: (e, s, cpu, i) => {
      if (!(s.sgiPerSource && i < SGI_COUNT)) e.clearPending(cpu, i);
    },
  },
  ISACTIVER: { bits: 1, onlyOnes: true, read: active, write: (e, _s, cpu, i) => e.setActive(cpu, i, true) },
  ICACTIVER: { bits: 1, onlyOnes: true, read: active, write: (e, _s, cpu, i) => e.setActive(cpu, i, false) },
  IPRIORITYR: { bits: 8, read: (e, cpu, i) => e.priority[e.slot(cpu, i)]!, write: (e, _s, cpu, i, f) => e.setPriority(cpu, i, f) },
  // Int_config[1] per interrupt; bit 0 of each field is RES0, and SGIs are always edge-triggered:
  // their Int_config is read-only (IHI0069 12.9.9).
  ICFGR: {
    bits: 2,
    read: (e, cpu, i) => (e.edge[e.slot(cpu, i)] === 1 ? 2 : 0),
    write: (e, _s, cpu, i, f) => {
      if (i >= SGI_COUNT) e.setEdge(cpu, i, (f & 2) !== 0);
    },
  },
} as const satisfies Record<string, ArrayRegister>;

/** Offsets of the per-interrupt arrays GICv2 and GICv3 distributors share (the same in IHI0048B 4.1.2 and IHI0069 12.9). */
export type SharedDistributorArrayOffsets = Readonly<Record<keyof typeof ARRAY_ACCESS | 'ITARGETSR', number>>;

/**
 * The distributor arrays both GIC versions have, in frame order: group, enables, pending, active, priority,
 * targets (GICv2's ITARGETSR behaviour, or RAZ/WI under GICv3 affinity routing) and configuration.
 */
export function sharedDistributorArrays(gicd: SharedDistributorArrayOffsets, itargetsr: ArrayRegister): IntidArray[] {
  const names = ['IGROUPR', 'ISENABLER', 'ICENABLER', 'ISPENDR', 'ICPENDR', 'ISACTIVER', 'ICACTIVER', 'IPRIORITYR'] as const;
  return [...names.map((n) => intidArray(n, gicd[n], ARRAY_ACCESS[n])), intidArray('ITARGETSR', gicd.ITARGETSR, itargetsr), intidArray('ICFGR', gicd.ICFGR, ARRAY_ACCESS.ICFGR)];
}

/** Reads the `count` INTIDs from `intid` of array `arr` as seen by `cpu`. */
export function readArray(e: IrqEngine, scope: ArrayScope, cpu: number, arr: IntidArray, intid: number, count: number): number {
  const r = arr.access;
  let v = 0;
  for (let k = 0; k < count; k++) if (owned(e, scope, intid + k)) v |= r.read(e, cpu, intid + k) << (r.bits * k);
  return v >>> 0;
}

/** Writes the `count` INTIDs from `intid` of array `arr` as `cpu`. */
export function writeArray(e: IrqEngine, scope: ArrayScope, cpu: number, arr: IntidArray, intid: number, count: number, value: number): void {
  const r = arr.access;
  if (r.write === undefined) return;
  const mask = (1 << r.bits) - 1;
  for (let k = 0; k < count; k++) {
    const field = (value >>> (r.bits * k)) & mask;
    if (r.onlyOnes === true && field === 0) continue;
    const i = intid + k;
    if (owned(e, scope, i)) r.write(e, scope, cpu, i, field);
  }
}
