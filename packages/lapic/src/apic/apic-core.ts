/**
 * The local APIC's state (SDM 3A chapter 11) and what every source shares:
 * acceptance into IRR or the processor signals, priority (PPR/APR), the
 * INTA cycle, EOI, errors and LVT delivery. Register semantics live in
 * register-file.ts, the views in xapic-mmio.ts and x2apic-msr.ts, LINT pins
 * in lint.ts, IPIs in icr.ts. Internal: the public face is LocalApic.
 */
import { DELIVERY_MODE, type Clock, type InterruptNotifier, type Tracer } from '@hvsim/core';
import type { ApicBusMessage, ApicBusPort } from '../bus/apic-message.js';
import { emptyMessage } from '../bus/apic-message.js';
import type { LocalApic } from './local-apic.js';
import type { ApicMode } from './apic-base.js';
import { lintEoi } from './lint.js';
import { LVT_MASK, LVT_REMOTE_IRR, LVT_WRITABLE, isReservedLvtDeliveryMode, lvtDeliveryMode, lvtIsLevel } from './lvt.js';
import { computeApr, computePpr } from './priority.js';
import { APIC_DEFAULT_BASE, APIC_RESET, ESR_BIT, LVT_INDEX } from './regs.js';
import { PENDING_SIGNAL } from './signals.js';
import { ApicTimer } from './timer.js';
import { VectorSet } from '../internal/vector-set.js';

/** Fixed configuration of one local APIC. */
export interface ApicConfig {
  readonly x2apicId: number;
  readonly bsp: boolean;
  readonly version: number;
  readonly lvtCount: number;
  readonly x2apicSupported: boolean;
  readonly tscDeadlineSupported: boolean;
  readonly eoiBroadcastSuppression: boolean;
  readonly maxPhysAddrBits: number;
  readonly cyclesPerTick: number;
  readonly lowestPriorityIpi: boolean;
  readonly xapicIdWritable: boolean;
  readonly bspLint0ExtInt: boolean;
}

const SVR_ENABLED = 1 << 8;
const SVR_FOCUS_DISABLED = 1 << 9;
/** LVT entry names for trace events, indexed by LVT_INDEX. */
const LVT_NAMES: readonly string[] = ['cmci', 'timer', 'thermal', 'perf', 'lint0', 'lint1', 'error'];
const SVR_SUPPRESS_EOI_BROADCAST = 1 << 12;

/** State and shared behaviour of one local APIC (internal; see LocalApic). */
export class ApicCore {
  mode: ApicMode = 'xapic';
  baseAddress = APIC_DEFAULT_BASE;
  bsp: boolean;
  /** 8-bit xAPIC ID (ID register bits 31:24 in xAPIC mode). */
  xapicId: number;
  tpr: number = APIC_RESET.TPR;
  ppr = 0;
  ldr: number = APIC_RESET.LDR;
  dfr: number = APIC_RESET.DFR;
  svr: number = APIC_RESET.SVR;
  /** ESR as software reads it (latched by the last ESR write). */
  esr: number = APIC_RESET.ESR;
  /** Errors detected since the last ESR write. */
  esrPending = 0;
  icrLow: number = APIC_RESET.ICR;
  /** ICR bits 63:32: xAPIC destination in 31:24, x2APIC destination in all 32 bits. */
  icrHigh: number = APIC_RESET.ICR;
  readonly lvt = new Uint32Array(7).fill(APIC_RESET.LVT);
  readonly irr = new VectorSet();
  readonly isr = new VectorSet();
  readonly tmr = new VectorSet();
  readonly timer: ApicTimer;
  /** PENDING_SIGNAL bits for the processor. */
  signals = 0;
  sipiVector = 0;
  /** After INIT (and for APs after power-up) the processor waits for a SIPI (SDM 3A 9.4). */
  waitForSipi: boolean;
  /** Raw levels of the LINT0/LINT1 input pins. */
  readonly lintLevel = [false, false];
  port: ApicBusPort | undefined;
  /** Set by the owner: where an unconnected APIC delivers. */
  soloDeliver: (message: ApicBusMessage) => number;
  /** Reused for every IPI this APIC sends (no allocation per IPI). */
  readonly ipiMessage: ApicBusMessage = emptyMessage();
  /** IPIs of this APIC in flight (see icr.ts). */
  ipiDepth = 0;
  private inErrorInterrupt = false;

  constructor(
    readonly config: ApicConfig,
    readonly clock: Clock,
    readonly owner: LocalApic,
    readonly notify: InterruptNotifier | undefined,
    readonly tracer: Tracer | undefined,
  ) {
    this.bsp = config.bsp;
    this.xapicId = config.x2apicId & 0xff;
    this.waitForSipi = !config.bsp;
    this.timer = new ApicTimer(clock, config.cyclesPerTick, () => {
      this.raiseLvt(LVT_INDEX.TIMER);
    });
    this.soloDeliver = () => 0;
  }

  get hasCmci(): boolean {
    return this.config.lvtCount === 7;
  }

  /** Version register: version, max LVT entry index, EOI-broadcast suppression support (SDM 3A 11.4.8). */
  get versionRegister(): number {
    return (this.config.version | ((this.config.lvtCount - 1) << 16) | (this.config.eoiBroadcastSuppression ? 1 << 24 : 0)) >>> 0;
  }

  /** Physical APIC ID in effect for destination matching. */
  get apicId(): number {
    return this.mode === 'x2apic' ? this.config.x2apicId : this.xapicId;
  }

  /** x2APIC LDR derived from the x2APIC ID: cluster = ID[19:4], bit ID[3:0] (SDM 3A 11.12.10.2). */
  get x2apicLdr(): number {
    const id = this.config.x2apicId;
    return (((id >>> 4) << 16) | (1 << (id & 0xf))) >>> 0;
  }

  get softwareEnabled(): boolean {
    return (this.svr & SVR_ENABLED) !== 0;
  }

  /**
   * Resets every register except the IDs, the base and the mode: INIT
   * (SDM 3A 11.4.7.3) and the transitions through the disabled state
   * (11.12.5.1) do this; power-up reset also resets the ID and mode.
   */
  resetRegisters(): void {
    this.tpr = APIC_RESET.TPR;
    this.ppr = 0;
    this.ldr = this.mode === 'x2apic' ? this.x2apicLdr : APIC_RESET.LDR;
    this.dfr = APIC_RESET.DFR;
    this.svr = APIC_RESET.SVR;
    this.esr = APIC_RESET.ESR;
    this.esrPending = 0;
    this.icrLow = APIC_RESET.ICR;
    this.icrHigh = APIC_RESET.ICR;
    this.lvt.fill(APIC_RESET.LVT);
    this.irr.clearAll();
    this.isr.clearAll();
    this.tmr.clearAll();
    this.timer.reset();
    this.port?.apicChanged(this.owner);
  }

  /** Power-up or RESET# (SDM 3A 11.4.7.1, 11.12.5.1): xAPIC mode, enabled, default base. */
  powerOnReset(): void {
    this.mode = 'xapic';
    this.baseAddress = APIC_DEFAULT_BASE;
    this.bsp = this.config.bsp;
    this.xapicId = this.config.x2apicId & 0xff;
    this.signals = 0;
    this.sipiVector = 0;
    this.waitForSipi = !this.config.bsp;
    this.lintLevel[0] = false;
    this.lintLevel[1] = false;
    this.resetRegisters();
    this.applyResetQuirks();
  }

  /** KVM's reset quirk (option bspLint0ExtInt): the BSP's LINT0 comes up unmasked in ExtINT mode, virtual-wire mode for the PIC. */
  applyResetQuirks(): void {
    if (this.bsp && this.config.bspLint0ExtInt) this.lvt[LVT_INDEX.LINT0] = DELIVERY_MODE.EXTINT << 8;
  }

  // ---- priority and the CPU side ----

  updatePpr(): void {
    const isrv = this.isr.findHighest();
    this.ppr = computePpr(this.tpr, isrv < 0 ? 0 : isrv);
  }

  get apr(): number {
    const isrv = this.isr.findHighest();
    const irrv = this.irr.findHighest();
    return computeApr(this.tpr, isrv < 0 ? 0 : isrv, irrv < 0 ? 0 : irrv);
  }

  /** Highest IRR vector whose class is above PPR's, or -1 (SDM 3A 11.8.4). */
  deliverableVector(): number {
    if (this.mode === 'disabled') return -1;
    const v = this.irr.findHighest();
    return v >= 0 && (v & 0xf0) > (this.ppr & 0xf0) ? v : -1;
  }

  /** INTA: IRR -> ISR for the highest deliverable vector, or the spurious vector (SDM 3A 11.8.4, 11.9). */
  acknowledge(): number {
    const v = this.deliverableVector();
    if (v < 0) return this.svr & 0xff;
    this.irr.clear(v);
    this.isr.set(v);
    this.ppr = computePpr(this.tpr, v);
    this.tracer?.emit({ kind: 'interrupt.acknowledged', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector: v });
    return v;
  }

  /** EOI: clear the highest ISR bit; broadcast level EOIs to IOAPICs unless suppressed (SDM 3A 11.8.5). */
  eoi(): void {
    const v = this.isr.findHighest();
    if (v < 0) return;
    this.isr.clear(v);
    this.updatePpr();
    this.tracer?.emit({ kind: 'interrupt.eoi', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector: v });
    if (this.tmr.test(v)) {
      lintEoi(this, v);
      if ((this.svr & SVR_SUPPRESS_EOI_BROADCAST) === 0) this.port?.broadcastEoi(v, this.owner);
    }
    if (this.notify !== undefined && this.deliverableVector() >= 0) this.notify();
  }

  setTpr(value: number): void {
    this.tpr = value & 0xff;
    this.updatePpr();
    if (this.notify !== undefined && this.deliverableVector() >= 0) this.notify();
  }

  // ---- acceptance: every source enters here ----

  /**
   * Accepts one interrupt message (SDM 3A 11.6.1 delivery modes, 11.8.3 IRR,
   * 11.8.4 acceptance). Returns true when it was accepted (or coalesced into
   * a pending one), false when this APIC drops it as the SDM says it does.
   */
  accept(vector: number, deliveryMode: number, levelTriggered: boolean, level: boolean): boolean {
    if (this.mode === 'disabled') return this.dropped(vector, 'apic-disabled');
    switch (deliveryMode) {
      case DELIVERY_MODE.FIXED:
      case DELIVERY_MODE.LOWEST_PRIORITY: {
        // A software-disabled APIC does not accept fixed interrupts (SDM 3A 11.4.7.2; KVM apic_enabled()).
        if ((this.svr & SVR_ENABLED) === 0) return this.dropped(vector, 'software-disabled');
        // De-assert messages of level-triggered fixed interrupts carry nothing for the APIC.
        if (levelTriggered && !level) return false;
        if (vector < 16) {
          this.signalError(ESR_BIT.RECEIVE_ILLEGAL_VECTOR);
          return this.dropped(vector, 'illegal-vector');
        }
        const was = this.irr.set(vector);
        if (levelTriggered) this.tmr.set(vector);
        else this.tmr.clear(vector);
        if (was) {
          this.tracer?.emit({ kind: 'interrupt.coalesced', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector });
          return true;
        }
        this.tracer?.emit({ kind: 'interrupt.delivered', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector });
        if (this.notify !== undefined && (vector & 0xf0) > (this.ppr & 0xf0)) this.notify();
        return true;
      }
      case DELIVERY_MODE.SMI:
        return this.raiseSignal(PENDING_SIGNAL.SMI, vector);
      case DELIVERY_MODE.NMI:
        return this.raiseSignal(PENDING_SIGNAL.NMI, vector);
      case DELIVERY_MODE.INIT:
        // INIT level de-assert (level-triggered, level 0) is not supported since the Pentium 4 (SDM 3A 11.6.1).
        if (levelTriggered && !level) return false;
        this.resetRegisters();
        this.applyResetQuirks();
        this.waitForSipi = !this.bsp;
        this.signals &= ~PENDING_SIGNAL.SIPI;
        return this.raiseSignal(PENDING_SIGNAL.INIT, vector);
      case DELIVERY_MODE.STARTUP:
        // A SIPI is only recognised in the wait-for-SIPI state (SDM 3A 9.4.4).
        if (!this.waitForSipi) return this.dropped(vector, 'not-waiting-for-sipi');
        this.waitForSipi = false;
        this.sipiVector = vector;
        return this.raiseSignal(PENDING_SIGNAL.SIPI, vector);
      case DELIVERY_MODE.EXTINT:
        return this.raiseSignal(PENDING_SIGNAL.EXTINT, vector);
      default:
        return this.dropped(vector, 'reserved-delivery-mode');
    }
  }

  private raiseSignal(bit: number, vector: number): boolean {
    const kind = (this.signals & bit) !== 0 ? 'interrupt.coalesced' : 'interrupt.delivered';
    this.signals |= bit;
    this.tracer?.emit({ kind, cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector, args: { signal: bit } });
    this.notify?.();
    return true;
  }

  private dropped(vector: number, why: string): boolean {
    this.tracer?.emit({ kind: 'interrupt.dropped', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector, args: { why } });
    return false;
  }

  /**
   * ORs a 256-bit set of vectors (eight words, e.g. a posted-interrupt
   * descriptor's PIR) into the IRR as fixed, edge-triggered interrupts, the
   * way KVM syncs the PIR into the IRR. Each vector is accepted as if it had
   * arrived alone. Returns whether any was accepted.
   */
  acceptVectors(words: Uint32Array): boolean {
    let any = false;
    for (let w = 0; w < 8; w++) {
      let bits = words[w]! >>> 0;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits = (bits & ~(1 << b)) >>> 0;
        if (this.accept((w << 5) | b, DELIVERY_MODE.FIXED, false, true)) any = true;
      }
    }
    return any;
  }

  /** Records an error in the ESR and signals it through the error LVT (SDM 3A 11.5.3). */
  signalError(bits: number): void {
    this.esrPending |= bits;
    // An illegal vector in the error LVT itself would recurse; the error is logged once.
    if (this.inErrorInterrupt) return;
    this.inErrorInterrupt = true;
    try {
      this.raiseLvt(LVT_INDEX.ERROR);
    } finally {
      this.inErrorInterrupt = false;
    }
  }

  /** Signals a local interrupt through LVT entry `index` (SDM 3A 11.5.1). Returns false when masked. */
  raiseLvt(index: number): boolean {
    if (this.mode === 'disabled') return false;
    const entry = this.lvt[index]!;
    const vector = entry & 0xff;
    if ((entry & LVT_MASK) !== 0) return this.dropped(vector, 'lvt-masked');
    this.tracer?.emit({ kind: 'interrupt.raised', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector, args: { lvt: LVT_NAMES[index]! } });
    const mode = lvtDeliveryMode(index, entry);
    // LVT delivery modes other than fixed, SMI, NMI, INIT and ExtINT are reserved (SDM 3A 11.5.1).
    if (isReservedLvtDeliveryMode(mode)) return this.dropped(vector, 'reserved-delivery-mode');
    if (index === LVT_INDEX.PERF) {
      // The APIC sets the mask of the performance-counter entry when it signals it; software
      // unmasks it again (SDM 3A 11.5.1, Mask).
      this.lvt[index] = entry | LVT_MASK;
    }
    if (lvtIsLevel(index, entry)) {
      // Remote IRR: set when the level interrupt is accepted, cleared by its EOI (SDM 3A 11.5.1).
      if ((entry & LVT_REMOTE_IRR) !== 0) return false;
      const accepted = this.accept(vector, mode, true, true);
      if (accepted && vector >= 16) this.lvt[index] = entry | LVT_REMOTE_IRR;
      return accepted;
    }
    return this.accept(vector, mode, false, true);
  }

  /** Writable SVR bits: vector, APIC enable, focus disable, and EOI-broadcast suppression when supported (SDM 3A 11.9). */
  get svrWritable(): number {
    return 0x3ff | (this.config.eoiBroadcastSuppression ? SVR_SUPPRESS_EOI_BROADCAST : 0);
  }

  get focusChecking(): boolean {
    return (this.svr & SVR_FOCUS_DISABLED) === 0;
  }

  /** Writable bits of an LVT entry given the timer modes this APIC supports. */
  lvtWritable(index: number): number {
    let w = LVT_WRITABLE[index]!;
    if (index === LVT_INDEX.TIMER && !this.config.tscDeadlineSupported) w &= ~(1 << 18);
    return w;
  }
}
