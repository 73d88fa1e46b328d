/**
 * `@hvsim/gic/timer`: the Arm generic timer (Arm ARM DDI 0487 chapter D11):
 * per-PE physical, virtual and EL2 physical timers on one system counter,
 * driving PPIs 30, 27 and 26.
 *
 * @packageDocumentation
 */
export {
  /** Per-PE generic timers on one system counter derived from the core Clock. */
  GenericTimer,
} from './generic-timer.js';
export type {
  /** Construction options of GenericTimer. */
  GenericTimerOptions,
  /** Where a timer's output goes: `(cpu, intid, level)`. */
  TimerOutput,
  /** Exception level of a checked guest access, or undefined for the host. */
  TimerAccessLevel,
} from './generic-timer.js';
export type {
  /** One PE's EL1 timer context for a hypervisor's vcpu_put / vcpu_load. */
  GenericTimerContext,
} from './timer-context.js';
export type {
  /** Saved state of GenericTimer. */
  GenericTimerState,
  /** Saved state of one PE's timer registers. */
  GenericTimerCpuState,
  /** Saved state of one timer. */
  GenericTimerTimerState,
} from './timer-state.js';
export {
  /** Timer indices: CNTP 0, CNTV 1, CNTHP 2. */
  TIMER,
  /** Timer names indexed by timer index. */
  TIMER_NAMES,
  /** Default PPI of each timer (Arm BSA): CNTP 30, CNTV 27, CNTHP 26. */
  TIMER_PPI,
  /** CNTP_CTL_EL0 / CNTV_CTL_EL0 / CNTHP_CTL_EL2 fields. */
  CNT_CTL,
  /** CNTKCTL_EL1 fields. */
  CNTKCTL,
  /** CNTHCTL_EL2 fields with HCR_EL2.E2H 0. */
  CNTHCTL,
  /** CNTHCTL_EL2 fields with HCR_EL2.E2H 1. */
  CNTHCTL_E2H,
  /** The model's reset values of the timer registers. */
  TIMER_RESET,
  /** Default system counter frequency: 62.5 MHz. */
  DEFAULT_COUNTER_FREQUENCY_HZ,
  /** Default CPU clock rate: 2.5 GHz. */
  DEFAULT_CPU_FREQUENCY_HZ,
} from './regs.js';
export type {
  /** A timer index. */
  TimerId,
  /** A timer name: 'CNTP', 'CNTV' or 'CNTHP'. */
  TimerName,
} from './regs.js';
export {
  /** Numeric ids of the timer system registers (the number path). */
  TIMER_SYSREG,
  /** Every timer system register by name, with its encoding. */
  TIMER_SYSREGS,
  /** The timer system register id of an MRS/MSR encoding, or -1. */
  timerSysregId,
  /** The timer system register name of an MRS/MSR encoding, or undefined. */
  timerSysregName,
} from './sysregs.js';
export type {
  /** A timer system register name. */
  TimerSysregName,
  /** A timer system register id. */
  TimerSysregId,
  /** One timer system register with its encoding. */
  TimerSysregInfo,
} from './sysregs.js';
export {
  /** Outcomes of a timer register access check. */
  TIMER_ACCESS,
  /** Decides whether a guest MRS/MSR of a timer register at an EL is allowed, trapped or UNDEFINED. */
  checkTimerAccess,
  /** The ESR ISS of a trapped timer register access (EC 0x18). */
  sysregTrapIss,
} from './access.js';
export type {
  /** An outcome of checkTimerAccess. */
  TimerAccessOutcome,
} from './access.js';
