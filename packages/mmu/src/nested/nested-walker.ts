/**
 * The two-dimensional walk (SDM 3C 28.2.1 "EPT Overview", 28.2.3 "EPT-Induced
 * VM Exits"): a guest 4- or 5-level walk whose every guest paging-structure
 * access, and the final guest-physical address, is translated through EPT.
 * A guest walk of n levels over an EPT of m levels reads up to
 * (n + 1)(m + 1) - 1 entries: 24 for 4-over-4, 35 for 5-over-5.
 */
import type { Memory, Tracer } from '@hvsim/core';
import { readState } from '@hvsim/core';
import { checkAddress, highHalf } from '../common/address.js';
import { WalkResult } from '../common/walk-result.js';
import type { EptWalkerOptions } from '../ept/ept-walker.js';
import { EptWalker } from '../ept/ept-walker.js';
import { X86PageWalker } from '../x86/page-walker.js';
import type { X86PagingContext } from '../x86/paging-context.js';
import { EptStage } from './ept-stage.js';
import { innerClock } from '../common/memory-access.js';
import { checkOptionNames } from '../common/option-names.js';
import { EPT_WALKER_OPTIONS } from '../ept/ept-walker.js';

/** Most entries a nested walk of `guestLevels` over `eptLevels` reads: (n + 1)(m + 1) - 1. */
export function nestedWalkMaxReferences(guestLevels: number, eptLevels: number): number {
  return (guestLevels + 1) * (eptLevels + 1) - 1;
}

/** Counters of a {@link NestedWalker}. */
export interface NestedWalkerStats {
  /** Nested (guest + EPT) walks made. */
  walks: number;
  /** Guest paging-structure entries read. */
  guestReferences: number;
  /** EPT entries read (for guest tables and for the final guest-physical address). */
  eptReferences: number;
  /** Walks that ended in a guest #PF. */
  guestFaults: number;
  /** Walks that ended in an EPT violation. */
  eptViolations: number;
  /** Walks that ended in an EPT misconfiguration. */
  eptMisconfigs: number;
  /** VM exits the walks caused (EPT violations plus misconfigurations). */
  exits: number;
}

/** Options of {@link NestedWalker}. */
export interface NestedWalkerOptions extends EptWalkerOptions {
  tracer?: Tracer;
}

/** Guest paging over EPT, with counters for comparing against shadow paging. */
export class NestedWalker {
  /** The EPT walker (load the EPTP with `ept.setEptp`). */
  readonly ept: EptWalker;
  /** Nested walks made. */
  walks = 0;
  /** Guest paging-structure entries read. */
  guestReferences = 0;
  /** EPT entries read. */
  eptReferences = 0;
  /** Walks that ended in a guest #PF. */
  guestFaults = 0;
  /** Walks that ended in an EPT violation (VM exits). */
  eptViolations = 0;
  /** Walks that ended in an EPT misconfiguration (VM exits). */
  eptMisconfigs = 0;

  private readonly guest: X86PageWalker;
  private readonly scratch = new WalkResult();

  constructor(memory: Memory, options: NestedWalkerOptions = {}) {
    checkOptionNames(options, EPT_WALKER_OPTIONS, 'NestedWalker');
    this.ept = new EptWalker(memory, { ...options, tracer: undefined });
    this.guest = new X86PageWalker(memory, { stage: new EptStage(this.ept), ...(options.tracer ? { tracer: options.tracer, source: 'mmu.nested' } : {}), ...(options.cpu !== undefined ? { cpu: options.cpu } : {}), ...innerClock(options) });
  }

  /**
   * Nested walk of a linear address given as a number (see {@link walk64}).
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this walker reuses on every call (no allocation): read it before the
   * next call, or keep a `clone()`.
   */
  walk(ctx: X86PagingContext, linear: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkAddress(linear, 'linear address');
    return this.walk64(ctx, highHalf(linear), linear >>> 0, access, out);
  }

  /**
   * Translates the guest linear address `hi:lo` for `access` with the guest
   * context `ctx` (CR3 holds a guest-physical address). `address` is the
   * host-physical address; `guestPhysicalAddress` the intermediate one.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this walker reuses on every call (no allocation): read it before the
   * next call, or keep a `clone()`.
   */
  walk64(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult = this.scratch): WalkResult {
    this.guest.walk64(ctx, hi, lo, access, out);
    this.walks++;
    this.eptReferences += out.secondStageReferences;
    this.guestReferences += out.references - out.secondStageReferences;
    if (out.status === 'page-fault') this.guestFaults++;
    else if (out.status === 'ept-violation') this.eptViolations++;
    else if (out.status === 'ept-misconfig') this.eptMisconfigs++;
    return out;
  }

  /** The counters, for comparing with the shadow MMU's figures: walks, references by dimension, and exits. */
  stats(): NestedWalkerStats {
    return {
      walks: this.walks,
      guestReferences: this.guestReferences,
      eptReferences: this.eptReferences,
      guestFaults: this.guestFaults,
      eptViolations: this.eptViolations,
      eptMisconfigs: this.eptMisconfigs,
      exits: this.eptViolations + this.eptMisconfigs,
    };
  }

  /** Saves the counters and the EPT walker's state. */
  saveState(): {
    /** Identifies a saved nested walker. */
    type: 'hvsim.mmu.nested-walker';
    /** Format version (1). */
    version: 1;
    /** walks, guestReferences, eptReferences, guestFaults, eptViolations, eptMisconfigs. */
    counters: number[];
    /** The EPT walker's saved state. */
    ept: ReturnType<EptWalker['saveState']>;
  } {
    return {
      type: 'hvsim.mmu.nested-walker',
      version: 1,
      counters: [this.walks, this.guestReferences, this.eptReferences, this.guestFaults, this.eptViolations, this.eptMisconfigs],
      ept: this.ept.saveState(),
    };
  }

  /** Restores {@link saveState} output. */
  restoreState(state: unknown): void {
    const s = readStateChecked(state);
    this.ept.restoreState(s.ept);
    [this.walks, this.guestReferences, this.eptReferences, this.guestFaults, this.eptViolations, this.eptMisconfigs] = s.counters as [number, number, number, number, number, number];
  }
}

function readStateChecked(state: unknown): { counters: number[]; ept: unknown } {
  const s = readState(state, 'hvsim.mmu.nested-walker', 1);
  return { counters: s.intArray('counters', 0, Number.MAX_SAFE_INTEGER, 6), ept: s.raw('ept') };
}
