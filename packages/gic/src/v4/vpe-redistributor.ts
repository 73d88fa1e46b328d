/**
 * The GICv4 part of one redistributor (IHI0069 chapter 5 "Virtual LPIs" and
 * 12.11 GICR_VPROPBASER, GICR_VPENDBASER, GICR_VSGIR, GICR_VSGIPENDR): which
 * vPE is resident here, its vLPI configuration cache and pending state, the
 * virtual pending tables of the vPEs that are not, and doorbells.
 *
 * - GICR_VPENDBASER.Valid 0 -> 1 makes a vPE resident: its virtual pending
 *   table (VPT) is read and its vLPI configuration table loaded. GICv4.0
 *   names the vPE by its VPT address (and the configuration table by
 *   GICR_VPROPBASER); GICv4.1 names it by vPEID and finds both through the
 *   vPE table that GICR_VPROPBASER describes and VMAPP filled.
 * - Valid 1 -> 0 writes the pending state back to the VPT, sets PendingLast
 *   when an enabled vLPI is still pending and reports Dirty (the first read
 *   after a Valid change returns Dirty = 1, as a parse in progress; the next
 *   read 0). In GICv4.1 writing DB = 1 with Valid = 0 asks for the vPE's
 *   default doorbell when a vLPI arrives and nothing was pending.
 * - A vLPI for the resident vPE is pending at once in this PE's virtual CPU
 *   interface ({@link VlpiCpuPort}); the guest acknowledges it through
 *   ICV_IAR1_EL1 and completes it through ICV_EOIR1_EL1 with no hypervisor
 *   action. A vLPI for a vPE that is not resident sets its VPT bit and, with a
 *   doorbell, makes the doorbell's physical LPI pending here.
 *
 * Resident vLPIs and vSGIs sit in a {@link PendingSet} (keys 0-15 vSGIs,
 * 16 + (vINTID - 8192) vLPIs), so selection is a bucket lookup. The resident
 * vLPI pending bits are kept as an image of the VPT's LPI part with the byte
 * range changed since residency began, so a residency change costs a copy
 * and a scan of the set words, and the write-back writes only what changed
 * (IHI0069 5.4.1: the VPT is only defined to be up to date after Valid
 * clears; PendingLast is whether an enabled vLPI or vSGI is pending, which is
 * whether the pending set is not empty).
 */
import { SnapshotError, UsageError, assertInteger, getField, setField, type Memory, type StateReader } from '@hvsim/core';
import { PendingSet } from '../common/pending-set.js';
import type { LpiRedistributorPort, VlpiRedistributorPort, VsgiConfig } from '../its/ports.js';
import { ITS_ENTRY_BYTES, NO_DOORBELL, GITS_PAGE_BYTES } from '../its/regs.js';
import { readVpeEntry, tableEntryAddress, type TableGeometry, type VpeEntry } from '../its/tables.js';
import type { VirtualInvalidationPort } from '../lpi/lpi-redistributor.js';
import { LPI_FIRST, joinAddress } from '../lpi/regs.js';
import { withTableFaults } from '../lpi/table-fault.js';
import { RegisterTable } from '../common/register-table.js';
import { GICR_VLPI, GICR_VLPI_BASE_SIZE, GICR_VPENDBASER_HI, GICR_VPROPBASER_V40_LO, GICR_VPROPBASER_V41_HI, GICR_VPROPBASER_V41_LO, VPT_VSGI_CONFIG_OFFSET } from './regs.js';

/** vSGIs take candidate keys 0-15; vLPIs follow. */
const VSGI_KEYS = 16;
// Module-local copies: imported bindings are live getters under Node's ESM loader.
const FIRST_LPI = LPI_FIRST;
const DOORBELL_NONE = NO_DOORBELL;
/** Byte offset of vINTID 8192's bit in a VPT. */
const VPT_LPI_OFFSET = LPI_FIRST / 8;

/** GICv4 architecture version of a redistributor. */
export type GicV4Version = 'v4.0' | 'v4.1';

/** The seam to a PE's virtual CPU interface: the resident vPE's pending vLPIs changed. */
export interface VlpiCpuPort {
  /** The resident vPE's pending vLPIs or vSGIs changed: re-evaluate the virtual interrupt outputs. */
  vlpiChanged(): void;
}

/**
 * What a virtual CPU interface asks of the direct-injection source, beside
 * its list registers: the best pending key, its priority, group and vINTID,
 * and acknowledge (a vLPI or GICv4.1 vSGI has no active state).
 */
export interface DirectVirtualSource {
  /** Highest-priority pending key among the groups in `groupMask` (bit 0 Group 0, bit 1 Group 1), or -1. */
  best(groupMask: number): number;
  /** Priority of pending `key`. */
  keyPriority(key: number): number;
  /** Group of pending `key`, 0 or 1 (vLPIs are Group 1). */
  keyGroup(key: number): number;
  /** vINTID of `key`. */
  keyIntid(key: number): number;
  /** Acknowledges `key`: it stops being pending (no active state, IHI0069 5.4). */
  acknowledgeKey(key: number): void;
}

/** Construction options of a {@link VpeRedistributor}. */
export interface VpeRedistributorOptions {
  /** Memory holding the vPE's pending and configuration tables. */
  memory: Memory;
  /** GICv4.0 or GICv4.1 register layout and behaviour. */
  version: GicV4Version;
  /** vINTID bits implemented, 14-24 (as GICD_TYPER.IDbits + 1). */
  idBits: number;
  /** Virtual priority bits as a mask (0xf8 for 5 bits). */
  priorityMask: number;
  /** This redistributor's physical LPIs, where doorbells are made pending. */
  doorbells: LpiRedistributorPort;
  /** This PE's virtual CPU interface. */
  cpu: VlpiCpuPort;
}

/** Saved GICv4 state of a redistributor (only while no vPE is resident: the pending state is then in memory). */
export interface VpeRedistributorState {
  /** GICR_VPROPBASER, low and high words. */
  vpropbaser: [number, number];
  /** GICR_VPENDBASER, low and high words. */
  vpendbaser: [number, number];
  /** GICR_VSGIR (GICv4.1). */
  vsgir: number;
  /** GICR_VPENDBASER.Dirty as next read (one read after a residency change). */
  dirty: boolean;
  /** GICv4.1: vPEIDs made non-resident with DB = 1 whose default doorbell is armed. */
  armedDoorbells: number[];
}

/** One redistributor's vPE residency, resident vLPI state and doorbells. */
export class VpeRedistributor implements VlpiRedistributorPort, VirtualInvalidationPort, DirectVirtualSource {
  /** GICv4.0 or GICv4.1. */
  readonly version: GicV4Version;
  /** vLPIs the redistributor can hold: 2^idBits - 8192. */
  readonly capacity: number;
  private readonly memory: Memory;
  private readonly doorbells: LpiRedistributorPort;
  private readonly cpu: VlpiCpuPort;
  private readonly prioMask: number;
  private readonly idBits: number;
  private vpropLo = 0;
  private vpropHi = 0;
  private vpendLo = 0;
  private vpendHi = 0;
  private dirty = false;
  private vsgir = 0;
  /** GICR_VPENDBASER.Valid. */
  private resident = false;
  private residentVpeId = -1;
  private vptBase = 0;
  private configBase = 0;
  private count = 0;
  /** vGrp0En / vGrp1En (GICv4.1), bit 0 / bit 1; GICv4.0 has both. */
  private groupEnable = 3;
  /** GICv4.1: vPEs made non-resident with DB = 1 and nothing pending: the next vLPI rings the default doorbell. */
  private readonly armed = new Set<number>();
  private readonly config: Uint8Array;
  /** Pending bits of the resident vLPIs, bit i of byte i >> 3 for vINTID 8192 + 8i + bit: the VPT's LPI part. */
  private readonly pending: Uint8Array;
  /** {@link pending} as 32-bit words, to skip clear words when the VPT is read. */
  private readonly pendingWords: Uint32Array;
  /** Bytes of {@link pending} changed since the vPE became resident (lo > hi: none). */
  private changedLo = 0;
  private changedHi = -1;
  private readonly vsgiConfig = new Uint8Array(VSGI_KEYS);
  private readonly vsgiPending = new Uint8Array(VSGI_KEYS);
  private readonly set: PendingSet;

  constructor(options: VpeRedistributorOptions) {
    assertInteger(options.idBits, 'VpeRedistributor idBits', 14, 24);
    this.version = options.version;
    this.memory = options.memory;
    this.doorbells = options.doorbells;
    this.cpu = options.cpu;
    this.prioMask = options.priorityMask & 0xff;
    this.idBits = options.idBits;
    this.capacity = 2 ** options.idBits - LPI_FIRST;
    this.config = new Uint8Array(this.capacity);
    // capacity is a multiple of 8192, so the image is whole 32-bit words.
    this.pendingWords = new Uint32Array(this.capacity / 32);
    this.pending = new Uint8Array(this.pendingWords.buffer);
    this.set = new PendingSet(VSGI_KEYS + this.capacity);
    this.reset();
  }

  /** Reset (IHI0069 12.11): no vPE resident, registers zero (GICv4.1 VPROPBASER.Entry_Size is fixed). */
  reset(): void {
    this.vpropLo = 0;
    this.vpropHi = this.version === 'v4.1' ? setField(0, GICR_VPROPBASER_V41_HI.Entry_Size, ITS_ENTRY_BYTES.vpe / 8 - 1) : 0;
    this.vpendLo = this.vpendHi = 0;
    this.dirty = false;
    this.vsgir = 0;
    this.armed.clear();
    this.leave();
  }

  /** True when a vPE is resident (GICR_VPENDBASER.Valid). */
  get isResident(): boolean {
    return this.resident;
  }

  /** vPEID of the resident vPE (GICv4.1), -1 when none or GICv4.0. */
  get residentVpe(): number {
    return this.resident ? this.residentVpeId : -1;
  }

  // --- VLPI_base registers ------------------------------------------------

  /** Reads a 32-bit word of VLPI_base (IHI0069 12.11). */
  read(offset: number): number {
    return VpeRedistributor.REGISTERS.read(this, offset);
  }

  /** Writes a 32-bit word; GICR_VPENDBASER acts when its high word is written (a 64-bit write is low then high). */
  write(offset: number, value: number): void {
    VpeRedistributor.REGISTERS.write(this, offset, value);
  }

  /** True when a 64-bit VLPI_base register starts at `offset` (GICR_VPROPBASER, GICR_VPENDBASER, GICR_VSGIPENDR). */
  static handles64(offset: number): boolean {
    return VpeRedistributor.REGISTERS.is64(offset);
  }

  /**
   * The VLPI_base registers (IHI0069 12.11, Table 12-29), one description
   * each; GICR_VSGIR and GICR_VSGIPENDR are RAZ/WI in GICv4.0. Writes to
   * GICR_VPROPBASER and the low word of GICR_VPENDBASER while a vPE is
   * resident are UNPREDICTABLE (12.11.39, 12.11.38) and ignored here.
   *
   * @internal
   */
  static readonly REGISTERS = new RegisterTable<VpeRedistributor>('GICR VLPI_base', GICR_VLPI_BASE_SIZE, [
    {
      name: 'GICR_VPROPBASER',
      offset: GICR_VLPI.VPROPBASER,
      width: 64,
      writable: 0xffff_ffff,
      // GICv4.1 layout (the vPE table, Entry_Size read-only) or GICv4.0's (as GICR_PROPBASER).
      writableHigh: 0x87ff_ffff,
      read: (v, w) => (w === 0 ? v.vpropLo : v.vpropHi) >>> 0,
      write: (v, value, w) => {
        if (v.resident) return;
        if (w === 0) v.vpropLo = value;
        else if (v.version === 'v4.1') v.vpropHi = (value | setField(0, GICR_VPROPBASER_V41_HI.Entry_Size, ITS_ENTRY_BYTES.vpe / 8 - 1)) >>> 0;
        else v.vpropHi = value & 0x070f_ffff;
      },
    },
    {
      name: 'GICR_VPENDBASER',
      offset: GICR_VLPI.VPENDBASER,
      width: 64,
      reset: 0,
      writable: 0xffff_ffff,
      writableHigh: 0xffff_ffff,
      read: (v, w) => {
        if (w === 0) return v.vpendLo >>> 0;
        // Dirty reads 1 once after a residency change it reports (IHI0069 12.11.38).
        const hi = v.dirty ? setField(v.vpendHi, GICR_VPENDBASER_HI.Dirty, 1) : v.vpendHi;
        v.dirty = false;
        return hi >>> 0;
      },
      write: (v, value, w) => {
        if (w === 0) {
          if (!v.resident) v.vpendLo = value;
          return;
        }
        withTableFaults('GICR_VPENDBASER write', () => {
          v.writeVpendbaserHigh(value);
        });
      },
    },
    {
      name: 'GICR_VSGIR',
      offset: GICR_VLPI.VSGIR,
      reset: 0,
      writable: 0xffff,
      read: (v) => (v.version === 'v4.1' ? v.vsgir : 0),
      write: (v, value) => {
        if (v.version === 'v4.1') v.vsgir = value;
      },
    },
    {
      name: 'GICR_VSGIPENDR',
      offset: GICR_VLPI.VSGIPENDR,
      width: 64,
      // Busy (bit 31) is 0: the pending state is read at once (IHI0069 12.11.40). A vPE table or
      // VPT outside memory is a failed table access: an SError, as for every other table fault.
      read: (v, w) => (v.version === 'v4.1' && w === 0 ? withTableFaults('GICR_VSGIPENDR read', () => v.vsgiPendingOf(v.vsgir)) : 0),
    },
  ]);

  private writeVpendbaserHigh(hi: number): void {
    const valid = getField(hi, GICR_VPENDBASER_HI.Valid) === 1;
    if (this.resident) {
      // Changing fields while Valid stays 1 is UNPREDICTABLE (IHI0069 12.11.38); the write is ignored.
      if (valid) return;
      const vpeId = this.residentVpeId;
      const pendingLast = this.writeBack();
      this.leave();
      let v = setField(hi & 0x7fff_ffff & ~(1 << 28), GICR_VPENDBASER_HI.PendingLast, pendingLast ? 1 : 0);
      if (this.version === 'v4.1') {
        const db = getField(hi, GICR_VPENDBASER_HI.IDAI_DB) === 1;
        if (db && !pendingLast) this.armed.add(vpeId);
        v = setField(v, GICR_VPENDBASER_HI.IDAI_DB, 0);
      }
      this.vpendHi = v >>> 0;
      this.dirty = true;
      this.cpu.vlpiChanged();
      return;
    }
    if (!valid) {
      this.vpendHi = hi & ~(1 << 28) & 0x7fff_ffff;
      return;
    }
    if (!this.enter(hi)) return;
    // PendingLast is RES1 when Valid goes 0 -> 1 (QEMU's reading of IHI0069 12.11.38).
    this.vpendHi = setField(hi & ~(1 << 28), GICR_VPENDBASER_HI.PendingLast, 1) >>> 0;
    this.dirty = true;
    this.cpu.vlpiChanged();
  }

  /** GICv4.1: the vPE table GICR_VPROPBASER describes (shared with the ITS, GITS_TYPER.SVPET). */
  private vpeTable(): TableGeometry {
    const lo = this.vpropLo;
    const hi = this.vpropHi;
    const pageBytes = GITS_PAGE_BYTES[Math.min(getField(hi, GICR_VPROPBASER_V41_HI.Page_Size), 2)]!;
    return {
      valid: getField(hi, GICR_VPROPBASER_V41_HI.Valid) === 1,
      base: joinAddress(lo, hi, ~(pageBytes - 1)),
      pageBytes,
      pages: getField(lo, GICR_VPROPBASER_V41_LO.Size) + 1,
      entryBytes: ITS_ENTRY_BYTES.vpe,
      indirect: getField(hi, GICR_VPROPBASER_V41_HI.Indirect) === 1,
    };
  }

  /** The vPE table entry of `vpeId` as this redistributor sees it (GICv4.1), or null. */
  private lookupVpe(vpeId: number): VpeEntry | null {
    const a = tableEntryAddress(this.memory, this.vpeTable(), vpeId);
    if (a < 0) return null;
    const e = readVpeEntry(this.memory, a, vpeId);
    return e.valid ? e : null;
  }

  /**
   * Valid 0 -> 1: loads the vPE's configuration and pending state. Returns
   * false when GICv4.1 names a vPE the vPE table does not hold (the write is
   * then ignored: UNPREDICTABLE in the spec).
   */
  private enter(hi: number): boolean {
    let bits: number;
    if (this.version === 'v4.1') {
      const vpeId = this.vpendLo & 0xffff;
      const e = this.lookupVpe(vpeId);
      if (e === null) return false;
      this.residentVpeId = vpeId;
      this.vptBase = e.vptAddress;
      this.configBase = e.vconfAddress;
      bits = e.vptSize + 1;
      this.groupEnable = getField(hi, GICR_VPENDBASER_HI.VGrp0En) | (getField(hi, GICR_VPENDBASER_HI.VGrp1En) << 1);
      this.armed.delete(vpeId);
    } else {
      this.residentVpeId = -1;
      this.vptBase = (hi & 0xf_ffff) * 0x1_0000_0000 + ((this.vpendLo & 0xffff_0000) >>> 0);
      this.configBase = (this.vpropHi & 0xf_ffff) * 0x1_0000_0000 + ((this.vpropLo & 0xffff_f000) >>> 0);
      bits = getField(this.vpropLo, GICR_VPROPBASER_V40_LO.IDbits) + 1;
      this.groupEnable = 3;
    }
    bits = Math.min(bits, this.idBits);
    this.count = bits < 14 ? 0 : 2 ** bits - LPI_FIRST;
    this.resident = true;
    this.changedLo = 0;
    this.changedHi = -1;
    // Entries at and beyond count are never read while this vPE is resident: no need to clear them.
    if (this.count > 0) {
      this.memory.readBytes(this.configBase, this.count, this.config.subarray(0, this.count));
      this.memory.readBytes(this.vptBase + VPT_LPI_OFFSET, this.count / 8, this.pending.subarray(0, this.count / 8));
    }
    if (this.version === 'v4.1') {
      this.memory.readBytes(this.vptBase + VPT_VSGI_CONFIG_OFFSET, VSGI_KEYS, this.vsgiConfig);
      const p = this.memory.read16(this.vptBase);
      for (let n = 0; n < VSGI_KEYS; n++) this.vsgiPending[n] = (p >>> n) & 1;
    }
    for (let n = 0; n < VSGI_KEYS; n++) this.placeVsgi(n);
    // The set is empty here (leave cleared it): only the pending vLPIs need placing.
    const words = this.pendingWords;
    for (let w = 0, end = this.count / 32; w < end; w++) {
      let bits = words[w]!;
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits);
        bits &= ~(1 << bit);
        this.placeVlpi(w * 32 + bit);
      }
    }
    return true;
  }

  /** Whether resident vLPI `i` (vINTID - 8192) is pending. */
  private isPending(i: number): boolean {
    return ((this.pending[i >>> 3]! >>> (i & 7)) & 1) !== 0;
  }

  /** Sets or clears resident vLPI `i`'s pending bit and widens the changed range. */
  private setPendingBit(i: number, on: boolean): void {
    const b = i >>> 3;
    const m = 1 << (i & 7);
    this.pending[b] = on ? this.pending[b]! | m : this.pending[b]! & ~m;
    if (b < this.changedLo || this.changedHi < this.changedLo) this.changedLo = b;
    if (b > this.changedHi) this.changedHi = b;
  }

  /** Writes the resident vPE's pending state to its VPT; returns whether an enabled vLPI or vSGI is pending (PendingLast). */
  private writeBack(): boolean {
    // The set holds exactly the pending vLPIs and vSGIs that are enabled.
    const any = this.set.size > 0;
    // Bytes not changed since residency began still hold what was read from the VPT.
    if (this.changedLo <= this.changedHi) {
      this.memory.writeBytes(this.vptBase + VPT_LPI_OFFSET + this.changedLo, this.pending.subarray(this.changedLo, this.changedHi + 1));
    }
    if (this.version === 'v4.1') {
      let p = 0;
      for (let n = 0; n < VSGI_KEYS; n++) p |= this.vsgiPending[n]! << n;
      this.memory.write16(this.vptBase, p);
    }
    return any;
  }

  private leave(): void {
    this.resident = false;
    this.residentVpeId = -1;
    this.count = 0;
    this.set.clear();
    this.vsgiPending.fill(0);
  }

  private placeVlpi(i: number): boolean {
    const c = this.config[i]!;
    if ((c & 1) !== 0 && this.isPending(i)) return this.set.insert(VSGI_KEYS + i, c & 0xfc & this.prioMask, 1);
    return this.set.remove(VSGI_KEYS + i);
  }

  private placeVsgi(n: number): boolean {
    const c = this.vsgiConfig[n]!;
    if (this.vsgiPending[n] === 1 && (c & 1) !== 0) return this.set.insert(n, c & 0xf0 & this.prioMask, (c >>> 1) & 1);
    return this.set.remove(n);
  }

  private isResidentFor(vpe: VpeEntry): boolean {
    if (!this.resident) return false;
    return this.version === 'v4.1' ? vpe.vpeId === this.residentVpeId : vpe.vptAddress === this.vptBase;
  }

  // --- VlpiRedistributorPort ----------------------------------------------

  setVlpiPending(vpe: VpeEntry, vintid: number, doorbell: number): boolean {
    if (this.isResidentFor(vpe)) {
      const i = vintid - FIRST_LPI;
      if (i < 0 || i >= this.count || this.isPending(i)) return false;
      this.setPendingBit(i, true);
      const c = this.config[i]!;
      if ((c & 1) !== 0 && this.set.insert(VSGI_KEYS + i, c & 0xfc & this.prioMask, 1)) this.cpu.vlpiChanged();
      return true;
    }
    if (vintid >= 2 ** (vpe.vptSize + 1)) return false;
    const a = vpe.vptAddress + (vintid >>> 3);
    const before = this.memory.read8(a);
    const bit = 1 << (vintid & 7);
    this.memory.write8(a, before | bit);
    if (doorbell !== DOORBELL_NONE) this.doorbells.setPending(doorbell);
    if (this.version === 'v4.1' && this.armed.has(vpe.vpeId) && (this.memory.read8(vpe.vconfAddress + vintid - FIRST_LPI) & 1) !== 0) {
      this.ringDefaultDoorbell(vpe);
    }
    return (before & bit) === 0;
  }

  /** GICv4.1 default doorbell: rung once per non-residency (PendingLast is then 1 until the vPE runs again). */
  private ringDefaultDoorbell(vpe: VpeEntry): void {
    this.armed.delete(vpe.vpeId);
    if (vpe.defaultDoorbell !== DOORBELL_NONE) this.doorbells.setPending(vpe.defaultDoorbell);
  }

  clearVlpiPending(vpe: VpeEntry, vintid: number): boolean {
    if (this.isResidentFor(vpe)) {
      const i = vintid - FIRST_LPI;
      if (i < 0 || i >= this.count || !this.isPending(i)) return false;
      this.setPendingBit(i, false);
      if (this.set.remove(VSGI_KEYS + i)) this.cpu.vlpiChanged();
      return true;
    }
    if (vintid >= 2 ** (vpe.vptSize + 1)) return false;
    const a = vpe.vptAddress + (vintid >>> 3);
    const b = this.memory.read8(a);
    const m = 1 << (vintid & 7);
    if ((b & m) === 0) return false;
    this.memory.write8(a, b & ~m);
    return true;
  }

  invalidateVlpi(vpe: VpeEntry, vintid: number): void {
    if (!this.isResidentFor(vpe)) return;
    this.reloadVlpi(vintid);
  }

  invalidateAllVlpis(vpe: VpeEntry): void {
    if (!this.isResidentFor(vpe)) return;
    this.reloadAll();
  }

  private reloadVlpi(vintid: number): void {
    const i = vintid - FIRST_LPI;
    if (i < 0 || i >= this.count) return;
    this.config[i] = this.memory.read8(this.configBase + i);
    if (this.placeVlpi(i)) this.cpu.vlpiChanged();
  }

  private reloadAll(): void {
    if (this.count > 0) this.memory.readBytes(this.configBase, this.count, this.config.subarray(0, this.count));
    for (let i = 0; i < this.count; i++) this.placeVlpi(i);
    this.cpu.vlpiChanged();
  }

  /** GICR_INVLPIR with V = 1 (GICv4.1). */
  invalidateVlpiByVpe(vpeId: number, vintid: number): void {
    if (this.resident && this.residentVpeId === vpeId) this.reloadVlpi(vintid);
  }

  /** GICR_INVALLR with V = 1 (GICv4.1). */
  invalidateAllVlpisByVpe(vpeId: number): void {
    if (this.resident && this.residentVpeId === vpeId) this.reloadAll();
  }

  configureVsgi(vpe: VpeEntry, vintid: number, config: VsgiConfig | 'clear-pending'): void {
    const n = vintid & 15;
    if (config === 'clear-pending') {
      if (this.isResidentFor(vpe)) {
        this.vsgiPending[n] = 0;
        if (this.set.remove(n)) this.cpu.vlpiChanged();
      } else {
        this.memory.write16(vpe.vptAddress, this.memory.read16(vpe.vptAddress) & ~(1 << n));
      }
      return;
    }
    const byte = (config.priority & 0xf0) | ((config.group & 1) << 1) | (config.enable ? 1 : 0);
    this.memory.write8(vpe.vptAddress + VPT_VSGI_CONFIG_OFFSET + n, byte);
    if (this.isResidentFor(vpe)) {
      this.vsgiConfig[n] = byte;
      if (this.placeVsgi(n)) this.cpu.vlpiChanged();
    }
  }

  setVsgiPending(vpe: VpeEntry, vintid: number): void {
    const n = vintid & 15;
    if (this.isResidentFor(vpe)) {
      if (this.vsgiPending[n] === 1) return;
      this.vsgiPending[n] = 1;
      if (this.placeVsgi(n)) this.cpu.vlpiChanged();
      return;
    }
    this.memory.write16(vpe.vptAddress, this.memory.read16(vpe.vptAddress) | (1 << n));
    if (this.armed.has(vpe.vpeId) && (this.memory.read8(vpe.vptAddress + VPT_VSGI_CONFIG_OFFSET + n) & 1) !== 0) this.ringDefaultDoorbell(vpe);
  }

  invalidateDoorbell(vpe: VpeEntry): void {
    if (vpe.defaultDoorbell !== DOORBELL_NONE) this.doorbells.invalidate(vpe.defaultDoorbell);
  }

  /** GICR_VSGIPENDR.Pending for `vpeId` (GICv4.1): from the resident state or the vPE's VPT. */
  private vsgiPendingOf(vpeId: number): number {
    if (this.resident && this.residentVpeId === vpeId) {
      let p = 0;
      for (let n = 0; n < VSGI_KEYS; n++) p |= this.vsgiPending[n]! << n;
      return p;
    }
    const e = this.lookupVpe(vpeId);
    return e === null ? 0 : this.memory.read16(e.vptAddress);
  }

  // --- DirectVirtualSource ------------------------------------------------

  best(groupMask: number): number {
    return this.set.best(groupMask & this.groupEnable);
  }

  /** Priority of pending `key` (a vSGI's from its configuration, a vLPI's from the configuration table). */
  keyPriority(key: number): number {
    return key < VSGI_KEYS ? this.vsgiConfig[key]! & 0xf0 & this.prioMask : this.config[key - VSGI_KEYS]! & 0xfc & this.prioMask;
  }

  /** Group of pending `key`: a vSGI's configured group, 1 for vLPIs. */
  keyGroup(key: number): number {
    return key < VSGI_KEYS ? (this.vsgiConfig[key]! >>> 1) & 1 : 1;
  }

  /** vINTID of `key`: keys 0-15 are vSGIs, the rest vLPIs from 8192. */
  keyIntid(key: number): number {
    return key < VSGI_KEYS ? key : key - VSGI_KEYS + FIRST_LPI;
  }

  /** Acknowledge: the vLPI (or vSGI) stops being pending; it has no active state (IHI0069 5.4). */
  acknowledgeKey(key: number): void {
    if (key < VSGI_KEYS) this.vsgiPending[key] = 0;
    else this.setPendingBit(key - VSGI_KEYS, false);
    this.set.remove(key);
  }

  /** Pending vINTIDs of the resident vPE (for tests and debuggers). */
  residentPending(): number[] {
    const out: number[] = [];
    for (let n = 0; n < VSGI_KEYS; n++) if (this.vsgiPending[n] === 1) out.push(n);
    for (let i = 0; i < this.count; i++) if (this.isPending(i)) out.push(i + FIRST_LPI);
    return out;
  }

  // --- state ------------------------------------------------------------------

  /**
   * Saves the registers. A resident vPE's pending state lives in the
   * redistributor until it is written back, so, as on hardware, it must be
   * made non-resident (GICR_VPENDBASER.Valid = 0) before a snapshot.
   */
  saveState(): VpeRedistributorState {
    if (this.resident) {
      throw new UsageError('bad-state', 'a vPE is resident: clear GICR_VPENDBASER.Valid (which writes its pending state to the VPT) before saving');
    }
    return {
      vpropbaser: [this.vpropLo >>> 0, this.vpropHi >>> 0],
      vpendbaser: [this.vpendLo >>> 0, this.vpendHi >>> 0],
      vsgir: this.vsgir,
      dirty: this.dirty,
      armedDoorbells: [...this.armed].sort((a, b) => a - b),
    };
  }

  /** Validates registers saved by {@link saveState} (embedded in a GIC's state) and returns the change that loads them. */
  prepareRestore(r: StateReader): () => void {
    const vprop = r.intArray('vpropbaser', 0, 0xffff_ffff, 2);
    const vpend = r.intArray('vpendbaser', 0, 0xffff_ffff, 2);
    if (vpend[1]! >>> 31 === 1) throw new SnapshotError('shape', `${r.path}: saved GICR_VPENDBASER has Valid = 1; a vPE cannot be resident in a snapshot`);
    const vsgir = r.int('vsgir', 0, 0xffff);
    const dirty = r.bool('dirty');
    const armed = r.intArray('armedDoorbells', 0, 0xffff);
    return () => this.commitRestore(vprop, vpend, vsgir, dirty, armed);
  }

  private commitRestore(vprop: number[], vpend: number[], vsgir: number, dirty: boolean, armed: number[]): void {
    this.leave();
    this.vpropLo = vprop[0]!;
    this.vpropHi = vprop[1]!;
    this.vpendLo = vpend[0]!;
    this.vpendHi = vpend[1]!;
    this.vsgir = vsgir;
    this.dirty = dirty;
    this.armed.clear();
    for (const v of armed) this.armed.add(v);
  }
}
