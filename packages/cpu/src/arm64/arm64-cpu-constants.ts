/**
 * Constants the layers of the arm64 CPU share (arm64-cpu-state.ts,
 * exception-entry.ts, instructions.ts, arm64-cpu.ts). Each layer copies what
 * it reads into module-local constants: under Node's ESM loader every use of
 * an imported binding is a getter call (see x86-cpu-state.ts).
 */
import { TIMER_SYSREGS, sysregEncoding } from '@hvsim/gic';
import { ARM64_SYSREG as SYSREG, EL0_SYSREGS, READ_ONLY_SYSREGS } from './sysregs.js';

const TWO_32 = 0x1_0000_0000;
/** Interrupt inputs, as bits of `lines`. */
const LINE_IRQ = 1;
const LINE_FIQ = 2;
const LINE_VIRQ = 4;
const LINE_VFIQ = 8;
/** `delivered` index of IRQ and FIQ entries (synchronous exceptions count under their EC, 0x00-0x3f). */
const DELIVERED_IRQ = 0x40;
const DELIVERED_FIQ = 0x41;
/** What a WFx is waiting for. */
const WAIT_NONE = 0;
const WAIT_WFI = 1;
const WAIT_WFE = 2;
/** The pseudo-operation of a frame whose first instruction fetch faulted (it is fetched again). */
const FETCH = 0;
/** SCTLR_EL1 bits read by the CPU: nTWI (16), nTWE (18), UMA (9). */
const SCTLR_NTWI = 1 << 16;
const SCTLR_NTWE = 1 << 18;
const SCTLR_UMA = 1 << 9;
/** HCR_EL2 bits this model cannot honour (TGE 27, E2H 34, NV 42): a host that sets them is told. */
const HCR_UNSUPPORTED: readonly [number, string][] = [
  [27, 'TGE'],
  [34, 'E2H'],
  [42, 'NV'],
];
const NO_ROUTING = Object.freeze({ imo: false, fmo: false });
const OPTION_NAMES = new Set(['memory', 'program', 'mmio', 'gic', 'timer', 'mmu', 'clock', 'costs', 'cpu', 'midr', 'tracer', 'onSev', 'snapshots']);
const PA_RANGE: Readonly<Record<number, number>> = { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5 };

/** Generic timer register id per encoding (-1: not a timer register), built once. */
const TIMER_ID_BY_ENCODING: Int8Array = (() => {
  const a = new Int8Array(0x1_0000).fill(-1);
  for (const info of TIMER_SYSREGS.values()) a[sysregEncoding(info.op0, info.op1, info.crn, info.crm, info.op2)] = info.id;
  return a;
})();

/** The CPU's own registers kept as 32-bit halves, by slot. */
const STORED: readonly number[] = [SYSREG.SCTLR_EL1, SYSREG.TTBR0_EL1, SYSREG.TTBR1_EL1, SYSREG.TCR_EL1, SYSREG.MAIR_EL1, SYSREG.SP_EL0, SYSREG.CONTEXTIDR_EL1, SYSREG.TPIDR_EL1, SYSREG.TPIDR_EL0, SYSREG.NZCV];
const SLOT_BY_ENCODING: Int8Array = (() => {
  const a = new Int8Array(0x1_0000).fill(-1);
  STORED.forEach((e, i) => (a[e] = i));
  return a;
})();
const SLOT_SCTLR = 0;

/**
 * `SYSREG_FLAGS` bits: the register is accessible at EL0 / is read-only (MSR to it is UNDEFINED) / is one of the
 * PE's own (ARM64_SYSREG); any other encoding goes straight to the timer or the GIC.
 */
const SYSREG_EL0 = 1;
const SYSREG_READ_ONLY = 2;
const SYSREG_OWN = 4;
/** Per encoding, the flags above (a table index where a Set lookup cost a tenth of an MSR). */
const SYSREG_FLAGS: Uint8Array = (() => {
  const a = new Uint8Array(0x1_0000);
  for (const e of EL0_SYSREGS) a[e]! |= SYSREG_EL0;
  for (const e of READ_ONLY_SYSREGS) a[e]! |= SYSREG_READ_ONLY;
  for (const e of Object.values(SYSREG)) a[e]! |= SYSREG_OWN;
  return a;
})();

/** Every constant above, for destructuring into module-local constants. */
export const ARM64_CPU_CONSTANTS = Object.freeze({
  TWO_32,
  LINE_IRQ,
  LINE_FIQ,
  LINE_VIRQ,
  LINE_VFIQ,
  DELIVERED_IRQ,
  DELIVERED_FIQ,
  WAIT_NONE,
  WAIT_WFI,
  WAIT_WFE,
  FETCH,
  SCTLR_NTWI,
  SCTLR_NTWE,
  SCTLR_UMA,
  HCR_UNSUPPORTED,
  NO_ROUTING,
  OPTION_NAMES,
  PA_RANGE,
  TIMER_ID_BY_ENCODING,
  STORED,
  SLOT_BY_ENCODING,
  SLOT_SCTLR,
  SYSREG_EL0,
  SYSREG_READ_ONLY,
  SYSREG_OWN,
  SYSREG_FLAGS,
});
