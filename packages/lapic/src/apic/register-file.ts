/**
 * One description per local APIC register (SDM 3A 11.4.1 Table 11-1; the
 * x2APIC MSRs of 11.12.1.2 Table 11-6): how each view may access it, its
 * reset value, the bits software may write, and what a read and a write do.
 * The xAPIC page (xapic-mmio.ts) and the x2APIC MSRs (x2apic-msr.ts) are two
 * views of these descriptions: they check and translate an access, then
 * dispatch here through tables indexed by offset >> 4, built once from
 * {@link APIC_REGISTERS}.
 */
import { joinU64 } from '@hvsim/core';
import { APIC, APIC_RESET, DIVIDE_CONFIG_MASK, LVT_INDEX, type ApicRegisterName } from './regs.js';
import type { ApicConfig, ApicCore } from './apic-core.js';
import { ICR_HIGH_WRITABLE, ICR_LOW_WRITABLE as IMPORTED_ICR_LOW_WRITABLE, X2APIC_ICR_RESERVED, sendIpi as importedSendIpi, selfIpi as importedSelfIpi } from './icr.js';
import { LVT_MASK, LVT_READ_ONLY, LVT_REMOTE_IRR, lvtIndexOf, lvtIsLevel } from './lvt.js';

/** How software may access a register through one view: absent, read-only, read-write, write-only. */
export const ACCESS = {
  /** The view has no such register: xAPIC reads and writes set ESR illegal register address; RDMSR/WRMSR raise #GP. */
  NONE: 0,
  /** Read-only: an xAPIC write is ignored; a WRMSR raises #GP. */
  RO: 1,
  /** Read-write. */
  RW: 2,
  /** Write-only: an xAPIC read returns 0; an RDMSR raises #GP. */
  WO: 3,
} as const;

/** One of {@link ACCESS}. */
export type AccessKind = (typeof ACCESS)[keyof typeof ACCESS];

/** Reads a register (the view has checked that it exists and may be read). */
type ReadHandler = (core: ApicCore, offset: number) => number;
/** Writes a register with a 32-bit value (the view has checked access and, for WRMSR, reserved bits). */
type WriteHandler = (core: ApicCore, offset: number, value: number) => void;
/** The bits of `value` that are reserved for this register (a WRMSR with any set raises #GP). */
type ReservedBits = (core: ApicCore, offset: number, value: number) => number;

/** What one register is and does, for both views. */
export interface ApicRegisterDescription {
  /** The register's name in {@link APIC}; its offset is `APIC[name]`. */
  readonly name: ApicRegisterName;
  /** Consecutive 16-byte registers it spans (ISR0-7, TMR0-7, IRR0-7: 8). */
  readonly count: number;
  /** Access through the xAPIC page (a function where it depends on the configuration). */
  readonly xapic: AccessKind | ((config: ApicConfig) => AccessKind);
  /** Access through its x2APIC MSR; NONE for the registers x2APIC mode does not have. */
  readonly x2apic: AccessKind | ((config: ApicConfig) => AccessKind);
  /** Reset value (SDM 3A 11.4.7.1), for the registers that hold a value of their own. */
  readonly reset?: number;
  /** Reserved bits of a 32-bit WRMSR value (SDM 3A 11.12.1.2: #GP when set); none checked when absent. */
  readonly reserved?: ReservedBits;
  /** Reads the register (the view has checked that it exists and may be read). */
  readonly read: ReadHandler;
  /** Absent for read-only registers: writes have no effect. */
  readonly write?: WriteHandler;
  /** The 64-bit x2APIC form (the ICR, SDM 3A 11.12.9): replaces read/write/reserved for the MSR. */
  readonly msr64?: {
    readonly read: (core: ApicCore) => bigint;
    /** Reserved bits of bits 31:0 (bits 63:32 have none). */
    readonly reservedLow: number;
    readonly write: (core: ApicCore, low: number, high: number) => void;
  };
}

// Module-local copies of what the ICR and SELF IPI writes use (an imported binding is a getter call under Node's ESM loader).
const sendIpi = importedSendIpi;
const selfIpi = importedSelfIpi;
const ICR_LOW_WRITABLE = IMPORTED_ICR_LOW_WRITABLE;

const readZero: ReadHandler = () => 0;
const onlyByte: ReservedBits = (_core, _offset, value) => value & ~0xff;
const onlyZero: ReservedBits = (_core, _offset, value) => value;
const LVT_TIMER_MODE = 3 << 17;

/** A register whose value changes the bus's destination indexes. */
function changedDestination(core: ApicCore): void {
  core.port?.apicChanged(core.owner);
}

/** Sets every LVT mask while the APIC is software-disabled (SDM 3A 11.4.7.2). */
function writeSvr(core: ApicCore, _offset: number, value: number): void {
  core.svr = value & core.svrWritable;
  if (!core.softwareEnabled) for (let i = 0; i < 7; i++) core.lvt[i] = core.lvt[i]! | LVT_MASK;
}

function readLvt(core: ApicCore, offset: number): number {
  return core.lvt[lvtIndexOf(offset)]!;
}

/** Reserved bits of an LVT entry: not writable, not read-only, or timer mode 11b. */
function lvtReserved(core: ApicCore, offset: number, value: number): number {
  const index = lvtIndexOf(offset);
  const rsvd = value & ~(core.lvtWritable(index) | LVT_READ_ONLY[index]!);
  return index === LVT_INDEX.TIMER && (value & LVT_TIMER_MODE) === LVT_TIMER_MODE ? rsvd | LVT_TIMER_MODE : rsvd;
}

function writeLvt(core: ApicCore, offset: number, value: number): void {
  const index = lvtIndexOf(offset);
  const old = core.lvt[index]!;
  let v = value & core.lvtWritable(index);
  // Timer mode 11b is reserved: keep the current mode.
  if (index === LVT_INDEX.TIMER && (v & LVT_TIMER_MODE) === LVT_TIMER_MODE) v = (v & ~LVT_TIMER_MODE) | (old & LVT_TIMER_MODE);
  // While software-disabled the mask bits cannot be cleared (SDM 3A 11.4.7.2).
  if (!core.softwareEnabled) v |= LVT_MASK;
  v |= old & LVT_READ_ONLY[index]! & LVT_REMOTE_IRR;
  core.lvt[index] = v >>> 0;
  if (index === LVT_INDEX.TIMER) core.timer.setMode((v >>> 17) & 3);
  else if (index === LVT_INDEX.LINT0 || index === LVT_INDEX.LINT1) {
    const pin = index === LVT_INDEX.LINT0 ? 0 : 1;
    if (!lvtIsLevel(index, v)) core.lvt[index] = (v & ~LVT_REMOTE_IRR) >>> 0;
    // Unmasking a level-asserted pin delivers it (it is still asserted).
    if ((old & LVT_MASK) !== 0 && (v & LVT_MASK) === 0) core.evaluateLint(pin, core.lintLevel[pin]!);
  }
}

/** An LVT entry: its reset value and rules are shared (SDM 3A 11.5.1); CMCI exists only with 7 entries. */
function lvt(name: ApicRegisterName, present?: (config: ApicConfig) => boolean): ApicRegisterDescription {
  const kind = present === undefined ? ACCESS.RW : (c: ApicConfig): AccessKind => (present(c) ? ACCESS.RW : ACCESS.NONE);
  return { name, count: 1, xapic: kind, x2apic: kind, reset: APIC_RESET.LVT, reserved: lvtReserved, read: readLvt, write: writeLvt };
}

/** ISR, TMR or IRR word (offset >> 4) & 7 of the 256-bit set. */
function vectorWord(pick: (core: ApicCore) => { readonly words: Uint32Array }): ReadHandler {
  return (core, offset) => pick(core).words[(offset >>> 4) & 7]!;
}

/**
 * Every local APIC register, once (SDM 3A Table 11-1 and Table 11-6). The
 * ID, version, PPR, ISR/TMR/IRR and the current count have no reset value of
 * their own: they are derived from the configuration and the other state.
 */
export const APIC_REGISTERS: readonly ApicRegisterDescription[] = [
  {
    name: 'ID',
    count: 1,
    // Read-only since Nehalem (SDM 3A 11.4.1 note) unless configured writable, as KVM lets guests; the x2APIC ID always (11.12.5.1).
    xapic: (c) => (c.xapicIdWritable ? ACCESS.RW : ACCESS.RO),
    x2apic: ACCESS.RO,
    read: (core) => (core.mode === 'x2apic' ? core.config.x2apicId : (core.xapicId << 24) >>> 0),
    write: (core, _offset, value) => {
      core.xapicId = value >>> 24;
      changedDestination(core);
    },
  },
  { name: 'VERSION', count: 1, xapic: ACCESS.RO, x2apic: ACCESS.RO, read: (core) => core.versionRegister },
  { name: 'TPR', count: 1, xapic: ACCESS.RW, x2apic: ACCESS.RW, reset: APIC_RESET.TPR, reserved: onlyByte, read: (core) => core.tpr, write: (core, _o, value) => core.setTpr(value) },
  // APR is not supported since the Pentium 4 (SDM 3A Table 11-1 note 1): reads 0, writes ignored without an ESR error.
  { name: 'APR', count: 1, xapic: ACCESS.RO, x2apic: ACCESS.NONE, read: readZero },
  { name: 'PPR', count: 1, xapic: ACCESS.RO, x2apic: ACCESS.RO, read: (core) => core.ppr },
  // Only 0 may be written through WRMSR (SDM 3A 11.12.1.2); through the page any value is an EOI.
  { name: 'EOI', count: 1, xapic: ACCESS.WO, x2apic: ACCESS.WO, reserved: onlyZero, read: readZero, write: (core) => core.eoi() },
  { name: 'RRD', count: 1, xapic: ACCESS.RO, x2apic: ACCESS.NONE, read: readZero },
  {
    name: 'LDR',
    count: 1,
    // x2APIC: derived from the x2APIC ID, read-only (SDM 3A 11.12.10.2).
    xapic: ACCESS.RW,
    x2apic: ACCESS.RO,
    reset: APIC_RESET.LDR,
    read: (core) => core.ldr,
    write: (core, _offset, value) => {
      core.ldr = (value & 0xff00_0000) >>> 0;
      changedDestination(core);
    },
  },
  {
    name: 'DFR',
    count: 1,
    xapic: ACCESS.RW,
    x2apic: ACCESS.NONE,
    reset: APIC_RESET.DFR,
    read: (core) => core.dfr,
    write: (core, _offset, value) => {
      // Only the model field 31:28 is writable; 27:0 read as 1s (SDM 3A Figure 11-14).
      core.dfr = (value | 0x0fff_ffff) >>> 0;
      changedDestination(core);
    },
  },
  { name: 'SVR', count: 1, xapic: ACCESS.RW, x2apic: ACCESS.RW, reset: APIC_RESET.SVR, reserved: (core, _o, value) => value & ~core.svrWritable, read: (core) => core.svr, write: writeSvr },
  { name: 'ISR0', count: 8, xapic: ACCESS.RO, x2apic: ACCESS.RO, read: vectorWord((core) => core.isr) },
  { name: 'TMR0', count: 8, xapic: ACCESS.RO, x2apic: ACCESS.RO, read: vectorWord((core) => core.tmr) },
  { name: 'IRR0', count: 8, xapic: ACCESS.RO, x2apic: ACCESS.RO, read: vectorWord((core) => core.irr) },
  {
    name: 'ESR',
    count: 1,
    xapic: ACCESS.RW,
    x2apic: ACCESS.RW,
    reset: APIC_RESET.ESR,
    // Only 0 may be written through WRMSR (SDM 3A 11.5.3).
    reserved: onlyZero,
    read: (core) => core.esr,
    write: (core) => {
      // A write latches the errors seen since the last write (SDM 3A 11.5.3).
      core.esr = core.esrPending;
      core.esrPending = 0;
    },
  },
  lvt('LVT_CMCI', (c) => c.lvtCount === 7),
  {
    name: 'ICR_LOW',
    count: 1,
    xapic: ACCESS.RW,
    x2apic: ACCESS.RW,
    reset: APIC_RESET.ICR,
    // Delivery is instantaneous here, so the delivery status (bit 12) always reads idle.
    read: (core) => core.icrLow,
    write: (core, _offset, value) => {
      core.icrLow = (value & ICR_LOW_WRITABLE) >>> 0;
      sendIpi(core, core.icrLow, core.mode === 'x2apic' ? core.icrHigh : core.icrHigh >>> 24);
    },
    // x2APIC: one 64-bit MSR with a 32-bit destination in bits 63:32 (SDM 3A 11.12.9).
    msr64: {
      read: (core) => joinU64(core.icrLow, core.icrHigh),
      reservedLow: X2APIC_ICR_RESERVED,
      write: (core, low, high) => {
        core.icrHigh = high;
        core.icrLow = (low & ICR_LOW_WRITABLE) >>> 0;
        sendIpi(core, core.icrLow, high);
      },
    },
  },
  {
    name: 'ICR_HIGH',
    count: 1,
    xapic: ACCESS.RW,
    x2apic: ACCESS.NONE,
    reset: APIC_RESET.ICR,
    read: (core) => core.icrHigh,
    write: (core, _offset, value) => {
      core.icrHigh = (value & ICR_HIGH_WRITABLE) >>> 0;
    },
  },
  lvt('LVT_TIMER'),
  lvt('LVT_THERMAL'),
  lvt('LVT_PERF'),
  lvt('LVT_LINT0'),
  lvt('LVT_LINT1'),
  lvt('LVT_ERROR'),
  {
    name: 'TIMER_INITIAL_COUNT',
    count: 1,
    xapic: ACCESS.RW,
    x2apic: ACCESS.RW,
    reset: APIC_RESET.TIMER_INITIAL_COUNT,
    read: (core) => core.timer.initial,
    write: (core, _offset, value) => core.timer.setInitialCount(value),
  },
  { name: 'TIMER_CURRENT_COUNT', count: 1, xapic: ACCESS.RO, x2apic: ACCESS.RO, read: (core) => core.timer.currentCount() },
  {
    name: 'TIMER_DIVIDE_CONFIG',
    count: 1,
    xapic: ACCESS.RW,
    x2apic: ACCESS.RW,
    reset: APIC_RESET.TIMER_DIVIDE_CONFIG,
    reserved: (_core, _o, value) => value & ~DIVIDE_CONFIG_MASK,
    read: (core) => core.timer.divide,
    write: (core, _offset, value) => core.timer.setDivideConfig(value),
  },
  // x2APIC only (SDM 3A 11.12.11): a self IPI with the vector in bits 7:0. Reads as 0 where it is not readable.
  { name: 'SELF_IPI', count: 1, xapic: ACCESS.NONE, x2apic: ACCESS.WO, reserved: onlyByte, read: readZero, write: (core, _o, value) => selfIpi(core, value & 0xff) },
];

/** What software sees of one local APIC register (the handlers behind it stay inside the package). */
export interface ApicRegisterInfo {
  /** Its name in {@link APIC}. */
  readonly name: ApicRegisterName;
  /** Its xAPIC page offset, `APIC[name]`. */
  readonly offset: number;
  /** Consecutive 16-byte registers it spans (ISR0-7, TMR0-7, IRR0-7: 8). */
  readonly count: number;
  /** Access through the xAPIC page, with the default options (CMCI present, the xAPIC ID read-only). */
  readonly xapic: AccessKind;
  /** Access through its x2APIC MSR (NONE: x2APIC mode does not have it). */
  readonly x2apic: AccessKind;
  /** Reset value (SDM 3A 11.4.7.1), or undefined for the registers derived from other state. */
  readonly reset: number | undefined;
  /** True when WRMSR checks reserved bits of this register (a #GP when any is set). */
  readonly reservedChecked: boolean;
}

/** The default options' view of a configuration-dependent access (7 LVT entries, read-only xAPIC ID). */
const DEFAULT_ACCESS_CONFIG = { lvtCount: 7, xapicIdWritable: false } as ApicConfig;

/**
 * Every local APIC register as the model's register table describes it, data only:
 * offset, access in each view, reset value (SDM 3A Table 11-1, Table 11-6,
 * 11.4.7.1).
 */
export const APIC_REGISTER_INFO: readonly ApicRegisterInfo[] = Object.freeze(
  APIC_REGISTERS.map((d) =>
    Object.freeze({
      name: d.name,
      offset: APIC[d.name],
      count: d.count,
      xapic: accessOf(d.xapic, DEFAULT_ACCESS_CONFIG),
      x2apic: accessOf(d.x2apic, DEFAULT_ACCESS_CONFIG),
      reset: d.reset,
      reservedChecked: d.reserved !== undefined || d.msr64 !== undefined,
    }),
  ),
);

/** Each register's description, by offset >> 4 (64 slots; undefined where no register is). */
const BY_SLOT: (ApicRegisterDescription | undefined)[] = new Array<ApicRegisterDescription | undefined>(64).fill(undefined);
for (const d of APIC_REGISTERS) for (let i = 0; i < d.count; i++) BY_SLOT[(APIC[d.name] >>> 4) + i] = d;

/** The handlers by offset >> 4: one indexed load and a call per access. */
const READ: readonly ReadHandler[] = BY_SLOT.map((d) => d?.read ?? readZero);
const WRITE: readonly (WriteHandler | undefined)[] = BY_SLOT.map((d) => d?.write);
const RESERVED: readonly (ReservedBits | undefined)[] = BY_SLOT.map((d) => d?.reserved);

/** The description of the register at xAPIC `offset` (a multiple of 16 below 0x400), or undefined. */
export function registerAt(offset: number): ApicRegisterDescription | undefined {
  return BY_SLOT[offset >>> 4];
}

/** Reads the register at `offset` (a multiple of 16 the caller has checked exists in this mode). */
export function readRegister(core: ApicCore, offset: number): number {
  return READ[offset >>> 4]!(core, offset);
}

/** Writes the register at `offset` with a 32-bit value (the views have checked access and reserved bits). */
export function writeRegister(core: ApicCore, offset: number, value: number): void {
  WRITE[offset >>> 4]?.(core, offset, value);
}

/** The reserved bits of `value` for a WRMSR of the register at `offset` (0 when it checks none). */
export function reservedBits(core: ApicCore, offset: number, value: number): number {
  const r = RESERVED[offset >>> 4];
  return r === undefined ? 0 : r(core, offset, value);
}

/** Resolves a description's access kind for one configuration. */
function accessOf(kind: AccessKind | ((config: ApicConfig) => AccessKind), config: ApicConfig): AccessKind {
  return typeof kind === 'function' ? kind(config) : kind;
}

/**
 * Access table of one view for one configuration, indexed by offset >> 4
 * (256 slots: the x2APIC MSRs 0x800-0x8FF; the xAPIC page uses the first 64).
 */
export function accessTable(x2apic: boolean, config: ApicConfig): Uint8Array {
  const t = new Uint8Array(256);
  for (const d of APIC_REGISTERS) {
    const kind = accessOf(x2apic ? d.x2apic : d.xapic, config);
    for (let i = 0; i < d.count; i++) t[(APIC[d.name] >>> 4) + i] = kind;
  }
  return t;
}
