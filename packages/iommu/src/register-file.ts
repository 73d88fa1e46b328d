/**
 * The register page of a VT-d unit (VT-d 11.4, Table 11-2), one description
 * per register as VT-d 11.4 lists it: offset, width, reset value, the bits
 * that exist, the bits software writes (RW, WO), the bits a written 1 clears
 * (RW1C, RW1CS), and the register's read and write handlers. Everything
 * else follows from the description: reserved bits read 0 and ignore
 * writes, read-only bits ignore writes, registers the unit keeps as written
 * (RTADDR, CCMD, IRTA, IVA, IOTLB) are stored through their writable mask.
 * The Global Command protocol (VT-d 11.4.4), the register-based
 * invalidations (CCMD, IOTLB_REG; VT-d 6.5.1) and the queue tail are the
 * write handlers of their registers. Accesses are dispatched by a table of
 * dword slots built from the descriptions; nothing switches on offsets.
 */
import { getField, mask64, setField } from '@hvsim/core';
import { hostPageAddress, pageAddress } from './address.js';
import { capabilityWords, extendedCapabilityWords, resolveFeatures, type IommuFeatures } from './capabilities.js';
import type { DmaRemapper } from './dma/dma-remapper.js';
import type { EventInterrupt } from './faults/event-interrupt.js';
import type { FaultRecorder } from './faults/fault-recorder.js';
import type { InterruptRemapper } from './interrupts/interrupt-remapper.js';
import type { Invalidations } from './invalidation.js';
import type { InvalidationQueue } from './qi/invalidation-queue.js';
import { CCMD, EVENT_CTL, FSTS, FSTS_RW1C, GCMD, GCMD_ENABLES, GCMD_ONE_SHOT, IOTLB, IRTA, IVA, RTADDR, VTD, VTD_FAULT_RECORDING_REGISTERS, VTD_REG_PAGE_SIZE, VTD_VERSION } from './regs.js';

/** What the model says about one register of the page (VT-d 11.4), for one unit. */
export interface VtdRegisterInfo {
  /** Spec mnemonic without `_REG` (`GCMD`), `FRCD[i]` for Fault Recording register i. */
  readonly name: string;
  /** Byte offset in the register page. */
  readonly offset: number;
  /** Width in bits; 64-bit registers are also reachable as two 32-bit halves, FRCDs as four (VT-d 10.2). */
  readonly width: 32 | 64 | 128;
  /** Access type as VT-d 11.4 gives it (`RW`, `RO`, `WO`, `RW1CS`, or the field types of a mixed register). */
  readonly access: string;
  /** Value after reset (CAP and ECAP: what this unit implements). */
  readonly reset: bigint;
  /** Bits that exist; every other bit is reserved: reads 0, writes ignored. */
  readonly defined: bigint;
  /** Bits software writes (RW and WO) in this unit (ECAP.EIM adds IRTA.EIME, FEUADDR and IEUADDR). */
  readonly writable: bigint;
  /** Bits a written 1 clears (RW1C, RW1CS). */
  readonly w1c: bigint;
}

/**
 * A register description.
 * @deprecated Use {@link VtdRegisterInfo} (one description per register, masks as bigints).
 */
export type RegisterInfo = VtdRegisterInfo;

/**
 * One register: its attributes and behaviour. Masks are bigints as the spec
 * draws them; the register file turns them into 32-bit slots once.
 */
interface RegisterSpec {
  readonly name: string;
  readonly offset: number;
  readonly width: 32 | 64 | 128;
  readonly access: string;
  /** Reset value (default 0); CAP and ECAP take the unit's capability words. */
  readonly reset?: bigint | ((file: RegisterFile) => bigint);
  readonly defined: bigint;
  readonly writable?: bigint;
  /** Further writable bits only with ECAP.EIM (x2APIC destinations, IRTA.EIME). */
  readonly writableWithEim?: bigint;
  readonly w1c?: bigint;
  /**
   * True when the file keeps the value: a write stores the writable bits
   * (read-only bits stay as the handlers set them). Otherwise the value
   * lives in a block and `read` gives it.
   */
  readonly stored?: boolean;
  /** Dword `word` (0 = bits 31:0) of the value, for registers not stored. */
  read?(file: RegisterFile, word: number): number;
  /** The effect of a write of dword `word`, masked to its writable and W1C bits (after storing, when stored). */
  write?(file: RegisterFile, word: number, value: number): void;
}

const ALL32 = 0xffff_ffffn;
/** Bits msb:lsb, as the spec's register tables give them. */
const bits = (msb: number, lsb: number): bigint => mask64(msb, lsb);

/** A register kept as written (through its writable mask) by the file. */
function kept(name: string, offset: number, width: 32 | 64, access: string, defined: bigint, writable: bigint, more: Partial<RegisterSpec> = {}): RegisterSpec {
  return { name, offset, width, access, defined, writable, stored: true, ...more };
}

/** A 32-bit register whose value a block keeps, with its reader and writer. */
function held(name: string, offset: number, access: string, defined: bigint, masks: { writable?: bigint; writableWithEim?: bigint; w1c?: bigint; reset?: bigint }, read: (f: RegisterFile) => number, write?: (f: RegisterFile, value: number) => void): RegisterSpec {
  return { name, offset, width: 32, access, defined, ...masks, read: (f) => read(f), write: write && ((f, _w, v) => write(f, v)) };
}

/** A register this unit does not implement (VT-d 11.4: reserved when the capability is 0). */
function absent(name: string, offset: number, width: 32 | 64, why: string): RegisterSpec {
  return { name, offset, width, access: `RsvdZ (${why})`, defined: 0n };
}

/** The registers of the page (VT-d 11.4, Table 11-2). */
const SPECS: readonly RegisterSpec[] = [
  kept('VER', VTD.VER, 32, 'RO', bits(7, 0), 0n, { reset: BigInt(VTD_VERSION) }),
  kept('CAP', VTD.CAP, 64, 'RO', bits(63, 0), 0n, { reset: (f) => (BigInt(f.cap[1]) << 32n) | BigInt(f.cap[0]) }),
  kept('ECAP', VTD.ECAP, 64, 'RO', bits(63, 0), 0n, { reset: (f) => (BigInt(f.ecap[1]) << 32n) | BigInt(f.ecap[0]) }),
  // Write-only commands in bits 31:23, one at a time (VT-d 11.4.4); reads return 0.
  { name: 'GCMD', offset: VTD.GCMD, width: 32, access: 'WO', defined: bits(31, 23), writable: bits(31, 23), read: () => 0, write: (f, _w, v) => f.globalCommand(v) },
  // Status bits 31:23, set and cleared only by commands (VT-d 11.4.5).
  kept('GSTS', VTD.GSTS, 32, 'RO', bits(31, 23), 0n),
  // RTA 63:12 and TTM 11:10 kept as written, latched by SRTP; 9:0 reserved (VT-d 11.4.6).
  kept('RTADDR', VTD.RTADDR, 64, 'RW', bits(63, 10), bits(63, 10)),
  // ICC 63, CIRG 62:61 and FM 33:32, SID 31:16, DID 15:0 written; CAIG 60:59 read-only; 58:34 reserved (VT-d 11.4.7).
  kept('CCMD', VTD.CCMD, 64, 'RW, RO (CAIG)', bits(63, 59) | bits(33, 0), bits(63, 61) | bits(33, 0), {
    write: (f, w, v) => {
      if (w === 1) f.contextCommand(v);
    },
  }),
  // PFO, AFO, APF, IQE, ICE, ITE RW1CS; PPF and FRI read-only; bit 7 and 31:16 reserved.
  held('FSTS', VTD.FSTS, 'RW1CS, RO (PPF, FRI)', bits(15, 8) | bits(6, 0), { w1c: BigInt(FSTS_RW1C) }, (f) => f.blocks.faults.readStatus(), (f, v) => f.faultStatus(v)),
  // IM RW, IP RO; 29:0 reserved.
  held('FECTL', VTD.FECTL, 'RW (IM), RO (IP)', bits(31, 30), { writable: BigInt(EVENT_CTL.IM >>> 0), reset: BigInt(EVENT_CTL.IM >>> 0) }, (f) => f.blocks.faultEvent.readControl(), (f, v) => f.blocks.faultEvent.writeControl(v)),
  // Bits 31:16 (EIMD, 32-bit interrupt data) reserved: this unit sends 16-bit data.
  held('FEDATA', VTD.FEDATA, 'RW', bits(15, 0), { writable: bits(15, 0) }, (f) => f.blocks.faultEvent.readData(), (f, v) => f.blocks.faultEvent.writeData(v)),
  held('FEADDR', VTD.FEADDR, 'RW', bits(31, 2), { writable: bits(31, 2) }, (f) => f.blocks.faultEvent.readAddress(), (f, v) => f.blocks.faultEvent.writeAddress(v)),
  // Reserved without ECAP.EIM; with it, bits 31:8 of an x2APIC destination.
  held('FEUADDR', VTD.FEUADDR, 'RW (ECAP.EIM = 1)', bits(31, 0), { writableWithEim: bits(31, 0) }, (f) => f.blocks.faultEvent.readUpperAddress(), (f, v) => f.blocks.faultEvent.writeUpperAddress(v)),
  absent('AFLOG', VTD.AFLOG, 64, 'CAP.AFL = 0'),
  absent('PMEN', VTD.PMEN, 32, 'CAP.PLMR = CAP.PHMR = 0'),
  absent('PLMBASE', VTD.PLMBASE, 32, 'CAP.PLMR = 0'),
  absent('PLMLIMIT', VTD.PLMLIMIT, 32, 'CAP.PLMR = 0'),
  absent('PHMBASE', VTD.PHMBASE, 64, 'CAP.PHMR = 0'),
  absent('PHMLIMIT', VTD.PHMLIMIT, 64, 'CAP.PHMR = 0'),
  // QH 18:4.
  { name: 'IQH', offset: VTD.IQH, width: 64, access: 'RO', defined: bits(18, 4), read: (f, w) => (w === 0 ? f.blocks.queue.head << 4 : 0) },
  // QT 18:4: a write hands the new descriptors to the unit (VT-d 6.5.2).
  { name: 'IQT', offset: VTD.IQT, width: 64, access: 'RW', defined: bits(18, 4), writable: bits(18, 4), read: (f, w) => (w === 0 ? f.blocks.queue.tail << 4 : 0),
    write: (f, w, v) => {
      if (w === 0) f.blocks.queue.writeTail(v);
    },
  },
  // IQA 63:12, DW 11, QS 2:0; 10:3 reserved.
  {
    name: 'IQA',
    offset: VTD.IQA,
    width: 64,
    access: 'RW',
    defined: bits(63, 11) | bits(2, 0),
    writable: bits(63, 11) | bits(2, 0),
    read: (f, w) => (w === 0 ? f.blocks.queue.addressLow : f.blocks.queue.addressHigh),
    write: (f, w, v) => {
      const q = f.blocks.queue;
      if (w === 0) q.writeAddress(v, q.addressHigh);
      else q.writeAddress(q.addressLow, v);
    },
  },
  // IWC (bit 0) RW1CS.
  held('ICS', VTD.ICS, 'RW1CS', bits(0, 0), { w1c: bits(0, 0) }, (f) => f.blocks.queue.completionStatus, (f, v) => f.blocks.queue.writeCompletionStatus(v)),
  held('IECTL', VTD.IECTL, 'RW (IM), RO (IP)', bits(31, 30), { writable: BigInt(EVENT_CTL.IM >>> 0), reset: BigInt(EVENT_CTL.IM >>> 0) }, (f) => f.blocks.invalidationEvent.readControl(), (f, v) => f.blocks.invalidationEvent.writeControl(v)),
  held('IEDATA', VTD.IEDATA, 'RW', bits(15, 0), { writable: bits(15, 0) }, (f) => f.blocks.invalidationEvent.readData(), (f, v) => f.blocks.invalidationEvent.writeData(v)),
  held('IEADDR', VTD.IEADDR, 'RW', bits(31, 2), { writable: bits(31, 2) }, (f) => f.blocks.invalidationEvent.readAddress(), (f, v) => f.blocks.invalidationEvent.writeAddress(v)),
  held('IEUADDR', VTD.IEUADDR, 'RW (ECAP.EIM = 1)', bits(31, 0), { writableWithEim: bits(31, 0) }, (f) => f.blocks.invalidationEvent.readUpperAddress(), (f, v) => f.blocks.invalidationEvent.writeUpperAddress(v)),
  // IQEI 3:0 (this unit reports no ITE/ICE source IDs).
  { name: 'IQERCD', offset: VTD.IQERCD, width: 64, access: 'RO', defined: bits(3, 0), read: (f, w) => (w === 0 ? f.blocks.queue.errorInfo : 0) },
  // IRTA 63:12, EIME 11 (only where ECAP.EIM = 1), S 3:0; 10:4 reserved.
  kept('IRTA', VTD.IRTA, 64, 'RW', bits(63, 11) | bits(3, 0), bits(63, 12) | bits(3, 0), { writableWithEim: bits(IRTA.EIME.lsb, IRTA.EIME.lsb) }),
  // ADDR 63:12, IH 6, AM 5:0; 11:7 reserved (VT-d 11.4.8.2).
  kept('IVA', VTD.IVA, 64, 'RW', bits(63, 12) | bits(6, 0), bits(63, 12) | bits(6, 0)),
  // IVT 63, IIRG 61:60, DR 49, DW 48, DID 47:32 written; IAIG 58:57 read-only; 31:0 reserved (VT-d 11.4.8.1).
  kept('IOTLB', VTD.IOTLB, 64, 'RW, RO (IAIG)', bits(63, 63) | bits(61, 60) | bits(58, 57) | bits(49, 32), bits(63, 63) | bits(61, 60) | bits(49, 32), {
    write: (f, w, v) => {
      if (w === 1) f.iotlbCommand(v);
    },
  }),
  ...Array.from({ length: VTD_FAULT_RECORDING_REGISTERS }, (_, i): RegisterSpec => ({
    name: `FRCD[${i}]`,
    offset: VTD.FRCD + 16 * i,
    width: 128,
    // F (bit 127) RW1CS; every other field read-only.
    access: 'RO, RW1CS (F)',
    // FI 63:12, SID 79:64, PRIV/EXE/PP 92:89 and 95:92 not implemented, FR 103:96, PV 123:104 not implemented, AT 125:124, T 126, F 127.
    defined: bits(127, 124) | bits(103, 96) | bits(79, 64) | bits(63, 12),
    w1c: bits(127, 127),
    read: (f, w) => f.blocks.faults.readRecordWord(i, w),
    write: (f, w, v) => {
      f.blocks.faults.writeRecordWord(i, w, v);
    },
  })),
];

/** A 32-bit slot of the page: its register, which dword of it, and the masks of that dword in this unit. */
interface Slot {
  readonly spec: RegisterSpec;
  readonly word: number;
  readonly defined: number;
  readonly writable: number;
  readonly w1c: number;
}

/** Dword `word` of `value`. */
function dword(value: bigint, word: number): number {
  return Number((value >> BigInt(32 * word)) & ALL32);
}

const RESERVED_SLOT_SPEC: RegisterSpec = { name: 'reserved', offset: -1, width: 32, access: 'RsvdZ', defined: 0n };
/** Slots of reserved offsets: read 0, writes ignored. */
const RESERVED_SLOT: Slot = { spec: RESERVED_SLOT_SPEC, word: 0, defined: 0, writable: 0, w1c: 0 };

/** The blocks whose state the registers show. */
export interface RegisterBlocks {
  dma: DmaRemapper;
  interrupts: InterruptRemapper;
  faults: FaultRecorder;
  faultEvent: EventInterrupt;
  invalidationEvent: EventInterrupt;
  queue: InvalidationQueue;
  invalidations: Invalidations;
}

/** Register state and dispatch of one unit. */
export class RegisterFile {
  /** GCMD writes naming more than one command (ignored). */
  rejectedCommands = 0;
  /** GCMD commands this hardware does not support (SFL, EAFL with CAP.AFL = 0; WBF with CAP.RWBF = 0), counted. */
  unsupportedCommands = 0;
  /** Narrow or misaligned writes (ignored). */
  ignoredWrites = 0;
  /** Values of the stored registers, by dword offset. */
  private readonly values = new Uint32Array(VTD_REG_PAGE_SIZE / 4);
  /** The page by dword offset. */
  private readonly slots: readonly Slot[];

  constructor(
    /** The blocks whose state the registers show. */
    readonly blocks: RegisterBlocks,
    /** CAP_REG halves. */
    readonly cap: readonly [number, number],
    /** ECAP_REG halves. */
    readonly ecap: readonly [number, number],
    private readonly extendedInterruptMode: boolean,
    private readonly onRejectedCommand: (value: number) => void,
  ) {
    const slots = new Array<Slot>(VTD_REG_PAGE_SIZE / 4).fill(RESERVED_SLOT);
    for (const spec of SPECS) {
      const info = this.describe(spec);
      for (let word = 0; word < spec.width / 32; word++) {
        const at = spec.offset / 4 + word;
        slots[at] = { spec, word, defined: dword(info.defined, word), writable: dword(info.writable, word), w1c: dword(info.w1c, word) };
        if (spec.stored === true) this.values[at] = dword(info.reset, word);
      }
    }
    this.slots = slots;
  }

  /** The description of `spec` in this unit. */
  private describe(spec: RegisterSpec): VtdRegisterInfo {
    const reset = typeof spec.reset === 'function' ? spec.reset(this) : (spec.reset ?? 0n);
    const writable = (spec.writable ?? 0n) | (this.extendedInterruptMode ? (spec.writableWithEim ?? 0n) : 0n);
    return { name: spec.name, offset: spec.offset, width: spec.width, access: spec.access, reset, defined: spec.defined, writable, w1c: spec.w1c ?? 0n };
  }

  /** Every register of the page, in offset order, as this unit implements it. */
  descriptions(): VtdRegisterInfo[] {
    return SPECS.map((spec) => this.describe(spec));
  }

  /** Reads the dword at `offset` (4-byte aligned); reserved bits read 0. */
  read(offset: number): number {
    const at = offset >>> 2;
    const s = this.slots[at]!;
    if (s.defined === 0) return 0;
    const value = s.spec.read ? s.spec.read(this, s.word) : this.values[at]!;
    return (value & s.defined) >>> 0;
  }

  /**
   * Writes the dword at `offset` (4-byte aligned): writable bits are stored
   * (stored registers) and, with the W1C bits, reach the register's handler;
   * read-only and reserved bits are ignored.
   */
  write(offset: number, value: number): void {
    const at = offset >>> 2;
    const s = this.slots[at]!;
    const mask = s.writable | s.w1c;
    // Read-only (VER, CAP, ECAP, GSTS, IQH, IQERCD) and reserved registers: writes have no effect.
    if (mask === 0) return;
    const v = (value & mask) >>> 0;
    if (s.spec.stored === true) this.values[at] = ((this.values[at]! & ~s.writable) | (v & s.writable)) >>> 0;
    s.spec.write?.(this, s.word, v);
  }

  /** GSTS_REG. */
  get status(): number {
    return this.values[VTD.GSTS >>> 2]!;
  }

  set status(value: number) {
    this.values[VTD.GSTS >>> 2] = value;
  }

  /** A stored 64-bit register (RTADDR, CCMD, IRTA, IVA, IOTLB) as `[low, high]` dwords. */
  pair(offset: number): [number, number] {
    return [this.values[offset >>> 2]!, this.values[(offset >>> 2) + 1]!];
  }

  /** Sets a stored 64-bit register (a restored state; no side effect). */
  setPair(offset: number, words: readonly [number, number]): void {
    this.values[offset >>> 2] = words[0];
    this.values[(offset >>> 2) + 1] = words[1];
  }

  /** FSTS_REG: RW1C status bits; clearing IQE lets the queue resume fetching (VT-d 6.5.2.10). */
  faultStatus(value: number): void {
    const hadQueueError = this.blocks.faults.hasStatus(FSTS.IQE);
    this.blocks.faults.writeStatus(value);
    if (hadQueueError && !this.blocks.faults.hasStatus(FSTS.IQE)) this.blocks.queue.resume();
  }

  /** GCMD_REG (VT-d 11.4.4): exactly one command per write, compared against GSTS. */
  globalCommand(value: number): void {
    const status = this.status;
    const commands = ((value & GCMD_ONE_SHOT) | ((value ^ status) & GCMD_ENABLES)) >>> 0;
    if (commands === 0) return;
    if ((commands & (commands - 1)) !== 0) {
      // Documented choice for the undefined multi-command write: ignore it and count it.
      this.rejectedCommands++;
      this.onRejectedCommand(value);
      return;
    }
    const on = (value & commands) !== 0;
    switch (commands >>> 0) {
      case GCMD.TE >>> 0:
        this.blocks.dma.enabled = on;
        this.setStatus(GCMD.TE, on);
        return;
      case GCMD.SRTP: {
        // A root table beyond the host address width is latched as such: every root-entry fetch faults (LRT.1).
        const [low, high] = this.pair(VTD.RTADDR);
        this.blocks.dma.rootTable = hostPageAddress(low, high);
        this.blocks.dma.tableMode = getField(low, RTADDR.TTM);
        this.setStatus(GCMD.SRTP, true);
        return;
      }
      case GCMD.QIE:
        this.blocks.queue.setEnabled(on);
        this.setStatus(GCMD.QIE, on);
        return;
      case GCMD.IRE:
        this.blocks.interrupts.enabled = on;
        this.setStatus(GCMD.IRE, on);
        return;
      case GCMD.SIRTP: {
        // A table beyond the host address width is latched as such: every IRTE fetch faults (0x23).
        const [low, high] = this.pair(VTD.IRTA);
        this.blocks.interrupts.tableAddress = hostPageAddress(low, high);
        this.blocks.interrupts.tableEntries = 2 ** (getField(low, IRTA.S) + 1);
        this.blocks.interrupts.extendedMode = getField(low, IRTA.EIME) === 1;
        this.setStatus(GCMD.SIRTP, true);
        return;
      }
      case GCMD.CFI:
        this.blocks.interrupts.compatibilityAllowed = on;
        this.setStatus(GCMD.CFI, on);
        return;
      default:
        // SFL/EAFL (CAP.AFL = 0) and WBF (CAP.RWBF = 0) are unsupported here (VT-d 11.4.4): no status change.
        this.unsupportedCommands++;
        return;
    }
  }

  private setStatus(bit: number, on: boolean): void {
    const status = this.status;
    this.status = (on ? status | bit : status & ~bit) >>> 0;
  }

  /** CCMD_REG high dword written (VT-d 11.4.7): ICC starts the invalidation; CAIG reports what was done. */
  contextCommand(high: number): void {
    if (getField(high, CCMD.ICC_HI) === 0) return;
    const at = (VTD.CCMD >>> 2) + 1;
    const low = this.values[at - 1]!;
    const done = this.blocks.invalidations.contextCache(getField(high, CCMD.CIRG_HI), getField(low, CCMD.DID), getField(low, CCMD.SID), getField(high, CCMD.FM_HI));
    // ICC clears on completion; CAIG = 0 reports an ignored (invalid) request.
    this.values[at] = setField(setField(this.values[at]!, CCMD.ICC_HI, 0), CCMD.CAIG_HI, done);
  }

  /** IOTLB_REG high dword written (VT-d 11.4.8.1): IVT starts the invalidation; IAIG reports what was done. */
  iotlbCommand(high: number): void {
    if (getField(high, IOTLB.IVT_HI) === 0) return;
    const at = (VTD.IOTLB >>> 2) + 1;
    const [ivaLow, ivaHigh] = this.pair(VTD.IVA);
    const done = this.blocks.invalidations.iotlb(getField(high, IOTLB.IIRG_HI), getField(high, IOTLB.DID_HI), pageAddress(ivaLow, ivaHigh), getField(ivaLow, IVA.AM));
    // IVT clears on completion; IAIG reports the granularity performed (0: ignored).
    this.values[at] = setField(setField(this.values[at]!, IOTLB.IVT_HI, 0), IOTLB.IAIG_HI, done);
  }
}

/**
 * The register descriptions (VT-d 11.4, Table 11-2) of a unit with
 * `features` (defaults: all on), one per register in offset order, with
 * CAP/ECAP reset values and the ECAP.EIM-dependent writable bits of that
 * unit. `IntelIommu.registerDescriptions()` gives those of a unit.
 */
export function registerDescriptions(features?: IommuFeatures): VtdRegisterInfo[] {
  const resolved = resolveFeatures(features);
  // The descriptions need no blocks: the file is made only to describe.
  const file = new RegisterFile({} as RegisterBlocks, capabilityWords(resolved), extendedCapabilityWords(resolved), resolved.extendedInterruptMode, () => undefined);
  return file.descriptions();
}
