/**
 * The operations guest code yields, executed by the x86 CPU: memory through
 * the MMU, port I/O, MSRs, CPUID, control registers, HLT, STI, MOV SS,
 * software interrupts — natively, or as VMX decides in non-root operation
 * (SDM 3C 26.1 "Instructions That Cause VM Exits").
 */
import { CpuException, UsageError, describeValue } from '@hvsim/core';
import { ACCESS as IMPORTED_ACCESS } from '@hvsim/mmu';
import { EXIT_REASON, crExitQualification, type CrAccess, type NonRootOutcome } from '@hvsim/vmcs';
import { FRAME_STATE as IMPORTED_FRAME_STATE, type Frame } from '../guest/frames.js';
import { OP as IMPORTED_OP, type Op } from '../guest/ops.js';
import { FAULT_APIC_ACCESS, FAULT_VM_EXIT } from './linear-memory.js';
import * as regs from './regs.js';
import { CPU_CONSTANTS } from './cpu-constants.js';
import { X86EventDelivery } from './event-delivery.js';

// Module-local copies of the constants read on every operation and delivery:
// under Node's ESM loader each use of an imported binding is a getter call,
// which cost a quarter of a load/store loop (measured with --cpu-prof).
const OP = IMPORTED_OP;
const ACCESS = IMPORTED_ACCESS;
const FRAME_STATE = IMPORTED_FRAME_STATE;
const { CR0, CR4, EFER, RFLAGS, VECTOR, X86_MSR } = regs;
const { KIND, SHADOW_STI, SHADOW_MOV_SS, TWO_32, EFER_WRITABLE, CR4_MODELLED, X2APIC_MSR_FIRST, X2APIC_MSR_LAST } = CPU_CONSTANTS;
/** The exit information of an EPT exit, filled per exit (reportExit copies it: nothing allocated per MMIO exit). */
const eptExitInfo = { qualification: 0, guestPhysicalAddress: 0, guestLinearAddress: 0 };

/** The operations of an x86 CPU (see the file comment); `X86Cpu` is the class to use. */
export class X86Instructions extends X86EventDelivery {
  /** The operation faulted: it will run again after the handler's IRET. */
  protected fault(frame: Frame, op: Op, vector: number, errorCode: number): void {
    this.stopAt(frame, op);
    const vmx = this.vmx;
    if (vmx === null) {
      this.deliver(vector, KIND.EXCEPTION, errorCode);
      return;
    }
    // VMX decides whether the exception exits (exception bitmap, #PF error-code mask/match; SDM 3C 26.2).
    const o = vmx.exception(vector, errorCode >= 0 ? { errorCode, qualification: vector === VECTOR.PF ? this.cr2 : 0 } : {});
    if (o.kind === 'deliver') this.deliverGuestEvent(o.event);
    else if (o.kind === 'exit') this.takeExit(o.exit);
  }

  protected execute(op: Op, frame: Frame): void {
    const costs = this.costs;
    this.counters.ops[op.code]!++;
    this.charge(costs.op);
    switch (op.code) {
      case OP.LOAD:
        return this.load(op, frame);
      case OP.STORE:
        return this.store(op, frame);
      case OP.COMPUTE:
        return this.compute(op, frame);
      case OP.IN:
        return this.portIn(op, frame);
      case OP.OUT:
        return this.portOut(op, frame);
      case OP.RDMSR:
        return this.rdmsr(op, frame);
      case OP.WRMSR:
        return this.wrmsr(op, frame);
      case OP.CPUID: {
        // CPUID always exits in VMX non-root operation (SDM 3C 26.1.2).
        if (this.vmx !== null) return this.opExit(frame, op, EXIT_REASON.CPUID);
        this.charge(costs.cpuid);
        const out = this.cpuidOut;
        this.cpuidFn(op.a, op.b, out);
        const g = this.guest;
        g.eax = out.eax >>> 0;
        g.ebx = out.ebx >>> 0;
        g.ecx = out.ecx >>> 0;
        g.edx = out.edx >>> 0;
        return this.completeCpuid(frame);
      }
      case OP.CLI:
        this.rflags &= ~RFLAGS.IF;
        return this.complete(frame, 0);
      case OP.STI:
        // SDM 3A 6.8.3: interrupts stay blocked until the end of the next instruction, if IF was 0.
        this.vmx?.sti((this.rflags & RFLAGS.IF) !== 0);
        if ((this.rflags & RFLAGS.IF) === 0) this.shadow = SHADOW_STI;
        this.rflags |= RFLAGS.IF;
        return this.complete(frame, 0);
      case OP.MOV_SS:
        this.vmx?.movSs();
        this.shadow = SHADOW_MOV_SS;
        return this.complete(frame, 0);
      case OP.HLT:
        if (this.vmx !== null) {
          this.vmxOutcome(this.vmx.hlt(), frame, op);
          return;
        }
        this.halted = true;
        return this.complete(frame, 0);
      case OP.IRET:
        return this.iret(op, frame);
      case OP.MOV_TO_CR:
        return this.movToCr(op, frame);
      case OP.MOV_FROM_CR:
        return this.movFromCr(op, frame);
      case OP.INVLPG:
        this.charge(costs.invlpg);
        if (!Number.isSafeInteger(op.a) || op.a < 0) throw new UsageError('bad-argument', `INVLPG needs a linear address, got ${describeValue(op.a)}`);
        if (this.vmx?.instructionExits('invlpg')) return this.opExit(frame, op, EXIT_REASON.INVLPG, op.a);
        this.mmu.invlpg(op.a);
        return this.complete(frame, 0);
      case OP.LIDT:
        if (!Number.isSafeInteger(op.a) || op.a < 0) throw new UsageError('bad-argument', `LIDT needs a linear base address, got ${describeValue(op.a)}`);
        if (this.vmx?.instructionExits('descriptor-table')) return this.opExit(frame, op, EXIT_REASON.GDTR_IDTR);
        this.idtBase = op.a;
        this.idtLimit = op.b & 0xffff;
        return this.complete(frame, 0);
      case OP.INT:
        // A trap: the saved RIP is the next instruction (SDM 3A 6.4.2).
        this.complete(frame, 0);
        this.deliver(op.a & 0xff, KIND.SOFTWARE, -1);
        return;
      case OP.UD2:
        return this.fault(frame, op, VECTOR.UD, -1);
      case OP.DIV: {
        if (op.b === 0) return this.fault(frame, op, VECTOR.DE, -1);
        return this.complete(frame, Math.floor(op.a / op.b) >>> 0);
      }
      case OP.RDTSC: {
        if (this.vmx?.instructionExits('rdtsc')) return this.opExit(frame, op, EXIT_REASON.RDTSC);
        return this.completeTsc(frame);
      }
      case OP.VMCALL:
        // VMCALL exits in VMX non-root operation; outside it is #UD (SDM 3C 31.3 "VMCALL").
        if (this.vmx !== null) return this.opExit(frame, op, EXIT_REASON.VMCALL);
        return this.fault(frame, op, VECTOR.UD, -1);
      case OP.CHECKPOINT:
        return this.passCheckpoint(frame, op.a);
      case OP.PAUSE:
        if (this.vmx?.instructionExits('pause')) return this.opExit(frame, op, EXIT_REASON.PAUSE_INSTRUCTION);
        return this.complete(frame, 0);
      case OP.READ_RSP:
        return this.complete(frame, this.rsp);
      case OP.ADD_RSP: {
        const next = this.rsp + op.a;
        if (!Number.isSafeInteger(next) || next < 0) throw new UsageError('bad-argument', `RSP + ${describeValue(op.a)} leaves the modelled address range`);
        this.rsp = next;
        return this.complete(frame, 0);
      }
      default:
        return this.fault(frame, op, VECTOR.UD, -1);
    }
  }

  protected load(op: Op, frame: Frame): void {
    const size = op.size as 1 | 2 | 4 | 8;
    const mem = this.memory;
    this.charge(this.costs.load);
    if (!mem.read(op.a, size, ACCESS.READ, this.halves)) return this.memoryFault(frame, op);
    this.accountAccess();
    if (size === 8) return this.complete64(frame, this.halves.lo, this.halves.hi);
    return this.complete(frame, this.halves.lo);
  }

  protected store(op: Op, frame: Frame): void {
    const mem = this.memory;
    this.charge(this.costs.store);
    if (!mem.write(op.a, op.size as 1 | 2 | 4 | 8, op.b, op.c, ACCESS.READ)) return this.memoryFault(frame, op);
    this.accountAccess();
    return this.complete(frame, 0);
  }

  protected memoryFault(frame: Frame, op: Op): void {
    const mem = this.memory;
    if (mem.faultVector === FAULT_VM_EXIT) {
      this.stopAt(frame, op);
      eptExitInfo.qualification = mem.exitQualification;
      eptExitInfo.guestPhysicalAddress = mem.exitGuestPhysical;
      eptExitInfo.guestLinearAddress = mem.exitGuestLinear;
      const o = this.vmx!.reportExit(mem.exitReason, eptExitInfo);
      if (o.kind === 'exit') this.takeExit(o.exit);
      return;
    }
    if (mem.faultVector === FAULT_APIC_ACCESS) return this.apicPageAccess(frame, op, mem.faultAddress);
    if (mem.faultVector === VECTOR.PF) this.cr2 = mem.faultAddress;
    this.fault(frame, op, mem.faultVector, mem.faultError);
  }

  /**
   * An access to the APIC-access page in VMX non-root operation (SDM 3C
   * 30.4): virtualized, an APIC-access exit, or done on the page as memory.
   */
  protected apicPageAccess(frame: Frame, op: Op, physical: number): void {
    const vmx = this.vmx!;
    const write = op.code === OP.STORE;
    const o = vmx.memoryAccess(physical, op.size, write ? 'write' : 'read', write ? op.b : undefined);
    if (o.kind === 'native') {
      const space = this.memory.space;
      if (write) space.write(physical, op.size as 1 | 2 | 4 | 8, op.b, op.c);
      else if (space.read(physical, op.size as 1 | 2 | 4 | 8, this.halves) === 'unclaimed') this.halves.lo = 0xffff_ffff;
      if (write) return this.complete(frame, 0);
      return op.size === 8 ? this.complete64(frame, this.halves.lo, this.halves.hi) : this.complete(frame, this.halves.lo);
    }
    this.vmxOutcome(o, frame, op);
  }

  protected portIn(op: Op, frame: Frame): void {
    this.charge(this.costs.pio);
    this.syncClock();
    const size = op.size as 1 | 2 | 4;
    const port = op.a & 0xffff;
    const vmx = this.vmx;
    if (vmx?.ioAccessExits(port, size)) return this.opExit(frame, op, EXIT_REASON.IO_INSTRUCTION, vmx.ioExitQualification({ port, size, direction: 'in' }));
    const value = this.portAccess(frame, op, port, size, false);
    if (value < 0) return;
    return this.complete(frame, value >>> 0);
  }

  protected portOut(op: Op, frame: Frame): void {
    this.charge(this.costs.pio);
    this.syncClock();
    const port = op.a & 0xffff;
    const vmx = this.vmx;
    if (vmx?.ioAccessExits(port, op.size as 1 | 2 | 4)) return this.opExit(frame, op, EXIT_REASON.IO_INSTRUCTION, vmx.ioExitQualification({ port, size: op.size as 1 | 2 | 4, direction: 'out' }));
    if (this.portAccess(frame, op, port, op.size as 1 | 2 | 4, true) < 0) return;
    return this.complete(frame, 0);
  }

  /**
   * One port access on the bus: a read's value (all ones when nothing
   * answers, the ISA bus floating), 0 for a write, or -1 when the device
   * raised a fault (then delivered). Counts device and unclaimed accesses.
   */
  private portAccess(frame: Frame, op: Op, port: number, size: 1 | 2 | 4, write: boolean): number {
    const pio = this.pio;
    if (pio?.lookup(port) === undefined) {
      this.counters.unclaimedAccesses++;
      return write ? 0 : size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    }
    let value = 0;
    try {
      if (write) pio.write(port, size, op.b >>> 0);
      else value = pio.read(port, size) >>> 0;
    } catch (e) {
      if (e instanceof CpuException) {
        this.fault(frame, op, e.vector, e.errorCode ?? -1);
        return -1;
      }
      throw e;
    }
    this.counters.deviceAccesses++;
    return value;
  }

  protected rdmsr(op: Op, frame: Frame): void {
    this.charge(this.costs.msr);
    const index = op.a >>> 0;
    // VMX answers first: an exit (MSR bitmap), a virtualized x2APIC read, or native (SDM 3C 26.1.3, 30.5).
    if (this.vmx !== null && this.vmxOutcome(this.vmx.rdmsr(index), frame, op)) return;
    if (index === X86_MSR.IA32_TIME_STAMP_COUNTER) return this.completeTsc(frame);
    if (index === X86_MSR.IA32_EFER) return this.complete64(frame, this.efer, 0);
    this.syncClock();
    // The x2APIC MSRs are the processor's own APIC's (SDM 3A 11.12.1); others go to the MSR bus.
    const apic = this.apic;
    const x2apic = index >= X2APIC_MSR_FIRST && index <= X2APIC_MSR_LAST && apic?.readMsr !== undefined;
    if (!x2apic && !this.msrs?.lookup(index)) return this.fault(frame, op, VECTOR.GP, 0);
    let value: bigint;
    try {
      value = x2apic ? apic.readMsr!(index) : this.msrs!.read(index);
    } catch (e) {
      if (e instanceof CpuException) return this.fault(frame, op, e.vector, e.errorCode ?? 0);
      throw e;
    }
    this.counters.deviceAccesses++;
    return this.complete64(frame, Number(value & 0xffff_ffffn), Number((value >> 32n) & 0xffff_ffffn));
  }

  protected wrmsr(op: Op, frame: Frame): void {
    this.charge(this.costs.msr);
    const index = op.a >>> 0;
    if (this.vmx !== null) {
      const value = op.c < 0x20_0000 ? op.b + op.c * TWO_32 : (BigInt(op.c >>> 0) << 32n) | BigInt(op.b >>> 0);
      if (this.vmxOutcome(this.vmx.wrmsr(index, value), frame, op)) return;
    }
    if (index === X86_MSR.IA32_TIME_STAMP_COUNTER) {
      this.tscOffset = op.b + op.c * TWO_32 - this.localTime;
      return this.complete(frame, 0);
    }
    if (index === X86_MSR.IA32_EFER) {
      // Reserved bits, and LME changed while paging is on, are #GP (SDM 3A 2.2.1, 10.8.5).
      const next = op.b >>> 0;
      if (op.c !== 0 || !this.eferValid(next) || ((this.cr0 & CR0.PG) !== 0 && ((next ^ this.efer) & EFER.LME) !== 0)) return this.fault(frame, op, VECTOR.GP, 0);
      this.efer = (next & EFER_WRITABLE) | (this.efer & EFER.LMA);
      this.syncPagingContext();
      return this.complete(frame, 0);
    }
    this.syncClock();
    const apic = this.apic;
    const x2apic = index >= X2APIC_MSR_FIRST && index <= X2APIC_MSR_LAST && apic?.writeMsr !== undefined;
    if (!x2apic && !this.msrs?.lookup(index)) return this.fault(frame, op, VECTOR.GP, 0);
    try {
      // A value below 2^53 goes to the APIC as a number: no bigint on the x2APIC EOI and ICR paths.
      if (x2apic) apic.writeMsr!(index, op.c < 0x20_0000 ? (op.b >>> 0) + (op.c >>> 0) * TWO_32 : (BigInt(op.c >>> 0) << 32n) | BigInt(op.b >>> 0));
      else this.msrs!.write(index, (BigInt(op.c >>> 0) << 32n) | BigInt(op.b >>> 0));
    } catch (e) {
      if (e instanceof CpuException) return this.fault(frame, op, e.vector, e.errorCode ?? 0);
      throw e;
    }
    this.counters.deviceAccesses++;
    return this.complete(frame, 0);
  }

  protected movToCr(op: Op, frame: Frame): void {
    this.charge(this.costs.crWrite);
    const value = op.b + op.c * TWO_32;
    const vmx = this.vmx;
    if (vmx !== null) {
      // SDM 3C 26.1.3: CR0/CR4 against the guest/host mask and read shadow, CR3 against the target values, CR8 through TPR virtualization.
      if (op.a === 8) {
        if (this.vmxOutcome(vmx.movToCr8(value), frame, op)) return;
      } else if (op.a === 0 || op.a === 3 || op.a === 4) {
        const access: CrAccess = { type: 'mov-to', cr: op.a === 0 ? 0 : op.a === 3 ? 3 : 4, value };
        if (vmx.crAccessExits(access)) return this.opExit(frame, op, EXIT_REASON.CR_ACCESS, crExitQualification(access));
      }
    }
    // SDM 3C 26.3: a MOV to CR0/CR4 that does not exit leaves the bits set in the guest/host mask (0x6000, 0x6002) unchanged.
    const owned = vmx === null || (op.a !== 0 && op.a !== 4) ? 0 : (vmx.currentVmcs?.readNumber(op.a === 0 ? 0x6000 : 0x6002) ?? 0) >>> 0;
    const lo = owned === 0 ? op.b >>> 0 : ((op.b & ~owned) | ((op.a === 0 ? this.cr0 : this.cr4) & owned)) >>> 0;
    switch (op.a) {
      case 0:
        // SDM 3A 2.5 / 4.1.1: PG without PE, or paging enabled outside IA-32e, is rejected here.
        if (op.c !== 0 || !this.cr0Valid(lo)) return this.fault(frame, op, VECTOR.GP, 0);
        this.loadCr0(lo);
        this.syncPagingContext();
        return this.complete(frame, 0);
      case 3:
        if (value >= 2 ** 52) return this.fault(frame, op, VECTOR.GP, 0);
        this.loadCr3(value);
        return this.complete(frame, 0);
      case 4: {
        const next = lo;
        // Clearing PAE in IA-32e mode, or setting a bit the model lacks, is #GP (SDM 3A 2.5).
        if (op.c !== 0 || (next & ~CR4_MODELLED) !== 0 || ((this.efer & EFER.LMA) !== 0 && (next & CR4.PAE) === 0)) return this.fault(frame, op, VECTOR.GP, 0);
        this.loadCr4(next);
        return this.complete(frame, 0);
      }
      case 8:
        if (value > 15) return this.fault(frame, op, VECTOR.GP, 0);
        if (this.apic) this.apic.writeCr8(value);
        else this.tpr = value;
        return this.complete(frame, 0);
      default:
        return this.fault(frame, op, VECTOR.UD, -1);
    }
  }

  protected movFromCr(op: Op, frame: Frame): void {
    const vmx = this.vmx;
    if (vmx !== null) {
      if (op.a === 8) {
        if (this.vmxOutcome(vmx.movFromCr8(), frame, op)) return;
      } else if (op.a === 3) {
        const access = { type: 'mov-from' as const, cr: 3 as const };
        if (vmx.crAccessExits(access)) return this.opExit(frame, op, EXIT_REASON.CR_ACCESS, crExitQualification(access));
      } else if (op.a === 0 || op.a === 4) {
        // Bits the host owns read from the read shadow.
        const shadowed = vmx.crReadValue(op.a, op.a === 0 ? this.cr0 : this.cr4);
        return this.complete64(frame, shadowed >>> 0, 0);
      }
    }
    let value: number;
    switch (op.a) {
      case 0:
        value = this.cr0;
        break;
      case 2:
        value = this.cr2;
        break;
      case 3:
        value = this.cr3;
        break;
      case 4:
        value = this.cr4;
        break;
      case 8:
        value = this.apic ? this.apic.readCr8() : this.tpr;
        break;
      default:
        return this.fault(frame, op, VECTOR.UD, -1);
    }
    return this.complete64(frame, value >>> 0, Math.floor(value / TWO_32));
  }

  /** Acts on a non-root outcome of an operation: true when the operation was done (or virtualized). */
  protected vmxOutcome(o: NonRootOutcome, frame: Frame, op: Op): boolean {
    switch (o.kind) {
      case 'continue':
        this.complete(frame, 0);
        return true;
      case 'read':
        this.complete64(frame, o.lo, o.hi);
        return true;
      case 'deliver':
        this.deliverGuestEvent(o.event);
        return true;
      case 'exit':
        this.stopAt(frame, op);
        this.takeExit(o.exit);
        return true;
      case 'halted':
        this.halted = true;
        this.complete(frame, 0);
        return true;
      default:
        return false;
    }
  }

  /** An exit the CPU decides (CPUID, I/O, VMCALL...): the operation stays pending for the hypervisor. */
  protected opExit(frame: Frame, op: Op, reason: number, qualification = 0): void {
    this.stopAt(frame, op);
    const o = this.vmx!.reportExit(reason, { qualification, instructionLength: 1 });
    if (o.kind === 'exit') this.takeExit(o.exit);
  }

  protected iret(op: Op, frame: Frame): void {
    this.charge(this.costs.iret);
    const below = this.frames.below;
    if (!below) throw new UsageError('bad-state', `IRET in ${frame.name}, which no interrupt or exception entered`);
    const mem = this.memory;
    const h = this.halves;
    // IRETQ pops RIP, CS, RFLAGS, RSP and SS (SDM 2A "IRET/IRETD/IRETQ"); CS and SS are not checked (no GDT).
    const base = this.rsp;
    let rip: number;
    let rflags: number;
    let rsp: number;
    // The 40-byte frame through one translation and the RAM page view when it can (else access by access, which faults).
    const words = this.stackWords(base, 40, false);
    if (words !== null) {
      const at = mem.wordIndex;
      rip = words[at]! + words[at + 1]! * TWO_32;
      rflags = words[at + 4]!;
      rsp = words[at + 6]! + words[at + 7]! * TWO_32;
    } else {
      if (!mem.read(base, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return this.memoryFault(frame, op);
      rip = h.lo + h.hi * TWO_32;
      if (!mem.read(base + 16, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return this.memoryFault(frame, op);
      rflags = h.lo;
      if (!mem.read(base + 24, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return this.memoryFault(frame, op);
      rsp = h.lo + h.hi * TWO_32;
      if (!mem.read(base + 32, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return this.memoryFault(frame, op);
    }
    if (rip === below.rip + 1 && below.state === FRAME_STATE.RETRY) {
      // The handler skipped the faulting instruction (every operation is one byte long in this model),
      // as an emulating #UD or #GP handler does: the operation is abandoned with result 0 (logged for replay).
      this.complete(below, 0);
    } else if (rip !== below.rip) {
      throw new UsageError('bad-state', `IRET in ${frame.name} returns to RIP 0x${rip.toString(16)}, but the interrupted code (${below.name}) is at 0x${below.rip.toString(16)}: guest code cannot jump by rewriting the frame in this model (only skipping a faulting operation: RIP + 1)`);
    }
    // IRET restores RFLAGS from the frame and always ends NMI blocking (SDM 3A 6.7.1).
    this.rflags = ((rflags >>> 0) | RFLAGS.FIXED1) >>> 0;
    this.rsp = rsp;
    this.nmiBlocked = false;
    this.vmx?.iret();
    this.frames.pop();
  }
}
