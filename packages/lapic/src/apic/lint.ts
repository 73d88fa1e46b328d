/**
 * LINT0/LINT1 input pins (SDM 3A 11.5.1): the pin levels and the
 * through-mode of a globally disabled APIC (11.4.3: LINT0 is INTR, LINT1 is
 * NMI). Sampling through the LVT entries (edge, level, polarity, remote IRR,
 * ExtINT) is ApicCore.evaluateLint.
 */
import type { ApicCore } from './apic-core.js';
import { PENDING_SIGNAL } from './signals.js';

/** Drives the LINT0 (0) or LINT1 (1) pin (SDM 3A 11.5.1; 11.4.3 through-mode when the APIC is disabled). */
export function setLint(core: ApicCore, pin: number, level: boolean): void {
  const previous = core.lintLevel[pin]!;
  core.lintLevel[pin] = level;
  if (core.mode === 'disabled') {
    // With the APIC globally disabled LINT0 is INTR and LINT1 is NMI (SDM 3A 11.4.3).
    if (pin === 0) {
      if (level) core.signals |= PENDING_SIGNAL.EXTINT;
      else core.signals &= ~PENDING_SIGNAL.EXTINT;
      if (level) core.notify?.();
    } else if (level && !previous) {
      core.signals |= PENDING_SIGNAL.NMI;
      core.notify?.();
    }
    return;
  }
  core.evaluateLint(pin, previous);
}
