/**
 * The saved form of a VmxProcessor and its validating parser (snapshot
 * contract of @hvsim/core: plain JSON, `type` and `version`, rejected with
 * SnapshotError when foreign or malformed). Wiring (memory, clock,
 * capabilities) is not saved.
 */
import { SnapshotError, readState } from '@hvsim/core';
import { Vmcs, type VmcsState } from '../vmcs/vmcs.js';
import { assertProcessorMode, type ProcessorMode } from './processor-mode.js';

import type { VmxOperation as Operation } from './processor-core.js';

/** Non-root tracking state that is not in the VMCS. */
export interface NonRootState {
  /** Guest interruptibility state, bits of {@link INTERRUPTIBILITY}. */
  interruptibility: number;
  /** STI/MOV-SS blocking was set by the current instruction and lasts through the next boundary. */
  shadowFresh: boolean;
  /** Guest activity state, one of {@link ACTIVITY_STATE}. */
  activity: number;
  /** A virtual interrupt is recognized and waits for delivery (RVI[7:4] above VPPR[7:4]). */
  recognized: boolean;
  /** The event being delivered, for IDT-vectoring information, or null. */
  inFlight: {
    /** Interruption information, in the {@link INTR_INFO} format. */
    info: number;
    /** Error code of the event (0 when it has none). */
    errorCode: number;
    /** Instruction length of a software interrupt or exception (types 4-6), else 0. */
    length: number;
  } | null;
  /** Posted-interrupt processing left the current boundary open. */
  boundaryOpen: boolean;
  /** Cycles from the save to the preemption timer's deadline (relative to the clock, core's `saveCycle`), or -1 when not running. */
  timerRemaining: number;
  /** The VMX-preemption timer reached 0 and its VM exit is pending. */
  timerExpired: boolean;
  /** An MTF VM exit is pending at the next instruction boundary. */
  mtfPending: boolean;
  /** A TPR-below-threshold VM exit is due right after VM entry. */
  tprThresholdPending: boolean;
}

/** Saved state of a VmxProcessor. */
export interface VmxProcessorState {
  /** Format tag. */
  type: 'hvsim.vmx-processor';
  /** Format version. */
  version: 2;
  /** VMX operation: off, root or non-root. */
  operation: Operation;
  /** Physical address of the VMXON region (-1 outside VMX operation). */
  vmxonPointer: number;
  /** Physical address of the current VMCS (-1 when none). */
  current: number;
  /** The active VMCSs, their data and launch states. */
  active: VmcsState[];
  /** Processor state that decides VMX instruction faults (CPL, CR0, CR4, RFLAGS, EFER, ...). */
  mode: ProcessorMode;
  /** The root instruction stream has blocking by MOV SS. */
  rootMovSsBlocking: boolean;
  /** An INIT signal is pending (blocked by VMX root operation or wait-for-SIPI). */
  initPending: boolean;
  /** VMX-abort indicator of the last VM exit (0 none). */
  vmxAbort: number;
  /** Non-root state, or null outside VMX non-root operation. */
  nonRoot: NonRootState | null;
}

/** A parsed, checked state, with the active VMCSs rebuilt. */
export interface ParsedProcessorState {
  operation: Operation;
  vmxonPointer: number;
  active: Vmcs[];
  current: Vmcs | null;
  mode: ProcessorMode;
  rootMovSsBlocking: boolean;
  initPending: boolean;
  vmxAbort: number;
  nonRoot: NonRootState | null;
}

/** Validates a saved VmxProcessor state; throws SnapshotError naming the bad field. */
export function parseProcessorState(state: unknown): ParsedProcessorState {
  const r = readState(state, 'hvsim.vmx-processor', 2);
  const operation = r.oneOf('operation', ['off', 'root', 'non-root'] as const);
  const vmxonPointer = r.int('vmxonPointer', -1, Number.MAX_SAFE_INTEGER);
  const currentAddr = r.int('current', -1, Number.MAX_SAFE_INTEGER);
  const active = r.array('active', (a) => Vmcs.fromState(a));
  const m = r.object('mode');
  const mode: ProcessorMode = {
    cpl: m.int('cpl', 0, 3),
    cr0: m.u32('cr0'),
    cr4: m.u32('cr4'),
    rflags: m.u32('rflags'),
    efer: m.u32('efer'),
    csL: m.bool('csL'),
    featureControl: m.u32('featureControl'),
    inSmx: m.bool('inSmx'),
    instructionLength: m.int('instructionLength', 0, 15),
  };
  assertProcessorMode(mode);
  const rootMovSsBlocking = r.bool('rootMovSsBlocking');
  const initPending = r.bool('initPending');
  const vmxAbort = r.int('vmxAbort', 0, 6);
  const current = currentAddr < 0 ? null : (active.find((v) => v.address === currentAddr) ?? null);
  if (currentAddr >= 0 && !current) throw new SnapshotError('shape', `hvsim.vmx-processor.current = ${currentAddr} is not an active VMCS`);
  if (operation === 'off' && (vmxonPointer >= 0 || current)) throw new SnapshotError('shape', 'hvsim.vmx-processor: no VMX operation but a VMXON pointer or current VMCS');
  if (operation === 'non-root' && !current) throw new SnapshotError('shape', 'hvsim.vmx-processor: VMX non-root operation needs a current VMCS');
  let nonRoot: NonRootState | null = null;
  if (operation === 'non-root') {
    const n = r.object('nonRoot');
    nonRoot = {
      interruptibility: n.int('interruptibility', 0, 31),
      shadowFresh: n.bool('shadowFresh'),
      activity: n.int('activity', 0, 3),
      recognized: n.bool('recognized'),
      inFlight: n.raw('inFlight') === null ? null : { info: n.object('inFlight').u32('info'), errorCode: n.object('inFlight').u32('errorCode'), length: n.object('inFlight').int('length', 0, 15) },
      boundaryOpen: n.bool('boundaryOpen'),
      timerRemaining: n.int('timerRemaining', -1, Number.MAX_SAFE_INTEGER),
      timerExpired: n.bool('timerExpired'),
      mtfPending: n.bool('mtfPending'),
      tprThresholdPending: n.bool('tprThresholdPending'),
    };
  }
  return { operation, vmxonPointer, active, current, mode, rootMovSsBlocking, initPending, vmxAbort, nonRoot };
}
