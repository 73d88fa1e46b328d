/**
 * LINT0/LINT1 input pins (SDM 3A 11.5.1): edge and level sampling, polarity,
 * remote IRR of level-triggered fixed entries, ExtINT following the pin, and
 * the through-mode of a globally disabled APIC (11.4.3: LINT0 is INTR, LINT1
 * is NMI).
 */
import { DELIVERY_MODE } from '@hvsim/core';
import type { ApicCore } from './apic-core.js';
import { PENDING_SIGNAL } from './signals.js';
import { LVT_MASK, LVT_REMOTE_IRR, lvtActiveLow, lvtDeliveryMode, lvtIsLevel } from './lvt.js';
import { LVT_INDEX } from './regs.js';

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
  evaluateLint(core, pin, previous);
}

/** Re-evaluates a LINT pin after its level or LVT entry changed. */
export function evaluateLint(core: ApicCore, pin: number, previousLevel: boolean): void {
  const index = pin === 0 ? LVT_INDEX.LINT0 : LVT_INDEX.LINT1;
  const entry = core.lvt[index]!;
  const activeLow = lvtActiveLow(entry);
  const asserted = core.lintLevel[pin] !== activeLow;
  const wasAsserted = previousLevel !== activeLow;
  if (lvtDeliveryMode(index, entry) === DELIVERY_MODE.EXTINT) {
    // ExtINT is level-sensitive: INTR follows the pin (SDM 3A 11.5.1).
    if (asserted) {
      if ((entry & LVT_MASK) === 0) core.raiseLvt(index);
    } else {
      core.signals &= ~PENDING_SIGNAL.EXTINT;
    }
    return;
  }
  if (lvtIsLevel(index, entry)) {
    if (asserted) core.raiseLvt(index);
    return;
  }
  if (asserted && !wasAsserted) core.raiseLvt(index);
}

/** EOI of a level vector clears the remote IRR of a LINT entry with that vector and re-samples the pin. */
export function lintEoi(core: ApicCore, vector: number): void {
  for (let pin = 0; pin < 2; pin++) {
    const index = pin === 0 ? LVT_INDEX.LINT0 : LVT_INDEX.LINT1;
    const entry = core.lvt[index]!;
    if ((entry & LVT_REMOTE_IRR) !== 0 && (entry & 0xff) === vector) {
      core.lvt[index] = entry & ~LVT_REMOTE_IRR;
      evaluateLint(core, pin, core.lintLevel[pin]!);
    }
  }
}
