/**
 * One PE's EL1 timer context as a hypervisor switches it between vCPUs (KVM's
 * timer_save_state / timer_restore_state on vcpu_put / vcpu_load): the EL1
 * physical and virtual timers (Arm ARM D11.2.4), CNTVOFF_EL2 and CNTKCTL_EL1.
 */
import { UsageError, describeValue } from '@hvsim/core';

/**
 * One PE's EL1 timer context as a hypervisor switches it on vcpu_put /
 * vcpu_load: the EL1 physical and virtual timers, CNTVOFF_EL2 and
 * CNTKCTL_EL1, as 32-bit halves (JSON-safe, no bigint). CTL values are as
 * read (ISTATUS included); ISTATUS is ignored when loaded.
 */
export interface GenericTimerContext {
  /** CNTP_CTL_EL0. */
  cntpCtl: number;
  /** CNTP_CVAL_EL0 bits [31:0]. */
  cntpCvalLo: number;
  /** CNTP_CVAL_EL0 bits [63:32]. */
  cntpCvalHi: number;
  /** CNTV_CTL_EL0. */
  cntvCtl: number;
  /** CNTV_CVAL_EL0 bits [31:0]. */
  cntvCvalLo: number;
  /** CNTV_CVAL_EL0 bits [63:32]. */
  cntvCvalHi: number;
  /** CNTVOFF_EL2 bits [31:0]. */
  cntvoffLo: number;
  /** CNTVOFF_EL2 bits [63:32]. */
  cntvoffHi: number;
  /** CNTKCTL_EL1. */
  cntkctl: number;
}

const CONTEXT_FIELDS = ['cntpCtl', 'cntpCvalLo', 'cntpCvalHi', 'cntvCtl', 'cntvCvalLo', 'cntvCvalHi', 'cntvoffLo', 'cntvoffHi', 'cntkctl'] as const;

/** Throws a UsageError naming the first field of `context` that is not an unsigned 32-bit integer. */
export function checkContext(context: GenericTimerContext): void {
  if (typeof context !== 'object' || (context as unknown) === null) throw new UsageError('bad-argument', `timer context must be an object, got ${describeValue(context)}`);
  for (const f of CONTEXT_FIELDS) {
    const v = context[f];
    if (v >>> 0 !== v) throw new UsageError('bad-argument', `timer context ${f} must be an unsigned 32-bit integer, got ${describeValue(v)}`);
  }
}
