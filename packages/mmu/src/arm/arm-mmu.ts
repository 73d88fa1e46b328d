/**
 * The MMU of one Arm PE for the EL1&0 regime: an {@link ArmTlb} in front of
 * the {@link Stage1Walker} (and, with a stage 2 in the context, of the
 * combined guest walk). A hit re-checks permissions exactly as a walk does
 * (PAN and the access's Exception level are not cached); an access a hit
 * does not allow walks again, so hardware dirty-state updates and changed
 * descriptors are seen (a fault from a cached entry would also be allowed).
 * TLBI operations take the current VMID. `epoch` is the TLB's invalidation
 * epoch for a CPU-side micro-TLB (which must also drop its entries when the
 * ASID, TTBRs, TCR_EL1 or SCTLR_EL1 change: those need no TLBI).
 */
import type { Memory, Tracer } from '@hvsim/core';
import { describeValue, readState } from '@hvsim/core';
import { checkAddress, checkHalves, highHalf } from '../common/address.js';
import type { TimeOptions } from '../common/memory-access.js';
import { MmuUsageError } from '../common/mmu-error.js';
import { WalkResult } from '../common/walk-result.js';
import type { ArmTlbOptions, ArmTlbState, ArmTlbiOp } from './arm-tlb.js';
import { ARM_TLB_S2, ArmTlb } from './arm-tlb.js';
import type { Stage1ContextOptions, Stage1ContextState } from './stage1-context.js';
import { Stage1Context } from './stage1-context.js';
import { stage1Allows } from './stage1-permissions.js';
import { S1_ACCESS, S1_ACCESS_MASK, S1_PERM } from './stage1-regs.js';
import { Stage1Walker, stage1InRange } from './stage1-walker.js';
import { checkOptionNames } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const ARM_MMU_OPTIONS = ['context', 'tlb', 'vmid', 'tracer', 'clock', 'cpu'];

/** Options of {@link ArmMmu}. */
export interface ArmMmuOptions {
  /** The translation controls (or options to make them). */
  context?: Stage1Context | Stage1ContextOptions;
  /** The TLB (or options to make one). */
  tlb?: ArmTlb | ArmTlbOptions;
  /** VMID used when the context has no stage 2 (EL2 not in use). Default 0. */
  vmid?: number;
  /** Receives the TLB's and walker's trace events. */
  tracer?: Tracer;
  /** Number of the PE the trace events of this MMU (its TLB and walker) concern (docs/conventions.md "Tracing"). */
  cpu?: number;
  /** Clock whose `now()` stamps trace events. */
  clock?: TimeOptions['clock'];
}

/** Counters of {@link ArmMmu}. */
export interface ArmMmuStats {
  /** Translations requested. */
  translations: number;
  /** Translations answered by the TLB. */
  tlbHits: number;
  /** Stage 1 walks made (misses and hits that did not allow the access). */
  walks: number;
  /** Translations that ended in a fault. */
  faults: number;
  /** TLBI operations performed. */
  tlbis: number;
}

/** TLB + stage 1 walker (+ stage 2) for one PE. */
export class ArmMmu {
  /** The EL1&0 translation controls (SCTLR_EL1, TCR_EL1, TTBRn_EL1, ASID, stage 2). */
  readonly context: Stage1Context;
  /** The TLB in front of the walker. */
  readonly tlb: ArmTlb;
  /** The stage 1 walker (stage 2 included when the context has one). */
  readonly walker: Stage1Walker;
  private vmidValue = 0;
  private readonly scratch = new WalkResult();
  private translations = 0;
  private tlbHits = 0;
  private faults = 0;
  private tlbis = 0;

  constructor(memory: Memory, options: ArmMmuOptions = {}) {
    checkOptionNames(options, ARM_MMU_OPTIONS, 'ArmMmu');
    this.context = options.context instanceof Stage1Context ? options.context : new Stage1Context(options.context);
    this.tlb = options.tlb instanceof ArmTlb ? options.tlb : new ArmTlb({ tracer: options.tracer, clock: options.clock, cpu: options.cpu, ...options.tlb });
    this.walker = new Stage1Walker(memory, { tracer: options.tracer, clock: options.clock, cpu: options.cpu });
    this.vmid = options.vmid ?? 0;
  }

  /** VMID used without a stage 2; with one, the VMID is VTTBR_EL2.VMID of the stage 2 walker. */
  get vmid(): number {
    return this.context.stage2 === null ? this.vmidValue : this.context.stage2.vmid;
  }

  /** Sets the VMID used without a stage 2 (0 to 0xffff, else `bad-argument`). */
  set vmid(value: number) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new MmuUsageError('bad-argument', `VMID must be in [0, 0xffff], got ${describeValue(value)}`);
    this.vmidValue = value;
  }

  /** The TLB's invalidation epoch (bumped by every TLBI). */
  get epoch(): number {
    return this.tlb.epoch;
  }

  /**
   * Translates a VA below 2^53; see {@link translate64}.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  translate(va: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkAddress(va, 'VA');
    return this.translate64(highHalf(va), va >>> 0, access, out);
  }

  /**
   * Translates the VA `hi:lo` for `access` (`S1_ACCESS`): a TLB hit, or a
   * walk that fills the TLB.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  translate64(hi: number, lo: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkHalves(hi, lo, 'VA');
    if ((access & ~S1_ACCESS_MASK) !== 0 || (access & 7) === 0 || (access & 6) === 6) {
      throw new MmuUsageError('bad-argument', `stage 1 access must be S1_ACCESS flags (READ, WRITE or EXECUTE, with EL0 or PAN), got ${describeValue(access)}`);
    }
    this.translations++;
    const ctx = this.context;
    if (ctx.mmuEnabled && (hi >>> 0) === hi && (lo >>> 0) === lo && stage1InRange(ctx, hi, lo, access)) {
      const vmid = this.vmid;
      const tlb = this.tlb;
      const i = tlb.lookup(vmid, ctx.asid, hi, lo);
      if (i >= 0 && stage1Allows(tlb.permissions(i), access) && stage2Allows(tlb.stage2Permissions(i), access)) {
        tlb.readInto(i, hi, lo, out);
        this.tlbHits++;
        const el0 = (access & S1_ACCESS.EL0) !== 0;
        const perm = out.permissions;
        out.writable = (perm & (el0 ? S1_PERM.UW : S1_PERM.PW)) !== 0 && (tlb.stage2Permissions(i) & ARM_TLB_S2.WRITE) !== 0;
        out.executable = (perm & (el0 ? S1_PERM.UX : S1_PERM.PX)) !== 0;
        out.user = (perm & S1_PERM.UR) !== 0;
        return out;
      }
    }
    const r = this.walker.walk64(ctx, hi, lo, access, out);
    if (r.status !== 'ok') {
      this.faults++;
      return r;
    }
    if (ctx.mmuEnabled) this.tlb.fill(this.vmid, ctx.asid, hi, lo, r, this.walker.lastStage2PageSize, (access & S1_ACCESS.EL0) !== 0);
    return r;
  }

  /** TLBI `op` with operand Xt (halves) for the current VMID; returns the entries dropped. */
  tlbi(op: ArmTlbiOp, xtHi = 0, xtLo = 0): number {
    this.tlbis++;
    return this.tlb.tlbi(op, this.vmid, xtHi, xtLo);
  }

  /**
   * Saves the VMID, counters, registers and TLB contents. The stage 2
   * walker is wiring: its owner saves and re-attaches it.
   */
  saveState(): ArmMmuState {
    return {
      type: 'hvsim.mmu.arm-mmu',
      version: 1,
      vmid: this.vmidValue,
      counters: [this.translations, this.tlbHits, this.faults, this.tlbis],
      context: this.context.saveState(),
      tlb: this.tlb.saveState(),
    };
  }

  /** Restores {@link saveState} output; a bad state changes nothing. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.arm-mmu', 1);
    const vmid = s.int('vmid', 0, 0xffff);
    const counters = s.intArray('counters', 0, Number.MAX_SAFE_INTEGER, 4);
    // Validate the parts on scratch instances first.
    new Stage1Context({ paBits: this.context.paBits }).restoreState(s.raw('context'));
    new ArmTlb({ entries: this.tlb.entries, ways: this.tlb.ways, replacement: this.tlb.replacement }).restoreState(s.raw('tlb'));
    this.context.restoreState(s.raw('context'));
    this.tlb.restoreState(s.raw('tlb'));
    this.vmidValue = vmid;
    [this.translations, this.tlbHits, this.faults, this.tlbis] = counters as [number, number, number, number];
  }

  /** Counters. */
  stats(): ArmMmuStats {
    return { translations: this.translations, tlbHits: this.tlbHits, walks: this.walker.walks, faults: this.faults, tlbis: this.tlbis };
  }
}

/** Saved state of an {@link ArmMmu}. */
export interface ArmMmuState {
  /** Identifies a saved Arm MMU. */
  type: 'hvsim.mmu.arm-mmu';
  /** Format version (1). */
  version: 1;
  /** The VMID used without a stage 2. */
  vmid: number;
  /** translations, tlbHits, faults, tlbis. */
  counters: number[];
  /** The translation controls' saved state. */
  context: Stage1ContextState;
  /** The TLB's saved state. */
  tlb: ArmTlbState;
}

/** True when the stage 2 bits of a TLB entry allow `access`. */
function stage2Allows(s2: number, access: number): boolean {
  if ((access & S1_ACCESS.EXECUTE) !== 0) return (s2 & ((access & S1_ACCESS.EL0) !== 0 ? ARM_TLB_S2.EXECUTE_EL0 : ARM_TLB_S2.EXECUTE_EL1)) !== 0;
  if ((access & S1_ACCESS.READ) !== 0 && (s2 & ARM_TLB_S2.READ) === 0) return false;
  return (access & S1_ACCESS.WRITE) === 0 || (s2 & ARM_TLB_S2.WRITE) !== 0;
}
