/**
 * x86 architectural registers and constants the CPU model uses (SDM 3A 2.3
 * RFLAGS, 2.5 control registers, 6.3.1 vectors, 6.14.1 64-bit gates; SDM 4
 * MSR index).
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** RFLAGS bits (SDM 1 3.4.3, 3A 2.3). */
export const RFLAGS = {
  /** Reserved, always 1. */
  FIXED1: 1 << 1,
  /** Trap flag. */
  TF: 1 << 8,
  /** Interrupt enable. */
  IF: 1 << 9,
} as const;

/** Value of RFLAGS after reset (SDM 3A 9.1.1). */
export const RFLAGS_RESET = 0x2;

/** CR0 bits (SDM 3A 2.5). */
export const CR0 = {
  /** Bit 0, protection enable. */
  PE: 1 << 0,
  /** Bit 16, write protect: supervisor writes honour read-only pages. */
  WP: 1 << 16,
  /** `0x80000000` */
  PG: 0x8000_0000,
} as const;

/** CR4 bits (SDM 3A 2.5). */
export const CR4 = {
  /** Bit 5, physical address extension (required for IA-32e paging). */
  PAE: 1 << 5,
  /** Bit 7, global pages. */
  PGE: 1 << 7,
  /** Bit 17, process-context identifiers. */
  PCIDE: 1 << 17,
  /** Bit 20, supervisor-mode execution prevention. */
  SMEP: 1 << 20,
  /** Bit 21, supervisor-mode access prevention. */
  SMAP: 1 << 21,
  /** Bit 22, protection keys for user-mode pages. */
  PKE: 1 << 22,
  /** Bit 12, 5-level paging (57-bit linear addresses). */
  LA57: 1 << 12,
} as const;

/** IA32_EFER bits (SDM 3A 2.2.1). */
export const EFER = {
  /** Bit 0, SYSCALL enable. */
  SCE: 1 << 0,
  /** Bit 8, IA-32e mode enable. */
  LME: 1 << 8,
  /** Bit 10, IA-32e mode active (read-only: set when paging turns on with LME). */
  LMA: 1 << 10,
  /** Bit 11, execute-disable bit enable. */
  NXE: 1 << 11,
} as const;

/** MSRs the CPU itself implements (SDM 4, "Model-Specific Registers"). */
export const X86_MSR = {
  /** `0x10` */
  IA32_TIME_STAMP_COUNTER: 0x10,
  /** `0xc0000080` */
  IA32_EFER: 0xc000_0080,
} as const;

/** Exception vectors (SDM 3A 6.3.1, Table 6-1). */
export const VECTOR = {
  /** 0, divide error (fault). */
  DE: 0,
  /** 1, debug exception. */
  DB: 1,
  /** 2, non-maskable interrupt. */
  NMI: 2,
  /** 3, breakpoint (INT3, trap). */
  BP: 3,
  /** 6, invalid opcode (fault). */
  UD: 6,
  /** 8, double fault (abort, error code 0). */
  DF: 8,
  /** 10, invalid TSS (fault, error code). */
  TS: 10,
  /** 11, segment (or gate) not present (fault, error code). */
  NP: 11,
  /** 12, stack-segment fault (fault, error code). */
  SS: 12,
  /** 13, general protection (fault, error code). */
  GP: 13,
  /** 14, page fault (fault, error code, CR2 = the linear address). */
  PF: 14,
  /** 17, alignment check (fault, error code 0). */
  AC: 17,
  /** 18, machine check (abort). */
  MC: 18,
  /** 20, virtualization exception (EPT violation as #VE). */
  VE: 20,
  /** 21, control-protection exception (fault, error code). */
  CP: 21,
} as const;

/** Size of a 64-bit IDT gate descriptor (SDM 3A 6.14.1). */
export const GATE_SIZE = 16;

/** Fields of the dword at byte 4 of a 64-bit gate descriptor (SDM 3A 6.14.1, Figure 6-8). */
export const GATE_DWORD1 = {
  IST: bitRange(2, 0),
  TYPE: bitRange(11, 8),
  DPL: bitRange(14, 13),
  P: bitFlag(15),
} as const;

/** Gate types valid in IA-32e mode (SDM 3A 3.5, Table 3-2). */
export const GATE_TYPE = {
  /** `0xe` */
  INTERRUPT: 0xe,
  /** `0xf` */
  TRAP: 0xf,
} as const;

/** Error-code bits of an exception about a segment or gate (SDM 3A 6.13, Figure 6-6). */
export const SELECTOR_ERROR = {
  /** External event: the fault happened while delivering an event the program did not cause. */
  EXT: 1 << 0,
  /** The index refers to a gate descriptor in the IDT. */
  IDT: 1 << 1,
} as const;

/** Selectors the CPU pushes in interrupt frames: 64-bit code and stack segments of ring 0 (no GDT is modelled). */
export const KERNEL_SELECTOR = { CS: 0x10, SS: 0x18 } as const;
