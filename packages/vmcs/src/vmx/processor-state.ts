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
  interruptibility: number;
  shadowFresh: boolean;
  activity: number;
  recognized: boolean;
  inFlight: { info: number; errorCode: number; length: number } | null;
  /** Posted-interrupt processing left the current boundary open. */
  boundaryOpen: boolean;
  /** Cycles from the save to the preemption timer's deadline (relative to the clock, core's `saveCycle`), or -1 when not running. */
  timerRemaining: number;
  timerExpired: boolean;
  mtfPending: boolean;
  tprThresholdPending: boolean;
}

/** Saved state of a VmxProcessor. */
export interface VmxProcessorState {
  type: 'hvsim.vmx-processor';
  version: 2;
  operation: Operation;
  vmxonPointer: number;
  current: number;
  active: VmcsState[];
  mode: ProcessorMode;
  rootMovSsBlocking: boolean;
  initPending: boolean;
  vmxAbort: number;
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
