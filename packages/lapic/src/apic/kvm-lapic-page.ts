/**
 * The 1 KiB register image of KVM_GET_LAPIC / KVM_SET_LAPIC (struct
 * kvm_lapic_state, Linux Documentation/virt/kvm/api.rst): the first 0x400
 * bytes of the xAPIC page, each register's 32-bit value little-endian at its
 * offset. As in KVM: the timer current count is computed at export, and at
 * import the countdown resumes from it (then reloads from TMICT when
 * periodic); the ICR is split into
 * 0x300 (low) and 0x310 (high, the 32-bit destination in x2APIC mode). In
 * x2APIC mode the ID field holds the x2APIC ID shifted left by 24 unless
 * `x2apicFormat` (KVM_CAP_X2APIC_API) is set, then the plain 32-bit ID; the
 * LDR is always derived from the ID on import.
 */
import { UsageError, describeValue } from '@hvsim/core';
import type { ApicCore } from './apic-core.js';
import { readRegister } from './register-file.js';
import { APIC, APIC_RESET, LVT_INDEX, LVT_OFFSETS } from './regs.js';
import { ICR_LOW_WRITABLE } from './icr.js';
import { LVT_REMOTE_IRR } from './lvt.js';

/** Size of struct kvm_lapic_state. */
export const KVM_LAPIC_STATE_SIZE = 0x400;

const EXPORTED: readonly number[] = [
  APIC.ID,
  APIC.VERSION,
  APIC.TPR,
  APIC.APR,
  APIC.PPR,
  APIC.LDR,
  APIC.DFR,
  APIC.SVR,
  APIC.ESR,
  APIC.ICR_LOW,
  APIC.ICR_HIGH,
  ...LVT_OFFSETS,
  APIC.TIMER_INITIAL_COUNT,
  APIC.TIMER_CURRENT_COUNT,
  APIC.TIMER_DIVIDE_CONFIG,
];

/** Builds the KVM_GET_LAPIC register image of `core`. */
export function exportKvmLapicPage(core: ApicCore, x2apicFormat: boolean): Uint8Array {
  const bytes = new Uint8Array(KVM_LAPIC_STATE_SIZE);
  const view = new DataView(bytes.buffer);
  for (const off of EXPORTED) {
    if (off === APIC.LVT_CMCI && !core.hasCmci) continue;
    view.setUint32(off, readRegister(core, off), true);
  }
  const x2 = core.mode === 'x2apic';
  if (x2 && !x2apicFormat) view.setUint32(APIC.ID, (core.config.x2apicId << 24) >>> 0, true);
  view.setUint32(APIC.ICR_HIGH, core.icrHigh, true);
  for (let i = 0; i < 8; i++) {
    view.setUint32(APIC.ISR0 + i * 16, core.isr.words[i]!, true);
    view.setUint32(APIC.TMR0 + i * 16, core.tmr.words[i]!, true);
    view.setUint32(APIC.IRR0 + i * 16, core.irr.words[i]!, true);
  }
  return bytes;
}

/** Loads a KVM_SET_LAPIC register image into `core` and resumes its timer. */
export function importKvmLapicPage(core: ApicCore, bytes: Uint8Array, x2apicFormat: boolean): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== KVM_LAPIC_STATE_SIZE) {
    throw new UsageError('bad-argument', `a KVM lapic state must be a Uint8Array of ${KVM_LAPIC_STATE_SIZE} bytes, got ${describeValue(bytes)}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reg = (off: number): number => view.getUint32(off, true);
  const id = reg(APIC.ID);
  if (core.mode === 'x2apic') {
    // The x2APIC ID is read-only: with KVM_CAP_X2APIC_API's format a different ID is refused (-EINVAL);
    // without it the field is ignored, as KVM does for backwards compatibility (kvm_apic_state_fixup).
    if (x2apicFormat && id !== core.config.x2apicId) {
      throw new UsageError('bad-argument', `KVM lapic state has x2APIC ID ${describeValue(id)} but this APIC's ID is ${core.config.x2apicId} (the x2APIC ID is read-only)`);
    }
  } else {
    core.xapicId = id >>> 24;
  }
  core.tpr = reg(APIC.TPR) & 0xff;
  core.ldr = core.mode === 'x2apic' ? core.x2apicLdr : reg(APIC.LDR) & 0xff00_0000;
  core.dfr = (reg(APIC.DFR) | 0x0fff_ffff) >>> 0;
  core.svr = reg(APIC.SVR) & core.svrWritable;
  core.esr = reg(APIC.ESR) & 0xff;
  core.esrPending = 0;
  core.icrLow = (reg(APIC.ICR_LOW) & ICR_LOW_WRITABLE) >>> 0;
  core.icrHigh = core.mode === 'x2apic' ? reg(APIC.ICR_HIGH) : reg(APIC.ICR_HIGH) & 0xff00_0000;
  for (let i = 0; i < 7; i++) {
    const keep = i === LVT_INDEX.LINT0 || i === LVT_INDEX.LINT1 ? LVT_REMOTE_IRR : 0;
    core.lvt[i] = i === LVT_INDEX.CMCI && !core.hasCmci ? APIC_RESET.LVT : (reg(LVT_OFFSETS[i]!) & (core.lvtWritable(i) | keep)) >>> 0;
  }
  // Timer mode 11b is reserved: load it as one-shot.
  if (((core.lvt[LVT_INDEX.TIMER]! >>> 17) & 3) === 3) core.lvt[LVT_INDEX.TIMER] = core.lvt[LVT_INDEX.TIMER]! & ~(3 << 17);
  for (let i = 0; i < 8; i++) {
    // Vectors 0-15 are never set (SDM 3A 11.8.3).
    const legal = i === 0 ? 0xffff_0000 : 0xffff_ffff;
    core.isr.setWord(i, (reg(APIC.ISR0 + i * 16) & legal) >>> 0);
    core.tmr.setWord(i, (reg(APIC.TMR0 + i * 16) & legal) >>> 0);
    core.irr.setWord(i, (reg(APIC.IRR0 + i * 16) & legal) >>> 0);
  }
  core.timer.reset();
  core.timer.setMode((core.lvt[LVT_INDEX.TIMER]! >>> 17) & 3);
  core.timer.setDivideConfig(reg(APIC.TIMER_DIVIDE_CONFIG));
  core.timer.resumeCount(reg(APIC.TIMER_INITIAL_COUNT), reg(APIC.TIMER_CURRENT_COUNT));
  core.updatePpr();
  core.port?.apicChanged(core.owner);
  if (core.notify !== undefined && core.deliverableVector() >= 0) core.notify();
}
