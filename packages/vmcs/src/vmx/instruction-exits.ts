/**
 * VM exits for instructions (SDM 3C "Instructions That Cause VM Exits
 * Unconditionally", "Instructions That Cause VM Exits Conditionally"), with
 * the exit qualifications of SDM 3C "Exit Qualification for ..." tables.
 * `reportExit` records an exit the CPU model decided; the decision helpers
 * answer, from the running VMCS's controls, whether an instruction exits,
 * so the CPU does not have to decode the controls itself.
 */
import { assertInteger, bitFlag, bitRange, setField } from '@hvsim/core';
import { vmxUsageError } from '../errors.js';
import { VMCS_FIELD } from '../fields/field-table.js';
import { slotOf } from '../fields/slots.js';
import { readMemory8 } from '../internal/memory-access.js';
import { u64Halves } from '../internal/u64.js';
import { CPU_BASED, SECONDARY } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import type { NonRootOutcome } from './outcomes.js';
import type { VmxProcessorCore } from './processor-core.js';
import { exitNow, prepareExit } from './vm-exit.js';

const F = VMCS_FIELD;
const S = {
  IO_A: slotOf(F.IO_BITMAP_A),
  IO_B: slotOf(F.IO_BITMAP_B),
  CR0_MASK: slotOf(F.CR0_GUEST_HOST_MASK),
  CR4_MASK: slotOf(F.CR4_GUEST_HOST_MASK),
  CR0_SHADOW: slotOf(F.CR0_READ_SHADOW),
  CR4_SHADOW: slotOf(F.CR4_READ_SHADOW),
  CR3_TARGET_COUNT: slotOf(F.CR3_TARGET_COUNT),
  CR3_TARGET0: slotOf(F.CR3_TARGET_VALUE0),
} as const;

/** The VM-execution control that makes one instruction exit, and the exit it causes. */
export interface ExitingInstructionControl {
  /** The control word: `proc` primary or `proc2` secondary processor-based VM-execution controls. */
  readonly word: 'proc' | 'proc2';
  /** The control bit in that word ({@link CPU_BASED} or {@link SECONDARY}). */
  readonly bit: number;
  /** Basic exit reason of the exit ({@link EXIT_REASON}). */
  readonly reason: number;
}

/**
 * Instructions whose exiting is one VM-execution control (SDM 3C
 * "Instructions That Cause VM Exits Conditionally"), with the control word,
 * its bit and the basic exit reason. `rdtscp` and `invpcid` also need their
 * "enable" control (without it they #UD, which is the CPU's to raise);
 * `descriptor-table` is LGDT, LIDT, SGDT, SIDT (reason 46) and LLDT, LTR,
 * SLDT, STR (reason 47). PAUSE-loop exiting (a timing heuristic) is not
 * modelled.
 */
export const EXITING_INSTRUCTIONS: {
  readonly [K in 'hlt' | 'invlpg' | 'invpcid' | 'mwait' | 'rdpmc' | 'rdtsc' | 'rdtscp' | 'monitor' | 'pause' | 'wbinvd' | 'rdrand' | 'rdseed' | 'descriptor-table']: ExitingInstructionControl;
} = {
  hlt: { word: 'proc', bit: CPU_BASED.HLT_EXITING, reason: EXIT_REASON.HLT },
  invlpg: { word: 'proc', bit: CPU_BASED.INVLPG_EXITING, reason: EXIT_REASON.INVLPG },
  invpcid: { word: 'proc', bit: CPU_BASED.INVLPG_EXITING, reason: EXIT_REASON.INVPCID },
  mwait: { word: 'proc', bit: CPU_BASED.MWAIT_EXITING, reason: EXIT_REASON.MWAIT_INSTRUCTION },
  rdpmc: { word: 'proc', bit: CPU_BASED.RDPMC_EXITING, reason: EXIT_REASON.RDPMC },
  rdtsc: { word: 'proc', bit: CPU_BASED.RDTSC_EXITING, reason: EXIT_REASON.RDTSC },
  rdtscp: { word: 'proc', bit: CPU_BASED.RDTSC_EXITING, reason: EXIT_REASON.RDTSCP },
  monitor: { word: 'proc', bit: CPU_BASED.MONITOR_EXITING, reason: EXIT_REASON.MONITOR_INSTRUCTION },
  pause: { word: 'proc', bit: CPU_BASED.PAUSE_EXITING, reason: EXIT_REASON.PAUSE_INSTRUCTION },
  wbinvd: { word: 'proc2', bit: SECONDARY.WBINVD_EXITING, reason: EXIT_REASON.WBINVD },
  rdrand: { word: 'proc2', bit: SECONDARY.RDRAND_EXITING, reason: EXIT_REASON.RDRAND },
  rdseed: { word: 'proc2', bit: SECONDARY.RDSEED_EXITING, reason: EXIT_REASON.RDSEED },
  'descriptor-table': { word: 'proc2', bit: SECONDARY.DESCRIPTOR_TABLE_EXITING, reason: EXIT_REASON.GDTR_IDTR },
} as const;

/** An instruction {@link VmxProcessor.instructionExits} decides. */
export type ExitingInstruction = keyof typeof EXITING_INSTRUCTIONS;

/** True when `instruction` exits under the running VMCS's controls. */
export function instructionExits(p: VmxProcessorCore, instruction: ExitingInstruction): boolean {
  const row = (EXITING_INSTRUCTIONS as Record<string, (typeof EXITING_INSTRUCTIONS)[ExitingInstruction] | undefined>)[instruction];
  if (row === undefined) throw vmxUsageError('bad-argument', `instructionExits: unknown instruction ${JSON.stringify(instruction)} (one of ${Object.keys(EXITING_INSTRUCTIONS).join(', ')})`);
  return ((row.word === 'proc' ? p.proc : p.proc2) & row.bit) !== 0;
}

/** An I/O instruction, for {@link ioExitQualification}. */
export interface IoAccess {
  /** First port, 0-FFFFH. */
  port: number;
  /** Access size in bytes. */
  size: 1 | 2 | 4;
  /** IN/INS (`'in'`) or OUT/OUTS (`'out'`). */
  direction: 'in' | 'out';
  /** INS/OUTS. */
  string?: boolean;
  /** With a REP prefix. */
  rep?: boolean;
  /** The port came from an immediate operand (else DX). */
  immediate?: boolean;
}

/** Exit qualification for I/O instructions (SDM 3C Table "Exit Qualification for I/O Instructions"). */
export const IO_QUALIFICATION = {
  /** Size of access minus 1: 0 one byte, 1 two bytes, 3 four bytes. */
  SIZE: bitRange(2, 0),
  /** 0 = OUT, 1 = IN. */
  DIRECTION_IN: bitFlag(3),
  /** Bit 4: string instruction (INS, OUTS). */
  STRING: bitFlag(4),
  /** Bit 5: REP prefixed. */
  REP: bitFlag(5),
  /** 0 = DX, 1 = immediate. */
  OPERAND_IMMEDIATE: bitFlag(6),
  /** Bits 31:16: port number. */
  PORT: bitRange(31, 16),
} as const;

function checkIo(port: number, size: number): void {
  assertInteger(port, 'I/O port', 0, 0xffff);
  if (size !== 1 && size !== 2 && size !== 4) throw vmxUsageError('bad-argument', `I/O access size must be 1, 2 or 4 bytes, got ${String(size)}`);
}

/** The exit qualification of an I/O-instruction exit (reason 30). */
export function ioExitQualification(access: IoAccess): number {
  checkIo(access.port, access.size);
  let q = setField(0, IO_QUALIFICATION.SIZE, access.size - 1);
  q = setField(q, IO_QUALIFICATION.DIRECTION_IN, access.direction === 'in' ? 1 : 0);
  q = setField(q, IO_QUALIFICATION.STRING, access.string === true ? 1 : 0);
  q = setField(q, IO_QUALIFICATION.REP, access.rep === true ? 1 : 0);
  q = setField(q, IO_QUALIFICATION.OPERAND_IMMEDIATE, access.immediate === true ? 1 : 0);
  return setField(q, IO_QUALIFICATION.PORT, access.port);
}

/**
 * True when an I/O instruction of `size` bytes at `port` exits (SDM 3C
 * "Instructions That Cause VM Exits Conditionally", "I/O-Bitmap Addresses"):
 * with "use I/O bitmaps" (which overrides "unconditional I/O exiting") when
 * the bit of any port accessed is set in bitmap A (0000H-7FFFH) or B
 * (8000H-FFFFH), or the access wraps around past FFFFH; without it, when
 * "unconditional I/O exiting" is 1. A bitmap with no memory behind it reads
 * as all ones (exit).
 */
export function ioAccessExits(p: VmxProcessorCore, port: number, size: number): boolean {
  checkIo(port, size);
  if ((p.proc & CPU_BASED.USE_IO_BITMAPS) === 0) return (p.proc & CPU_BASED.UNCOND_IO_EXITING) !== 0;
  if (port + size - 1 > 0xffff) return true;
  const v = p.current!;
  for (let i = 0; i < size; i++) {
    const q = port + i;
    const bitmap = v.slotNumber(q < 0x8000 ? S.IO_A : S.IO_B) + ((q & 0x7fff) >>> 3);
    if (((readMemory8(p.memory, bitmap) >>> (q & 7)) & 1) === 1) return true;
  }
  return false;
}

/** A control-register access, for {@link VmxProcessor.crAccessExits} and {@link crExitQualification}. */
export interface CrAccess {
  /** MOV to CR, MOV from CR, CLTS (CR0) or LMSW (CR0). */
  type: 'mov-to' | 'mov-from' | 'clts' | 'lmsw';
  /** The control register: 0, 3, 4 or 8 (CLTS and LMSW: 0). */
  cr: 0 | 3 | 4 | 8;
  /** MOV to CR's source value (a bigint for values beyond 2^53); LMSW's 16-bit source. */
  value?: number | bigint;
  /** MOV CR's general-purpose register (0 = RAX ... 15 = R15). */
  gpr?: number;
  /** LMSW with a memory operand (`lmswAddress` is then the linear address the exit reports). */
  lmswMemory?: boolean;
}

/** Exit qualification for control-register accesses (SDM 3C Table "Exit Qualification for Control-Register Accesses"). */
export const CR_QUALIFICATION = {
  /** Bits 3:0: number of the control register (0 for CLTS and LMSW). */
  CR: bitRange(3, 0),
  /** 0 MOV to CR, 1 MOV from CR, 2 CLTS, 3 LMSW. */
  ACCESS_TYPE: bitRange(5, 4),
  /** 0 register, 1 memory. */
  LMSW_OPERAND_MEMORY: bitFlag(6),
  /** Bits 11:8: general-purpose register of MOV CR (0 RAX ... 15 R15). */
  GPR: bitRange(11, 8),
  /** Bits 31:16: LMSW source data. */
  LMSW_SOURCE: bitRange(31, 16),
} as const;

const CR_ACCESS_TYPE = { 'mov-to': 0, 'mov-from': 1, clts: 2, lmsw: 3 } as const;

function checkCr(access: CrAccess): void {
  if (!(access.type in CR_ACCESS_TYPE)) throw vmxUsageError('bad-argument', `control-register access type must be mov-to, mov-from, clts or lmsw, got ${JSON.stringify(access.type)}`);
  const cr: number = access.cr; // callers without types may pass anything
  if (cr !== 0 && cr !== 3 && cr !== 4 && cr !== 8) throw vmxUsageError('bad-argument', `control register must be 0, 3, 4 or 8, got ${String(cr)}`);
  if ((access.type === 'clts' || access.type === 'lmsw') && access.cr !== 0) throw vmxUsageError('bad-argument', `${access.type} accesses CR0, got cr ${access.cr}`);
  if (access.gpr !== undefined) assertInteger(access.gpr, 'gpr', 0, 15);
}

/** The exit qualification of a control-register-access exit (reason 28). */
export function crExitQualification(access: CrAccess): number {
  checkCr(access);
  let q = setField(0, CR_QUALIFICATION.CR, access.cr);
  q = setField(q, CR_QUALIFICATION.ACCESS_TYPE, CR_ACCESS_TYPE[access.type]);
  if (access.type === 'lmsw') {
    q = setField(q, CR_QUALIFICATION.LMSW_OPERAND_MEMORY, access.lmswMemory === true ? 1 : 0);
    return setField(q, CR_QUALIFICATION.LMSW_SOURCE, Number(access.value ?? 0) & 0xffff);
  }
  return access.type === 'clts' ? q : setField(q, CR_QUALIFICATION.GPR, access.gpr ?? 0);
}

/**
 * True when a control-register access exits (SDM 3C "Instructions That Cause
 * VM Exits Conditionally"): MOV to CR0/CR4 when, for a bit set in the
 * guest/host mask, the source differs from the read shadow; CLTS when mask
 * and read shadow both have TS (bit 3); LMSW when mask and source have PE
 * (bit 0) but the shadow has not, or a masked bit of 3:1 differs from the
 * shadow; MOV to CR3 with "CR3-load exiting" unless the value equals one of
 * the first CR3-target-count CR3-target values; MOV from CR3 with
 * "CR3-store exiting"; MOV to / from CR8 with "CR8-load / CR8-store
 * exiting". MOV from CR0/CR4 never exits (see {@link crReadValue}).
 */
export function crAccessExits(p: VmxProcessorCore, access: CrAccess): boolean {
  checkCr(access);
  const v = p.current!;
  const { type, cr } = access;
  if (cr === 8) return (p.proc & (type === 'mov-to' ? CPU_BASED.CR8_LOAD_EXITING : CPU_BASED.CR8_STORE_EXITING)) !== 0;
  if (cr === 3) {
    if (type === 'mov-from') return (p.proc & CPU_BASED.CR3_STORE_EXITING) !== 0;
    if ((p.proc & CPU_BASED.CR3_LOAD_EXITING) === 0) return false;
    const h = u64Halves(access.value ?? 0, 'MOV to CR3 source', p.operandHalves);
    const count = v.lo[S.CR3_TARGET_COUNT]!;
    for (let i = 0; i < count && i < 4; i++) {
      const slot = S.CR3_TARGET0 + i;
      if (v.lo[slot] === h.lo && v.hi[slot] === h.hi) return false;
    }
    return true;
  }
  if (type === 'mov-from') return false;
  const maskSlot = cr === 0 ? S.CR0_MASK : S.CR4_MASK;
  const shadowSlot = cr === 0 ? S.CR0_SHADOW : S.CR4_SHADOW;
  const mask = v.lo[maskSlot]!;
  const shadow = v.lo[shadowSlot]!;
  if (type === 'clts') return (mask & shadow & 8) !== 0;
  if (type === 'lmsw') {
    const src = Number(access.value ?? 0) & 0xffff;
    if ((mask & 1) !== 0 && (shadow & 1) === 0 && (src & 1) !== 0) return true;
    return ((src ^ shadow) & mask & 0xe) !== 0;
  }
  const h = u64Halves(access.value ?? 0, `MOV to CR${cr} source`, p.operandHalves);
  return ((h.lo ^ shadow) & mask) !== 0 || ((h.hi ^ v.hi[shadowSlot]!) & v.hi[maskSlot]!) !== 0;
}

/** The value MOV from CR0/CR4 returns in the guest (bits 31:0): host-owned bits (mask 1) from the read shadow, guest-owned bits from `actual`. */
export function crReadValue(p: VmxProcessorCore, cr: 0 | 4, actual: number): number {
  const n: number = cr; // callers without types may pass anything
  if (n !== 0 && n !== 4) throw vmxUsageError('bad-argument', `crReadValue: control register must be 0 or 4, got ${String(n)}`);
  assertInteger(actual, `CR${cr} value`, 0, 0xffff_ffff);
  const v = p.current!;
  const mask = v.lo[cr === 0 ? S.CR0_MASK : S.CR4_MASK]!;
  const shadow = v.lo[cr === 0 ? S.CR0_SHADOW : S.CR4_SHADOW]!;
  return ((shadow & mask) | (actual & ~mask)) >>> 0;
}

/** Exit details a CPU model supplies for an exit it decided itself. */
export interface InstructionExitInfo {
  /** Exit qualification (0 when absent). */
  qualification?: number;
  /** VM-exit instruction length in bytes. */
  instructionLength?: number;
  /** VM-exit instruction information. */
  instructionInfo?: number;
  /** Guest linear address. */
  guestLinearAddress?: number;
  /** Guest-physical address (EPT violations and misconfigurations). */
  guestPhysicalAddress?: number;
}

/**
 * A VM exit the CPU model determined (CPUID, VMCALL, I/O instructions, EPT
 * violations, ...): records the exit information and leaves non-root
 * operation. IDT-vectoring information is recorded when the exit interrupts
 * an event delivery.
 */
export function reportExit(p: VmxProcessorCore, reason: number, info: InstructionExitInfo = {}): NonRootOutcome {
  p.requireNonRoot('reportExit');
  p.boundaryOpen = false;
  assertInteger(reason, 'exit reason', 0, 0xffff);
  const e = prepareExit(p, reason);
  e.instructionInfo = info.instructionInfo ?? 0;
  e.guestLinearAddress = info.guestLinearAddress ?? 0;
  e.guestPhysicalAddress = info.guestPhysicalAddress ?? 0;
  return exitNow(p, reason, info.qualification ?? 0, info.instructionLength ?? 0, true);
}
