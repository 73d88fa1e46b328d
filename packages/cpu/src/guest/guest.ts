/**
 * What guest code is written against: a builder whose methods fill the CPU's
 * reused operation record and return it for the guest to `yield`, and the
 * registers that hold the parts of a result that do not fit one number.
 *
 * ```ts
 * function* main(g: X86Guest) {
 *   const v = yield g.ld32(0x1000);     // a guest-virtual load through the MMU
 *   yield g.st32(0x1004, v + 1);
 *   yield g.compute(200);               // pure work, charged as cycles
 * }
 * ```
 *
 * Values are truncated to the access size, as a register would be. 64-bit
 * values are numbers below 2^53, or two 32-bit halves in the `*Halves` forms;
 * a negative 32-bit number (what `|` and `<<` give for bit 31) counts as
 * unsigned.
 */
import { UsageError, describeValue } from '@hvsim/core';
import type { ArmTlbiOp } from '@hvsim/mmu';
import { arm64SysregByName } from '../arm64/sysregs.js';
import { tlbiOpNumber } from '../arm64/tlbi-ops.js';
import { OP as IMPORTED_OP, Op } from './ops.js';

// A module-local copy: every builder reads it, and an imported binding is a getter call under Node's ESM loader.
const OP = IMPORTED_OP;
const TWO_32 = 0x1_0000_0000;

/**
 * Splits a number below 2^53 into the op's `b` (bits 31:0) and `c` (bits
 * 63:32). A negative 32-bit value, as JavaScript's bitwise operators produce
 * (`CR0.PE | CR0.PG`), is read as unsigned 32-bit.
 */
function setValue64(op: Op, value: number): void {
  if (value < 0 && value >= -0x8000_0000) value = value >>> 0;
  const lo = value >>> 0;
  op.b = lo;
  op.c = value >= 0 && value < TWO_32 ? 0 : Math.floor((value - lo) / TWO_32) >>> 0;
}

/** A 64-bit register value given as a number: a negative 32-bit number (what `|` gives for bit 31) reads as unsigned. */
function register64(value: number): number {
  return value < 0 && value >= -0x8000_0000 ? value >>> 0 : value;
}

/** The operations and result registers every architecture has. */
export class Guest {
  /** The record every builder fills (one per CPU). */
  readonly op = new Op();
  /** Bits 31:0 of the last 64-bit result (LOAD of 8, RDMSR, RDTSC, MOV from CR). */
  lo = 0;
  /** Bits 63:32 of the last 64-bit result. */
  hi = 0;
  /**
   * -1, except while a restored CPU re-creates code that had passed a
   * checkpoint: then the label of that checkpoint, and the code must go
   * straight to `yield g.checkpoint(label)` (skipping what it did before it).
   */
  restoreLabel = -1;

  protected set(code: number, size: number, a: number, b = 0, c = 0): Op {
    const op = this.op;
    op.code = code;
    op.size = size;
    op.a = a;
    op.b = b;
    op.c = c;
    return op;
  }

  /** Loads a byte from guest-virtual `va`. */
  ld8(va: number): Op {
    return this.set(OP.LOAD, 1, va);
  }

  /** Loads 2 bytes from guest-virtual `va`. */
  ld16(va: number): Op {
    return this.set(OP.LOAD, 2, va);
  }

  /** Loads 4 bytes from guest-virtual `va`. */
  ld32(va: number): Op {
    return this.set(OP.LOAD, 4, va);
  }

  /** Loads 8 bytes from guest-virtual `va` (result `lo + hi * 2^32`; exact halves in `lo`/`hi`). */
  ld64(va: number): Op {
    return this.set(OP.LOAD, 8, va);
  }

  /** Stores a byte at guest-virtual `va`. */
  st8(va: number, value: number): Op {
    return this.set(OP.STORE, 1, va, value & 0xff);
  }

  /** Stores 2 bytes at guest-virtual `va`. */
  st16(va: number, value: number): Op {
    return this.set(OP.STORE, 2, va, value & 0xffff);
  }

  /** Stores 4 bytes at guest-virtual `va`. */
  st32(va: number, value: number): Op {
    return this.set(OP.STORE, 4, va, value >>> 0);
  }

  /** Stores 8 bytes (a number below 2^53) at guest-virtual `va`. */
  st64(va: number, value: number): Op {
    const op = this.set(OP.STORE, 8, va);
    setValue64(op, value);
    return op;
  }

  /** Stores 8 bytes given as halves at guest-virtual `va`. */
  st64Halves(va: number, lo: number, hi: number): Op {
    return this.set(OP.STORE, 8, va, lo >>> 0, hi >>> 0);
  }

  /**
   * A checkpoint (no architectural effect; it costs what an operation costs): everything the code
   * did before it need not be replayed on restore. Put one at the head of an
   * idle loop whose locals do not matter, and start the code with
   * `if (g.restoreLabel !== LABEL) { ...set-up... }`.
   */
  checkpoint(label = 0): Op {
    return this.set(OP.CHECKPOINT, 0, label);
  }

  /** Pure computation for `cycles` cycles (no architectural effect). */
  compute(cycles: number): Op {
    return this.set(OP.COMPUTE, 0, cycles);
  }
}

/** The x86 guest interface: {@link Guest} plus the x86 instructions. */
export class X86Guest extends Guest {
  /** EAX of the last CPUID (also the result). */
  eax = 0;
  /** EBX of the last CPUID. */
  ebx = 0;
  /** ECX of the last CPUID. */
  ecx = 0;
  /** EDX of the last CPUID. */
  edx = 0;

  /** IN of `size` bytes from `port`. */
  in(port: number, size: 1 | 2 | 4 = 1): Op {
    return this.set(OP.IN, size, port);
  }

  /** OUT of `size` bytes of `value` to `port`. */
  out(port: number, value: number, size: 1 | 2 | 4 = 1): Op {
    return this.set(OP.OUT, size, port, value >>> 0);
  }

  /** RDMSR (result as a 64-bit load). */
  rdmsr(msr: number): Op {
    return this.set(OP.RDMSR, 8, msr);
  }

  /** WRMSR of a number below 2^53. */
  wrmsr(msr: number, value: number): Op {
    const op = this.set(OP.WRMSR, 8, msr);
    setValue64(op, value);
    return op;
  }

  /** WRMSR of EDX:EAX given as halves. */
  wrmsrHalves(msr: number, lo: number, hi: number): Op {
    return this.set(OP.WRMSR, 8, msr, lo >>> 0, hi >>> 0);
  }

  /** CPUID of `leaf` (and `subleaf`): EAX is the result, all four registers in `eax..edx`. */
  cpuid(leaf: number, subleaf = 0): Op {
    return this.set(OP.CPUID, 0, leaf >>> 0, subleaf >>> 0);
  }

  /** CLI: clear RFLAGS.IF. */
  cli(): Op {
    return this.set(OP.CLI, 0, 0);
  }

  /** STI: set RFLAGS.IF; interrupts stay blocked for one more instruction. */
  sti(): Op {
    return this.set(OP.STI, 0, 0);
  }

  /** HLT: wait for an interrupt. */
  hlt(): Op {
    return this.set(OP.HLT, 0, 0);
  }

  /** IRETQ: return from an interrupt or exception handler. */
  iret(): Op {
    return this.set(OP.IRET, 0, 0);
  }

  /** MOV to CR0, CR3, CR4 or CR8 of a number below 2^53. */
  movToCr(cr: 0 | 3 | 4 | 8, value: number): Op {
    const op = this.set(OP.MOV_TO_CR, 8, cr);
    setValue64(op, value);
    return op;
  }

  /** MOV from CR0, CR2, CR3, CR4 or CR8 (result as a 64-bit load). */
  movFromCr(cr: 0 | 2 | 3 | 4 | 8): Op {
    return this.set(OP.MOV_FROM_CR, 8, cr);
  }

  /** INVLPG of guest-virtual `va`. */
  invlpg(va: number): Op {
    return this.set(OP.INVLPG, 0, va);
  }

  /** LIDT: the IDT at linear `base` with `limit` (bytes - 1). */
  lidt(base: number, limit: number): Op {
    return this.set(OP.LIDT, 0, base, limit & 0xffff);
  }

  /** MOV to SS: interrupts, NMIs and debug traps wait one instruction. */
  movSs(): Op {
    return this.set(OP.MOV_SS, 0, 0);
  }

  /** INT n: a software interrupt through IDT gate `vector`. */
  int(vector: number): Op {
    return this.set(OP.INT, 0, vector & 0xff);
  }

  /** UD2: raises #UD. */
  ud2(): Op {
    return this.set(OP.UD2, 0, 0);
  }

  /** Unsigned 32-bit DIV of `dividend` by `divisor` (result: the quotient; #DE on 0). */
  div(dividend: number, divisor: number): Op {
    return this.set(OP.DIV, 4, dividend >>> 0, divisor >>> 0);
  }

  /** RDTSC (result as a 64-bit load). */
  rdtsc(): Op {
    return this.set(OP.RDTSC, 8, 0);
  }

  /** VMCALL with hypercall number `nr` in RAX (result: RAX after it). */
  vmcall(nr: number): Op {
    return this.set(OP.VMCALL, 0, nr >>> 0);
  }

  /** MOV from RSP: the stack pointer (an interrupt frame starts there in a handler). */
  rsp(): Op {
    return this.set(OP.READ_RSP, 0, 0);
  }

  /** ADD `delta` to RSP; a handler of an exception with an error code does `addRsp(8)` before IRET (SDM 3A 6.14.2). */
  addRsp(delta: number): Op {
    return this.set(OP.ADD_RSP, 0, delta);
  }

  /** PAUSE (a spin-wait hint). */
  pause(): Op {
    return this.set(OP.PAUSE, 0, 0);
  }
}

/**
 * The arm64 guest interface: {@link Guest} plus the A64 system instructions.
 * System registers are named by encoding (fastest: look it up once, e.g.
 * `const IAR1 = arm64SysregByName('ICC_IAR1_EL1')`) or by name (a map lookup
 * per call).
 */
export class Arm64Guest extends Guest {
  /**
   * X0-X3 as the hypervisor returned them from the last HVC (SMCCC results,
   * Arm DEN 0028 2.5), as numbers: a register whose bit 63 is set reads as
   * the negative two's-complement value (PSCI's error codes are -1, -2...).
   */
  readonly hvcResults = new Float64Array(4);

  private static encodingOf(reg: number | string): number {
    if (typeof reg === 'number') {
      if (!Number.isInteger(reg) || reg < 0 || reg > 0xffff) throw new UsageError('bad-argument', `system register encoding must be an integer in [0, 0xffff], got ${describeValue(reg)}`);
      return reg;
    }
    return arm64SysregByName(reg);
  }

  /** MRS: reads a system register (result as a 64-bit load: `lo + hi * 2^32`, halves in `lo`/`hi`). */
  mrs(reg: number | string): Op {
    return this.set(OP.MRS, 8, Arm64Guest.encodingOf(reg));
  }

  /** MSR of a number below 2^53 to a system register. */
  msr(reg: number | string, value: number): Op {
    const op = this.set(OP.MSR, 8, Arm64Guest.encodingOf(reg));
    setValue64(op, value);
    return op;
  }

  /** MSR of a value given as 32-bit halves. */
  msrHalves(reg: number | string, lo: number, hi: number): Op {
    return this.set(OP.MSR, 8, Arm64Guest.encodingOf(reg), lo >>> 0, hi >>> 0);
  }

  /** MSR DAIFSet, #mask (bit 3 D, 2 A, 1 I, 0 F): `daifSet(2)` masks IRQs. */
  daifSet(mask: number): Op {
    return this.set(OP.DAIF_SET, 0, mask & 0xf);
  }

  /** MSR DAIFClr, #mask: `daifClr(2)` unmasks IRQs. */
  daifClr(mask: number): Op {
    return this.set(OP.DAIF_CLR, 0, mask & 0xf);
  }

  /** WFI: wait for an interrupt. */
  wfi(): Op {
    return this.set(OP.WFI, 0, 0);
  }

  /** WFE: wait for an event (or an interrupt). */
  wfe(): Op {
    return this.set(OP.WFE, 0, 0);
  }

  /** SEV: sends an event to every PE. */
  sev(): Op {
    return this.set(OP.SEV, 0, 0);
  }

  /** SEVL: sets this PE's event register. */
  sevl(): Op {
    return this.set(OP.SEVL, 0, 0);
  }

  /** ERET: return from an exception handler (ELR_EL1, SPSR_EL1). */
  eret(): Op {
    return this.set(OP.ERET, 0, 0);
  }

  /** SVC #imm16: a supervisor call. */
  svc(imm16: number): Op {
    return this.set(OP.SVC, 0, imm16 & 0xffff);
  }

  /**
   * HVC #imm16: a hypervisor call with the SMCCC argument registers X0-X3
   * (Arm DEN 0028 2.5: function ID in X0, arguments from X1; numbers below
   * 2^53, a negative 32-bit number read as unsigned). Result: X0 as the
   * hypervisor left it (exact halves in `lo`/`hi`); X0-X3 in
   * {@link hvcResults}.
   */
  hvc(imm16: number, x0 = 0, x1 = 0, x2 = 0, x3 = 0): Op {
    const op = this.set(OP.HVC, 0, imm16 & 0xffff, register64(x0), register64(x1));
    op.d = register64(x2);
    op.e = register64(x3);
    return op;
  }

  /** SMC #imm16: a secure monitor call. */
  smc(imm16: number): Op {
    return this.set(OP.SMC, 0, imm16 & 0xffff);
  }

  /** TLBI `op` (e.g. `'VAE1IS'`) with operand Xt (a number below 2^53). */
  tlbi(op: ArmTlbiOp, xt = 0): Op {
    const rec = this.set(OP.TLBI, 0, tlbiOpNumber(op));
    setValue64(rec, xt);
    return rec;
  }

  /** ISB. */
  isb(): Op {
    return this.set(OP.ISB, 0, 0);
  }

  /** DSB with option `option` (default SY, 0b1111). */
  dsb(option = 0b1111): Op {
    return this.set(OP.DSB, 0, option & 0xf);
  }

  /** DMB with option `option` (default SY). */
  dmb(option = 0b1111): Op {
    return this.set(OP.DMB, 0, option & 0xf);
  }

  /** UDF #imm16: permanently UNDEFINED. */
  udf(imm16 = 0): Op {
    return this.set(OP.UDF, 0, imm16 & 0xffff);
  }
}
