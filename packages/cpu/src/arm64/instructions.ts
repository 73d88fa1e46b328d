/**
 * The operations of the arm64 CPU (Arm ARM C6 instruction pages): loads and
 * stores through the MMU with Data Aborts, MRS/MSR to the PE, the generic
 * timer and the GIC (by encoding), DAIFSet/DAIFClr, WFI/WFE, ERET, SVC,
 * HVC, SMC, TLBI, barriers.
 */
import { ARM64_EXCEPTION_CLASS as IMPORTED_EC, CpuException, UsageError, describeValue } from '@hvsim/core';
import { TIMER_ACCESS as IMPORTED_TIMER_ACCESS, TIMER_SYSREG, checkTimerAccess, sysregEncoding, type TimerSysregId } from '@hvsim/gic';
import { S1_ACCESS as IMPORTED_S1_ACCESS } from '@hvsim/mmu';
import { FRAME_STATE as IMPORTED_FRAME_STATE, type Frame } from '../guest/frames.js';
import { OP as IMPORTED_OP, type Op } from '../guest/ops.js';
import { ARM64_CPU_CONSTANTS } from './arm64-cpu-constants.js';
import { Arm64ExceptionEntry } from './exception-entry.js';
import {
  DAIF_MASK as IMPORTED_DAIF_MASK,
  DATA_ABORT_ISS as IMPORTED_DATA_ABORT_ISS,
  HCR_EL2 as IMPORTED_HCR,
  PSTATE as IMPORTED_PSTATE,
  PSTATE_MODE as IMPORTED_PSTATE_MODE,
  WFX_ISS,
  sysregIss,
} from './regs.js';
import { ARM64_SYSREG as IMPORTED_SYSREG } from './sysregs.js';
import { ARM64_TLBI_OPS } from './tlbi-ops.js';
import { STAGE2_ABORT as IMPORTED_STAGE2_ABORT } from './virtual-memory.js';

const OP = IMPORTED_OP;
const DAIF_MASK = IMPORTED_DAIF_MASK;
const DATA_ABORT_ISS = IMPORTED_DATA_ABORT_ISS;
const PSTATE_MODE = IMPORTED_PSTATE_MODE;
const STAGE2_ABORT = IMPORTED_STAGE2_ABORT;
const FRAME_STATE = IMPORTED_FRAME_STATE;
const S1_ACCESS = IMPORTED_S1_ACCESS;
const EC = IMPORTED_EC;
const PSTATE = IMPORTED_PSTATE;
const HCR = IMPORTED_HCR;
const SYSREG = IMPORTED_SYSREG;
const TIMER_ACCESS = IMPORTED_TIMER_ACCESS;
const { TWO_32, WAIT_WFI, WAIT_WFE, FETCH, SCTLR_NTWI, SCTLR_NTWE, SCTLR_UMA, PA_RANGE, TIMER_ID_BY_ENCODING, SLOT_BY_ENCODING, SLOT_SCTLR, SYSREG_EL0, SYSREG_READ_ONLY, SYSREG_OWN, SYSREG_FLAGS } = ARM64_CPU_CONSTANTS;

/** The operations (see the file comment). */
export class Arm64Instructions extends Arm64ExceptionEntry {
  /** Fetches and executes one operation; false when there is nothing left to run. */
  protected step(): boolean {
    const frame = this.frames.top;
    if (!frame) return false;
    let op: Op;
    if (frame.state === FRAME_STATE.RETRY) {
      if (frame.saved.code === FETCH) {
        this.fetch(frame);
        return true;
      }
      op = this.guest.op;
      op.copyFrom(frame.saved);
    } else {
      if (frame.routine === null && frame.steps === null) {
        // Control reached an address with no code: the bytes there are no instruction.
        frame.saved.code = OP.UDF;
        this.undefinedInstruction(frame, frame.saved);
        return true;
      }
      const next = this.nextOperation(frame);
      if (next === null) return this.frameReturned(frame);
      op = next;
    }
    this.execute(op, frame);
    return true;
  }

  protected frameReturned(frame: Frame): boolean {
    return this.frameEnded(frame, 'ERET');
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
      case OP.MRS:
        return this.mrs(op, frame);
      case OP.MSR:
        return this.msr(op, frame);
      case OP.DAIF_SET:
      case OP.DAIF_CLR:
        return this.daifImmediate(op, frame);
      case OP.WFI:
      case OP.WFE:
        return this.wfx(op, frame);
      case OP.SEV:
        this.eventRegister = true;
        this.onSev?.(this.cpuNumber);
        return this.complete(frame, 0);
      case OP.SEVL:
        this.eventRegister = true;
        return this.complete(frame, 0);
      case OP.ERET:
        return this.eret(op, frame);
      case OP.SVC:
        // SVC's preferred return address is the next instruction (D1.10.1): complete it, then take the exception.
        this.complete(frame, 0);
        this.synchronous(EC.SVC64, op.a & 0xffff, frame.rip);
        return;
      case OP.HVC:
        // HVC is UNDEFINED at EL0 and when EL2 is not implemented (C6 "HVC").
        if (!this.hyp || this.currentEl === 0) return this.undefinedInstruction(frame, op);
        this.hvcPending = true;
        this.stopAt(frame, op);
        this.exitInfo.far = 0;
        this.exitInfo.hpfar = 0;
        this.exitInfo.ipa = 0;
        this.takeExit('sync', EC.HVC64, op.a & 0xffff, frame.rip + 1);
        return;
      case OP.SMC:
        // No EL3: SMC is UNDEFINED, unless HCR_EL2.TSC traps it from EL1 (D19 "HCR_EL2").
        if (this.hyp && this.currentEl === 1 && (this.hcr & HCR.TSC) !== 0) return this.trap(frame, op, EC.SMC64, op.a & 0xffff);
        return this.undefinedInstruction(frame, op);
      case OP.TLBI:
        return this.tlbi(op, frame);
      case OP.CHECKPOINT:
        return this.passCheckpoint(frame, op.a);
      case OP.ISB:
        this.charge(costs.isb);
        return this.complete(frame, 0);
      case OP.DSB:
      case OP.DMB:
        this.charge(costs.barrier);
        return this.complete(frame, 0);
      default:
        return this.undefinedInstruction(frame, op);
    }
  }

  protected load(op: Op, frame: Frame): void {
    const size = op.size as 1 | 2 | 4 | 8;
    // The clock is brought to this PE's time only before an access that may reach a device (memory.beforeDeviceAccess).
    this.charge(this.costs.load);
    if (!this.memory.read(op.a, size, S1_ACCESS.READ | this.accessFlags(), this.halves)) return this.dataAbort(frame, op, false);
    this.accountAccess();
    if (size === 8) return this.complete64(frame, this.halves.lo, this.halves.hi);
    return this.complete(frame, this.halves.lo);
  }

  protected store(op: Op, frame: Frame): void {
    this.charge(this.costs.store);
    if (!this.memory.write(op.a, op.size as 1 | 2 | 4 | 8, op.b, op.c, S1_ACCESS.READ | this.accessFlags())) return this.dataAbort(frame, op, true);
    this.accountAccess();
    return this.complete(frame, 0);
  }

  /**
   * A Data Abort: a stage 1 fault to EL1 (EC 0x25 from EL1, 0x24 from EL0;
   * ISS = DFSC with WnR, FAR_EL1 = the VA), or a stage 2 fault to EL2 (EC
   * 0x24 with ISV, SAS, SF for an emulatable access, HPFAR_EL2 and FAR_EL2).
   */
  protected dataAbort(frame: Frame, op: Op, write: boolean): void {
    const mem = this.memory;
    const mem0 = this.memory.walkReferences;
    if (mem0 !== 0) {
      this.counters.walkReferences += mem0;
      this.charge(mem0 * this.costs.walkReference);
    }
    const wnr = write ? DATA_ABORT_ISS.WNR : 0;
    if (mem.faultStage === STAGE2_ABORT) {
      this.stopAt(frame, op);
      let iss = mem.faultIss;
      // ISV and the access's syndrome are valid for a single-register access, not for a fault on a stage 1 walk, whose
      // WnR says whether the walk itself wrote (a hardware flag update) (D19 ESR_EL2 ISS, "ISV", "WnR").
      if ((iss & DATA_ABORT_ISS.S1PTW) === 0) iss = (iss & ~DATA_ABORT_ISS.WNR) | wnr | DATA_ABORT_ISS.ISV | (Math.log2(op.size) << DATA_ABORT_ISS.SAS_SHIFT) | (op.size === 8 ? DATA_ABORT_ISS.SF : 0);
      return this.exitAbort(EC.DATA_ABORT_LOWER, iss, frame.rip);
    }
    this.far = mem.faultAddress;
    const ec = (this.pstate & 0b1100) === 0 ? EC.DATA_ABORT_LOWER : EC.DATA_ABORT_SAME;
    this.fault(frame, op, ec, (mem.faultIss & DATA_ABORT_ISS.DFSC) | wnr);
  }

  /**
   * MRS/MSR dispatch by encoding: the PE's own registers, then the generic
   * timer, then the GIC; anything else is UNDEFINED (EC 0x00). EL2
   * registers (op1 = 4) are UNDEFINED below EL2; at EL0 only NZCV,
   * TPIDR_EL0 and the timer registers CNTKCTL_EL1 allows.
   */
  protected mrs(op: Op, frame: Frame): void {
    const enc = op.a;
    const el = this.currentEl;
    this.charge(this.costs.sysreg);
    const flags = SYSREG_FLAGS[enc]!;
    if (((enc >>> 11) & 7) === 4 || (el === 0 && (flags & SYSREG_EL0) === 0 && TIMER_ID_BY_ENCODING[enc]! < 0)) return this.undefinedInstruction(frame, op);
    // Not the PE's own: the timer's or the GIC's (ICC_IAR1_EL1 on every interrupt), with no walk through the switch.
    if ((flags & SYSREG_OWN) === 0) return this.deviceSysreg(op, frame, true);
    const slot = SLOT_BY_ENCODING[enc]!;
    if (slot >= 0) return this.complete64(frame, this.storedLo[slot]!, this.storedHi[slot]!);
    switch (enc) {
      case SYSREG.DAIF:
        return this.complete(frame, this.pstate & DAIF_MASK);
      case SYSREG.CURRENT_EL:
        return this.complete(frame, el << 2);
      case SYSREG.SPSEL:
        return this.complete(frame, this.pstate & PSTATE.SP);
      case SYSREG.VBAR_EL1:
        return this.completeNumber(frame, this.vbar);
      case SYSREG.ELR_EL1:
        return this.completeNumber(frame, this.elr);
      case SYSREG.SPSR_EL1:
        return this.completeNumber(frame, this.spsr);
      case SYSREG.ESR_EL1:
        return this.completeNumber(frame, this.esr);
      case SYSREG.FAR_EL1:
        return this.completeNumber(frame, this.far);
      case SYSREG.MIDR_EL1:
        return this.completeNumber(frame, this.midr);
      case SYSREG.MPIDR_EL1: {
        // Bit 31 RES1, Aff2.Aff1.Aff0 in bits 23:0, Aff3 in 39:32 (D19 "MPIDR_EL1").
        const aff = this.gic ? this.gic.affinityOf(this.cpuNumber) : this.cpuNumber;
        return this.complete64(frame, ((aff & 0xff_ffff) | 0x8000_0000) >>> 0, aff >>> 24);
      }
      case SYSREG.ID_AA64MMFR0_EL1:
        return this.completeNumber(frame, PA_RANGE[this.mmu.context.paBits] ?? 5);
      default:
        return this.deviceSysreg(op, frame, true);
    }
  }

  protected msr(op: Op, frame: Frame): void {
    const enc = op.a;
    const el = this.currentEl;
    this.charge(this.costs.sysreg);
    const flags = SYSREG_FLAGS[enc]!;
    if (((enc >>> 11) & 7) === 4 || (flags & SYSREG_READ_ONLY) !== 0 || (el === 0 && (flags & SYSREG_EL0) === 0 && TIMER_ID_BY_ENCODING[enc]! < 0)) return this.undefinedInstruction(frame, op);
    if ((flags & SYSREG_OWN) === 0) return this.deviceSysreg(op, frame, false);
    const lo = op.b >>> 0;
    const hi = op.c >>> 0;
    const value = lo + hi * TWO_32;
    switch (enc) {
      case SYSREG.SCTLR_EL1:
        this.writeSctlr(lo, hi);
        return this.complete(frame, 0);
      case SYSREG.TTBR0_EL1:
      case SYSREG.TTBR1_EL1:
      case SYSREG.TCR_EL1: {
        this.store64(enc, lo, hi);
        const v = (BigInt(hi) << 32n) | BigInt(lo);
        const ctx = this.mmu.context;
        if (enc === SYSREG.TCR_EL1) ctx.setTcr(v);
        else if (enc === SYSREG.TTBR0_EL1) ctx.setTtbr0(v);
        else ctx.setTtbr1(v);
        // A new ASID or table base invalidates nothing architecturally, but the CPU-side cache is untagged.
        this.memory.flush();
        return this.complete(frame, 0);
      }
      case SYSREG.DAIF:
        this.pstate = (this.pstate & ~DAIF_MASK) | (lo & DAIF_MASK);
        return this.complete(frame, 0);
      case SYSREG.SPSEL:
        this.pstate = (this.pstate & ~PSTATE.SP) | (lo & 1);
        return this.complete(frame, 0);
      case SYSREG.VBAR_EL1:
        // Bits 10:0 are RES0: the table is 2 KiB aligned.
        this.vbar = value - (value % 0x800);
        return this.complete(frame, 0);
      case SYSREG.ELR_EL1:
        this.elr = value;
        return this.complete(frame, 0);
      case SYSREG.SPSR_EL1:
        this.spsr = lo;
        return this.complete(frame, 0);
      case SYSREG.ESR_EL1:
        this.esr = lo;
        return this.complete(frame, 0);
      case SYSREG.FAR_EL1:
        this.far = value;
        return this.complete(frame, 0);
      default:
        if (SLOT_BY_ENCODING[enc]! >= 0) {
          this.store64(enc, lo, hi);
          return this.complete(frame, 0);
        }
        return this.deviceSysreg(op, frame, false);
    }
  }

  /** A generic timer or GIC register (a device access: the clock is brought to this PE's time first). */
  protected deviceSysreg(op: Op, frame: Frame, read: boolean): void {
    const enc = op.a;
    this.charge(this.costs.deviceSysreg);
    this.syncClock();
    const timerId = TIMER_ID_BY_ENCODING[enc]!;
    if (timerId >= 0 && this.timer) return this.timerSysreg(op, frame, read, timerId as TimerSysregId);
    const gic = this.gic;
    // An encoding that is no GIC register is UNDEFINED: the GIC says so (CpuException EC 0x00).
    if (gic === undefined || this.currentEl === 0) return this.undefinedInstruction(frame, op);
    try {
      if (read) {
        const lo = gic.readSysreg(this.cpuNumber, enc);
        this.counters.deviceAccesses++;
        return this.complete64(frame, lo, gic.sysregHigh);
      }
      gic.writeSysreg(this.cpuNumber, enc, op.b >>> 0, op.c >>> 0);
    } catch (e) {
      if (e instanceof CpuException && e.arch === 'arm64') return this.sysregException(frame, op, e.vector, read);
      throw e;
    }
    this.counters.deviceAccesses++;
    return this.complete(frame, 0);
  }

  /** A GIC access the GIC refused: EC 0x18 is a trap to EL2 (ICH_HCR_EL2, SGIs under IMO/FMO), anything else UNDEFINED. */
  protected sysregException(frame: Frame, op: Op, ec: number, read: boolean): void {
    if (ec === EC.SYS64 && this.hyp) return this.trap(frame, op, EC.SYS64, sysregIss(op.a, 0, read));
    return this.undefinedInstruction(frame, op);
  }

  /**
   * A generic timer register, checked as the access at the current EL
   * (CNTKCTL_EL1 traps EL0 to EL1, CNTHCTL_EL2 traps to EL2 under a
   * hypervisor; Arm ARM D11.2 and the register pages).
   */
  protected timerSysreg(op: Op, frame: Frame, read: boolean, id: TimerSysregId): void {
    const timer = this.timer!;
    const cpu = this.cpuNumber;
    const el = this.currentEl as 0 | 1;
    const h = this.halves;
    const cntkctl = timer.readSysreg(cpu, TIMER_SYSREG.CNTKCTL_EL1, h).lo;
    const cnthctl = this.hyp ? timer.readSysreg(cpu, TIMER_SYSREG.CNTHCTL_EL2, h).lo : 0xffff_ffff;
    let outcome = checkTimerAccess(id, !read, el, cntkctl, cnthctl, false);
    // Without EL2 (and EL3) EL1 is the highest Exception level, where CNTFRQ_EL0 is writable (D11.1.2).
    if (outcome === TIMER_ACCESS.UNDEFINED && id === TIMER_SYSREG.CNTFRQ_EL0 && !read && el === 1 && !this.hyp) outcome = TIMER_ACCESS.OK;
    if (outcome === TIMER_ACCESS.UNDEFINED) return this.undefinedInstruction(frame, op);
    if (outcome === TIMER_ACCESS.TRAP_EL1) return this.fault(frame, op, EC.SYS64, sysregIss(op.a, 0, read));
    if (outcome === TIMER_ACCESS.TRAP_EL2) {
      if (this.hyp) return this.trap(frame, op, EC.SYS64, sysregIss(op.a, 0, read));
    }
    this.counters.deviceAccesses++;
    if (read) {
      timer.readSysreg(cpu, id, h);
      return this.complete64(frame, h.lo, h.hi);
    }
    timer.writeSysreg(cpu, id, op.b >>> 0, op.c >>> 0);
    return this.complete(frame, 0);
  }

  /** MSR DAIFSet/DAIFClr (C5.1.3): at EL0 only with SCTLR_EL1.UMA, else a trap to EL1 (EC 0x18). */
  protected daifImmediate(op: Op, frame: Frame): void {
    this.charge(this.costs.sysreg);
    const set = op.code === OP.DAIF_SET;
    if (this.currentEl === 0 && (this.storedLo[SLOT_SCTLR]! & SCTLR_UMA) === 0) {
      return this.fault(frame, op, EC.SYS64, sysregIss(sysregEncoding(0, 3, 4, op.a & 0xf, set ? 6 : 7), 31, false));
    }
    const bits = (op.a & 0xf) << 6;
    this.pstate = set ? this.pstate | bits : this.pstate & ~bits;
    return this.complete(frame, 0);
  }

  /**
   * WFI/WFE (Arm ARM C6 "WFI", "WFE"; D1.6): a WFI with an interrupt
   * pending (masked or not) completes at once; WFE with the event register
   * set clears it and completes. Otherwise EL0 traps to EL1 unless
   * SCTLR_EL1.nTWI/nTWE, EL0/EL1 trap to EL2 with HCR_EL2.TWI/TWE (EC
   * 0x01), or the PE waits for a wake-up event.
   */
  protected wfx(op: Op, frame: Frame): void {
    const wfe = op.code === OP.WFE;
    if (wfe ? this.eventRegister : this.interruptPending()) {
      if (wfe) this.eventRegister = false;
      return this.complete(frame, 0);
    }
    const iss = wfe ? WFX_ISS.WFE : WFX_ISS.WFI;
    if (this.currentEl === 0 && (this.storedLo[SLOT_SCTLR]! & (wfe ? SCTLR_NTWE : SCTLR_NTWI)) === 0) return this.fault(frame, op, EC.WFX, iss);
    if (this.hyp && (this.hcr & (wfe ? HCR.TWE : HCR.TWI)) !== 0) return this.trap(frame, op, EC.WFX, iss);
    this.waiting = wfe ? WAIT_WFE : WAIT_WFI;
    return this.complete(frame, 0);
  }

  /**
   * ERET at EL1 (C6 "ERET", D1.11 "Exception return"): PSTATE = SPSR_EL1,
   * back to ELR_EL1, which must be where the interrupted code is (or that
   * plus one operation, skipping a faulted one). SPSR_EL1.M naming EL2 or a
   * reserved mode is an illegal return: the model raises the Illegal
   * Execution state exception (EC 0x0E) at the ERET.
   */
  protected eret(op: Op, frame: Frame): void {
    if (this.currentEl === 0) return this.undefinedInstruction(frame, op);
    this.charge(this.costs.eret);
    const below = this.frames.below;
    if (!below) throw new UsageError('bad-state', `ERET in ${frame.name}, which no exception entered`);
    const spsr = this.spsr;
    const m = spsr & 0x1f;
    if (m !== PSTATE_MODE.EL0t && m !== PSTATE_MODE.EL1t && m !== PSTATE_MODE.EL1h) return this.fault(frame, op, EC.ILLEGAL_STATE, 0);
    const elr = this.elr;
    if (elr === below.rip + 1 && below.state === FRAME_STATE.RETRY && below.saved.code !== FETCH) {
      // The handler skipped the faulting instruction (each operation is one "instruction" here): it is abandoned with result 0.
      this.complete(below, 0);
    } else if (elr !== below.rip) {
      throw new UsageError('bad-state', `ERET in ${frame.name} returns to ELR_EL1 0x${elr.toString(16)}, but the interrupted code (${below.name}) is at 0x${below.rip.toString(16)}: guest code cannot jump by rewriting ELR_EL1 in this model (only skipping a faulting operation: ELR + 1)`);
    }
    this.pstate = spsr & (PSTATE.M | DAIF_MASK);
    this.frames.pop();
  }

  /**
   * TLBI to the `ArmMmu` (C5.5 "A64 system instructions for TLB
   * maintenance"): UNDEFINED at EL0; the stage 2 and all-VMID forms are
   * EL2 instructions, UNDEFINED at EL1.
   */
  protected tlbi(op: Op, frame: Frame): void {
    this.charge(this.costs.tlbi);
    const name = ARM64_TLBI_OPS[op.a];
    if (name === undefined) throw new UsageError('bad-argument', `TLBI operation number ${describeValue(op.a)} is not in ARM64_TLBI_OPS`);
    if (this.currentEl === 0 || name.startsWith('IPAS2') || name.startsWith('VMALLS12') || name.startsWith('ALLE1')) return this.undefinedInstruction(frame, op);
    this.mmu.tlbi(name, op.c >>> 0, op.b >>> 0);
    return this.complete(frame, 0);
  }
}
