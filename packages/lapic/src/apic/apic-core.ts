/**
 * The local APIC's state (SDM 3A chapter 11) and what every source shares:
 * acceptance into IRR or the processor signals, priority (PPR/APR), the
 * INTA cycle, EOI, errors and LVT delivery. Register semantics live in
 * register-file.ts, the views in xapic-mmio.ts and x2apic-msr.ts, LINT pins
 * in lint.ts, IPIs in icr.ts. Internal: the public face is LocalApic.
 */
import { DELIVERY_MODE, DELIVERY_STATUS, type Clock, type DeliveryStatus, type InterruptNotifier, type Tracer } from '@hvsim/core';
import type { ApicBusEndpoint, ApicBusMessage, ApicBusPort } from '../bus/apic-message.js';
import { emptyMessage } from '../bus/apic-message.js';
import type { ApicMode } from './apic-base.js';
import { LVT_MASK, LVT_REMOTE_IRR, LVT_WRITABLE, isReservedLvtDeliveryMode, lvtActiveLow, lvtDeliveryMode, lvtIsLevel } from './lvt.js';
import { computeApr, computePpr as importedComputePpr } from './priority.js';
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
  /** Send IPIs with the ICR's level and trigger bits (KVM) instead of edge/assert (SDM). */
  readonly icrLevelTrigger: boolean;
}

const SVR_ENABLED = 1 << 8;
const SVR_FOCUS_DISABLED = 1 << 9;
/** LVT entry names for trace events, indexed by LVT_INDEX. */
const LVT_NAMES: readonly string[] = ['cmci', 'timer', 'thermal', 'perf', 'lint0', 'lint1', 'error'];
const SVR_SUPPRESS_EOI_BROADCAST = 1 << 12;
const DELIVERED = DELIVERY_STATUS.DELIVERED;
const COALESCED = DELIVERY_STATUS.COALESCED;
const BLOCKED = DELIVERY_STATUS.BLOCKED;
const DROPPED = DELIVERY_STATUS.DROPPED;
// Module-local copies of imported constants for the accept path (no binding load per interrupt).
const FIXED = DELIVERY_MODE.FIXED;
const LOWEST_PRIORITY = DELIVERY_MODE.LOWEST_PRIORITY;
// Every acknowledge and EOI computes PPR: a module-local copy, not an imported binding's getter.
const computePpr = importedComputePpr;

/**
 * Takes a fixed interrupt instead of the IRR (a posted-interrupt descriptor
 * in APICv mode); returns true when it took it. See LocalApicOptions.deliverFixed.
 */
export type FixedInterruptSink = (vector: number, levelTriggered: boolean, flow: number) => boolean;

/** A trace event's `flow`: absent for untracked interrupts (0). */
export function flowOrUndefined(flow: number): number | undefined {
  return flow === 0 ? undefined : flow;
}

/** State and shared behaviour of one local APIC (internal; see LocalApic). */
export class ApicCore {
  mode: ApicMode = 'xapic';
  baseAddress = APIC_DEFAULT_BASE;
  bsp: boolean;
  /** 8-bit xAPIC ID (ID register bits 31:24 in xAPIC mode). */
  xapicId: number;
  tpr: number = APIC_RESET.TPR;
  ppr = 0;
  /**
   * The highest deliverable vector: the highest IRR vector when its
   * priority class is above PPR's and the APIC is not globally disabled,
   * else -1 (SDM 3A 11.8.4). Kept at every change of the IRR, the ISR, TPR
   * and the mode, so "is an interrupt deliverable, and which" is one field
   * read at every instruction boundary. Call {@link refreshPending} after
   * changing any of them outside the methods here.
   */
  pending = -1;
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
  /** CR8 while the APIC is globally disabled: a separate register then (SDM 3A 11.8.6). */
  cr8WhileDisabled = 0;
  /** Raw levels of the LINT0/LINT1 input pins. */
  readonly lintLevel = [false, false];
  port: ApicBusPort | undefined;
  /** Set by the owner: where an unconnected APIC delivers. */
  soloDeliver: (message: ApicBusMessage) => DeliveryStatus;
  /** Reused for every IPI this APIC sends (no allocation per IPI). */
  readonly ipiMessage: ApicBusMessage = emptyMessage();
  /** IPIs of this APIC in flight (see icr.ts). */
  ipiDepth = 0;
  private inErrorInterrupt = false;
  /** Where fixed interrupts go instead of the IRR, when set (APICv posting). */
  fixedSink: FixedInterruptSink | undefined;
  /** Flow identifier of the interrupt that set each IRR vector (0: untracked), for trace events. */
  readonly irrFlows = new Int32Array(256);
  /** Flow identifier of each in-service vector. */
  readonly isrFlows = new Int32Array(256);

  constructor(
    readonly config: ApicConfig,
    readonly clock: Clock,
    readonly owner: ApicBusEndpoint,
    readonly notify: InterruptNotifier | undefined,
    readonly tracer: Tracer | undefined,
  ) {
    this.bsp = config.bsp;
    this.xapicId = config.x2apicId & 0xff;
    this.waitForSipi = !config.bsp;
    this.timer = new ApicTimer(clock, config.cyclesPerTick, () => {
      this.raiseLvt(LVT_INDEX.TIMER);
    });
    this.soloDeliver = () => BLOCKED;
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
    this.pending = -1;
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

  /** Recomputes PPR from TPR and the ISR (SDM 3A 11.8.3.1), and the highest deliverable vector. */
  updatePpr(): void {
    const isrv = this.isr.findHighest();
    this.ppr = computePpr(this.tpr, isrv < 0 ? 0 : isrv);
    this.refreshPending();
  }

  /** Recomputes {@link pending} from the IRR, PPR and the mode: two count-leading-zeros (the IRR summary). */
  refreshPending(): void {
    const v = this.mode === 'disabled' ? -1 : this.irr.findHighest();
    this.pending = v >= 0 && (v & 0xf0) > (this.ppr & 0xf0) ? v : -1;
  }

  get apr(): number {
    const isrv = this.isr.findHighest();
    const irrv = this.irr.findHighest();
    return computeApr(this.tpr, isrv < 0 ? 0 : isrv, irrv < 0 ? 0 : irrv);
  }

  /** Highest IRR vector whose class is above PPR's, or -1 (SDM 3A 11.8.4): the kept {@link pending}. */
  deliverableVector(): number {
    return this.pending;
  }

  /** INTA: IRR -> ISR for the highest deliverable vector, or the spurious vector (SDM 3A 11.8.4, 11.9). */
  acknowledge(): number {
    const v = this.pending;
    if (v < 0) return this.svr & 0xff;
    const next = this.irr.clearAndFindHighest(v);
    this.isr.set(v);
    // v is the highest in-service vector now: PPR takes its class unless TPR's is higher (SDM 3A 11.8.3.1).
    const ppr = computePpr(this.tpr, v);
    this.ppr = ppr;
    // The next IRR vector is below v; it is deliverable only above the new PPR (mode: enabled, as v was deliverable).
    this.pending = next >= 0 && (next & 0xf0) > (ppr & 0xf0) ? next : -1;
    // Flows only feed trace events: without a tracer (fixed at construction) they are not kept.
    if (this.tracer !== undefined) this.traceAcknowledged(v);
    return v;
  }

  /** EOI: clear the highest ISR bit; broadcast level EOIs to IOAPICs unless suppressed (SDM 3A 11.8.5). */
  eoi(): void {
    const isr = this.isr;
    const v = isr.findHighest();
    if (v < 0) return;
    const next = isr.clearAndFindHighest(v);
    const ppr = computePpr(this.tpr, next < 0 ? 0 : next);
    this.ppr = ppr;
    // refreshPending, written out: an EOI reaches only an enabled APIC (the views check the mode).
    const r = this.irr.findHighest();
    this.pending = r >= 0 && (r & 0xf0) > (ppr & 0xf0) ? r : -1;
    // eoiEffects, written out: the xAPIC/x2APIC EOI write is every handler's last step.
    if (this.tracer !== undefined) this.traceEoi(v);
    if (this.tmr.test(v)) this.levelEoi(v);
    if (this.notify !== undefined) this.notifyIfDeliverable();
  }

  /**
   * What an EOI of `vector` does besides clearing the ISR bit: the trace
   * event, and for a level-triggered (TMR) vector the LINT remote IRR and the
   * broadcast to the IOAPICs unless suppressed (SDM 3A 11.8.5); then a
   * notification if something became deliverable.
   */
  eoiEffects(v: number): void {
    if (this.tracer !== undefined) this.traceEoi(v);
    if (this.tmr.test(v)) this.levelEoi(v);
    if (this.notify !== undefined) this.notifyIfDeliverable();
  }

  /** Calls the notifier when an interrupt is deliverable (out of line: the EOI path stays small). */
  private notifyIfDeliverable(): void {
    if (this.pending >= 0) this.notify?.();
  }

  /** A level-triggered vector's EOI: the LINT remote IRR, and the broadcast to the IOAPICs unless suppressed (SDM 3A 11.8.5). */
  private levelEoi(v: number): void {
    this.lintEoi(v);
    if ((this.svr & SVR_SUPPRESS_EOI_BROADCAST) === 0) this.port?.broadcastEoi(v, this.owner);
  }

  /** The acknowledge's flow bookkeeping and trace event (only with a tracer: flows feed nothing else). */
  private traceAcknowledged(v: number): void {
    const flow = this.irrFlows[v]!;
    this.isrFlows[v] = flow;
    this.trace('interrupt.acknowledged', v, flow);
  }

  /** A newly requested vector's flow and trace event (only with a tracer). */
  private traceDelivered(vector: number, flow: number): void {
    this.irrFlows[vector] = flow;
    this.trace('interrupt.delivered', vector, flow);
  }

  /** The EOI's flow bookkeeping and trace event (only with a tracer). */
  private traceEoi(v: number): void {
    const flow = this.isrFlows[v]!;
    this.isrFlows[v] = 0;
    this.trace('interrupt.eoi', v, flow);
  }

  /** Emits a trace event about `vector` (out of line: keeps the hot paths small enough for the JIT to inline). */
  private trace(kind: 'interrupt.acknowledged' | 'interrupt.eoi' | 'interrupt.delivered' | 'interrupt.coalesced', vector: number, flow: number): void {
    this.tracer?.emit({ kind, cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector, flow: flowOrUndefined(flow) });
  }

  setTpr(value: number): void {
    this.tpr = value & 0xff;
    this.updatePpr();
    if (this.notify !== undefined && this.pending >= 0) this.notify();
  }

  // ---- acceptance: every source enters here ----

  /**
   * Accepts one interrupt message (SDM 3A 11.6.1 delivery modes, 11.8.3 IRR,
   * 11.8.4 acceptance) and says what became of it: DELIVERED (newly pending),
   * COALESCED (the vector was already in the IRR, the signal already
   * pending), BLOCKED (the APIC is disabled or software-disabled) or DROPPED
   * (an illegal vector, a reserved delivery mode, a SIPI outside
   * wait-for-SIPI, a level de-assert). `flow` is the interrupt's flow
   * identifier for trace events (0: untracked).
   */
  accept(vector: number, deliveryMode: number, levelTriggered: boolean, level: boolean, flow = 0): DeliveryStatus {
    if (this.mode === 'disabled') return this.refused(vector, 'apic-disabled', flow, BLOCKED);
    if (deliveryMode === FIXED || deliveryMode === LOWEST_PRIORITY) return this.acceptFixed(vector, levelTriggered, level, flow, true);
    return this.acceptOther(vector, deliveryMode, levelTriggered, level, flow);
  }

  /** {@link accept} of the delivery modes other than fixed and lowest priority (out of line: the fixed path stays small). */
  private acceptOther(vector: number, deliveryMode: number, levelTriggered: boolean, level: boolean, flow: number): DeliveryStatus {
    switch (deliveryMode) {
      case DELIVERY_MODE.SMI:
        return this.raiseSignal(PENDING_SIGNAL.SMI, vector, flow);
      case DELIVERY_MODE.NMI:
        return this.raiseSignal(PENDING_SIGNAL.NMI, vector, flow);
      case DELIVERY_MODE.INIT:
        // INIT level de-assert (level-triggered, level 0) is not supported since the Pentium 4 (SDM 3A 11.6.1).
        if (levelTriggered && !level) return DROPPED;
        this.resetRegisters();
        this.applyResetQuirks();
        this.waitForSipi = !this.bsp;
        this.signals &= ~PENDING_SIGNAL.SIPI;
        return this.raiseSignal(PENDING_SIGNAL.INIT, vector, flow);
      case DELIVERY_MODE.STARTUP:
        // A SIPI is only recognised in the wait-for-SIPI state (SDM 3A 9.4.4).
        if (!this.waitForSipi) return this.refused(vector, 'not-waiting-for-sipi', flow, DROPPED);
        this.waitForSipi = false;
        this.sipiVector = vector;
        return this.raiseSignal(PENDING_SIGNAL.SIPI, vector, flow);
      case DELIVERY_MODE.EXTINT:
        return this.raiseSignal(PENDING_SIGNAL.EXTINT, vector, flow);
      default:
        return this.refused(vector, 'reserved-delivery-mode', flow, DROPPED);
    }
  }

  /**
   * A fixed (or lowest-priority, once arbitrated) interrupt. `useSink`: the
   * fixed-interrupt sink (LocalApicOptions.deliverFixed) may take it; the
   * PIR-to-IRR sync does not offer it (the vectors come from the sink).
   */
  private acceptFixed(vector: number, levelTriggered: boolean, level: boolean, flow: number, useSink: boolean): DeliveryStatus {
    // A software-disabled APIC does not accept fixed interrupts (SDM 3A 11.4.7.2; KVM apic_enabled()).
    if ((this.svr & SVR_ENABLED) === 0) return this.refused(vector, 'software-disabled', flow, BLOCKED);
    // De-assert messages of level-triggered fixed interrupts carry nothing for the APIC.
    if (levelTriggered && !level) return DROPPED;
    if (vector < 16) return this.illegalVector(vector, flow);
    // The TMR records the trigger mode even when a sink takes the vector (KVM __apic_accept_irq
    // updates TMR before vmx_deliver_interrupt), so the EOI of a level vector still reaches the IOAPIC.
    if (levelTriggered) this.tmr.set(vector);
    else this.tmr.clear(vector);
    const sink = this.fixedSink;
    if (useSink && sink !== undefined && sink(vector, levelTriggered, flow)) return this.sunk(vector, flow);
    if (this.irr.set(vector)) {
      if (this.tracer !== undefined) this.trace('interrupt.coalesced', vector, flow);
      return COALESCED;
    }
    if (this.tracer !== undefined) this.traceDelivered(vector, flow);
    // A newly requested vector above PPR's class is deliverable; it is the highest one unless a higher one is (SDM 3A 11.8.4).
    if ((vector & 0xf0) > (this.ppr & 0xf0)) {
      if (vector > this.pending) this.pending = vector;
      if (this.notify !== undefined) this.notify();
    }
    return DELIVERED;
  }

  /** The fixed-interrupt sink took `vector`: the trace event, DELIVERED. */
  private sunk(vector: number, flow: number): DeliveryStatus {
    this.tracer?.emit({ kind: 'interrupt.delivered', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector, flow: flowOrUndefined(flow), args: { sink: true } });
    return DELIVERED;
  }

  /** A fixed interrupt with a vector below 16: a receive-illegal-vector error, and dropped (SDM 3A 11.5.3). */
  private illegalVector(vector: number, flow: number): DeliveryStatus {
    this.signalError(ESR_BIT.RECEIVE_ILLEGAL_VECTOR);
    return this.refused(vector, 'illegal-vector', flow, DROPPED);
  }

  private raiseSignal(bit: number, vector: number, flow: number): DeliveryStatus {
    const coalesced = (this.signals & bit) !== 0;
    this.signals |= bit;
    this.tracer?.emit({ kind: coalesced ? 'interrupt.coalesced' : 'interrupt.delivered', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector, flow: flowOrUndefined(flow), args: { signal: bit } });
    this.notify?.();
    return coalesced ? COALESCED : DELIVERED;
  }

  private refused(vector: number, why: string, flow: number, status: DeliveryStatus): DeliveryStatus {
    this.tracer?.emit({ kind: 'interrupt.dropped', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector, flow: flowOrUndefined(flow), args: { why } });
    return status;
  }

  /**
   * ORs a 256-bit set of vectors (eight words, e.g. a posted-interrupt
   * descriptor's PIR) into the IRR as fixed, edge-triggered interrupts, the
   * way KVM syncs the PIR into the IRR. Each vector is accepted as if it had
   * arrived alone, without offering it to the fixed-interrupt sink. Returns
   * whether any was accepted (newly or coalesced).
   */
  acceptVectors(words: Uint32Array): boolean {
    let any = false;
    for (let w = 0; w < 8; w++) {
      let bits = words[w]! >>> 0;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits = (bits & ~(1 << b)) >>> 0;
        const v = (w << 5) | b;
        const status = this.mode === 'disabled' ? this.refused(v, 'apic-disabled', 0, BLOCKED) : this.acceptFixed(v, false, true, 0, false);
        if (status >= COALESCED) any = true;
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
    if ((entry & LVT_MASK) !== 0) {
      this.refused(vector, 'lvt-masked', 0, BLOCKED);
      return false;
    }
    this.tracer?.emit({ kind: 'interrupt.raised', cycle: this.clock.now(), source: 'lapic', cpu: this.config.x2apicId, vector, args: { lvt: LVT_NAMES[index]! } });
    const mode = lvtDeliveryMode(index, entry);
    // LVT delivery modes other than fixed, SMI, NMI, INIT and ExtINT are reserved (SDM 3A 11.5.1).
    if (isReservedLvtDeliveryMode(mode)) {
      this.refused(vector, 'reserved-delivery-mode', 0, DROPPED);
      return false;
    }
    if (index === LVT_INDEX.PERF) {
      // The APIC sets the mask of the performance-counter entry when it signals it; software
      // unmasks it again (SDM 3A 11.5.1, Mask).
      this.lvt[index] = entry | LVT_MASK;
    }
    if (lvtIsLevel(index, entry)) {
      // Remote IRR: set when the level interrupt is accepted, cleared by its EOI (SDM 3A 11.5.1).
      if ((entry & LVT_REMOTE_IRR) !== 0) return false;
      const accepted = this.accept(vector, mode, true, true) >= COALESCED;
      if (accepted && vector >= 16) this.lvt[index] = entry | LVT_REMOTE_IRR;
      return accepted;
    }
    return this.accept(vector, mode, false, true) >= COALESCED;
  }

  /** Re-evaluates a LINT pin after its level or LVT entry changed (SDM 3A 11.5.1). */
  evaluateLint(pin: number, previousLevel: boolean): void {
    const index = pin === 0 ? LVT_INDEX.LINT0 : LVT_INDEX.LINT1;
    const entry = this.lvt[index]!;
    const activeLow = lvtActiveLow(entry);
    const asserted = this.lintLevel[pin] !== activeLow;
    const wasAsserted = previousLevel !== activeLow;
    if (lvtDeliveryMode(index, entry) === DELIVERY_MODE.EXTINT) {
      // ExtINT is level-sensitive: INTR follows the pin (SDM 3A 11.5.1).
      if (asserted) {
        if ((entry & LVT_MASK) === 0) this.raiseLvt(index);
      } else {
        this.signals &= ~PENDING_SIGNAL.EXTINT;
      }
      return;
    }
    if (lvtIsLevel(index, entry)) {
      if (asserted) this.raiseLvt(index);
      return;
    }
    if (asserted && !wasAsserted) this.raiseLvt(index);
  }

  /** EOI of a level vector clears the remote IRR of a LINT entry with that vector and re-samples the pin. */
  lintEoi(vector: number): void {
    for (let pin = 0; pin < 2; pin++) {
      const index = pin === 0 ? LVT_INDEX.LINT0 : LVT_INDEX.LINT1;
      const entry = this.lvt[index]!;
      if ((entry & LVT_REMOTE_IRR) !== 0 && (entry & 0xff) === vector) {
        this.lvt[index] = entry & ~LVT_REMOTE_IRR;
        this.evaluateLint(pin, this.lintLevel[pin]!);
      }
    }
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
