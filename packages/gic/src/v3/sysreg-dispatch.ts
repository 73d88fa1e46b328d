/**
 * The GICv3 system registers by name and by encoding (IHI0069 12.2-12.4):
 * resolves an `ICC_*`, `ICV_*` or `ICH_*` name, or an MRS/MSR encoding, to
 * one entry (description and handler) on one PE's CPU interface or virtual
 * interface, applies HCR_EL2.IMO/FMO routing of EL1 `ICC_*` accesses to
 * `ICV_*`, the ICH_HCR_EL2 trap controls, and the UNDEFINED cases. Both
 * paths share the entries; the name path converts `bigint` values, the
 * encoding path passes 32-bit halves and allocates nothing.
 */
import { ARM64_EXCEPTION_CLASS, CpuException, UsageError, assertU64, describeValue } from '@hvsim/core';
import type { GicV3CpuInterface, SgiRegister } from './cpu-interface.js';
import { GICV3_SYSREGS, gicv3SysregByEncoding, type SysregInfo } from './sysregs.js';
import { GicV3VirtualInterface } from './virtual-interface.js';

/** HCR_EL2.FMO routing bit kept per PE. */
export const ROUTE_FMO = 1;
/** HCR_EL2.IMO routing bit kept per PE. */
export const ROUTE_IMO = 2;

/** What the dispatcher reports to its GIC (for tracing and SGI delivery). */
export interface SysregEvents {
  /** An acknowledge through ICC_IAR0/1_EL1 (`virtual` false) or ICV_IAR0/1_EL1 (true) returned `intid`. */
  onAcknowledge(cpu: number, intid: number, virtual: boolean): void;
  /** An EOI through ICC_EOIR0/1_EL1 or ICV_EOIR0/1_EL1. */
  onEoi(cpu: number, intid: number, virtual: boolean): void;
  onSgi(cpu: number, register: SgiRegister, lo: number, hi: number): void;
}

interface SysregHandler {
  /** Returns bits [31:0]; a register with bits above 31 sets the dispatcher's `high` to bits [63:32]. */
  read?: (cpu: number) => number;
  /** A write of the 64-bit value `hi:lo`, split once by the dispatcher. */
  write?: (cpu: number, lo: number, hi: number) => void;
}

/** A resolved register: its handler, its ICV_* counterpart and how routing and traps apply. */
interface SysregEntry {
  readonly info: SysregInfo;
  readonly handler: SysregHandler | undefined;
  /**
   * The entry an access reaches for each HCR_EL2 routing value (index = IMO/FMO bits): itself, its
   * ICV_* counterpart, or null when the access traps to EL2 (SGI generation at EL1).
   */
  byRoute: (SysregEntry | null)[];
  /** ICV_* registers: the ICH_HCR_EL2 trap class that covers them. */
  readonly trap: 'group0' | 'group1' | 'common' | 'dir' | undefined;
  /** ICH_HCR_EL2 bits that trap a guest access to this register (0 when none can). */
  readonly trapMask: number;
}

/** bigint values of small numbers (INTIDs, priorities), so hot register reads allocate nothing. */
const SMALL_BIGINT: readonly bigint[] = Array.from({ length: 1024 }, (_, i) => BigInt(i));

function toBigint(lo: number, hi: number): bigint {
  if (hi !== 0) return (BigInt(hi) << 32n) | BigInt(lo);
  return lo < 1024 ? SMALL_BIGINT[lo]! : BigInt(lo);
}

/** Number of 16-bit system-register encodings. */
const ENCODINGS = 0x1_0000;

/** ICC_* and ICH_* registers in a fixed order; {@link ENCODING_SLOT} indexes it. */
const ENCODED: readonly SysregInfo[] = [...GICV3_SYSREGS.values()].filter((i) => gicv3SysregByEncoding(i.encoding) === i);
/** Per encoding: index into {@link ENCODED}, or -1 (shared by every dispatcher, built once). */
const ENCODING_SLOT: Int16Array = (() => {
  const a = new Int16Array(ENCODINGS).fill(-1);
  ENCODED.forEach((info, i) => (a[info.encoding] = i));
  return a;
})();


/**
 * Encodings with a direct path (what a guest's interrupt handler and IPI code use): ICC_IAR1_EL1,
 * ICC_EOIR1_EL1, ICC_DIR_EL1, ICC_PMR_EL1 and ICC_SGI1R_EL1, and the ICV_* forms they route to.
 */
const ENC_IAR1 = GICV3_SYSREGS.get('ICC_IAR1_EL1')!.encoding;
const ENC_EOIR1 = GICV3_SYSREGS.get('ICC_EOIR1_EL1')!.encoding;
const ENC_DIR = GICV3_SYSREGS.get('ICC_DIR_EL1')!.encoding;
const ENC_PMR = GICV3_SYSREGS.get('ICC_PMR_EL1')!.encoding;
const ENC_SGI1R = GICV3_SYSREGS.get('ICC_SGI1R_EL1')!.encoding;
/** ICH_HCR_EL2 bits that trap the guest's Group 1, common and DIR registers (TALL1; TC; TC or TDIR). */
const TRAP_GROUP1 = GicV3VirtualInterface.trapMask('group1');
const TRAP_COMMON = GicV3VirtualInterface.trapMask('common');
const TRAP_DIR = GicV3VirtualInterface.trapMask('dir');

/** Name-based access to every PE's GICv3 system registers. */
export class SysregDispatcher {
  /** Per PE: {@link ROUTE_IMO} and {@link ROUTE_FMO} as set by `GicV3.setVirtualRouting`. */
  declare readonly routing: Uint8Array;
  private readonly handlers = new Map<string, SysregHandler>();
  private readonly entries = new Map<string, SysregEntry>();
  /** The entries of {@link ENCODED}, in its order (routing picks ICV_* from the ICC_* entry). */
  private readonly bySlot: SysregEntry[] = [];
  /** Bits [63:32] of the last register read (0 for 32-bit registers). */
  high = 0;

  // Assigned in the constructor and `declare`d, so V8 keeps their types (see CpuInterfaceCore).
  private declare readonly cpus: number;
  private declare readonly cpuInterfaces: readonly GicV3CpuInterface[];
  private declare readonly virtualInterfaces: readonly GicV3VirtualInterface[];
  private declare readonly events: SysregEvents;

  constructor(cpus: number, cpuInterfaces: readonly GicV3CpuInterface[], virtualInterfaces: readonly GicV3VirtualInterface[], events: SysregEvents) {
    this.cpus = cpus;
    this.cpuInterfaces = cpuInterfaces;
    this.virtualInterfaces = virtualInterfaces;
    this.events = events;
    this.routing = new Uint8Array(cpus);
    this.buildHandlers();
    this.buildEntries();
  }

  private checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) {
      throw new UsageError('bad-argument', `cpu must be an integer in [0, ${this.cpus - 1}], got ${describeValue(cpu)}`);
    }
  }

  /** Reads register `name` of `cpu`. */
  read(cpu: number, name: string): bigint {
    const h = this.resolve(cpu, this.lookup(name), name);
    if (h.read === undefined) throw undefinedAccess(name, 'read');
    this.high = 0;
    const lo = h.read(cpu);
    return toBigint(lo, this.high);
  }

  /**
   * MRS of the register with `encoding` ({@link sysregEncoding}): returns
   * bits [31:0]; bits [63:32] are left in {@link high}. An encoding that is
   * not a GIC register is UNDEFINED.
   */
  readEncoded(cpu: number, encoding: number): number {
    // The registers a guest's interrupt handler reads, without the table walk (same routing and traps).
    if ((encoding === ENC_IAR1 || encoding === ENC_PMR) && cpu >= 0 && cpu < this.cpus && (cpu | 0) === cpu) {
      const route = this.routing[cpu]!;
      if (encoding === ENC_IAR1) {
        if ((route & ROUTE_IMO) === 0) {
          const id = this.cpuInterfaces[cpu]!.readIar(1);
          this.events.onAcknowledge(cpu, id, false);
          this.high = 0;
          return id;
        }
        const v = this.virtualInterfaces[cpu]!;
        if ((v.trapBits & TRAP_GROUP1) === 0) {
          const id = v.readIar(1);
          this.events.onAcknowledge(cpu, id, true);
          this.high = 0;
          return id;
        }
      } else if (route === 0) {
        this.high = 0;
        return this.cpuInterfaces[cpu]!.readPmr();
      } else if ((this.virtualInterfaces[cpu]!.trapBits & TRAP_COMMON) === 0) {
        this.high = 0;
        return this.virtualInterfaces[cpu]!.readPmr();
      }
    }
    return this.readEncodedByTable(cpu, encoding);
  }

  /** {@link readEncoded} through the register table: every register, routing, traps and UNDEFINED cases. */
  private readEncodedByTable(cpu: number, encoding: number): number {
    const h = this.resolve(cpu, this.lookupEncoding(encoding), undefined);
    if (h.read === undefined) throw undefinedAccess(ENCODED[ENCODING_SLOT[encoding]!]!.name, 'read');
    this.high = 0;
    return h.read(cpu);
  }

  /** MSR of the 64-bit value `hi:lo` to the register with `encoding`. */
  writeEncoded(cpu: number, encoding: number, lo: number, hi: number): void {
    // The registers a guest's handler and IPI code write, without the table walk (same routing and traps).
    if (
      cpu >= 0 &&
      cpu < this.cpus &&
      (cpu | 0) === cpu &&
      typeof lo === 'number' &&
      typeof hi === 'number' &&
      lo >>> 0 === lo &&
      hi >>> 0 === hi &&
      (this.routing[cpu] === 0 ? this.writePhysical(cpu, encoding, lo, hi) : this.writeVirtual(cpu, encoding, lo, hi))
    ) {
      return;
    }
    this.writeEncodedByTable(cpu, encoding, lo, hi);
  }

  /** The direct ICC_* writes without HCR_EL2 routing; false when `encoding` has none. */
  private writePhysical(cpu: number, encoding: number, lo: number, hi: number): boolean {
    switch (encoding) {
      case ENC_EOIR1:
        this.events.onEoi(cpu, lo & 0xff_ffff, false);
        this.cpuInterfaces[cpu]!.writeEoir(1, lo);
        return true;
      case ENC_SGI1R:
        this.events.onSgi(cpu, 'ICC_SGI1R_EL1', lo, hi);
        return true;
      case ENC_DIR:
        this.cpuInterfaces[cpu]!.writeDir(lo);
        return true;
      case ENC_PMR:
        this.cpuInterfaces[cpu]!.writePmr(lo);
        return true;
      default:
        return false;
    }
  }

  /** The direct writes routed to ICV_* (HCR_EL2.IMO/FMO set) when ICH_HCR_EL2 does not trap them; false otherwise. */
  private writeVirtual(cpu: number, encoding: number, lo: number, hi: number): boolean {
    const v = this.virtualInterfaces[cpu]!;
    const route = this.routing[cpu]!;
    switch (encoding) {
      case ENC_EOIR1:
        if ((route & ROUTE_IMO) === 0) return this.writePhysical(cpu, encoding, lo, hi);
        if ((v.trapBits & TRAP_GROUP1) !== 0) return false;
        this.events.onEoi(cpu, lo & 0xff_ffff, true);
        v.writeEoir(1, lo);
        return true;
      case ENC_DIR:
        if ((v.trapBits & TRAP_DIR) !== 0) return false;
        v.writeDir(lo);
        return true;
      case ENC_PMR:
        if ((v.trapBits & TRAP_COMMON) !== 0) return false;
        v.writePmr(lo);
        return true;
      default:
        return false;
    }
  }

  /** {@link writeEncoded} through the register table: every register, routing, traps and argument checks. */
  private writeEncodedByTable(cpu: number, encoding: number, lo: number, hi: number): void {
    const h = this.resolve(cpu, this.lookupEncoding(encoding), undefined);
    if (typeof lo !== 'number' || typeof hi !== 'number' || lo >>> 0 !== lo || hi >>> 0 !== hi) {
      throw new UsageError('bad-argument', `system register value halves must be 32-bit unsigned integers, got lo ${describeValue(lo)}, hi ${describeValue(hi)}`);
    }
    if (h.write === undefined) throw undefinedAccess(ENCODED[ENCODING_SLOT[encoding]!]!.name, 'write');
    h.write(cpu, lo, hi);
  }

  /** True when `encoding` names a GICv3 system register. */
  implements(encoding: number): boolean {
    return Number.isInteger(encoding) && encoding >= 0 && encoding < ENCODINGS && ENCODING_SLOT[encoding]! >= 0;
  }

  private lookupEncoding(encoding: number): SysregEntry {
    if (!Number.isInteger(encoding) || encoding < 0 || encoding >= ENCODINGS) {
      throw new UsageError('bad-argument', `system register encoding must be an integer in [0, 0xffff], got ${describeValue(encoding)}`);
    }
    const slot = ENCODING_SLOT[encoding]!;
    if (slot >= 0) return this.bySlot[slot]!;
    throw new CpuException(ARM64_EXCEPTION_CLASS.UNKNOWN, { arch: 'arm64', detail: `system register encoding 0x${encoding.toString(16)} is not a GIC register: UNDEFINED` });
  }

  /** Writes register `name` of `cpu`. */
  write(cpu: number, name: string, value: bigint): void {
    const h = this.resolve(cpu, this.lookup(name), name);
    let lo: number;
    let hi = 0;
    // Most values are small: one comparison validates them and a conversion splits them.
    if (typeof value === 'bigint' && value >= 0n && value <= 0xffff_ffffn) {
      lo = Number(value);
    } else {
      assertU64(value, name);
      lo = Number(value & 0xffff_ffffn);
      hi = Number(value >> 32n);
    }
    if (h.write === undefined) throw undefinedAccess(name, 'write');
    h.write(cpu, lo, hi);
  }

  /** The last two names looked up (hot loops alternate IAR and EOIR): a compare instead of a hash. */
  private lastName0 = '';
  private lastEntry0: SysregEntry | undefined = undefined;
  private lastName1 = '';
  private lastEntry1: SysregEntry | undefined = undefined;

  private lookup(name: string): SysregEntry {
    if (name === this.lastName0 && this.lastEntry0 !== undefined) return this.lastEntry0;
    if (name === this.lastName1 && this.lastEntry1 !== undefined) return this.lastEntry1;
    const entry = this.entries.get(name);
    if (entry === undefined) throw new UsageError('unknown-name', `unknown GICv3 system register ${describeValue(name)}`);
    this.lastName1 = this.lastName0;
    this.lastEntry1 = this.lastEntry0;
    this.lastName0 = name;
    this.lastEntry0 = entry;
    return entry;
  }

  /** Routing, traps and UNDEFINED for one access to `entry` (`name` as the caller spelled it, for messages). */
  private resolve(cpu: number, entry: SysregEntry, name: string | undefined): SysregHandler {
    if (!(cpu >= 0 && cpu < this.cpus && Number.isInteger(cpu))) this.checkCpu(cpu);
    const routed = entry.byRoute[this.routing[cpu]!];
    if (routed === null || routed === undefined) {
      throw new CpuException(ARM64_EXCEPTION_CLASS.SYS64, { arch: 'arm64', detail: `${name ?? entry.info.name} at EL1 with HCR_EL2.IMO/FMO set traps to EL2` });
    }
    if (routed.trapMask !== 0 && (this.virtualInterfaces[cpu]!.trapBits & routed.trapMask) !== 0) {
      this.virtualInterfaces[cpu]!.checkTrap(routed.trap!, routed.info.name);
    }
    if (routed.handler === undefined) throw undefinedAccess(name ?? entry.info.name, 'access');
    return routed.handler;
  }

  private buildEntries(): void {
    for (const info of GICV3_SYSREGS.values()) {
      const isIcv = info.name.startsWith('ICV_');
      const trap = isIcv && (info.cls === 'group0' || info.cls === 'group1' || info.cls === 'common' || info.cls === 'dir') ? info.cls : undefined;
      const trapMask = trap === undefined ? 0 : GicV3VirtualInterface.trapMask(trap);
      const h = this.handlers.get(info.name);
      // One object shape for every handler keeps the read/write call sites monomorphic.
      const handler: SysregHandler | undefined = h === undefined ? undefined : { read: h.read, write: h.write };
      this.entries.set(info.name, { info, handler, byRoute: [], trap, trapMask });
    }
    for (const [name, entry] of this.entries) {
      const icv = name.startsWith('ICC_') && name.endsWith('_EL1') ? this.entries.get(`ICV_${name.slice(4)}`) : undefined;
      for (let route = 0; route < 4; route++) entry.byRoute.push(routeTarget(entry, icv, route));
    }
    for (const info of ENCODED) this.bySlot.push(this.entries.get(info.name)!);
  }

  private buildHandlers(): void {
    const icc = (c: number): GicV3CpuInterface => this.cpuInterfaces[c]!;
    const icv = (c: number): GicV3VirtualInterface => this.virtualInterfaces[c]!;
    const h = this.handlers;
    const apWords = this.cpuInterfaces[0]!.core.apr.words;
    for (const g of [0, 1]) {
      h.set(`ICC_IAR${g}_EL1`, {
        read: (c) => {
          const id = icc(c).readIar(g);
          this.events.onAcknowledge(c, id, false);
          return id;
        },
      });
      h.set(`ICC_EOIR${g}_EL1`, {
        write: (c, lo) => {
          this.events.onEoi(c, lo & 0xff_ffff, false);
          icc(c).writeEoir(g, lo);
        },
      });
      h.set(`ICC_HPPIR${g}_EL1`, { read: (c) => icc(c).readHppir(g) });
      h.set(`ICC_BPR${g}_EL1`, { read: (c) => icc(c).readBpr(g), write: (c, lo) => icc(c).writeBpr(g, lo) });
      h.set(`ICC_IGRPEN${g}_EL1`, { read: (c) => icc(c).readIgrpen(g), write: (c, lo) => icc(c).writeIgrpen(g, lo) });
      for (let n = 0; n < apWords; n++) {
        h.set(`ICC_AP${g}R${n}_EL1`, { read: (c) => icc(c).readApr(g, n), write: (c, lo) => icc(c).writeApr(g, n, lo) });
      }
      h.set(`ICV_IAR${g}_EL1`, {
        read: (c) => {
          const id = icv(c).readIar(g);
          this.events.onAcknowledge(c, id, true);
          return id;
        },
      });
      h.set(`ICV_EOIR${g}_EL1`, {
        write: (c, lo) => {
          this.events.onEoi(c, lo & 0xff_ffff, true);
          icv(c).writeEoir(g, lo);
        },
      });
      h.set(`ICV_HPPIR${g}_EL1`, { read: (c) => icv(c).readHppir(g) });
      h.set(`ICV_BPR${g}_EL1`, { read: (c) => icv(c).readBpr(g), write: (c, lo) => icv(c).writeBpr(g, lo) });
      h.set(`ICV_IGRPEN${g}_EL1`, { read: (c) => icv(c).readIgrpen(g), write: (c, lo) => icv(c).writeIgrpen(g, lo) });
      const vWords = this.virtualInterfaces[0]!.core.apr.words;
      for (let n = 0; n < vWords; n++) {
        h.set(`ICV_AP${g}R${n}_EL1`, { read: (c) => icv(c).readApr(g, n), write: (c, lo) => icv(c).writeApr(g, n, lo) });
        h.set(`ICH_AP${g}R${n}_EL2`, { read: (c) => icv(c).readApr(g, n), write: (c, lo) => icv(c).writeApr(g, n, lo) });
      }
    }
    h.set('ICC_PMR_EL1', { read: (c) => icc(c).readPmr(), write: (c, lo) => icc(c).writePmr(lo) });
    h.set('ICC_DIR_EL1', { write: (c, lo) => icc(c).writeDir(lo) });
    h.set('ICC_RPR_EL1', { read: (c) => icc(c).readRpr() });
    h.set('ICC_CTLR_EL1', { read: (c) => icc(c).readCtlr(), write: (c, lo) => icc(c).writeCtlr(lo) });
    // SRE, DFB and DIB are RAO/WI: the System register interface is always on (IHI0069 12.2.23).
    h.set('ICC_SRE_EL1', { read: () => 0x7, write: () => undefined });
    h.set('ICC_SRE_EL2', { read: () => 0xf, write: () => undefined });
    for (const r of ['ICC_SGI0R_EL1', 'ICC_SGI1R_EL1', 'ICC_ASGI1R_EL1'] as const) {
      h.set(r, { write: (c, lo, hi) => this.events.onSgi(c, r, lo, hi) });
    }
    h.set('ICV_PMR_EL1', { read: (c) => icv(c).readPmr(), write: (c, lo) => icv(c).writePmr(lo) });
    h.set('ICV_DIR_EL1', { write: (c, lo) => icv(c).writeDir(lo) });
    h.set('ICV_RPR_EL1', { read: (c) => icv(c).core.runningPriority() });
    h.set('ICV_CTLR_EL1', { read: (c) => icv(c).readCtlr(), write: (c, lo) => icv(c).writeCtlr(lo) });
    h.set('ICH_HCR_EL2', { read: (c) => icv(c).readHcr(), write: (c, lo) => icv(c).writeHcr(lo) });
    h.set('ICH_VTR_EL2', { read: (c) => icv(c).readVtr() });
    h.set('ICH_VMCR_EL2', { read: (c) => icv(c).readVmcr(), write: (c, lo) => icv(c).writeVmcr(lo) });
    h.set('ICH_MISR_EL2', { read: (c) => icv(c).core.misr() });
    h.set('ICH_EISR_EL2', { read: (c) => icv(c).core.eisr(0) });
    h.set('ICH_ELRSR_EL2', { read: (c) => icv(c).core.elrsr(0) });
    const nLr = this.virtualInterfaces[0]!.core.listRegisters;
    for (let n = 0; n < nLr; n++) {
      h.set(`ICH_LR${n}_EL2`, {
        read: (c) => {
          this.high = icv(c).readLrHigh(n);
          return icv(c).readLrLow(n);
        },
        write: (c, lo, hi) => icv(c).writeLr(n, lo, hi),
      });
    }
  }
}

/**
 * Where an access goes with HCR_EL2 routing `route` (IHI0069 6.3, 12.2.22): Group 0 registers to
 * ICV_* with FMO, Group 1 registers with IMO, common registers and DIR with either; SGI
 * generation traps to EL2 with either.
 */
function routeTarget(entry: SysregEntry, icv: SysregEntry | undefined, route: number): SysregEntry | null {
  if (route === 0) return entry;
  switch (entry.info.cls) {
    case 'sgi':
      return null;
    case 'group0':
      return (route & ROUTE_FMO) !== 0 && icv !== undefined ? icv : entry;
    case 'group1':
      return (route & ROUTE_IMO) !== 0 && icv !== undefined ? icv : entry;
    case 'common':
    case 'dir':
      return icv ?? entry;
    default:
      return entry;
  }
}

/** An access to an unimplemented or wrong-direction system register is UNDEFINED (Arm ARM D1.3). */
function undefinedAccess(name: string, what: string): CpuException {
  return new CpuException(ARM64_EXCEPTION_CLASS.UNKNOWN, { arch: 'arm64', detail: `${what} of ${name} is UNDEFINED` });
}
