/**
 * One processor's local APIC (SDM 3A chapter 11): the xAPIC page as an
 * MmioDevice, IA32_APIC_BASE / the x2APIC MSRs / IA32_TSC_DEADLINE as an
 * MsrDevice, and an InterruptTarget through which IPIs, MSIs, the IOAPIC and
 * the LVT sources all arrive. The processor side is `hasPendingInterrupt`,
 * `acknowledge` (the INTA cycle), the `onInterrupt` notifier, and the
 * `take*` methods for signals that bypass IRR/ISR (NMI, SMI, INIT, SIPI,
 * ExtINT).
 */
import {
  Clock,
  CpuException,
  DELIVERY_MODE,
  DELIVERY_STATUS,
  UsageError,
  assertInteger,
  assertOptions,
  bigintToHex,
  describeValue,
  setField,
  type DeliveryStatus,
  type InterruptLine,
  type InterruptMessage,
  type InterruptNotifier,
  type InterruptTarget,
  type MmioDevice,
  type MsrDevice,
  type Snapshottable,
  type Tracer,
} from '@hvsim/core';
import type { ApicBusMessage, ApicBusPort } from '../bus/apic-message.js';
import { matchesDestination, type DestinationIdentity } from '../bus/destination.js';
import { apicBaseReservedMask, checkModeTransition, modeFromBits, type ApicMode } from './apic-base.js';
import { ApicCore, type FixedInterruptSink } from './apic-core.js';
import type { VectorSet } from '../internal/vector-set.js';
import { restoreApicState, saveApicState, type LocalApicState } from './apic-state.js';
import { setLint } from './lint.js';
import { PENDING_SIGNAL } from './signals.js';
import { exportKvmLapicPage, importKvmLapicPage } from './kvm-lapic-page.js';
import { accessTable } from './register-file.js';
import {
  APIC_BASE_FIELD,
  IA32_APIC_BASE_MSR as IMPORTED_IA32_APIC_BASE_MSR,
  IA32_TSC_DEADLINE_MSR as IMPORTED_IA32_TSC_DEADLINE_MSR,
  ICR_SHORTHAND,
  LVT_INDEX,
  X2APIC,
  X2APIC_MSR_BASE as IMPORTED_X2APIC_MSR_BASE,
  X2APIC_MSR_LAST as IMPORTED_X2APIC_MSR_LAST,
} from './regs.js';
import { x2apicReadMsr as importedX2apicReadMsr, x2apicWriteMsr as importedX2apicWriteMsr } from './x2apic-msr.js';
import { xapicRead as importedXapicRead, xapicWrite as importedXapicWrite } from './xapic-mmio.js';

/** Options of a {@link LocalApic}. Only `id` is required; the defaults describe a current Intel core. */
export interface LocalApicOptions {
  /** APIC ID: the 32-bit x2APIC ID; the xAPIC ID is its low 8 bits. Not 0xFFFFFFFF (broadcast). */
  id: number;
  /** Bootstrap processor flag in IA32_APIC_BASE (default: `id === 0`). */
  bsp?: boolean;
  /** Simulated time; one cycle is one TSC tick (default: a private clock). */
  clock?: Clock;
  /** TSC frequency in Hz (default 2.5 GHz). */
  tscFrequencyHz?: number;
  /** APIC timer input frequency before the divider, in Hz (default 25 MHz, the core crystal clock). Must divide the TSC frequency. */
  timerFrequencyHz?: number;
  /** Version byte of the version register (default 0x15, integrated APIC; kvm-unit-tests accepts 0x10-0x15). */
  version?: number;
  /** Number of LVT entries: 7 with CMCI (default) or 6 without. */
  lvtCount?: 6 | 7;
  /** x2APIC supported: CPUID.01H:ECX[21] (default true). */
  x2apic?: boolean;
  /** TSC-deadline timer mode supported: CPUID.01H:ECX[24] (default true). */
  tscDeadline?: boolean;
  /** EOI-broadcast suppression supported: version register bit 24 (default true). */
  eoiBroadcastSuppression?: boolean;
  /**
   * Whether this APIC can send lowest-priority IPIs (default true). Some
   * Core and Xeon processors cannot; they set ESR bit 4 "redirectable IPI"
   * instead (SDM 3A 11.5.3).
   */
  lowestPriorityIpi?: boolean;
  /**
   * Whether software may write the xAPIC ID (bits 31:24). Read-only since
   * Nehalem (SDM 3A 11.4.1, note before Table 11-1; default false); KVM lets guests write it
   * (kvm-unit-tests apic.c test_apic_id), set true to model that.
   */
  xapicIdWritable?: boolean;
  /**
   * KVM's reset quirk: the BSP's LVT LINT0 resets to unmasked ExtINT
   * (0x700) instead of masked, so the 8259 works without programming the
   * APIC (default false: hardware resets every LVT masked, SDM 3A 11.4.7.1).
   */
  bspLint0ExtInt?: boolean;
  /**
   * TSC offset: IA32_TSC_DEADLINE compares with TSC = clock cycle + offset
   * (a guest's TSC under VMX TSC offsetting; default 0). See `tscOffset`.
   */
  tscOffset?: number;
  /** MAXPHYADDR, for the reserved bits of IA32_APIC_BASE (default 46). */
  maxPhysAddrBits?: number;
  /** Called when an interrupt or signal becomes deliverable, so a halted CPU wakes without polling. */
  onInterrupt?: InterruptNotifier;
  /** Called after IA32_APIC_BASE changes the page base or whether the page is decoded, so the bus can remap it. */
  onBaseChange?: (apic: LocalApic) => void;
  /**
   * Receives interrupt, EOI and IPI trace events. Their `source` is
   * `'lapic'`, their `cpu` this APIC's configured (x2APIC) ID, and their
   * `flow` the flow identifier of the interrupt they are about, when known.
   */
  tracer?: Tracer;
  /**
   * A sink for fixed interrupts (see {@link LocalApic.setFixedInterruptSink}):
   * called for every fixed or lowest-priority interrupt this APIC accepts,
   * from any source (bus messages, MSIs, the IOAPIC, the LVT entries, the ICR
   * self shorthand, the x2APIC SELF IPI); returning true means the sink took
   * it and the IRR is not touched. A hypervisor in APICv mode posts into a
   * descriptor here (KVM vmx_deliver_interrupt).
   */
  deliverFixed?: FixedInterruptSink;
  /**
   * Send IPIs with the level and trigger-mode bits of the ICR as written, as
   * KVM does (kvm_apic_send_ipi): a level-triggered fixed IPI sets the
   * receiver's TMR, a level de-assert INIT is ignored. Default false: Pentium 4
   * and later processors send every IPI edge-triggered and asserted (SDM 3A
   * 11.6.1, Table 11-3 note 2).
   */
  icrLevelTrigger?: boolean;
}

/** Local-interrupt sources with an LVT entry besides the timer, LINT pins and errors. */
export type LocalInterruptSource = 'thermal' | 'perf' | 'cmci';

const LOCAL_APIC_OPTIONS: readonly (keyof LocalApicOptions)[] = [
  'id',
  'bsp',
  'clock',
  'tscFrequencyHz',
  'timerFrequencyHz',
  'version',
  'lvtCount',
  'x2apic',
  'tscDeadline',
  'eoiBroadcastSuppression',
  'lowestPriorityIpi',
  'xapicIdWritable',
  'bspLint0ExtInt',
  'tscOffset',
  'maxPhysAddrBits',
  'onInterrupt',
  'onBaseChange',
  'tracer',
  'deliverFixed',
  'icrLevelTrigger',
];

// Module-local copies of what every MMIO and MSR access uses (an imported binding is a getter call under Node's ESM loader).
const IA32_APIC_BASE_MSR = IMPORTED_IA32_APIC_BASE_MSR;
const IA32_TSC_DEADLINE_MSR = IMPORTED_IA32_TSC_DEADLINE_MSR;
const X2APIC_MSR_BASE = IMPORTED_X2APIC_MSR_BASE;
const X2APIC_MSR_LAST = IMPORTED_X2APIC_MSR_LAST;
const x2apicReadMsr = importedX2apicReadMsr;
const x2apicWriteMsr = importedX2apicWriteMsr;
const xapicRead = importedXapicRead;
const xapicWrite = importedXapicWrite;

/** WRMSR 0x80B, the x2APIC EOI (hoisted for the fast path in writeMsr). */
const X2APIC_EOI_MSR = X2APIC.EOI;
const FIXED = DELIVERY_MODE.FIXED;
const DEFAULT_TSC_HZ = 2_500_000_000;
const DEFAULT_TIMER_HZ = 25_000_000;

/** Throws the UsageError of a bad InterruptMessage field (out of line: keeps acceptInterrupt small). */
function badMessage(what: string, value: unknown): never {
  throw new UsageError('bad-argument', `${what}, got ${describeValue(value)}`);
}

/** Throws the UsageError naming the first bad field of an InterruptMessage (the slow path of acceptInterrupt). */
function badInterruptMessage(message: InterruptMessage): never {
  checkVector(message.vector);
  const mode = message.deliveryMode ?? FIXED;
  if ((mode & 7) !== mode) badMessage('delivery mode must be an integer in [0, 7]', mode);
  const trigger: unknown = message.trigger;
  if (trigger !== 'edge' && trigger !== 'level') badMessage("trigger must be 'edge' or 'level'", trigger);
  const level: unknown = message.level ?? true;
  if (typeof level !== 'boolean') badMessage('level must be a boolean', level);
  checkFlow(message.flow ?? 0);
  throw new UsageError('bad-argument', 'malformed interrupt message');
}

function checkVector(vector: number): void {
  if ((vector & 0xff) !== vector) throw new UsageError('bad-argument', `interrupt vector must be an integer in [0, 255], got ${describeValue(vector)}`);
}

function checkLintPin(pin: number): void {
  if (pin !== 0 && pin !== 1) throw new UsageError('bad-argument', `LINT pin must be 0 or 1, got ${describeValue(pin)}`);
}

function checkFlow(flow: number): void {
  if ((flow | 0) !== flow || flow < 0) throw new UsageError('bad-argument', `flow must be a non-negative 32-bit integer, got ${describeValue(flow)}`);
}

function checkWords(words: Uint32Array, what: string): void {
  if (!(words instanceof Uint32Array) || words.length < 8) throw new UsageError('bad-argument', `${what} needs a Uint32Array of 8 words, got ${describeValue(words)}`);
}

/** Loads eight words into a vector set; vectors 0-15 cannot be set (SDM 3A 11.8.3). */
function loadVectors(set: VectorSet, words: Uint32Array): void {
  set.setWord(0, words[0]! & 0xffff_0000);
  for (let i = 1; i < 8; i++) set.setWord(i, words[i]!);
}

function checkMsrIndex(index: number): void {
  if ((index >>> 0) !== index) throw new UsageError('bad-argument', `MSR index must be an unsigned 32-bit integer, got ${describeValue(index)}`);
}

/**
 * One processor's local APIC. `new LocalApic({ id })` is in xAPIC mode,
 * globally enabled and software-disabled, as after power-up (SDM 3A 11.4.7.1).
 */
export class LocalApic implements MmioDevice, MsrDevice, InterruptTarget, DestinationIdentity, Snapshottable<LocalApicState> {
  /** The clock the timer runs on. */
  readonly clock: Clock;
  private readonly core: ApicCore;
  private readonly xapicTable: Uint8Array;
  private readonly x2apicTable: Uint8Array;
  private readonly baseReserved: bigint;
  private readonly onBaseChange: ((apic: LocalApic) => void) | undefined;

  constructor(options: LocalApicOptions) {
    if (typeof options !== 'object' || (options as unknown) === null) throw new UsageError('bad-argument', `LocalApic options must be an object, got ${describeValue(options)}`);
    assertOptions(options, LOCAL_APIC_OPTIONS, 'LocalApic');
    assertInteger(options.id, 'LocalApic id', 0, 0xffff_fffe);
    const tscHz = options.tscFrequencyHz ?? DEFAULT_TSC_HZ;
    const timerHz = options.timerFrequencyHz ?? DEFAULT_TIMER_HZ;
    assertInteger(tscHz, 'tscFrequencyHz', 1, Number.MAX_SAFE_INTEGER);
    assertInteger(timerHz, 'timerFrequencyHz', 1, tscHz);
    if (tscHz % timerHz !== 0) {
      throw new UsageError('bad-argument', `timerFrequencyHz (${timerHz}) must divide tscFrequencyHz (${tscHz}) so timer ticks fall on whole cycles`);
    }
    const version = options.version ?? 0x15;
    assertInteger(version, 'LocalApic version', 0, 0xff);
    const lvtCount: number = options.lvtCount ?? 7;
    if (lvtCount !== 6 && lvtCount !== 7) throw new UsageError('bad-argument', `lvtCount must be 6 or 7, got ${describeValue(lvtCount)}`);
    const maxPhysAddrBits = options.maxPhysAddrBits ?? 46;
    assertInteger(maxPhysAddrBits, 'maxPhysAddrBits', 36, 52);
    const x2apicSupported = options.x2apic ?? true;
    if (!x2apicSupported && options.id > 0xff) throw new UsageError('bad-argument', `an APIC without x2APIC support needs an 8-bit id, got ${describeValue(options.id)}`);
    this.clock = options.clock ?? new Clock();
    this.onBaseChange = options.onBaseChange;
    this.core = new ApicCore(
      {
        x2apicId: options.id,
        bsp: options.bsp ?? options.id === 0,
        version,
        lvtCount,
        x2apicSupported,
        tscDeadlineSupported: options.tscDeadline ?? true,
        eoiBroadcastSuppression: options.eoiBroadcastSuppression ?? true,
        maxPhysAddrBits,
        cyclesPerTick: tscHz / timerHz,
        lowestPriorityIpi: options.lowestPriorityIpi ?? true,
        xapicIdWritable: options.xapicIdWritable ?? false,
        bspLint0ExtInt: options.bspLint0ExtInt ?? false,
        icrLevelTrigger: options.icrLevelTrigger ?? false,
      },
      this.clock,
      this,
      options.onInterrupt,
      options.tracer,
    );
    this.core.soloDeliver = (m) => this.deliverAlone(m);
    if (options.deliverFixed !== undefined) this.setFixedInterruptSink(options.deliverFixed);
    this.xapicTable = accessTable(false, this.core.config);
    this.x2apicTable = accessTable(true, this.core.config);
    this.baseReserved = apicBaseReservedMask(maxPhysAddrBits, x2apicSupported);
    this.core.applyResetQuirks();
    if (options.tscOffset !== undefined) this.tscOffset = options.tscOffset;
  }

  /** TSC = clock cycle + `tscOffset`; setting it re-arms a pending TSC deadline. Wiring, not saved state. */
  get tscOffset(): number {
    return this.core.timer.tscOffset;
  }

  /** Sets the TSC offset (a safe integer) and re-arms a pending TSC deadline against the new TSC. */
  set tscOffset(offset: number) {
    assertInteger(offset, 'tscOffset', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    this.core.timer.tscOffset = offset;
  }

  // ---- identity ----

  /** The configured APIC ID (the x2APIC ID). */
  get id(): number {
    return this.core.config.x2apicId;
  }

  /** The physical APIC ID in effect: the x2APIC ID in x2APIC mode, else the (writable) 8-bit xAPIC ID. */
  get apicId(): number {
    return this.core.apicId;
  }

  /** Logical destination register. */
  get ldr(): number {
    return this.core.ldr;
  }

  /** Destination format register (xAPIC). */
  get dfr(): number {
    return this.core.dfr;
  }

  /** Global mode from IA32_APIC_BASE. */
  get mode(): ApicMode {
    return this.core.mode;
  }

  /** True in x2APIC mode. */
  get isX2apic(): boolean {
    return this.core.mode === 'x2apic';
  }

  /** True when this is the bootstrap processor. */
  get isBsp(): boolean {
    return this.core.bsp;
  }

  /** Physical base of the xAPIC page. */
  get baseAddress(): number {
    return this.core.baseAddress;
  }

  /** True when the xAPIC page answers MMIO (xAPIC mode); false when disabled or in x2APIC mode. */
  get decodesMmio(): boolean {
    return this.core.mode === 'xapic';
  }

  /** True when the APIC is software-enabled (SVR bit 8). */
  get softwareEnabled(): boolean {
    return this.core.softwareEnabled;
  }

  /** Task-priority register. */
  get tpr(): number {
    return this.core.tpr;
  }

  /** Processor-priority register. */
  get ppr(): number {
    return this.core.ppr;
  }

  /** Arbitration priority (SDM 3A 11.6.2.4), used for lowest-priority delivery. */
  get arbitrationPriority(): number {
    return this.core.apr;
  }

  /** True when focus-processor checking is enabled (SVR bit 9 clear). */
  get focusChecking(): boolean {
    return this.core.focusChecking;
  }

  /** True when `vector` is set in the IRR. */
  isRequested(vector: number): boolean {
    checkVector(vector);
    return this.core.irr.test(vector);
  }

  /** True when `vector` is set in the ISR. */
  isInService(vector: number): boolean {
    checkVector(vector);
    return this.core.isr.test(vector);
  }

  /** True when `vector` is set in the TMR (accepted level-triggered). */
  isLevelTriggered(vector: number): boolean {
    checkVector(vector);
    return this.core.tmr.test(vector);
  }

  /** The interconnect this APIC sends IPIs and EOIs on; ApicBus.attach calls this. */
  connect(port: ApicBusPort | undefined): void {
    this.core.port = port;
  }

  // ---- interrupt input ----

  /**
   * Accepts an interrupt message as the APIC bus delivers it: vector,
   * delivery mode (ICR numbering; default fixed), trigger, level (default
   * asserted). Fixed and lowest-priority messages go to the IRR; NMI, SMI,
   * INIT, SIPI and ExtINT become pending signals (see `takeNmi` and friends).
   * Returns DELIVERED (newly pending), COALESCED (the vector was already in
   * the IRR, the signal already pending), BLOCKED (APIC globally or software
   * disabled) or DROPPED (illegal vector, reserved delivery mode, a SIPI
   * outside wait-for-SIPI, a level de-assert). `message.flow` is carried into
   * the trace events about this interrupt.
   */
  acceptInterrupt(message: InterruptMessage): DeliveryStatus {
    const vector = message.vector;
    const mode = message.deliveryMode ?? FIXED;
    const trigger: unknown = message.trigger;
    const level: unknown = message.level ?? true;
    const flow = message.flow ?? 0;
    // One test for the well-formed message; the out-of-line check names the bad field.
    if ((vector & 0xff) !== vector || (mode & 7) !== mode || (trigger !== 'edge' && trigger !== 'level') || (level !== true && level !== false) || (flow | 0) !== flow || flow < 0) {
      badInterruptMessage(message);
    }
    return this.core.accept(vector, mode, trigger === 'level', level, flow);
  }

  /**
   * Accepts a bus message already resolved to this APIC (used by ApicBus);
   * says what became of it, as {@link acceptInterrupt} does.
   */
  acceptBusMessage(message: ApicBusMessage): DeliveryStatus {
    checkVector(message.vector);
    return this.core.accept(message.vector, message.deliveryMode, message.trigger === 'level', message.level, message.flow ?? 0);
  }

  /**
   * Sets or removes (undefined) the fixed-interrupt sink (option
   * `deliverFixed`), for instance when a hypervisor turns APICv on or off for
   * this vCPU (KVM's APICv inhibits). Vectors already in the IRR stay there.
   */
  setFixedInterruptSink(sink: FixedInterruptSink | undefined): void {
    if (sink !== undefined && typeof sink !== 'function') throw new UsageError('bad-argument', `fixed-interrupt sink must be a function or undefined, got ${describeValue(sink)}`);
    this.core.fixedSink = sink;
  }

  /**
   * The side effects of an EOI of `vector` whose ISR bit lives elsewhere (a
   * virtual-APIC page under APICv; KVM kvm_apic_set_eoi_accelerated): for a
   * vector set in the TMR, the LINT remote IRR is cleared and the EOI is
   * broadcast to the IOAPICs unless SVR bit 12 suppresses it (SDM 3A 11.8.5);
   * the trace event is emitted. This APIC's ISR and PPR are not touched.
   */
  eoiVector(vector: number): void {
    checkVector(vector);
    this.core.eoiEffects(vector);
  }

  // ---- exchange with a virtual-APIC page ----

  /** Copies the IRR into `into` (eight words, vector v in bit v & 31 of word v >> 5). */
  copyIrr(into: Uint32Array): void {
    checkWords(into, 'copyIrr');
    into.set(this.core.irr.words);
  }

  /** Copies the ISR into `into` (eight words). */
  copyIsr(into: Uint32Array): void {
    checkWords(into, 'copyIsr');
    into.set(this.core.isr.words);
  }

  /** Copies the TMR into `into` (eight words). */
  copyTmr(into: Uint32Array): void {
    checkWords(into, 'copyTmr');
    into.set(this.core.tmr.words);
  }

  /**
   * Replaces the IRR with `words` (eight words; vectors 0-15 are ignored:
   * they can never be requested, SDM 3A 11.8.3), as when a hypervisor takes
   * the state back from a virtual-APIC page. The timer, the TMR and the other
   * registers are not touched (unlike setKvmLapicState).
   */
  loadIrr(words: Uint32Array): void {
    checkWords(words, 'loadIrr');
    loadVectors(this.core.irr, words);
    this.afterPriorityChange();
  }

  /** Replaces the ISR with `words` (eight words; vectors 0-15 ignored) and recomputes PPR. */
  loadIsr(words: Uint32Array): void {
    checkWords(words, 'loadIsr');
    loadVectors(this.core.isr, words);
    this.core.updatePpr();
    this.afterPriorityChange();
  }

  /** Sets the TPR (0-255; a virtual-APIC page's VTPR) and recomputes PPR. */
  loadTpr(value: number): void {
    assertInteger(value, 'TPR', 0, 0xff);
    this.core.setTpr(value);
  }

  private afterPriorityChange(): void {
    this.core.refreshPending();
    const notify = this.core.notify;
    if (notify !== undefined && this.core.pending >= 0) notify();
  }

  /**
   * Accepts every vector set in `words` (eight 32-bit words, vector v in bit
   * v & 31 of word v >> 5) as a fixed, edge-triggered interrupt: how a
   * posted-interrupt descriptor's PIR is synced into the IRR (see
   * PostedInterruptDescriptor.takePir). Returns whether any was accepted.
   */
  acceptVectors(words: Uint32Array): boolean {
    if (!(words instanceof Uint32Array) || words.length < 8) throw new UsageError('bad-argument', `acceptVectors needs a Uint32Array of 8 words, got ${describeValue(words)}`);
    return this.core.acceptVectors(words);
  }

  /** Drives LINT0 (`pin` 0) or LINT1 (`pin` 1) to a level; the LVT entry decides what it signals. */
  setLint(pin: 0 | 1, level: boolean): void {
    checkLintPin(pin);
    if (typeof level !== 'boolean') throw new UsageError('bad-argument', `LINT level must be a boolean, got ${describeValue(level)}`);
    setLint(this.core, pin, level);
  }

  /** LINT0 or LINT1 as a core InterruptLine (an 8259's INTR output, an NMI button). */
  lintLine(pin: 0 | 1): InterruptLine {
    checkLintPin(pin);
    return {
      setLevel: (asserted: boolean) => {
        setLint(this.core, pin, asserted);
      },
    };
  }

  /** Signals a thermal, performance-counter or CMCI event through its LVT entry; returns false when masked. */
  raiseLocalInterrupt(source: LocalInterruptSource): boolean {
    switch (source) {
      case 'thermal':
        return this.core.raiseLvt(LVT_INDEX.THERMAL);
      case 'perf':
        return this.core.raiseLvt(LVT_INDEX.PERF);
      case 'cmci':
        if (!this.core.hasCmci) throw new UsageError('bad-argument', 'this APIC has no CMCI LVT entry (lvtCount 6)');
        return this.core.raiseLvt(LVT_INDEX.CMCI);
      default:
        throw new UsageError('bad-argument', `local interrupt source must be 'thermal', 'perf' or 'cmci', got ${describeValue(source)}`);
    }
  }

  // ---- processor side ----

  /** True when a fixed interrupt in the IRR has a priority class above PPR's (SDM 3A 11.8.4). */
  hasPendingInterrupt(): boolean {
    return this.core.pending >= 0;
  }

  /** Highest vector in the IRR whatever its priority, or -1 (APICv's RVI). */
  highestRequestedVector(): number {
    return this.core.irr.findHighest();
  }

  /** Highest vector in the ISR, or -1 (APICv's SVI). */
  highestInServiceVector(): number {
    return this.core.isr.findHighest();
  }

  /** The vector `acknowledge` would return, or -1 when none is deliverable. */
  highestDeliverableVector(): number {
    return this.core.pending;
  }

  /** The INTA cycle: moves the highest deliverable vector from IRR to ISR and returns it, or the spurious vector. */
  acknowledge(): number {
    return this.core.acknowledge();
  }

  /** Bits of PENDING_SIGNAL (NMI 1, SMI 2, INIT 4, SIPI 8, ExtINT 16) waiting for the processor. */
  get pendingSignals(): number {
    return this.core.signals;
  }

  /** True while the processor waits for a SIPI (after INIT; APs after power-up). */
  get waitingForSipi(): boolean {
    return this.core.waitForSipi;
  }

  /** Takes a pending NMI (NMIs arriving while one is pending merge into it). */
  takeNmi(): boolean {
    return this.take(PENDING_SIGNAL.NMI);
  }

  /** Takes a pending SMI. */
  takeSmi(): boolean {
    return this.take(PENDING_SIGNAL.SMI);
  }

  /** Takes a pending INIT (the APIC's registers were already reset when it arrived). */
  takeInit(): boolean {
    return this.take(PENDING_SIGNAL.INIT);
  }

  /** Takes a pending SIPI and returns its vector (the start page), or -1. */
  takeSipi(): number {
    return this.take(PENDING_SIGNAL.SIPI) ? this.core.sipiVector : -1;
  }

  /** Takes a pending ExtINT: the processor then reads the vector from the 8259-compatible controller. */
  takeExtInt(): boolean {
    return this.take(PENDING_SIGNAL.EXTINT);
  }

  private take(bit: number): boolean {
    if ((this.core.signals & bit) === 0) return false;
    this.core.signals &= ~bit;
    return true;
  }

  // ---- CR8 ----

  /**
   * MOV from CR8: TPR[7:4] (SDM 3A 11.8.6). While the APIC is globally
   * disabled CR8 is a separate register (kvm-unit-tests apic.c
   * test_apic_disable).
   */
  readCr8(): number {
    return this.core.mode === 'disabled' ? this.core.cr8WhileDisabled : this.core.tpr >>> 4;
  }

  /** MOV to CR8: TPR = value << 4; bits 63:4 are reserved (#GP) (SDM 3A 11.8.6). */
  writeCr8(value: number): void {
    if (!Number.isInteger(value) || value < 0) throw new UsageError('bad-argument', `CR8 value must be a non-negative integer, got ${describeValue(value)}`);
    if (value > 15) throw CpuException.gp(`MOV to CR8 with reserved bits set: ${describeValue(value)}`);
    if (this.core.mode === 'disabled') this.core.cr8WhileDisabled = value;
    else this.core.setTpr(value << 4);
  }

  // ---- MMIO (xAPIC page) ----

  /** Reads the xAPIC page at `offset` (0-0xFFF). */
  mmioRead(offset: number, size: 1 | 2 | 4): number {
    return xapicRead(this.core, this.xapicTable, offset, size);
  }

  /** Writes the xAPIC page at `offset` (0-0xFFF). */
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    xapicWrite(this.core, this.xapicTable, offset, size, value);
  }

  // ---- MSRs ----

  /** RDMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE or an x2APIC MSR. */
  readMsr(index: number): bigint {
    checkMsrIndex(index);
    if (index >= X2APIC_MSR_BASE && index <= X2APIC_MSR_LAST) return x2apicReadMsr(this.core, this.x2apicTable, index);
    if (index === IA32_APIC_BASE_MSR) return this.apicBase;
    if (index === IA32_TSC_DEADLINE_MSR) {
      if (!this.core.config.tscDeadlineSupported) throw CpuException.gp('RDMSR IA32_TSC_DEADLINE: TSC-deadline mode not supported');
      return this.core.timer.readDeadline();
    }
    throw new UsageError('bad-argument', `MSR ${describeValue(index)} does not belong to the local APIC`);
  }

  /**
   * WRMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE or an x2APIC MSR. The value
   * is a bigint (0 to 2^64 - 1) or a number (a non-negative safe integer,
   * below 2^53; the x2APIC registers and the ICR fit, and a number avoids a
   * bigint on the hot paths); anything else is a UsageError naming it.
   */
  writeMsr(index: number, value: bigint | number): void {
    // x2APIC EOI fast path; a non-zero value takes the general path to its #GP (SDM 3A 11.12.1.2).
    if (index === X2APIC_EOI_MSR && (value === 0 || value === 0n) && this.core.mode === 'x2apic') {
      this.core.eoi();
      return;
    }
    checkMsrIndex(index);
    let low: number;
    let high: number;
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) throw new UsageError('bad-argument', `MSR value must be an unsigned 64-bit bigint or a non-negative safe integer, got ${describeValue(value)}`);
      low = value >>> 0;
      high = Math.floor(value / 0x1_0000_0000);
    } else if (typeof value === 'bigint' && value >= 0n && value <= 0x1f_ffff_ffff_ffffn) {
      // Below 2^53 (every x2APIC register; an ICR with a destination below 2^21): one conversion, no bigint arithmetic.
      const n = Number(value);
      low = n >>> 0;
      high = (n - low) / 0x1_0000_0000;
    } else if (typeof value === 'bigint' && value >= 0n && value <= 0xffff_ffff_ffff_ffffn) {
      low = Number(value & 0xffff_ffffn);
      high = Number(value >> 32n);
    } else {
      throw new UsageError('bad-argument', `MSR value must be an unsigned 64-bit bigint or a non-negative safe integer, got ${describeValue(value)}`);
    }
    if (index >= X2APIC_MSR_BASE && index <= X2APIC_MSR_LAST) {
      x2apicWriteMsr(this.core, this.x2apicTable, index, low, high);
      return;
    }
    if (index === IA32_APIC_BASE_MSR) {
      this.setApicBase(BigInt(value));
      return;
    }
    if (index === IA32_TSC_DEADLINE_MSR) {
      if (!this.core.config.tscDeadlineSupported) throw CpuException.gp('WRMSR IA32_TSC_DEADLINE: TSC-deadline mode not supported');
      this.core.timer.writeDeadline(BigInt(value));
      return;
    }
    throw new UsageError('bad-argument', `MSR ${describeValue(index)} does not belong to the local APIC`);
  }

  /** IA32_APIC_BASE: base, EN (11), EXTD (10), BSP (8) (SDM 3A Figure 11-5). */
  get apicBase(): bigint {
    const c = this.core;
    let flags = setField(0, APIC_BASE_FIELD.EN, c.mode !== 'disabled' ? 1 : 0);
    flags = setField(flags, APIC_BASE_FIELD.EXTD, c.mode === 'x2apic' ? 1 : 0);
    flags = setField(flags, APIC_BASE_FIELD.BSP, c.bsp ? 1 : 0);
    return BigInt(c.baseAddress) | BigInt(flags);
  }

  /**
   * Writes IA32_APIC_BASE. A guest write (`hostInitiated` false) raises #GP
   * for reserved bits and the illegal mode transitions (SDM 3A 11.12.5); a
   * host-initiated write (a VMM restoring state) may make any transition to a
   * valid state, like KVM's, and may set the BSP flag, which is read-only to
   * the guest.
   */
  setApicBase(value: bigint, hostInitiated = false): void {
    const detail = `WRMSR IA32_APIC_BASE ${bigintToHex(value)}`;
    if ((value & this.baseReserved) !== 0n) {
      if (hostInitiated) throw new UsageError('bad-argument', `${detail}: reserved bits set`);
      throw CpuException.gp(`${detail}: reserved bits set`);
    }
    const c = this.core;
    const from = c.mode;
    const to = checkModeTransition(from, modeFromBits((value & 0x800n) !== 0n, (value & 0x400n) !== 0n), hostInitiated, detail);
    const base = Number(value & ~0xfffn);
    const baseChanged = base !== c.baseAddress;
    c.baseAddress = base;
    if (hostInitiated) c.bsp = (value & 0x100n) !== 0n;
    if (to !== from) {
      if (to === 'disabled' || (from === 'x2apic' && to === 'xapic')) {
        // Register state is not preserved across disabling, except the IDs (SDM 3A 11.12.5.1).
        c.mode = 'disabled';
        c.resetRegisters();
      }
      c.mode = to;
      c.refreshPending();
      // Entering x2APIC mode derives the LDR from the x2APIC ID (SDM 3A 11.12.10.2).
      c.ldr = to === 'x2apic' ? c.x2apicLdr : c.ldr;
      c.port?.apicChanged(this);
    }
    if (to !== from || baseChanged) this.onBaseChange?.(this);
  }

  // ---- reset ----

  /** Power-up reset / RESET# (SDM 3A 11.4.7.1): xAPIC mode, default base, registers at their reset values. */
  reset(): void {
    this.core.powerOnReset();
    this.onBaseChange?.(this);
  }

  // ---- KVM register page ----

  /** The 1 KiB register image of KVM_GET_LAPIC (struct kvm_lapic_state). */
  getKvmLapicState(options?: { x2apicFormat?: boolean }): Uint8Array {
    return exportKvmLapicPage(this.core, options?.x2apicFormat === true);
  }

  /** Loads a KVM_SET_LAPIC register image; the mode comes from IA32_APIC_BASE, as in KVM. */
  setKvmLapicState(regs: Uint8Array, options?: { x2apicFormat?: boolean }): void {
    importKvmLapicPage(this.core, regs, options?.x2apicFormat === true);
  }

  // ---- snapshots ----

  /** Plain JSON-safe state (apic-state.ts); wiring (clock, bus, callbacks) is not saved. */
  saveState(): LocalApicState {
    return saveApicState(this.core);
  }

  /** Restores a saved state; the clock must be restored first (pending timer events are re-scheduled). */
  restoreState(state: unknown): void {
    restoreApicState(this.core, state);
  }

  // ---- without a bus ----

  /** An APIC not connected to a bus is a one-CPU system: messages reach only itself. */
  private deliverAlone(m: ApicBusMessage): DeliveryStatus {
    let hit: boolean;
    if (m.shorthand === ICR_SHORTHAND.ALL_INCLUDING_SELF) hit = true;
    else if (m.shorthand === ICR_SHORTHAND.ALL_EXCLUDING_SELF) hit = false;
    else hit = matchesDestination(this, m.destination, m.logical, m.x2apicDestination);
    return hit ? this.acceptBusMessage(m) : DELIVERY_STATUS.BLOCKED;
  }
}
