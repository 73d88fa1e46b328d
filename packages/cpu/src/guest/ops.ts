/**
 * The operation protocol between guest code and a CPU model. Guest code is a
 * generator that yields one architectural operation at a time; each operation
 * is a small numeric record (code plus operands), reused from one operation
 * to the next so that running guest code allocates nothing. The CPU executes
 * the operation and resumes the generator with its result.
 */

/**
 * Operation codes. x86 and arm64 share the memory, compute and control codes;
 * the others belong to one architecture and are a #UD / UNDEFINED on the other.
 */
export const OP = {
  /** Load `size` bytes from guest-virtual `a`; result: the value (64-bit: `lo + hi * 2^32`, exact halves in `Guest.lo/hi`). */
  LOAD: 1,
  /** Store `size` bytes of `b` (and `c`, bits 63:32, for 8 bytes) at guest-virtual `a`. */
  STORE: 2,
  /** Pure work: charge `a` cycles. */
  COMPUTE: 3,
  /** x86 IN from port `a`, `size` bytes; result: the value. */
  IN: 10,
  /** x86 OUT of `b` to port `a`, `size` bytes. */
  OUT: 11,
  /** x86 RDMSR of MSR `a`; result as LOAD of 8 bytes. */
  RDMSR: 12,
  /** x86 WRMSR of `b` (bits 31:0) and `c` (bits 63:32) to MSR `a`. */
  WRMSR: 13,
  /** x86 CPUID leaf `a`, subleaf `b`; result: EAX, all four in `Guest.eax..edx`. */
  CPUID: 14,
  /** x86 CLI. */
  CLI: 15,
  /** x86 STI (blocks interrupts for one more instruction when it sets IF). */
  STI: 16,
  /** x86 HLT. */
  HLT: 17,
  /** x86 IRETQ. */
  IRET: 18,
  /** x86 MOV to CR`a` of `b` (bits 31:0) and `c` (bits 63:32). */
  MOV_TO_CR: 19,
  /** x86 MOV from CR`a`; result as LOAD of 8 bytes. */
  MOV_FROM_CR: 20,
  /** x86 INVLPG of guest-virtual `a`. */
  INVLPG: 21,
  /** x86 LIDT: base `a`, limit `b`. */
  LIDT: 22,
  /** x86 MOV to SS (or POP SS): blocks interrupts, NMIs and debug traps for one instruction. */
  MOV_SS: 23,
  /** x86 INT `a` (a software interrupt). */
  INT: 24,
  /** x86 UD2: always raises #UD. */
  UD2: 25,
  /** x86 DIV of `a` by `b` (unsigned 32-bit); result: the quotient; #DE when `b` is 0 or the quotient overflows. */
  DIV: 26,
  /** x86 RDTSC; result as LOAD of 8 bytes. */
  RDTSC: 27,
  /** x86 VMCALL with `a` in RAX (hypercall number); result: RAX on return. */
  VMCALL: 28,
  /** x86 PAUSE. */
  PAUSE: 29,
  /** x86 MOV from RSP; result: RSP. */
  READ_RSP: 30,
  /** x86 ADD to RSP of `a` (signed), e.g. to discard an exception's error code before IRETQ. */
  ADD_RSP: 31,
  /**
   * A checkpoint with label `a` (no architectural effect): the code promises
   * that, re-created with `Guest.restoreLabel` set to `a`, it goes straight
   * to this checkpoint; a restore then replays only what came after it.
   */
  CHECKPOINT: 32,
  /** arm64 MRS of the system register with encoding `a` (op0 << 14 | op1 << 11 | CRn << 7 | CRm << 3 | op2); result as LOAD of 8 bytes. */
  MRS: 40,
  /** arm64 MSR of `b` (bits 31:0) and `c` (bits 63:32) to the system register with encoding `a`. */
  MSR: 41,
  /** arm64 MSR DAIFSet, #`a` (bit 3 D, 2 A, 1 I, 0 F). */
  DAIF_SET: 42,
  /** arm64 MSR DAIFClr, #`a`. */
  DAIF_CLR: 43,
  /** arm64 WFI. */
  WFI: 44,
  /** arm64 WFE. */
  WFE: 45,
  /** arm64 SEV (an event to every PE of the machine). */
  SEV: 46,
  /** arm64 SEVL (an event to this PE). */
  SEVL: 47,
  /** arm64 ERET. */
  ERET: 48,
  /** arm64 SVC #`a`. */
  SVC: 49,
  /**
   * arm64 HVC #`a` (bits 15:0) with the SMCCC argument registers X0 in `b`,
   * X1 in `c`, X2 in `d`, X3 in `e` (numbers below 2^53); result: X0 as the
   * hypervisor left it, X0-X3 in `Arm64Guest.hvcResults`.
   */
  HVC: 50,
  /** arm64 SMC #`a`. */
  SMC: 51,
  /** arm64 TLBI: operation `a` (an index into `ARM64_TLBI_OPS`), Xt halves `b` (31:0) and `c` (63:32). */
  TLBI: 52,
  /** arm64 ISB. */
  ISB: 53,
  /** arm64 DSB (option `a`). */
  DSB: 54,
  /** arm64 DMB (option `a`). */
  DMB: 55,
  /** arm64 UDF #`a`: always UNDEFINED. */
  UDF: 56,
} as const;

/** A numeric operation code. */
export type OpCode = (typeof OP)[keyof typeof OP];

/** Names of the operation codes, for traces, statistics and messages. */
export const OP_NAME: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(OP).map(([name, code]) => [code, name.toLowerCase()])),
);

/**
 * One operation, as guest code yields it. The same record is filled again for
 * every operation of a CPU: read it before yielding the next one.
 */
export class Op {
  /** An {@link OP} code. */
  code = 0;
  /** Access size in bytes (1, 2, 4 or 8) for LOAD, STORE, IN, OUT. */
  size = 0;
  /** First operand (address, port, MSR index, cycles, vector...). */
  a = 0;
  /** Second operand (value bits 31:0, subleaf, limit...). */
  b = 0;
  /** Third operand (value bits 63:32). */
  c = 0;
  /** Fourth operand (X2 of an HVC; only the operations that say so set it). */
  d = 0;
  /** Fifth operand (X3 of an HVC; only the operations that say so set it). */
  e = 0;

  /** Copies another record's fields into this one. */
  copyFrom(other: Op): void {
    this.code = other.code;
    this.size = other.size;
    this.a = other.a;
    this.b = other.b;
    this.c = other.c;
    this.d = other.d;
    this.e = other.e;
  }
}
