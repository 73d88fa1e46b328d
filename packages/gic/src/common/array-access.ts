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
 * register with no `write` ignores writes. The GICR_SGI_base names (`...0`)
 * share their GICD register's description.
 */
interface ArrayRegister {
  readonly bits: 1 | 2 | 8;
  readonly onlyOnes?: boolean;
  read(e: IrqEngine, cpu: number, intid: number): number;
  write?(e: IrqEngine, scope: ArrayScope, cpu: number, intid: number, field: number): void;
}

const RAZ_WI: ArrayRegister = { bits: 1, read: () => 0 };
const enabled = (e: IrqEngine, cpu: number, i: number): number => e.enabled[e.slot(cpu, i)]!;
const pending = (e: IrqEngine, cpu: number, i: number): number => (e.isPending(cpu, i) ? 1 : 0);
const active = (e: IrqEngine, cpu: number, i: number): number => e.active[e.slot(cpu, i)]!;

const IGROUPR: ArrayRegister = { bits: 1, read: (e, cpu, i) => e.group[e.slot(cpu, i)]!, write: (e, _s, cpu, i, f) => e.setGroup(cpu, i, f) };
const ISENABLER: ArrayRegister = { bits: 1, onlyOnes: true, read: enabled, write: (e, _s, cpu, i) => e.setEnabled(cpu, i, true) };
const ICENABLER: ArrayRegister = { bits: 1, onlyOnes: true, read: enabled, write: (e, _s, cpu, i) => e.setEnabled(cpu, i, false) };
// GICv2: SGI pending bits are read-only here; GICD_SPENDSGIR/CPENDSGIR set and clear them (IHI0048B 4.3.7, 4.3.8).
const ISPENDR: ArrayRegister = {
  bits: 1,
  onlyOnes: true,
  read: pending,
  write: (e, s, cpu, i) => {
    if (!(s.sgiPerSource && i < SGI_COUNT)) e.setPending(cpu, i);
  },
};
const ICPENDR: ArrayRegister = {
  bits: 1,
  onlyOnes: true,
  read: pending,
  write: (e, s, cpu, i) => {
    if (!(s.sgiPerSource && i < SGI_COUNT)) e.clearPending(cpu, i);
  },
};
const ISACTIVER: ArrayRegister = { bits: 1, onlyOnes: true, read: active, write: (e, _s, cpu, i) => e.setActive(cpu, i, true) };
const ICACTIVER: ArrayRegister = { bits: 1, onlyOnes: true, read: active, write: (e, _s, cpu, i) => e.setActive(cpu, i, false) };
const IPRIORITYR: ArrayRegister = { bits: 8, read: (e, cpu, i) => e.priority[e.slot(cpu, i)]!, write: (e, _s, cpu, i, f) => e.setPriority(cpu, i, f) };
// Int_config[1] per interrupt; bit 0 of each field is RES0, and SGIs are always edge-triggered:
// their Int_config is read-only (IHI0069 12.9.9).
const ICFGR: ArrayRegister = {
  bits: 2,
  read: (e, cpu, i) => (e.edge[e.slot(cpu, i)] === 1 ? 2 : 0),
  write: (e, _s, cpu, i, f) => {
    if (i >= SGI_COUNT) e.setEdge(cpu, i, (f & 2) !== 0);
  },
};

/** Every register array by the name the frame decoders give it. */
const ARRAY_REGISTERS: ReadonlyMap<string, ArrayRegister> = new Map([
  ['IGROUPR', IGROUPR],
  ['IGROUPR0', IGROUPR],
  ['ISENABLER', ISENABLER],
  ['ISENABLER0', ISENABLER],
  ['ICENABLER', ICENABLER],
  ['ICENABLER0', ICENABLER],
  ['ISPENDR', ISPENDR],
  ['ISPENDR0', ISPENDR],
  ['ICPENDR', ICPENDR],
  ['ICPENDR0', ICPENDR],
  ['ISACTIVER', ISACTIVER],
  ['ISACTIVER0', ISACTIVER],
  ['ICACTIVER', ICACTIVER],
  ['ICACTIVER0', ICACTIVER],
  ['IPRIORITYR', IPRIORITYR],
  ['IPRIORITYR0', IPRIORITYR],
  ['ICFGR', ICFGR],
  // RAZ/WI with a single Security state (IHI0069 12.9.15 GICD_IGRPMODR, 12.9.31 GICD_NSACR).
  ['NSACR', RAZ_WI],
  ['IGRPMODR', RAZ_WI],
  ['IGRPMODR0', RAZ_WI],
]);

/** Reads `count` INTIDs of array `name` from `intid` as seen by `cpu`. */
export function readArray(e: IrqEngine, scope: ArrayScope, cpu: number, name: string, intid: number, count: number): number {
  const r = ARRAY_REGISTERS.get(name);
  if (r === undefined) return 0;
  let v = 0;
  for (let k = 0; k < count; k++) if (owned(e, scope, intid + k)) v |= r.read(e, cpu, intid + k) << (r.bits * k);
  return v >>> 0;
}

/** Writes `count` INTIDs of array `name` from `intid` as `cpu`. */
export function writeArray(e: IrqEngine, scope: ArrayScope, cpu: number, name: string, intid: number, count: number, value: number): void {
  const r = ARRAY_REGISTERS.get(name);
  if (r?.write === undefined) return;
  const mask = (1 << r.bits) - 1;
  for (let k = 0; k < count; k++) {
    const field = (value >>> (r.bits * k)) & mask;
    if (r.onlyOnes === true && field === 0) continue;
    const i = intid + k;
    if (owned(e, scope, i)) r.write(e, scope, cpu, i, field);
  }
}
