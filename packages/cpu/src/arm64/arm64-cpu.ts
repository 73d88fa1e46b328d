/**
 * An AArch64 processor element that runs guest code operation by operation
 * (Arm ARM DDI 0487 chapter D1, "The AArch64 System Level Programmers'
 * Model"): EL0 and EL1 with PSTATE.D/A/I/F, the VBAR_EL1 vector table and
 * its four groups (D1.3.1 / "Exception vectors"), synchronous exceptions with
 * ESR_EL1 and FAR_EL1, IRQ and FIQ entry, ERET, WFI/WFE with the event
 * register. Natively its IRQ/FIQ inputs are a GICv3's outputs and ICC_*
 * system registers go to that GIC, CNT* registers to a generic timer.
 *
 * Under a hypervisor (`attachHypervisor`) EL2 is the host: HCR_EL2 decides
 * what traps (IMO/FMO route physical interrupts to EL2 and ICC_* to ICV_*;
 * VI/VF and the GIC's virtual outputs raise virtual interrupts at EL1;
 * TWI/TWE, HVC, TSC; stage 2 faults), and `run` returns `'exit'` at a trap
 * with the syndrome in `lastExit`, as `X86Cpu` does at a VM exit.
 */
import { ARM64_EXCEPTION_CLASS as EC, SnapshotError, UsageError, describeValue, readState, type InterruptLine } from '@hvsim/core';
import { Stage1Context, type Stage2Walker } from '@hvsim/mmu';
import { FRAME_STATE as IMPORTED_FRAME_STATE, LOG_KIND, type Frame } from '../guest/frames.js';
import type { Op } from '../guest/ops.js';
import type { Arm64Guest } from '../guest/guest.js';
import { applyWideLog, installFrames, readSavedFrames, replayFrames, saveFrames } from '../guest/replay.js';
import { ARM64_CPU_CONSTANTS } from './arm64-cpu-constants.js';
import type { Arm64CpuSavedState, Arm64Exit, Arm64ExitKind, Arm64HypervisorOptions, Arm64Registers, Arm64RunResult, Arm64Stats } from './arm64-cpu-types.js';
import { Arm64Instructions } from './instructions.js';
import { DAIF_MASK, HCR_EL2 as IMPORTED_HCR, PSTATE as IMPORTED_PSTATE, PSTATE_MODE } from './regs.js';
import { ARM64_SYSREG, arm64SysregName } from './sysregs.js';

export { Arm64Exit } from './arm64-cpu-types.js';
export type { Arm64CpuOptions, Arm64CpuSavedState, Arm64ExitKind, Arm64HypervisorOptions, Arm64Registers, Arm64RunResult, Arm64Stats } from './arm64-cpu-types.js';

const FRAME_STATE = IMPORTED_FRAME_STATE;
const PSTATE = IMPORTED_PSTATE;
const HCR = IMPORTED_HCR;
const { TWO_32, LINE_IRQ, LINE_FIQ, LINE_VIRQ, LINE_VFIQ, WAIT_NONE, WAIT_WFE, FETCH, HCR_UNSUPPORTED, NO_ROUTING, SLOT_SCTLR, STORED } = ARM64_CPU_CONSTANTS;
const LINES_ALL = LINE_IRQ | LINE_FIQ | LINE_VIRQ | LINE_VFIQ;
/** DFSC/IFSC 0b010000: synchronous External abort, not on a translation table walk (Arm ARM D19 ESR_ELx). */
const SYNC_EXTERNAL_ABORT = 0x10;
const EXIT_KINDS: readonly Arm64ExitKind[] = ['sync', 'irq', 'fiq'];
/** Names of the stored registers, by slot (the keys of a saved state's `sysregs`). */
const STORED_NAMES: readonly string[] = STORED.map((e) => arm64SysregName(e));

/** arm64's extra logged registers: `lo`/`hi`, and an HVC's X0-X3. */
function applyArm64Log(guest: Arm64Guest, kind: number, log: readonly number[], at: number): number {
  if (kind === LOG_KIND.HVC) {
    guest.lo = log[at]!;
    guest.hi = log[at + 1]!;
    for (let i = 0; i < 4; i++) guest.hvcResults[i] = log[at + 2 + i]!;
    return 6;
  }
  return applyWideLog(guest, kind, log, at);
}

/** A 64-bit register value as a number: two's complement when bit 63 is set (exact within 2^53). */
function signed64(lo: number, hi: number): number {
  return (hi | 0) * TWO_32 + (lo >>> 0);
}

/** An AArch64 PE running guest code (see the file comment). */
export class Arm64Cpu extends Arm64Instructions {
  /** The IRQ input as core's `InterruptLine` (the same as {@link setIrqLevel}). */
  readonly irqInput: InterruptLine = { setLevel: (asserted) => this.setInput(LINE_IRQ, asserted) };
  /** The FIQ input as an `InterruptLine`. */
  readonly fiqInput: InterruptLine = { setLevel: (asserted) => this.setInput(LINE_FIQ, asserted) };
  /** The virtual IRQ input as an `InterruptLine`. */
  readonly virqInput: InterruptLine = { setLevel: (asserted) => this.setInput(LINE_VIRQ, asserted) };
  /** The virtual FIQ input as an `InterruptLine`. */
  readonly vfiqInput: InterruptLine = { setLevel: (asserted) => this.setInput(LINE_VFIQ, asserted) };

  /** Starts running the code at `entry` (a defined address) as the bottom frame, discarding any code running. */
  start(entry: number): void {
    const code = this.program.at(entry);
    if (!code) throw new UsageError('bad-argument', `no guest code is defined at ${describeValue(entry)}`);
    this.frames.clear();
    this.frames.enter(code, entry, this.guest, -1, -1);
    this.waiting = WAIT_NONE;
    this.lockedUp = false;
  }

  /** The IRQ input (wire it to the GIC's `onIrq` for this PE). */
  setIrqLevel(asserted: boolean): void {
    this.setInput(LINE_IRQ, asserted);
  }

  /** The FIQ input (the GIC's `onFiq`). */
  setFiqLevel(asserted: boolean): void {
    this.setInput(LINE_FIQ, asserted);
  }

  /** The virtual IRQ input (the GIC virtual interface's `onVirq`): taken at EL1 while HCR_EL2.IMO = 1. */
  setVirqLevel(asserted: boolean): void {
    this.setInput(LINE_VIRQ, asserted);
  }

  /** The virtual FIQ input (the GIC's `onVfiq`): taken at EL1 while HCR_EL2.FMO = 1. */
  setVfiqLevel(asserted: boolean): void {
    this.setInput(LINE_VFIQ, asserted);
  }

  /** Sets the event register (another PE's SEV, an event stream): wakes a WFE. */
  signalEvent(): void {
    this.eventRegister = true;
  }

  /** True while the PE waits in WFI or WFE. */
  get isWaiting(): boolean {
    return this.waiting !== WAIT_NONE;
  }

  private setInput(bit: number, asserted: boolean): void {
    this.inputs = asserted ? this.inputs | bit : this.inputs & ~bit;
    this.updateLines();
  }

  // --- snapshots ----------------------------------------------------------------

  /**
   * The architectural state (Arm ARM D1: PSTATE with the EL, SP selection
   * and DAIF; VBAR/ELR/SPSR/ESR/FAR_EL1; SCTLR, TCR, TTBR0/1, MAIR,
   * SP_EL0, CONTEXTIDR, TPIDRs, NZCV; the event register and the WFI/WFE
   * wait; the interrupt inputs; HCR_EL2, whether a guest is entered, the
   * pending HVC and the last exit), with the guest code running on the PE:
   * each frame's entry, vector offset, ESR, position and replay log (see
   * guest/replay.ts). Wiring (memory, buses, the GIC, the timer, the MMU
   * and its TLB, the stage 2) is not saved: save those models beside it.
   * Needs the `snapshots` option while guest code runs.
   */
  saveState(): Arm64CpuSavedState {
    if (!this.recording && this.frames.size > 0) throw new UsageError('bad-state', 'saveState while guest code runs needs an Arm64Cpu created with { snapshots: true }');
    const sysregs: Record<string, [number, number]> = {};
    STORED_NAMES.forEach((n, i) => (sysregs[n] = [this.storedLo[i]!, this.storedHi[i]!]));
    const x = this.exitInfo;
    return {
      type: 'hvsim.arm64-cpu',
      version: 1,
      localTime: this.localTime,
      pstate: this.pstate,
      vbar: this.vbar,
      elr: this.elr,
      spsr: this.spsr,
      esr: this.esr,
      far: this.far,
      sysregs,
      inputs: this.inputs,
      waiting: this.waiting,
      eventRegister: this.eventRegister,
      lockedUp: this.lockedUp,
      hypervisor: { attached: this.hyp, hcr: this.hcr, entered: this.entered, exited: this.exited, hvcPending: this.hvcPending },
      exit: { kind: x.kind, esr: x.esr, far: x.far, hpfar: x.hpfar, ipa: x.ipa, elr: x.elr },
      guest: [this.guest.lo, this.guest.hi],
      hvcResults: Array.from(this.guest.hvcResults),
      frames: saveFrames(this.frames),
    };
  }

  /**
   * Restores a saved state: registers are loaded (SCTLR/TCR/TTBRs into the
   * MMU's context, HCR_EL2 into the routing and stage 2), and each frame's
   * code is re-created and replayed to where it stood. Everything is
   * checked, and the code replayed, before anything changes; a foreign or
   * malformed state, guest code that does not replay the same way, or a
   * state under a hypervisor restored into a PE without one
   * (`attachHypervisor` first: the stage 2 is wiring), throws a
   * `SnapshotError` and leaves the PE as it was.
   */
  restoreState(state: unknown): void {
    const r = readState(state, 'hvsim.arm64-cpu', 1);
    const localTime = r.int('localTime', 0, Number.MAX_SAFE_INTEGER);
    const pstate = r.int('pstate', 0, 0x3ff);
    const m = pstate & PSTATE.M;
    if ((pstate & ~(PSTATE.M | DAIF_MASK)) !== 0 || (m !== PSTATE_MODE.EL0t && m !== PSTATE_MODE.EL1t && m !== PSTATE_MODE.EL1h)) {
      throw new SnapshotError('shape', `hvsim.arm64-cpu.pstate 0x${pstate.toString(16)} is not EL0t, EL1t or EL1h with DAIF bits`);
    }
    const vbar = r.int('vbar', 0, Number.MAX_SAFE_INTEGER);
    if (vbar % 0x800 !== 0) throw new SnapshotError('shape', `hvsim.arm64-cpu.vbar 0x${vbar.toString(16)} is not 2 KiB aligned (VBAR_EL1 bits 10:0 are RES0)`);
    const elr = r.int('elr', 0, Number.MAX_SAFE_INTEGER);
    const spsr = r.int('spsr', 0, 0xffff_ffff);
    const esr = r.int('esr', 0, 0xffff_ffff);
    const far = r.int('far', 0, Number.MAX_SAFE_INTEGER);
    const regs = r.object('sysregs');
    const halves = STORED_NAMES.map((n) => regs.intArray(n, 0, 0xffff_ffff, 2) as [number, number]);
    const inputs = r.int('inputs', 0, LINES_ALL);
    const waiting = r.int('waiting', WAIT_NONE, WAIT_WFE);
    const eventRegister = r.bool('eventRegister');
    const lockedUp = r.bool('lockedUp');
    const h = r.object('hypervisor');
    const hyp = h.bool('attached');
    const hcr = h.int('hcr', 0, Number.MAX_SAFE_INTEGER);
    const entered = h.bool('entered');
    const exited = h.bool('exited');
    const hvcPending = h.bool('hvcPending');
    const x = r.object('exit');
    const exitKind = x.string('kind');
    if (!EXIT_KINDS.includes(exitKind as Arm64ExitKind)) throw new SnapshotError('shape', `hvsim.arm64-cpu.exit.kind must be one of ${EXIT_KINDS.join(', ')}, got ${describeValue(exitKind)}`);
    const exit = { esr: x.int('esr', 0, 0xffff_ffff), far: x.int('far', 0, Number.MAX_SAFE_INTEGER), hpfar: x.int('hpfar', 0, Number.MAX_SAFE_INTEGER), ipa: x.int('ipa', 0, Number.MAX_SAFE_INTEGER), elr: x.int('elr', 0, Number.MAX_SAFE_INTEGER) };
    const [lo, hi] = r.intArray('guest', 0, 0xffff_ffff, 2) as [number, number];
    // Absent in states saved before HVCs carried X0-X3: zeros.
    const hvcResults = r.has('hvcResults') ? r.intArray('hvcResults', -(2 ** 53), 2 ** 53, 4) : [0, 0, 0, 0];
    const saved = readSavedFrames(r, 'frames');
    if (!hyp && (hcr !== 0 || entered || exited || hvcPending)) throw new SnapshotError('shape', 'hvsim.arm64-cpu.hypervisor: HCR_EL2, entered, exited or hvcPending set while no hypervisor is attached');
    if (hyp !== this.hyp) throw new SnapshotError('shape', `hvsim.arm64-cpu.hypervisor.attached is ${hyp} but this PE ${this.hyp ? 'has' : 'has no'} hypervisor attached: the stage 2 is wiring (attachHypervisor before restoring)`);
    if (hyp) {
      try {
        this.checkHcrValue(hcr);
      } catch (e) {
        throw new SnapshotError('shape', `hvsim.arm64-cpu.hypervisor.hcr: ${(e as Error).message}`);
      }
    }
    // The MMU registers must be ones the context accepts: try them on a scratch context first.
    const at = (enc: number): bigint => {
      const slot = STORED.indexOf(enc);
      return (BigInt(halves[slot]![1]) << 32n) | BigInt(halves[slot]![0]);
    };
    const mmuRegs = { sctlr: at(ARM64_SYSREG.SCTLR_EL1), tcr: at(ARM64_SYSREG.TCR_EL1), ttbr0: at(ARM64_SYSREG.TTBR0_EL1), ttbr1: at(ARM64_SYSREG.TTBR1_EL1) };
    try {
      const probe = new Stage1Context({ paBits: this.mmu.context.paBits });
      probe.setTcr(mmuRegs.tcr);
      probe.setTtbr0(mmuRegs.ttbr0);
      probe.setTtbr1(mmuRegs.ttbr1);
      probe.setSctlr(mmuRegs.sctlr);
    } catch (e) {
      throw new SnapshotError('shape', `hvsim.arm64-cpu.sysregs: ${(e as Error).message}`);
    }
    // Replay (a frame whose vector fetch faulted is re-created unstarted); a divergence throws before anything changes.
    const g = this.guest;
    const [gLo, gHi] = [g.lo, g.hi];
    const gResults = Array.from(g.hvcResults);
    let replayed;
    try {
      replayed = replayFrames(this.program, g, saved.map((f) => (f.state === FRAME_STATE.RETRY && f.pending[0] === FETCH ? { ...f, state: FRAME_STATE.START } : f)), applyArm64Log);
    } finally {
      [g.lo, g.hi] = [gLo, gHi];
      g.hvcResults.set(gResults);
    }
    replayed.forEach((f, i) => (f.saved = saved[i]!));
    installFrames(this.frames, replayed);
    [g.lo, g.hi] = [lo, hi];
    g.hvcResults.set(hvcResults);
    this.localTime = localTime;
    this.pstate = pstate;
    this.vbar = vbar;
    this.elr = elr;
    this.spsr = spsr;
    this.esr = esr;
    this.far = far;
    halves.forEach(([l, u], i) => {
      this.storedLo[i] = l;
      this.storedHi[i] = u;
    });
    const ctx = this.mmu.context;
    ctx.setTcr(mmuRegs.tcr);
    ctx.setTtbr0(mmuRegs.ttbr0);
    ctx.setTtbr1(mmuRegs.ttbr1);
    ctx.setSctlr(mmuRegs.sctlr);
    this.inputs = inputs;
    this.waiting = waiting;
    this.eventRegister = eventRegister;
    this.lockedUp = lockedUp;
    this.vectorFetchFault = false;
    this.hcr = hcr;
    this.entered = entered;
    this.exited = exited;
    this.hvcPending = hvcPending;
    const xi = this.exitInfo;
    xi.kind = exitKind as Arm64ExitKind;
    xi.esr = exit.esr;
    xi.ec = exit.esr >>> 26;
    xi.iss = exit.esr & 0x1ff_ffff;
    xi.far = exit.far;
    xi.hpfar = exit.hpfar;
    xi.ipa = exit.ipa;
    xi.elr = exit.elr;
    if (hyp) {
      ctx.stage2 = (hcr & HCR.VM) !== 0 ? this.stage2 : null;
      if (entered) this.applyRouting();
      else this.gic?.setVirtualRouting(this.cpuNumber, NO_ROUTING);
    }
    this.updateTranslating();
    this.updateLines();
  }

  /** The architectural registers the host may inspect. */
  registers(): Arm64Registers {
    return { pstate: this.pstate, vbar: this.vbar, elr: this.elr, spsr: this.spsr, esr: this.esr, far: this.far, sctlr: this.storedLo[SLOT_SCTLR]! };
  }

  /**
   * Sets registers as firmware or a VMM would before the first instruction
   * (`pstate` chooses EL0t, EL1t or EL1h and the DAIF masks). A bad value is
   * the host's error (UsageError) naming it.
   */
  setRegisters(regs: Partial<Arm64Registers>): void {
    for (const [key, value] of Object.entries(regs)) {
      if (!['pstate', 'vbar', 'elr', 'spsr', 'esr', 'far', 'sctlr'].includes(key)) throw new UsageError('unknown-name', `unknown arm64 register ${describeValue(key)}`);
      if (!Number.isSafeInteger(value) || value < 0) throw new UsageError('bad-argument', `arm64 register ${key} must be a non-negative safe integer, got ${describeValue(value)}`);
    }
    if (regs.pstate !== undefined) {
      const m = regs.pstate & PSTATE.M;
      if ((regs.pstate & ~(PSTATE.M | DAIF_MASK)) !== 0 || (m !== PSTATE_MODE.EL0t && m !== PSTATE_MODE.EL1t && m !== PSTATE_MODE.EL1h)) {
        throw new UsageError('bad-argument', `PSTATE value 0x${regs.pstate.toString(16)} is not EL0t, EL1t or EL1h with DAIF bits`);
      }
    }
    if (regs.vbar !== undefined && regs.vbar % 0x800 !== 0) throw new UsageError('bad-argument', `VBAR_EL1 value 0x${regs.vbar.toString(16)} is not 2 KiB aligned (bits 10:0 are RES0)`);
    if (regs.pstate !== undefined) this.pstate = regs.pstate;
    if (regs.vbar !== undefined) this.vbar = regs.vbar;
    if (regs.elr !== undefined) this.elr = regs.elr;
    if (regs.spsr !== undefined) this.spsr = regs.spsr;
    if (regs.esr !== undefined) this.esr = regs.esr;
    if (regs.far !== undefined) this.far = regs.far;
    if (regs.sctlr !== undefined) this.writeSctlr(regs.sctlr >>> 0, Math.floor(regs.sctlr / TWO_32));
  }

  /** Counters since construction. */
  stats(): Arm64Stats {
    return { ...this.counters.snapshot(this.memory.cacheHits, this.memory.cacheMisses), exits: Object.fromEntries(this.exitCounts) };
  }

  /** The running frames from the bottom (entry code) up (their names and synthetic PCs). */
  backtrace(): {
    /** The routine's name (its generator function's name). */
    name: string;
    /** The frame's synthetic PC: its entry address plus the operations completed. */
    pc: number;
  }[] {
    return this.frames.list().map((f) => ({ name: f.name, pc: f.rip }));
  }

  /**
   * Runs this PE's guest code at EL1/EL0 under a hypervisor at EL2 with
   * `hcr` as HCR_EL2 (KVM's vcpu_load): traps then stop `run` with `'exit'`.
   * The GIC's ICC_* routing follows IMO/FMO (`gic.setVirtualRouting`).
   */
  attachHypervisor(options: Arm64HypervisorOptions): void {
    if (typeof (options as unknown) !== 'object' || (options as unknown) === null) throw new UsageError('bad-argument', `attachHypervisor needs options, got ${describeValue(options)}`);
    const stage2 = options.stage2 ?? null;
    const hcr = this.checkHcr(options.hcr, stage2);
    this.stage2 = stage2;
    this.hyp = true;
    this.exited = false;
    this.entered = false;
    this.setHcr(hcr);
  }

  /** Leaves EL2 wiring (KVM's vcpu_put): the PE is native again. */
  detachHypervisor(): void {
    this.hyp = false;
    this.entered = false;
    this.hcr = 0;
    this.stage2 = null;
    this.exited = false;
    this.hvcPending = false;
    this.mmu.context.stage2 = null;
    this.gic?.setVirtualRouting(this.cpuNumber, NO_ROUTING);
    this.updateTranslating();
    this.updateLines();
  }

  /** Writes HCR_EL2 (the host, at EL2). Bits the model cannot honour (TGE, E2H, NV) are refused by name. */
  setHcr(value: number): void {
    if (!this.hyp) throw new UsageError('bad-state', 'setHcr: no hypervisor is attached (attachHypervisor)');
    value = this.checkHcr(value, this.stage2);
    this.hcr = value;
    this.mmu.context.stage2 = (value & HCR.VM) !== 0 ? this.stage2 : null;
    if (this.entered) this.applyRouting();
    this.updateTranslating();
    this.updateLines();
  }

  /** Checks a restored HCR_EL2 against this PE's wiring. */
  private checkHcrValue(value: number): void {
    this.checkHcr(value, this.stage2);
  }

  /** `value` as an unsigned HCR_EL2, or the host's error naming it (nothing changes). */
  private checkHcr(value: number, stage2: Stage2Walker | null): number {
    // A negative 32-bit number is what `|` gives for bit 31 (RW): read it as unsigned.
    let v = value;
    if (Number.isInteger(v) && v < 0 && v >= -0x8000_0000) v = v >>> 0;
    if (!Number.isSafeInteger(v) || v < 0) throw new UsageError('bad-argument', `HCR_EL2 must be a non-negative safe integer, got ${describeValue(value)}`);
    for (const [bit, name] of HCR_UNSUPPORTED) {
      if (Math.floor(v / 2 ** bit) % 2 === 1) throw new UsageError('bad-argument', `HCR_EL2 value 0x${v.toString(16)} sets ${name} (bit ${bit}), which this model does not implement`);
    }
    if ((v & HCR.VM) !== 0 && stage2 === null) throw new UsageError('bad-argument', `HCR_EL2 value 0x${v.toString(16)} sets VM but no stage 2 was given to attachHypervisor`);
    return v;
  }

  /** HCR_EL2 as the host last wrote it. */
  get hcrEl2(): number {
    return this.hcr;
  }

  /**
   * ERET from EL2 into the guest after an exit (or for the first time):
   * charges the return, and completes a pending HVC with X0 = 0 unless the
   * host completed it. A trapped instruction that was not completed runs
   * again, as a fault-like trap requires.
   */
  enterGuest(): void {
    if (!this.hyp) throw new UsageError('bad-state', 'enterGuest: no hypervisor is attached (attachHypervisor)');
    if (this.hvcPending) this.completePendingHvc(0);
    this.exited = false;
    this.entered = true;
    this.applyRouting();
    this.charge(this.costs.eretFromEl2);
  }

  /** The trap that ended the last `run` with `'exit'`, or null while the guest runs. */
  get lastExit(): Arm64Exit | null {
    return this.exited ? this.exitInfo : null;
  }

  /**
   * The operation a synchronous trap stopped at (MMIO load/store of a stage
   * 2 abort, a trapped MRS/MSR, WFI, HVC, SMC), or null: a hypervisor reads
   * its operands to emulate it.
   */
  get pendingOperation(): Readonly<Op> | null {
    const top = this.frames.top;
    return top !== undefined && top.state === FRAME_STATE.RETRY && top.saved.code !== FETCH ? top.saved : null;
  }

  /**
   * Completes the pending operation as emulated by the hypervisor with
   * `result` (bits 63:32 in `hi`): the guest resumes after it (KVM's
   * kvm_incr_pc). Without this it runs again at the next entry.
   */
  completePendingOperation(result = 0, hi = 0): void {
    const top = this.frames.top;
    if (top === undefined || top.state !== FRAME_STATE.RETRY || top.saved.code === FETCH) throw new UsageError('bad-state', 'completePendingOperation: no operation is pending');
    if (!Number.isInteger(result) || !Number.isInteger(hi)) throw new UsageError('bad-argument', `completePendingOperation needs integer halves, got ${describeValue(result)}, ${describeValue(hi)}`);
    // An HVC's X0 given as halves: X1-X3 are 0, as KVM's smccc_set_retval(vcpu, x0, 0, 0, 0) leaves them.
    if (this.hvcPending) return this.finishHvc(top, result >>> 0, hi >>> 0, 0, 0, 0);
    if (top.saved.size === 8 || hi !== 0) this.complete64(top, result >>> 0, hi >>> 0);
    else this.complete(top, result >>> 0);
  }

  /**
   * Completes a pending HVC with the SMCCC results X0-X3 (Arm DEN 0028 2.5;
   * KVM's smccc_set_retval then kvm_incr_pc): integers within ±2^53, a
   * negative one being the two's-complement register (PSCI's error codes).
   * The guest's HVC yields X0 (halves in `g.lo`/`g.hi`); all four are in
   * `g.hvcResults`. The arguments are the pending operation's `b`, `c`, `d`,
   * `e` (X0-X3).
   */
  completePendingHvc(x0: number, x1 = 0, x2 = 0, x3 = 0): void {
    const top = this.frames.top;
    if (!this.hvcPending || top === undefined) throw new UsageError('bad-state', 'completePendingHvc: no HVC is pending');
    for (const [name, v] of [['X0', x0], ['X1', x1], ['X2', x2], ['X3', x3]] as const) {
      if (!Number.isSafeInteger(v) && Math.abs(v) !== 2 ** 53) throw new UsageError('bad-argument', `completePendingHvc: ${name} must be an integer within ±2^53, got ${describeValue(v)}`);
    }
    this.finishHvc(top, x0 >>> 0, Math.floor(x0 / TWO_32) >>> 0, x1, x2, x3);
  }

  /** The HVC completes with X0 = `lo`/`hi` and X1-X3: resumed after it, every result logged for replay. */
  private finishHvc(top: Frame, lo: number, hi: number, x1: number, x2: number, x3: number): void {
    this.hvcPending = false;
    const g = this.guest;
    const r = g.hvcResults;
    r[0] = signed64(lo, hi);
    r[1] = x1;
    r[2] = x2;
    r[3] = x3;
    g.lo = lo;
    g.hi = hi;
    const result = lo + hi * TWO_32;
    top.index++;
    top.state = FRAME_STATE.RESUME;
    top.result = result;
    if (this.recording && top.steps === null) {
      top.record(LOG_KIND.HVC);
      top.record(result);
      top.record(lo);
      top.record(hi);
      for (let i = 0; i < 4; i++) top.record(r[i]!);
    }
  }

  // --- injection by the hypervisor (KVM arch/arm64/kvm/inject_fault.c) ---------------

  /**
   * Injects an UNDEFINED exception into the guest at EL1, as KVM's
   * `kvm_inject_undefined` does for a trapped access it does not emulate:
   * exception entry to EL1 (Arm ARM D1.10) with ESR_EL1 = EC 0x00 "unknown
   * reason", IL = 1, ISS 0, ELR_EL1 = the trapped operation (after an HVC,
   * the one after it: HVC's preferred return address), SPSR_EL1 = PSTATE,
   * the vector from where the guest was (current EL with SP0/SPx, or lower
   * EL). The handler runs at the next `enterGuest` and `run`; its ERET to
   * ELR_EL1 runs the operation again, to ELR_EL1 + 1 skips it. A pending HVC
   * is finished first with X0-X3 as the guest passed them.
   */
  injectUndefined(): void {
    const ret = this.injectionPoint('injectUndefined');
    this.synchronous(EC.UNKNOWN, 0, ret);
  }

  /**
   * Injects a synchronous external abort on a data access at `address`
   * into the guest at EL1, as KVM's `kvm_inject_dabt` does (an access to
   * an IPA it cannot handle): ESR_EL1 = EC 0x25 (from EL1) or 0x24 (from
   * EL0) with IL = 1 and DFSC 0b010000 "synchronous External abort", FAR_EL1
   * = `address`, ELR_EL1 as {@link injectUndefined} says.
   */
  injectDataAbort(address: number): void {
    this.injectAbort('injectDataAbort', address, EC.DATA_ABORT_LOWER, EC.DATA_ABORT_SAME);
  }

  /** As {@link injectDataAbort} for an instruction fetch (KVM's `kvm_inject_pabt`): EC 0x21 (from EL1) or 0x20 (from EL0), IFSC 0b010000. */
  injectInstructionAbort(address: number): void {
    this.injectAbort('injectInstructionAbort', address, EC.INSTRUCTION_ABORT_LOWER, EC.INSTRUCTION_ABORT_SAME);
  }

  private injectAbort(what: string, address: number, lowerEc: number, sameEc: number): void {
    if (!Number.isSafeInteger(address) || address < 0) throw new UsageError('bad-argument', `${what}: the faulting address must be a non-negative safe integer, got ${describeValue(address)}`);
    const ret = this.injectionPoint(what);
    this.far = address;
    // Synchronous External abort, not on a translation table walk (Arm ARM D19 ESR_ELx DFSC/IFSC 0b010000).
    this.synchronous(this.currentEl === 0 ? lowerEc : sameEc, SYNC_EXTERNAL_ABORT, ret);
  }

  /** Checks that the host may inject now and returns the preferred return address (finishing a pending HVC). */
  private injectionPoint(what: string): number {
    if (!this.hyp) throw new UsageError('bad-state', `${what}: no hypervisor is attached (attachHypervisor)`);
    const top = this.frames.top;
    if (top === undefined) throw new UsageError('bad-state', `${what}: no guest code is running (start)`);
    if (this.lockedUp) throw new UsageError('bad-state', `${what}: the PE is locked up`);
    if (this.hvcPending) {
      // The HVC completed (its registers unchanged, as the hypervisor wrote none): the exception returns after it.
      const op = top.saved;
      this.finishHvc(top, op.b >>> 0, Math.floor(op.b / TWO_32) >>> 0, op.c, op.d, op.e);
    }
    return top.rip;
  }

  /**
   * Runs until local time reaches `untilCycle`, the PE waits with nothing to
   * wake it before then, the entry code returns, a trap to EL2, a lockup, or
   * `maxOperations` operations (then `'budget'`).
   */
  run(untilCycle: number, maxOperations = Number.POSITIVE_INFINITY): Arm64RunResult {
    if (!Number.isSafeInteger(untilCycle) || untilCycle < 0) throw new UsageError('bad-argument', `run needs a cycle count, got ${describeValue(untilCycle)}`);
    if (!(maxOperations >= 0)) throw new UsageError('bad-argument', `maxOperations must be a non-negative number, got ${describeValue(maxOperations)}`);
    if (this.frames.size === 0) throw new UsageError('bad-state', 'Arm64Cpu.run before start(entry): no guest code to run');
    if (this.exited) return 'exit';
    if (this.hyp && !this.entered) throw new UsageError('bad-state', 'Arm64Cpu.run under a hypervisor before enterGuest()');
    if (this.lockedUp) return 'lockup';
    const clock = this.clock;
    let budget = maxOperations;
    while (this.localTime < untilCycle) {
      if (budget-- <= 0) break;
      if (clock) {
        const next = clock.nextEventAt();
        if (next !== undefined && next <= this.localTime) this.syncClock();
      }
      if (this.waiting !== WAIT_NONE) {
        if (!this.wakeUp()) {
          if (!this.idle(untilCycle)) return 'halted';
          continue;
        }
      }
      if (this.lines !== 0 && this.takeInterrupt()) {
        if (this.didExit()) return 'exit';
        if (this.didLockUp()) return 'lockup';
        continue;
      }
      if (!this.step()) return 'finished';
      if (this.didExit()) return 'exit';
      if (this.didLockUp()) return 'lockup';
    }
    return 'budget';
  }
}
