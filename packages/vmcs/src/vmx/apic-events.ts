/**
 * APIC and MSR accesses in VMX non-root operation (SDM 3C "APIC
 * Virtualization and Virtual Interrupts": "Virtualizing MSR-Based APIC
 * Accesses", "Virtualizing Memory-Mapped APIC Accesses", "TPR
 * Virtualization", "EOI Virtualization", "Self-IPI Virtualization",
 * "APIC-Write Emulation"; "Changes to Instruction Behavior": MOV to/from
 * CR8; "Instructions That Cause VM Exits Conditionally": RDMSR, WRMSR).
 */
import { CpuException, assertInteger } from '@hvsim/core';
import { APIC, X2APIC, X2APIC_MSR_BASE, X2APIC_MSR_LAST, offsetForX2apicMsr } from '@hvsim/lapic';
import { APIC_ACCESS_TYPE, isVirtualizableSelfIpi, readVirtualized, writeVirtualized } from '../apicv/apic-access.js';
import { EOI_EXITS } from '../apicv/virtual-apic.js';
import { vmxUsageError } from '../errors.js';
import { u64Halves } from '../internal/u64.js';
import { CPU_BASED, SECONDARY } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import { CONTINUE, NATIVE, type NonRootOutcome, type ReadOutcome } from './outcomes.js';
import type { VmxProcessorCore } from './processor-core.js';
import { exitNow } from './vm-exit.js';

// The x2APIC MSRs as lapic describes them (SDM 3A 11.12.1.2 Table 11-6), read once into constants for the hot paths.
const X2APIC_FIRST = X2APIC_MSR_BASE;
const X2APIC_LAST = X2APIC_MSR_LAST;
const MSR_TPR = X2APIC.TPR;
const MSR_EOI = X2APIC.EOI;
const MSR_SELF_IPI = X2APIC.SELF_IPI;
const OFF_TPR = APIC.TPR;
const OFF_EOI = APIC.EOI;
const OFF_ICR_LOW = APIC.ICR_LOW;
const OFF_ICR_HIGH = APIC.ICR_HIGH;
const OFF_SELF_IPI = APIC.SELF_IPI;

/** "WRMSR 0x80b" for messages, from the MSR number itself (the numbers are lapic's X2APIC table's). */
function wrmsrName(msr: number): string {
  return `WRMSR 0x${msr.toString(16)}`;
}
const VID_X2APIC = SECONDARY.VIRTUALIZE_X2APIC_MODE | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY;
const USE_MSR_BITMAPS = CPU_BASED.USE_MSR_BITMAPS;

/** True when RDMSR/WRMSR of `msr` exits: "use MSR bitmaps" 0, an MSR outside the bitmaps, or its bit set (SDM 3C "Instructions That Cause VM Exits Conditionally"). */
export function msrAccessExits(p: VmxProcessorCore, msr: number, write: boolean): boolean {
  if (typeof msr !== 'number' || msr >>> 0 !== msr) assertInteger(msr, 'MSR index (ECX)', 0, 0xffff_ffff);
  if ((p.proc & CPU_BASED.USE_MSR_BITMAPS) === 0) return true;
  return p.msrBitmaps.exits(msr, write);
}

function read(p: VmxProcessorCore, lo: number, hi: number): ReadOutcome {
  const r = p.readOutcome;
  r.lo = lo >>> 0;
  r.hi = hi >>> 0;
  return r;
}

/** The guest executed RDMSR (SDM 3C "Virtualizing MSR-Based APIC Accesses"). */
export function rdmsr(p: VmxProcessorCore, msr: number): NonRootOutcome {
  p.requireNonRoot('rdmsr');
  p.boundaryOpen = false;
  if (msrAccessExits(p, msr, false)) return exitNow(p, EXIT_REASON.MSR_READ, 0, 2);
  if ((p.proc2 & SECONDARY.VIRTUALIZE_X2APIC_MODE) !== 0 && msr >= X2APIC_FIRST && msr <= X2APIC_LAST) {
    const va = p.vapic;
    if ((p.proc2 & SECONDARY.APIC_REGISTER_VIRTUALIZATION) !== 0) {
      const off = offsetForX2apicMsr(msr);
      return read(p, va.read32(off), va.read32(off + 4));
    }
    if (msr === MSR_TPR) return read(p, va.read32(OFF_TPR), va.read32(OFF_TPR + 4));
  }
  return NATIVE;
}

/** TPR virtualization (SDM 3C "TPR Virtualization"). */
function tprVirtualization(p: VmxProcessorCore): NonRootOutcome {
  const va = p.vapic;
  if ((p.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0) {
    va.pprVirtualization();
    va.evaluate();
    return CONTINUE;
  }
  if (((va.vtpr >>> 4) & 0xf) < va.tprThreshold) return exitNow(p, EXIT_REASON.TPR_BELOW_THRESHOLD, 0, 0);
  return CONTINUE;
}

/** EOI virtualization (SDM 3C "EOI Virtualization"). */
function eoiVirtualization(p: VmxProcessorCore): NonRootOutcome {
  // One call for the EOI, the EOI-exit bitmap and the evaluation of pending virtual interrupts.
  const r = p.vapic.virtualizeEoi();
  if (p.tracer !== undefined) traceVirtualEoi(p, r & 0xff);
  if (r >= EOI_EXITS) return exitNow(p, EXIT_REASON.EOI_INDUCED, r & 0xff, 0);
  return CONTINUE;
}

/** Trace of a virtualized EOI (out of line: keeps the EOI path small enough to inline). */
function traceVirtualEoi(p: VmxProcessorCore, vector: number): void {
  p.tracer?.emit({ kind: 'interrupt.eoi', cycle: p.now, cpu: p.cpu, source: 'vmx', vector, args: { virtual: true } });
}

/** The guest executed WRMSR of `value` (SDM 3C "Virtualizing MSR-Based APIC Accesses"). Faults as the SDM says with #GP. */
export function wrmsr(p: VmxProcessorCore, msr: number, value: number | bigint): NonRootOutcome {
  p.requireNonRoot('wrmsr');
  p.boundaryOpen = false;
  // The x2APIC EOI with a zero value (the virtualized EOI of every interrupt): the same checks, in order, without the operand split.
  if (msr === MSR_EOI && value === 0) {
    // msrAccessExits without its operand check (the MSR is the EOI's).
    if ((p.proc & USE_MSR_BITMAPS) === 0 || p.msrBitmaps.eoiWriteExits()) return exitNow(p, EXIT_REASON.MSR_WRITE, 0, 2);
    if ((p.proc2 & VID_X2APIC) === VID_X2APIC) return eoiVirtualization(p);
    return NATIVE;
  }
  return wrmsrOther(p, msr, value);
}

/** {@link wrmsr} of anything but a zero x2APIC EOI (out of line: the EOI path stays small enough to inline). */
function wrmsrOther(p: VmxProcessorCore, msr: number, value: number | bigint): NonRootOutcome {
  const { lo, hi } = u64Halves(value, 'WRMSR value', p.operandHalves);
  if (msrAccessExits(p, msr, true)) return exitNow(p, EXIT_REASON.MSR_WRITE, 0, 2);
  if ((p.proc2 & SECONDARY.VIRTUALIZE_X2APIC_MODE) !== 0 && msr >= X2APIC_FIRST && msr <= X2APIC_LAST) {
    const va = p.vapic;
    const vid = (p.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
    if (msr === MSR_TPR) {
      if (hi !== 0 || lo > 0xff) throw CpuException.gp(`${wrmsrName(msr)} with bits 63:8 set (0x${hi.toString(16)}_${lo.toString(16)})`);
      va.vtpr = lo;
      va.write32(OFF_TPR + 4, 0);
      return tprVirtualization(p);
    }
    if (msr === MSR_EOI && vid) {
      if (hi !== 0 || lo !== 0) throw CpuException.gp(`${wrmsrName(msr)} with a non-zero value (0x${hi.toString(16)}_${lo.toString(16)})`);
      return eoiVirtualization(p);
    }
    if (msr === MSR_SELF_IPI && vid) {
      if (hi !== 0 || lo > 0xff) throw CpuException.gp(`${wrmsrName(msr)} with bits 63:8 set (0x${hi.toString(16)}_${lo.toString(16)})`);
      if (lo < 16) {
        // Vectors 0-15 are not virtualized: the value goes to the page and the VMM completes it.
        va.write32(OFF_SELF_IPI, lo);
        va.write32(OFF_SELF_IPI + 4, 0);
        return exitNow(p, EXIT_REASON.APIC_WRITE, OFF_SELF_IPI, 0);
      }
      va.selfIpi(lo);
      return CONTINUE;
    }
  }
  return NATIVE;
}

/** The guest executed MOV to CR8 from general register `gpr` (SDM 3C "Changes to Instruction Behavior": MOV to CR8). */
export function movToCr8(p: VmxProcessorCore, value: number, gpr = 0): NonRootOutcome {
  p.requireNonRoot('movToCr8');
  p.boundaryOpen = false;
  assertInteger(gpr, 'gpr', 0, 15);
  if ((p.proc & CPU_BASED.CR8_LOAD_EXITING) !== 0) return exitNow(p, EXIT_REASON.CR_ACCESS, 8 | (gpr << 8), p.mode.instructionLength);
  if (!Number.isSafeInteger(value) || value < 0) throw vmxUsageError('bad-argument', `MOV to CR8 source must be a non-negative safe integer, got ${String(value)}`);
  if ((p.proc & CPU_BASED.USE_TPR_SHADOW) === 0) return NATIVE;
  if (value > 15) throw CpuException.gp(`MOV to CR8 with bits 63:4 set (0x${value.toString(16)})`);
  p.vapic.vtpr = value << 4;
  return tprVirtualization(p);
}

/** The guest executed MOV from CR8 into `gpr`: CR8-store exiting, else VTPR[7:4] with the TPR shadow. */
export function movFromCr8(p: VmxProcessorCore, gpr = 0): NonRootOutcome {
  p.requireNonRoot('movFromCr8');
  p.boundaryOpen = false;
  assertInteger(gpr, 'gpr', 0, 15);
  if ((p.proc & CPU_BASED.CR8_STORE_EXITING) !== 0) return exitNow(p, EXIT_REASON.CR_ACCESS, 8 | (1 << 4) | (gpr << 8), p.mode.instructionLength);
  if ((p.proc & CPU_BASED.USE_TPR_SHADOW) === 0) return NATIVE;
  return read(p, (p.vapic.vtpr >>> 4) & 0xf, 0);
}

/**
 * Kind of access to the APIC-access page: a linear-address data read, data
 * write or instruction fetch, or a guest-physical access (one that does not
 * use a linear address, e.g. a paging-structure access under EPT), which is
 * never virtualized.
 */
export type ApicAccessKind = 'read' | 'write' | 'fetch' | 'guest-physical';

/**
 * The guest accessed the APIC-access page at page `offset` (SDM 3C
 * "Virtualizing Memory-Mapped APIC Accesses"). Not special without
 * "virtualize APIC accesses"; otherwise virtualized (a read answers the
 * virtual-APIC page's value; a write updates it and runs APIC-write
 * emulation) or an APIC-access VM exit (fault-like).
 */
export function apicAccess(p: VmxProcessorCore, offset: number, size: number, kind: ApicAccessKind, value = 0): NonRootOutcome {
  p.requireNonRoot('apicAccess');
  p.boundaryOpen = false;
  assertInteger(offset, 'offset', 0, 0xfff);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw vmxUsageError('bad-argument', `APIC-access size must be 1, 2, 4 or 8 bytes, got ${String(size)}`);
  if ((p.proc2 & SECONDARY.VIRTUALIZE_APIC_ACCESSES) === 0) return NATIVE;
  const c = p.apicAccessControls;
  const virtualized = kind === 'read' ? readVirtualized(c, offset, size) : kind === 'write' ? writeVirtualized(c, offset, size) : false;
  if (!virtualized) {
    const type =
      kind === 'guest-physical'
        ? p.inFlight !== null
          ? APIC_ACCESS_TYPE.GUEST_PHYSICAL_EVENT_DELIVERY
          : APIC_ACCESS_TYPE.GUEST_PHYSICAL_INSTRUCTION
        : p.inFlight !== null
          ? APIC_ACCESS_TYPE.LINEAR_EVENT_DELIVERY
          : kind === 'read'
            ? APIC_ACCESS_TYPE.LINEAR_READ
            : kind === 'write'
              ? APIC_ACCESS_TYPE.LINEAR_WRITE
              : APIC_ACCESS_TYPE.LINEAR_FETCH;
    return exitNow(p, EXIT_REASON.APIC_ACCESS, offset | (type << 12), 0);
  }
  if (kind === 'read') return read(p, p.vapic.readSized(offset, size), 0);
  assertInteger(value, 'value', 0, size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff);
  p.vapic.writeSized(offset, size, value);
  return apicWriteEmulation(p, offset);
}

/** An access at a (guest-translated) physical address: only the APIC-access page is special (SDM 3C "Virtualizing Memory-Mapped APIC Accesses"). */
export function memoryAccess(p: VmxProcessorCore, physicalAddress: number, size: number, kind: ApicAccessKind, value = 0): NonRootOutcome {
  p.requireNonRoot('memoryAccess');
  if (!Number.isSafeInteger(physicalAddress) || physicalAddress < 0) throw vmxUsageError('bad-argument', `physical address must be a non-negative safe integer, got ${String(physicalAddress)}`);
  const page = p.apicAccessPage;
  if (page < 0 || physicalAddress < page || physicalAddress >= page + 0x1000) return NATIVE;
  return apicAccess(p, physicalAddress - page, size, kind, value);
}

/** APIC-write emulation (SDM 3C "APIC-Write Emulation") after a virtualized write at `offset`. */
function apicWriteEmulation(p: VmxProcessorCore, offset: number): NonRootOutcome {
  const va = p.vapic;
  const vid = (p.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
  switch (offset & 0xff0) {
    case OFF_TPR:
      va.vtpr = va.read32(OFF_TPR) & 0xff;
      return tprVirtualization(p);
    case OFF_EOI:
      if (vid) {
        va.clearVeoi();
        return eoiVirtualization(p);
      }
      break;
    case OFF_ICR_LOW: {
      const icr = va.read32(OFF_ICR_LOW);
      if (vid && isVirtualizableSelfIpi(icr)) {
        va.selfIpi(icr & 0xff);
        return CONTINUE;
      }
      break;
    }
    case OFF_ICR_HIGH:
      va.write32(OFF_ICR_HIGH, va.read32(OFF_ICR_HIGH) & 0xff00_0000);
      return CONTINUE;
  }
  return exitNow(p, EXIT_REASON.APIC_WRITE, offset & 0xfff, 0);
}

