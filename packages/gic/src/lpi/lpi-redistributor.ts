/**
 * The physical LPI part of one GICv3 redistributor (IHI0069 5.1 "LPIs",
 * 12.11.2 GICR_CTLR, 12.11.33 GICR_PROPBASER, 12.11.32 GICR_PENDBASER,
 * 12.11.20, 12.11.19 GICR_INVLPIR/INVALLR, 12.11.36 GICR_SYNCR, 12.11.34, 12.11.1
 * GICR_SETLPIR/CLRLPIR).
 *
 * The configuration of each LPI (priority, enable) lives in memory and is
 * cached here: a change in memory takes effect only when the LPI is
 * invalidated (ITS INV/INVALL, GICR_INVLPIR/INVALLR) or when LPIs are
 * enabled. The pending bits are held here while LPIs are enabled (the
 * pending table is read when EnableLPIs goes 0 -> 1 and written back when it
 * goes 1 -> 0). Pending, enabled LPIs sit in the CPU's {@link PendingSet}
 * under keys `keyBase + (INTID - 8192)`, so selection stays a bucket lookup
 * however many LPIs are configured or pending. LPIs are edge-triggered,
 * Group 1, and have no active state: acknowledge clears the pending bit.
 */
import { withTableFaults } from './table-fault.js';
import { RegisterTable } from '../common/register-table.js';
import { GICR, GICR_SGI_BASE } from '../v3/regs.js';
import { SnapshotError, assertInteger, fieldMask, getField, setField, type Memory, type StateReader } from '@hvsim/core';
import type { PendingSet } from '../common/pending-set.js';
import {
  GICR_CTLR,
  GICR_INV_HI,
  GICR_PENDBASER_HI,
  GICR_PENDBASER_MASK,
  GICR_PROPBASER_LO,
  GICR_PROPBASER_MASK,
  LPI_FIRST,
  LPI_MIN_IDBITS,
  joinAddress,
} from './regs.js';

/** Construction options of an {@link LpiRedistributor}. */
export interface LpiRedistributorOptions {
  /** Memory holding the configuration and pending tables. */
  memory: Memory;
  /** INTID bits the GIC implements (GICD_TYPER.IDbits + 1), 14-24. LPIs are 8192 .. 2^idBits - 1. */
  idBits: number;
  /** Implemented priority bits of the CPU interface, as a mask (0xf8 for 5 bits). */
  priorityMask: number;
  /** The CPU's candidate set; grown to hold the LPI keys. */
  candidates: PendingSet;
  /** Key of LPI 8192 in `candidates`. */
  keyBase: number;
  /** Called when the candidates changed (to update the CPU interface outputs). */
  onChange: () => void;
}

/** Saved LPI state of a redistributor. */
export interface LpiRedistributorState {
  /** GICR_CTLR.EnableLPIs. */
  enableLpis: boolean;
  /** GICR_PROPBASER, low and high words. */
  propbaser: [number, number];
  /** GICR_PENDBASER, low and high words. */
  pendbaser: [number, number];
  /** GICR_INVLPIR as last written, low and high words. */
  invlpir: [number, number];
  /** GICR_INVALLR as last written, low and high words. */
  invallr: [number, number];
  /** The configuration cache (it may differ from memory until an invalidation). */
  config: string;
  /** Pending LPI INTIDs. */
  pending: number[];
}

/** Per-redistributor hooks for GICv4.1 invalidation by vPEID through GICR_INVLPIR/GICR_INVALLR (V = 1). */
export interface VirtualInvalidationPort {
  /** GICR_INVLPIR with V = 1: re-reads the configuration of vLPI `vintid` of vPE `vpeId`. */
  invalidateVlpiByVpe(vpeId: number, vintid: number): void;
  /** GICR_INVALLR with V = 1: re-reads the configuration of every vLPI of vPE `vpeId`. */
  invalidateAllVlpisByVpe(vpeId: number): void;
}

/** LPIs of one redistributor: enable, table bases, configuration cache, pending bits and candidates. */
export class LpiRedistributor {
  /** INTID bits the GIC implements, 14-24. */
  declare readonly idBits: number;
  /** LPIs this redistributor can hold: 2^idBits - 8192. */
  declare readonly capacity: number;
  /** GICR_CTLR.EnableLPIs. */
  enabled = false;
  /** LPIs configured by GICR_PROPBASER.IDbits (0 when IDbits < 13). */
  private count = 0;
  private propLo = 0;
  private propHi = 0;
  private pendLo = 0;
  private pendHi = 0;
  private ptz = false;
  private invLo = 0;
  private invHi = 0;
  private invAllLo = 0;
  private invAllHi = 0;
  /** Cached configuration byte per LPI. */
  declare readonly config: Uint8Array;
  /** Pending bit per LPI. */
  declare readonly pending: Uint8Array;
  private declare readonly memory: Memory;
  private declare readonly candidates: PendingSet;
  private declare readonly keyBase: number;
  private declare readonly prioMask: number;
  private readonly onChange: () => void;
  /** GICv4.1 invalidation by vPEID, when this redistributor supports vLPIs. */
  virtualPort: VirtualInvalidationPort | undefined = undefined;

  constructor(options: LpiRedistributorOptions) {
    assertInteger(options.idBits, 'LpiRedistributor idBits', 14, 24);
    this.idBits = options.idBits;
    this.capacity = 2 ** options.idBits - LPI_FIRST;
    this.memory = options.memory;
    this.candidates = options.candidates;
    this.keyBase = options.keyBase;
    this.prioMask = options.priorityMask & 0xfc;
    this.onChange = options.onChange;
    this.config = new Uint8Array(this.capacity);
    this.pending = new Uint8Array(this.capacity);
    this.candidates.grow(this.keyBase + this.capacity);
  }

  /** Number of LPIs the current GICR_PROPBASER.IDbits configures (IHI0069 12.11.33). */
  get lpiCount(): number {
    return this.count;
  }

  /** Physical address of the LPI configuration table. */
  get configBase(): number {
    return joinAddress(this.propLo, this.propHi, 0xffff_f000);
  }

  /** Physical address of the LPI pending table (64 KiB aligned). */
  get pendingBase(): number {
    return joinAddress(this.pendLo, this.pendHi, 0xffff_0000);
  }

  /** Reset (IHI0069 12.11.2): LPIs disabled, table bases zero, nothing pending. */
  reset(): void {
    this.disable(false);
    this.propLo = this.propHi = this.pendLo = this.pendHi = 0;
    this.invLo = this.invHi = this.invAllLo = this.invAllHi = 0;
    this.ptz = false;
    this.config.fill(0);
  }

  /** True when `offset` in RD_base is one of the LPI registers (word offsets). */
  static handles(offset: number): boolean {
    return LpiRedistributor.REGISTERS.at(offset) !== undefined;
  }

  /** True when a 64-bit LPI register starts at `offset` in RD_base. */
  static handles64(offset: number): boolean {
    return LpiRedistributor.REGISTERS.is64(offset);
  }

  /** Reads a 32-bit word of an LPI register. SETLPIR/CLRLPIR are WO (RAZ here); SYNCR.Busy is always 0. */
  read(offset: number): number {
    return LpiRedistributor.REGISTERS.read(this, offset);
  }

  /**
   * Writes a 32-bit word. GICR_INVLPIR and GICR_INVALLR act when their high
   * word is written (a 64-bit access writes low then high). A table the write
   * makes the redistributor access that is not in memory raises an SError.
   */
  write(offset: number, value: number): void {
    withTableFaults(`GICR RD_base write at 0x${offset.toString(16)}`, () => {
      LpiRedistributor.REGISTERS.write(this, offset, value);
    });
  }

  /**
   * The LPI registers of RD_base (IHI0069 12.10, 12.11), one description
   * each. GICR_PROPBASER and GICR_PENDBASER are read-only while EnableLPIs
   * is 1: the spec makes such writes UNPREDICTABLE and allows the registers
   * to become RO (12.11.33, 12.11.32); this model takes that choice.
   *
   * @internal
   */
  static readonly REGISTERS = new RegisterTable<LpiRedistributor>('GICR RD_base', GICR_SGI_BASE, [
    {
      name: 'GICR_CTLR',
      offset: GICR.CTLR,
      writable: fieldMask(GICR_CTLR.EnableLPIs),
      // CES = 1: software may clear EnableLPIs and this redistributor honours it (IHI0069 12.11.2 GICR_CTLR).
      read: (l) => setField(l.enabled ? setField(0, GICR_CTLR.EnableLPIs, 1) : 0, GICR_CTLR.CES, 1),
      write: (l, v) => {
        if (getField(v, GICR_CTLR.EnableLPIs) === 1) l.enable();
        else l.disable(true);
      },
    },
    // IHI0069 12.11.34 GICR_SETLPIR: makes the LPI pending; INTIDs outside the configured range are ignored. WO.
    {
      name: 'GICR_SETLPIR',
      offset: GICR.SETLPIR,
      width: 64,
      writable: 0xffff_ffff,
      read: () => 0,
      write: (l, v, w) => {
        if (w === 0) l.setPending(v);
      },
    },
    {
      name: 'GICR_CLRLPIR',
      offset: GICR.CLRLPIR,
      width: 64,
      writable: 0xffff_ffff,
      read: () => 0,
      write: (l, v, w) => {
        if (w === 0) l.clearPending(v);
      },
    },
    {
      name: 'GICR_PROPBASER',
      offset: GICR.PROPBASER,
      width: 64,
      reset: 0,
      writable: GICR_PROPBASER_MASK[0],
      writableHigh: GICR_PROPBASER_MASK[1],
      read: (l, w) => (w === 0 ? l.propLo : l.propHi),
      write: (l, v, w) => {
        if (l.enabled) return;
        if (w === 0) l.propLo = v;
        else l.propHi = v;
      },
    },
    {
      name: 'GICR_PENDBASER',
      offset: GICR.PENDBASER,
      width: 64,
      reset: 0,
      writable: GICR_PENDBASER_MASK[0],
      // PTZ (bit 62) is written, and reads as zero.
      writableHigh: GICR_PENDBASER_MASK[1] | fieldMask(GICR_PENDBASER_HI.PTZ),
      read: (l, w) => (w === 0 ? l.pendLo : l.pendHi),
      write: (l, v, w) => {
        if (l.enabled) return;
        if (w === 0) {
          l.pendLo = v;
        } else {
          l.pendHi = (v & GICR_PENDBASER_MASK[1]) >>> 0;
          l.ptz = getField(v, GICR_PENDBASER_HI.PTZ) === 1;
        }
      },
    },
    {
      name: 'GICR_INVLPIR',
      offset: GICR.INVLPIR,
      width: 64,
      reset: 0,
      writable: 0xffff_ffff,
      writableHigh: fieldMask(GICR_INV_HI.V) | fieldMask(GICR_INV_HI.vPEID),
      read: (l, w) => (w === 0 ? l.invLo : l.invHi),
      write: (l, v, w) => {
        if (w === 0) {
          l.invLo = v;
          return;
        }
        l.invHi = v;
        if (getField(v, GICR_INV_HI.V) === 1) l.virtualPort?.invalidateVlpiByVpe(getField(v, GICR_INV_HI.vPEID), l.invLo);
        else l.invalidate(l.invLo);
      },
    },
    {
      name: 'GICR_INVALLR',
      offset: GICR.INVALLR,
      width: 64,
      reset: 0,
      writableHigh: fieldMask(GICR_INV_HI.V) | fieldMask(GICR_INV_HI.vPEID),
      read: (l, w) => (w === 0 ? l.invAllLo : l.invAllHi),
      write: (l, v, w) => {
        if (w === 0) return;
        l.invAllHi = v;
        if (getField(v, GICR_INV_HI.V) === 1) l.virtualPort?.invalidateAllVlpisByVpe(getField(v, GICR_INV_HI.vPEID));
        else l.invalidateAll();
      },
    },
    // The model completes every operation at once, so Busy reads 0 (IHI0069 12.11.36).
    { name: 'GICR_SYNCR', offset: GICR.SYNCR, reset: 0, read: () => 0 },
  ]);

  /**
   * LPIs GICR_PROPBASER.IDbits configures, capped at the INTID bits the GIC
   * implements (GICD_TYPER.IDbits); none below 14 bits (IHI0069 12.11.33).
   */
  private configuredLpis(): number {
    return this.configuredLpisFor(this.propLo);
  }

  /** Number of LPIs GICR_PROPBASER low word `propLo` configures. */
  private configuredLpisFor(propLo: number): number {
    const idBits = Math.min(getField(propLo, GICR_PROPBASER_LO.IDbits) + 1, this.idBits);
    return idBits - 1 < LPI_MIN_IDBITS ? 0 : 2 ** idBits - LPI_FIRST;
  }

  /** EnableLPIs 0 -> 1: load the configuration cache and, unless PTZ was written, the pending table. */
  private enable(): void {
    if (this.enabled) return;
    this.count = this.configuredLpis();
    this.enabled = true;
    this.config.fill(0);
    this.pending.fill(0);
    if (this.count === 0) return;
    this.memory.readBytes(this.configBase, this.count, this.config.subarray(0, this.count));
    if (!this.ptz) {
      const bytes = this.memory.readBytes(this.pendingBase + LPI_FIRST / 8, this.count / 8);
      for (let b = 0; b < bytes.length; b++) {
        const v = bytes[b]!;
        if (v === 0) continue;
        for (let bit = 0; bit < 8; bit++) if ((v >>> bit) & 1) this.pending[b * 8 + bit] = 1;
      }
    }
    this.ptz = false;
    for (let i = 0; i < this.count; i++) this.place(i);
    this.onChange();
  }

  /** EnableLPIs 1 -> 0: pending bits are written back to the pending table (IHI0069 5.1.2), candidates dropped. */
  private disable(writeBack: boolean): void {
    if (!this.enabled) return;
    if (writeBack) this.writeBackPending();
    for (let i = 0; i < this.count; i++) this.candidates.remove(this.keyBase + i);
    this.pending.fill(0);
    this.enabled = false;
    this.count = 0;
    this.onChange();
  }

  /** Writes the pending bits of the configured LPIs to the pending table. */
  writeBackPending(): void {
    if (!this.enabled || this.count === 0) return;
    const bytes = new Uint8Array(this.count / 8);
    for (let i = 0; i < this.count; i++) if (this.pending[i] === 1) bytes[i >>> 3]! |= 1 << (i & 7);
    this.memory.writeBytes(this.pendingBase + LPI_FIRST / 8, bytes);
  }

  /** Puts LPI index `i` in or out of the candidate set from its pending bit and cached configuration. */
  private place(i: number): boolean {
    const c = this.config[i]!;
    if (this.pending[i] === 1 && (c & 1) !== 0) return this.candidates.insert(this.keyBase + i, c & this.prioMask, 1);
    return this.candidates.remove(this.keyBase + i);
  }

  /** True when `intid` is an LPI this redistributor accepts now (LPIs enabled and INTID configured). */
  accepts(intid: number): boolean {
    const i = intid - LPI_FIRST;
    return this.enabled && i >= 0 && i < this.count;
  }

  /**
   * Makes LPI `intid` pending (an ITS translation, INT, GICR_SETLPIR, a
   * doorbell). Returns false when the redistributor does not accept it:
   * LPIs disabled or the INTID beyond GICR_PROPBASER.IDbits (IHI0069 5.1).
   */
  setPending(intid: number): boolean {
    const i = intid - LPI_FIRST;
    if (!this.enabled || i < 0 || i >= this.count) return false;
    if (this.pending[i] === 1) return true;
    this.pending[i] = 1;
    const c = this.config[i]!;
    if ((c & 1) !== 0 && this.candidates.insert(this.keyBase + i, c & this.prioMask, 1)) this.onChange();
    return true;
  }

  /** Clears the pending state of `intid` (ITS CLEAR, GICR_CLRLPIR); returns whether it was pending. */
  clearPending(intid: number): boolean {
    const i = intid - LPI_FIRST;
    if (!this.enabled || i < 0 || i >= this.count || this.pending[i] === 0) return false;
    this.pending[i] = 0;
    if (this.candidates.remove(this.keyBase + i)) this.onChange();
    return true;
  }

  /** True when `intid` is pending here. */
  isPending(intid: number): boolean {
    const i = intid - LPI_FIRST;
    return i >= 0 && i < this.count && this.pending[i] === 1;
  }

  /** Reloads the cached configuration of `intid` from memory (ITS INV, GICR_INVLPIR; IHI0069 5.1.1). */
  invalidate(intid: number): void {
    const i = intid - LPI_FIRST;
    if (!this.enabled || i < 0 || i >= this.count) return;
    this.config[i] = this.memory.read8(this.configBase + i);
    if (this.place(i)) this.onChange();
  }

  /** Reloads the whole configuration cache (ITS INVALL, GICR_INVALLR). */
  invalidateAll(): void {
    if (!this.enabled || this.count === 0) return;
    this.memory.readBytes(this.configBase, this.count, this.config.subarray(0, this.count));
    for (let i = 0; i < this.count; i++) this.place(i);
    this.onChange();
  }

  /** INTIDs of the pending LPIs, in INTID order (for MOVALL). */
  pendingIntids(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) if (this.pending[i] === 1) out.push(i + LPI_FIRST);
    return out;
  }

  // --- the CPU interface's view of candidate keys -------------------------

  /** True when `key` is one of this redistributor's LPI keys. */
  ownsKey(key: number): boolean {
    return key >= this.keyBase && key < this.keyBase + this.capacity;
  }

  /** Priority of candidate `key` (the configuration byte's priority, implemented bits only). */
  keyPriority(key: number): number {
    return this.config[key - this.keyBase]! & this.prioMask;
  }

  /** INTID of candidate `key`. */
  keyIntid(key: number): number {
    return key - this.keyBase + LPI_FIRST;
  }

  /** Acknowledge of candidate `key` (IHI0069 5.1: an LPI has no active state, pending is cleared). */
  acknowledgeKey(key: number): void {
    this.pending[key - this.keyBase] = 0;
    this.candidates.remove(key);
  }

  /** Saves the registers, the configuration cache and the pending LPIs as JSON-safe data. */
  saveState(): LpiRedistributorState {
    return {
      enableLpis: this.enabled,
      propbaser: [this.propLo >>> 0, this.propHi >>> 0],
      pendbaser: [this.pendLo >>> 0, this.pendHi >>> 0],
      invlpir: [this.invLo >>> 0, this.invHi >>> 0],
      invallr: [this.invAllLo >>> 0, this.invAllHi >>> 0],
      config: bytesToHexRuns(this.config.subarray(0, this.count)),
      pending: this.pendingIntids(),
    };
  }

  /** Restores a state from {@link saveState}; memory is not read (the cache and pending bits are in the state). */
  /** Validates a state from {@link saveState} and returns the change that loads it; memory is not read (the cache and pending bits are in the state). */
  prepareRestore(r: StateReader): () => void {
    const pair = (key: string): [number, number] => {
      const a = r.intArray(key, 0, 0xffff_ffff, 2);
      return [a[0]!, a[1]!];
    };
    const prop = pair('propbaser');
    const pend = pair('pendbaser');
    const inv = pair('invlpir');
    const invAll = pair('invallr');
    const propLo = prop[0] & GICR_PROPBASER_MASK[0];
    const propHi = prop[1] & GICR_PROPBASER_MASK[1];
    const enabled = r.bool('enableLpis');
    const count = enabled ? this.configuredLpisFor(propLo) : 0;
    const config = hexRunsToBytes(r.string('config'), `${r.path}.config`);
    if (config.length !== count) throw new SnapshotError('shape', `${r.path}.config has ${config.length} entries, expected ${count}`);
    const pending = r.intArray('pending', LPI_FIRST, LPI_FIRST + Math.max(count, 1) - 1);
    return () => {
      for (let i = 0; i < this.count; i++) this.candidates.remove(this.keyBase + i);
      this.propLo = propLo;
      this.propHi = propHi;
      this.pendLo = pend[0] & GICR_PENDBASER_MASK[0];
      this.pendHi = pend[1] & GICR_PENDBASER_MASK[1];
      [this.invLo, this.invHi] = inv;
      [this.invAllLo, this.invAllHi] = invAll;
      this.enabled = enabled;
      this.count = count;
      this.config.fill(0);
      this.pending.fill(0);
      this.config.set(config);
      for (const intid of pending) this.pending[intid - LPI_FIRST] = 1;
      for (let i = 0; i < this.count; i++) this.place(i);
      this.onChange();
    };
  }
}


/** Hex encoding of a byte array (compact for the mostly-equal configuration bytes: "<count>*<hex byte>" runs). */
function bytesToHexRuns(bytes: Uint8Array): string {
  const parts: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    let j = i + 1;
    while (j < bytes.length && bytes[j] === bytes[i]) j++;
    parts.push(`${j - i}*${bytes[i]!.toString(16)}`);
    i = j;
  }
  return parts.join(',');
}

function hexRunsToBytes(text: string, path: string): Uint8Array {
  const out: number[] = [];
  if (text === '') return new Uint8Array(0);
  for (const part of text.split(',')) {
    const m = /^(\d+)\*([0-9a-f]{1,2})$/.exec(part);
    if (m === null) throw new SnapshotError('shape', `${path}: malformed run ${JSON.stringify(part)}`);
    const n = Number(m[1]);
    const v = parseInt(m[2]!, 16);
    if (n > 1 << 24) throw new SnapshotError('shape', `${path}: run of ${n} is too long`);
    for (let k = 0; k < n; k++) out.push(v);
  }
  return Uint8Array.from(out);
}
