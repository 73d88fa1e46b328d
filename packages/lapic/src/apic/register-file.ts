/**
 * Register semantics shared by the two software views (SDM 3A Table 11-1 and
 * 11.12.1.2): the xAPIC page (xapic-mmio.ts) and the x2APIC MSRs
 * (x2apic-msr.ts) check and translate an access, then read or write here.
 */
import { APIC_REG, LVT_INDEX } from './regs.js';
import type { ApicCore } from './apic-core.js';
import { ICR_HIGH_WRITABLE, ICR_LOW_WRITABLE, sendIpi, selfIpi } from './icr.js';
import { LVT_MASK, LVT_READ_ONLY, LVT_REMOTE_IRR, lvtIndexOf, lvtIsLevel } from './lvt.js';

/** Reads the register at `offset` (a multiple of 16 the caller has checked exists in this mode). */
export function readRegister(core: ApicCore, offset: number): number {
  switch (offset) {
    case APIC_REG.APIC_ID:
      return core.mode === 'x2apic' ? core.config.x2apicId : (core.xapicId << 24) >>> 0;
    case APIC_REG.APIC_VERSION:
      return core.versionRegister;
    case APIC_REG.APIC_TPR:
      return core.tpr;
    case APIC_REG.APIC_APR:
      // APR is not supported since the Pentium 4 (SDM 3A Table 11-1 note 1): reads 0, writes ignored without an ESR error.
      return 0;
    case APIC_REG.APIC_PPR:
      return core.ppr;
    case APIC_REG.APIC_LDR:
      return core.ldr;
    case APIC_REG.APIC_DFR:
      return core.dfr;
    case APIC_REG.APIC_SVR:
      return core.svr;
    case APIC_REG.APIC_ESR:
      return core.esr;
    case APIC_REG.APIC_ICR_LOW:
      // Delivery is instantaneous here, so the delivery status (bit 12) always reads idle.
      return core.icrLow;
    case APIC_REG.APIC_ICR_HIGH:
      return core.icrHigh;
    case APIC_REG.APIC_TIMER_INITIAL_COUNT:
      return core.timer.initial;
    case APIC_REG.APIC_TIMER_CURRENT_COUNT:
      return core.timer.currentCount();
    case APIC_REG.APIC_TIMER_DIVIDE_CONFIG:
      return core.timer.divide;
    default: {
      const lvt = lvtIndexOf(offset);
      if (lvt >= 0) return core.lvt[lvt]!;
      if (offset >= APIC_REG.APIC_ISR0 && offset < APIC_REG.APIC_ESR) {
        const block = offset < APIC_REG.APIC_TMR0 ? core.isr : offset < APIC_REG.APIC_IRR0 ? core.tmr : core.irr;
        return block.words[(offset >>> 4) & 7]!;
      }
      // EOI, RRD and SELF IPI read as zero.
      return 0;
    }
  }
}

/** Writes the register at `offset` with a 32-bit value (the views have checked access and reserved bits). */
export function writeRegister(core: ApicCore, offset: number, value: number): void {
  switch (offset) {
    case APIC_REG.APIC_ID:
      // Writable in xAPIC mode (kvm-unit-tests apic.c test_apic_id); the views refuse it in x2APIC mode.
      core.xapicId = value >>> 24;
      core.port?.apicChanged(core.owner);
      return;
    case APIC_REG.APIC_TPR:
      core.setTpr(value);
      return;
    case APIC_REG.APIC_EOI:
      core.eoi();
      return;
    case APIC_REG.APIC_LDR:
      core.ldr = (value & 0xff00_0000) >>> 0;
      core.port?.apicChanged(core.owner);
      return;
    case APIC_REG.APIC_DFR:
      // Only the model field 31:28 is writable; 27:0 read as 1s (SDM 3A Figure 11-14).
      core.dfr = (value | 0x0fff_ffff) >>> 0;
      core.port?.apicChanged(core.owner);
      return;
    case APIC_REG.APIC_SVR:
      writeSvr(core, value);
      return;
    case APIC_REG.APIC_ESR:
      // Write latches the errors seen since the last write (SDM 3A 11.5.3).
      core.esr = core.esrPending;
      core.esrPending = 0;
      return;
    case APIC_REG.APIC_ICR_LOW:
      core.icrLow = (value & ICR_LOW_WRITABLE) >>> 0;
      sendIpi(core, core.icrLow, core.mode === 'x2apic' ? core.icrHigh : core.icrHigh >>> 24);
      return;
    case APIC_REG.APIC_ICR_HIGH:
      core.icrHigh = (value & ICR_HIGH_WRITABLE) >>> 0;
      return;
    case APIC_REG.APIC_TIMER_INITIAL_COUNT:
      core.timer.setInitialCount(value);
      return;
    case APIC_REG.APIC_TIMER_DIVIDE_CONFIG:
      core.timer.setDivideConfig(value);
      return;
    case APIC_REG.APIC_SELF_IPI:
      selfIpi(core, value & 0xff);
      return;
    default: {
      const lvt = lvtIndexOf(offset);
      // Read-only registers: writes have no effect.
      if (lvt >= 0) writeLvt(core, lvt, value);
      return;
    }
  }
}

function writeSvr(core: ApicCore, value: number): void {
  core.svr = value & core.svrWritable;
  // Software disable sets every LVT mask (SDM 3A 11.4.7.2).
  if (!core.softwareEnabled) for (let i = 0; i < 7; i++) core.lvt[i] = core.lvt[i]! | LVT_MASK;
}

function writeLvt(core: ApicCore, index: number, value: number): void {
  const old = core.lvt[index]!;
  let v = value & core.lvtWritable(index);
  if (index === LVT_INDEX.TIMER && ((v >>> 17) & 3) === 3) {
    // Timer mode 11b is reserved: keep the current mode.
    v = (v & ~(3 << 17)) | (old & (3 << 17));
  }
  // While software-disabled the mask bits cannot be cleared (SDM 3A 11.4.7.2).
  if (!core.softwareEnabled) v |= LVT_MASK;
  v |= old & LVT_READ_ONLY[index]! & LVT_REMOTE_IRR;
  core.lvt[index] = v >>> 0;
  if (index === LVT_INDEX.TIMER) core.timer.setMode((v >>> 17) & 3);
  else if (index === LVT_INDEX.LINT0 || index === LVT_INDEX.LINT1) {
    const pin = index === LVT_INDEX.LINT0 ? 0 : 1;
    if (!lvtIsLevel(index, v)) core.lvt[index] = (v & ~LVT_REMOTE_IRR) >>> 0;
    // Unmasking a level-asserted pin delivers it (it is still asserted).
    if ((old & LVT_MASK) !== 0 && (v & LVT_MASK) === 0) core.evaluateLint(pin, core.lintLevel[pin]!);
  }
}
