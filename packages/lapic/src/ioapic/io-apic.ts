/**
 * The I/O APIC (Intel 82093AA datasheet): 24 redirection entries turning
 * interrupt pins into APIC bus messages, reached through the IOREGSEL/IOWIN
 * pair; level-triggered pins hold Remote IRR until the local APIC's EOI comes
 * back (broadcast EOI, or the EOI register of version 0x20 IOAPICs when the
 * local APICs suppress EOI broadcasts).
 */
import {
  DELIVERY_MODE,
  DELIVERY_STATUS,
  DELIVERY_STATUS_NAME,
  SnapshotError,
  UsageError,
  assertInteger,
  assertOptions,
  assertU32,
  describeValue,
  readState,
  type Clock,
  type DeliveryStatus,
  type InterruptLine,
  type MmioDevice,
  type Snapshottable,
  type Tracer,
} from '@hvsim/core';
import { emptyMessage, isReservedMessageDeliveryMode, type ApicBusMessage, type ApicBusPort } from '../bus/apic-message.js';
import {
  IOAPIC,
  IOAPIC_PINS,
  IOAPIC_INDIRECT,
  RTE_HIGH_WRITABLE,
  RTE_LOW_RESET,
  RTE_LOW_WRITABLE,
} from './regs.js';
import { RTE_HIGH_REMAPPABLE, rteMsiAddress, rteMsiData } from './rte.js';

/**
 * Where an IOAPIC's interrupts can go as MSI writes (core's MsiTarget, with
 * an optional flow identifier): an IOMMU doing interrupt remapping, a
 * hypervisor's GSI routing table, or an ApicBus.
 */
export interface IoApicMsiTarget {
  /** Takes the MSI write of one interrupt (`flow` 0: untracked) and says what became of it. */
  deliverMsi(address: number, data: number, sourceId?: number, flow?: number): DeliveryStatus;
}

/** Options of an {@link IoApic}. */
export interface IoApicOptions {
  /** IOAPIC ID, 4 bits (default 0). */
  id?: number;
  /** Version: 0x20 (default, with the EOI register) or 0x11 (82093AA). */
  version?: 0x11 | 0x20;
  /** Clock used only to time-stamp trace events. */
  clock?: Clock;
  /** Receives trace events (`source` `'ioapic'`; `flow` the interrupt's flow identifier when known). */
  tracer?: Tracer;
  /**
   * Hold an edge that arrives on a masked edge-triggered pin and deliver it
   * when the entry is unmasked, as QEMU's IOAPIC does (it keeps the edge in
   * its IRR). Default false: the 82093AA ignores edges on a masked pin
   * (82093AA 3.2.4, bit 16). Linux's in-kernel KVM IOAPIC does not deliver
   * them either (it only re-services level pins on unmask).
   */
  holdMaskedEdges?: boolean;
  /**
   * Called after software writes a redirection entry (either dword), and for
   * every pin after reset and restoreState: KVM re-scans the IOAPIC then
   * (KVM_REQ_SCAN_IOAPIC: EOI-exit bitmap, ioapic_handled_vectors).
   */
  onRteWrite?: (pin: number) => void;
  /**
   * The entries accept the remappable format of VT-d 5.1.5.1 (bit 48 set,
   * the remapping index in bits 63:49 and 11): bits 63:48 become writable.
   * Such an entry sends a remappable-format MSI, so it needs an MSI target
   * that remaps ({@link IoApic.connectMsi} to an IOMMU); on a plain APIC bus
   * it is dropped. Default false (82093AA: bits 55:32 reserved).
   */
  remappableFormat?: boolean;
  /**
   * Ack notifier: called with (pin, vector) when an EOI for `vector` reaches
   * this IOAPIC ({@link IoApic.eoi}: a local APIC's level EOI broadcast or
   * a write of the EOI register), for every pin whose entry holds that
   * vector, BEFORE its Remote IRR is cleared and the pin is re-sampled — as
   * KVM's kvm_ioapic_update_eoi calls the ack notifiers (irqfd resample, the
   * PIT's reinjection). The hook may change pin levels (`setIrq`): a line
   * it lowers is not delivered again; one it raises is coalesced with the
   * pending Remote IRR and re-delivered once that is cleared. Default none.
   */
  onEoi?: (pin: number, vector: number) => void;
}

/** Saved state of an {@link IoApic}. */
export interface IoApicState {
  /** Format tag. */
  type: 'hvsim.ioapic';
  /** Format version. */
  version: 1;
  /** IOAPICID register. */
  id: number;
  /** IOREGSEL: the selected indirect register. */
  ioregsel: number;
  /** Low dword of each redirection entry. */
  rteLow: number[];
  /** High dword of each redirection entry. */
  rteHigh: number[];
  /** Input level of each pin. */
  pins: boolean[];
  /** Edges held on masked pins (option holdMaskedEdges), one bit per pin; absent in older states. */
  heldEdges?: number;
}

const IOAPIC_OPTIONS: readonly (keyof IoApicOptions)[] = ['id', 'version', 'clock', 'tracer', 'holdMaskedEdges', 'onRteWrite', 'remappableFormat', 'onEoi'];

const MASK = 1 << 16;
const TRIGGER_LEVEL = 1 << 15;
const REMOTE_IRR = 1 << 14;
const ACTIVE_LOW = 1 << 13;

/** An 82093AA-compatible I/O APIC with 24 redirection entries; all masked after reset. */
export class IoApic implements MmioDevice, Snapshottable<IoApicState> {
  /** Version register value's version byte. */
  readonly version: number;
  private id: number;
  private readonly resetId: number;
  private ioregsel = 0;
  private readonly rteLow = new Uint32Array(IOAPIC_PINS).fill(RTE_LOW_RESET);
  private readonly rteHigh = new Uint32Array(IOAPIC_PINS);
  private readonly pins: boolean[] = new Array<boolean>(IOAPIC_PINS).fill(false);
  private port: Pick<ApicBusPort, 'deliver'> | undefined;
  private msiTarget: IoApicMsiTarget | undefined;
  private sourceId: number | undefined;
  private readonly message: ApicBusMessage = emptyMessage();
  private depth = 0;
  private readonly clock: Clock | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly holdMaskedEdges: boolean;
  private readonly onRteWrite: ((pin: number) => void) | undefined;
  private readonly onEoi: ((pin: number, vector: number) => void) | undefined;
  private readonly highWritable: number;
  /** Edges held on masked pins (bit per pin; holdMaskedEdges). */
  private heldEdges = 0;
  /** Flow identifier of the last interrupt raised on each pin (0: untracked). */
  private readonly pinFlows = new Int32Array(IOAPIC_PINS);

  constructor(options: IoApicOptions = {}) {
    assertOptions(options, IOAPIC_OPTIONS, 'IoApic');
    const id = options.id ?? 0;
    assertInteger(id, 'IoApic id', 0, 15);
    const version: number = options.version ?? 0x20;
    if (version !== 0x11 && version !== 0x20) throw new UsageError('bad-argument', `IoApic version must be 0x11 or 0x20, got ${describeValue(version)}`);
    this.id = id;
    this.resetId = id;
    this.version = version;
    this.clock = options.clock;
    this.tracer = options.tracer;
    this.holdMaskedEdges = options.holdMaskedEdges === true;
    const onRteWrite: unknown = options.onRteWrite;
    if (onRteWrite !== undefined && typeof onRteWrite !== 'function') throw new UsageError('bad-argument', `onRteWrite must be a function, got ${describeValue(onRteWrite)}`);
    this.onRteWrite = options.onRteWrite;
    const onEoi: unknown = options.onEoi;
    if (onEoi !== undefined && typeof onEoi !== 'function') throw new UsageError('bad-argument', `onEoi must be a function, got ${describeValue(onEoi)}`);
    this.onEoi = options.onEoi;
    this.highWritable = options.remappableFormat === true ? (RTE_HIGH_WRITABLE | 0xffff_0000) >>> 0 : RTE_HIGH_WRITABLE;
  }

  /** RESET: every entry masked, IOREGSEL 0, the ID as constructed; the input pins keep their levels. */
  reset(): void {
    this.id = this.resetId;
    this.ioregsel = 0;
    this.rteLow.fill(RTE_LOW_RESET);
    this.rteHigh.fill(0);
    this.heldEdges = 0;
    this.rteChangedAll();
  }

  /**
   * Sends interrupts as APIC bus messages to `port` (an ApicBus, or a VMM's
   * own ApicBusPort); ApicBus.attach calls this. Replaces an MSI target.
   */
  connect(port: Pick<ApicBusPort, 'deliver'> | undefined): void {
    this.port = port;
    if (port !== undefined) this.msiTarget = undefined;
  }

  /**
   * Sends interrupts as MSI writes to `target` instead (replacing a bus
   * connection): the address and data each redirection entry describes
   * ({@link rteMsiAddress}, {@link rteMsiData}), with `sourceId` as the
   * requester ID. This puts VT-d interrupt remapping (IOAPIC interrupts are
   * MSIs to the IOMMU, VT-d 5.1.5.1) or a hypervisor's GSI routing table
   * between the IOAPIC and the local APICs. EOIs still come back through
   * {@link eoi}. `undefined` disconnects.
   */
  connectMsi(target: IoApicMsiTarget | undefined, sourceId?: number): void {
    if (target !== undefined && (typeof target !== 'object' || typeof (target as Partial<IoApicMsiTarget>).deliverMsi !== 'function')) {
      throw new UsageError('bad-argument', `IOAPIC MSI target must have a deliverMsi method, got ${describeValue(target)}`);
    }
    if (sourceId !== undefined) assertInteger(sourceId, 'IOAPIC source ID', 0, 0xffff);
    this.msiTarget = target;
    this.sourceId = sourceId;
    if (target !== undefined) this.port = undefined;
  }

  /** Number of redirection entries. */
  get pinCount(): number {
    return IOAPIC_PINS;
  }

  /** IOAPICID register value. */
  get idRegister(): number {
    return (this.id << 24) >>> 0;
  }

  /** IOAPICVER: version and maximum redirection entry index (82093AA 3.2.2). */
  get versionRegister(): number {
    return this.version | ((IOAPIC_PINS - 1) << 16);
  }

  /** The 64-bit redirection entry of `pin` as [low, high] dwords. */
  redirectionEntry(pin: number): [number, number] {
    this.checkPin(pin);
    return [this.rteLow[pin]!, this.rteHigh[pin]!];
  }

  /** True when Remote IRR of `pin` is set (a level interrupt awaiting EOI). */
  remoteIrr(pin: number): boolean {
    this.checkPin(pin);
    return (this.rteLow[pin]! & REMOTE_IRR) !== 0;
  }

  // ---- MMIO ----

  /** Reads IOREGSEL, IOWIN or (version 0x20) the write-only EOI register. Only aligned 32-bit accesses are decoded. */
  mmioRead(offset: number, size: 1 | 2 | 4): number {
    this.checkAccess(offset, size);
    if (size !== 4) return 0;
    if (offset === IOAPIC.IOREGSEL) return this.ioregsel;
    if (offset === IOAPIC.IOWIN) return this.readIndirect(this.ioregsel);
    return 0;
  }

  /** Writes IOREGSEL, IOWIN or (version 0x20) the EOI register. Other offsets and sizes are ignored. */
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    this.checkAccess(offset, size);
    if (size !== 4) return;
    if (offset === IOAPIC.IOREGSEL) this.ioregsel = value & 0xff;
    else if (offset === IOAPIC.IOWIN) this.writeIndirect(this.ioregsel, value >>> 0);
    else if (offset === IOAPIC.EOI && this.version >= 0x20) this.eoi(value & 0xff);
  }

  /** Reads an indirect register (82093AA 3.2); undefined indexes read 0. */
  readIndirect(index: number): number {
    assertInteger(index, 'IOAPIC register index', 0, 0xff);
    if (index === IOAPIC_INDIRECT.ID) return this.idRegister;
    if (index === IOAPIC_INDIRECT.VER) return this.versionRegister;
    // The arbitration ID is loaded from the ID (82093AA 3.2.3).
    if (index === IOAPIC_INDIRECT.ARB) return this.idRegister;
    const pin = (index - IOAPIC_INDIRECT.IOREDTBL0) >> 1;
    if (index >= IOAPIC_INDIRECT.IOREDTBL0 && pin < IOAPIC_PINS) return (index & 1) === 0 ? this.rteLow[pin]! : this.rteHigh[pin]!;
    return 0;
  }

  /** Writes an indirect register; read-only ones and undefined indexes ignore writes. */
  writeIndirect(index: number, value: number): void {
    assertInteger(index, 'IOAPIC register index', 0, 0xff);
    assertU32(value, 'IOAPIC register value');
    if (index === IOAPIC_INDIRECT.ID) {
      this.id = (value >>> 24) & 0xf;
      return;
    }
    const pin = (index - IOAPIC_INDIRECT.IOREDTBL0) >> 1;
    if (index < IOAPIC_INDIRECT.IOREDTBL0 || pin >= IOAPIC_PINS) return;
    if ((index & 1) === 1) {
      this.rteHigh[pin] = (value & this.highWritable) >>> 0;
      this.onRteWrite?.(pin);
      return;
    }
    const old = this.rteLow[pin]!;
    let v = (value & RTE_LOW_WRITABLE) | (old & REMOTE_IRR);
    // Remote IRR is undefined for edge-triggered entries; it is kept clear.
    if ((v & TRIGGER_LEVEL) === 0) v &= ~REMOTE_IRR;
    this.rteLow[pin] = v >>> 0;
    this.onRteWrite?.(pin);
    if ((v & MASK) !== 0) return;
    const bit = 1 << pin;
    if ((v & TRIGGER_LEVEL) !== 0) {
      this.heldEdges &= ~bit;
      // A level pin that is still asserted is delivered when unmasked (as KVM's ioapic does).
      if ((v & REMOTE_IRR) === 0 && this.asserted(pin)) this.deliver(pin);
    } else if ((this.heldEdges & bit) !== 0) {
      // holdMaskedEdges: the edge that arrived while masked is sent now (QEMU ioapic_service).
      this.heldEdges &= ~bit;
      this.deliver(pin);
    }
  }

  // ---- pins ----

  /**
   * Drives interrupt pin `pin` (0-23). Edge entries send on the inactive-to-
   * active transition while unmasked; level entries send while active,
   * unmasked and Remote IRR clear (82093AA 3.2.4). Polarity (bit 13) says
   * which level is active. Edges and level changes on a masked pin are
   * ignored, not held pending (82093AA 3.2.4, bit 16; option holdMaskedEdges
   * holds edges); a level pin still asserted when it is unmasked is delivered
   * then. Returns what became of the interrupt, as KVM_IRQ_LINE_STATUS
   * reports it (ioapic_set_irq):
   * - the pin went or stayed inactive: DELIVERED (KVM answers 1 for a de-assert);
   * - masked entry: BLOCKED (held when holdMaskedEdges);
   * - edge entry with no inactive-to-active transition, or level entry with
   *   Remote IRR set (waiting for the EOI): COALESCED (KVM's ioapic_service
   *   answers -1 for the latter);
   * - reserved delivery mode: DROPPED; nothing connected: BLOCKED;
   * - otherwise the status of the message sent (see ApicBus.deliver).
   * `flow` (optional) is the interrupt's flow identifier for trace events.
   */
  setIrq(pin: number, level: boolean, flow = 0): DeliveryStatus {
    this.checkPin(pin);
    if (typeof level !== 'boolean') throw new UsageError('bad-argument', `IOAPIC pin level must be a boolean, got ${describeValue(level)}`);
    if ((flow | 0) !== flow || flow < 0) throw new UsageError('bad-argument', `flow must be a non-negative 32-bit integer, got ${describeValue(flow)}`);
    const previous = this.pins[pin]!;
    this.pins[pin] = level;
    const lo = this.rteLow[pin]!;
    const activeLow = (lo & ACTIVE_LOW) !== 0;
    const asserted = level !== activeLow;
    if (!asserted) return DELIVERY_STATUS.DELIVERED;
    const edge = (lo & TRIGGER_LEVEL) === 0;
    const rising = previous === activeLow;
    if (rising) this.pinFlows[pin] = flow;
    if ((lo & MASK) !== 0) {
      if (edge && rising && this.holdMaskedEdges) this.heldEdges |= 1 << pin;
      this.tracer?.emit({ kind: 'interrupt.dropped', cycle: this.clock?.now() ?? 0, source: 'ioapic', vector: lo & 0xff, flow: flow === 0 ? undefined : flow, args: { pin, why: this.holdMaskedEdges && edge ? 'masked-held' : 'masked' } });
      return DELIVERY_STATUS.BLOCKED;
    }
    if (!edge) {
      if ((lo & REMOTE_IRR) !== 0) return DELIVERY_STATUS.COALESCED;
      if (!rising) this.pinFlows[pin] = flow;
      return this.deliver(pin);
    }
    return rising ? this.deliver(pin) : DELIVERY_STATUS.COALESCED;
  }

  /** Pin `pin` as a core InterruptLine, for devices wired to a line rather than to this class. */
  line(pin: number): InterruptLine {
    this.checkPin(pin);
    return {
      setLevel: (asserted: boolean) => {
        this.setIrq(pin, asserted);
      },
    };
  }

  /** Current level of input pin `pin`. */
  pinLevel(pin: number): boolean {
    this.checkPin(pin);
    return this.pins[pin]!;
  }

  /**
   * An EOI for `vector` (a local APIC's broadcast, or a write of the EOI
   * register): for each entry with that vector, the `onEoi` ack notifier
   * first; then, if its Remote IRR is set, Remote IRR is cleared and the pin
   * re-delivered when still asserted.
   */
  eoi(vector: number): void {
    const onEoi = this.onEoi;
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      let lo = this.rteLow[pin]!;
      if ((lo & 0xff) !== vector) continue;
      if (onEoi !== undefined) {
        onEoi(pin, vector);
        // The notifier may have rewritten the entry or the pin: look again.
        lo = this.rteLow[pin]!;
      }
      if ((lo & REMOTE_IRR) === 0) continue;
      this.rteLow[pin] = lo & ~REMOTE_IRR;
      const flow = this.pinFlows[pin]!;
      this.tracer?.emit({ kind: 'interrupt.eoi', cycle: this.clock?.now() ?? 0, source: 'ioapic', vector, flow: flow === 0 ? undefined : flow, args: { pin } });
      if ((lo & MASK) === 0 && this.asserted(pin)) this.deliver(pin);
    }
  }

  private asserted(pin: number): boolean {
    return this.pins[pin] !== ((this.rteLow[pin]! & ACTIVE_LOW) !== 0);
  }

  private deliver(pin: number): DeliveryStatus {
    const lo = this.rteLow[pin]!;
    const hi = this.rteHigh[pin]!;
    const flow = this.pinFlows[pin]!;
    const traceFlow = flow === 0 ? undefined : flow;
    const remappable = (hi & RTE_HIGH_REMAPPABLE) !== 0;
    // Delivery modes 011b and 110b are reserved in a redirection entry (82093AA 3.2.4): nothing is sent.
    // (A remappable-format entry's delivery mode field is 000b and the IRTE decides; VT-d 5.1.5.1.)
    if (!remappable && isReservedMessageDeliveryMode((lo >>> 8) & 7)) return this.notSent(pin, lo, 'reserved-delivery-mode', DELIVERY_STATUS.DROPPED, traceFlow);
    const level = (lo & TRIGGER_LEVEL) !== 0;
    let status: DeliveryStatus;
    this.depth++;
    try {
      if (this.msiTarget !== undefined) {
        status = this.msiTarget.deliverMsi(rteMsiAddress(lo, hi), rteMsiData(lo, hi), this.sourceId, flow);
      } else if (this.port !== undefined) {
        if (remappable) return this.notSent(pin, lo, 'remappable-rte-without-iommu', DELIVERY_STATUS.DROPPED, traceFlow);
        // A pin raised from a receiver's notifier while this message is in flight gets its own message.
        const m = this.depth === 1 ? this.message : emptyMessage();
        m.destination = hi >>> 24;
        m.logical = (lo & 0x800) !== 0;
        m.shorthand = 0;
        m.vector = lo & 0xff;
        m.deliveryMode = (lo >>> 8) & 7;
        m.trigger = level ? 'level' : 'edge';
        m.level = true;
        m.x2apicDestination = false;
        m.flow = flow;
        status = this.port.deliver(m);
      } else {
        return this.notSent(pin, lo, 'not-connected', DELIVERY_STATUS.BLOCKED, traceFlow);
      }
    } finally {
      this.depth--;
    }
    // Remote IRR: set once a local APIC accepted the level interrupt (82093AA 3.2.4). Only fixed and
    // lowest-priority interrupts reach an ISR and come back with an EOI; NMI, SMI, INIT and ExtINT never do.
    // A remappable entry's mode is the IRTE's, unknown here: the EOI decides.
    const mode = (lo >>> 8) & 7;
    if (level && status >= DELIVERY_STATUS.COALESCED && (remappable || mode === DELIVERY_MODE.FIXED || mode === DELIVERY_MODE.LOWEST_PRIORITY)) {
      this.rteLow[pin] = this.rteLow[pin]! | REMOTE_IRR;
    }
    this.tracer?.emit({
      kind: status >= DELIVERY_STATUS.COALESCED ? 'interrupt.raised' : 'interrupt.dropped',
      cycle: this.clock?.now() ?? 0,
      source: 'ioapic',
      vector: lo & 0xff,
      flow: traceFlow,
      args: { pin, status: DELIVERY_STATUS_NAME[status] },
    });
    return status;
  }

  private notSent(pin: number, lo: number, why: string, status: DeliveryStatus, flow: number | undefined): DeliveryStatus {
    this.tracer?.emit({ kind: 'interrupt.dropped', cycle: this.clock?.now() ?? 0, source: 'ioapic', vector: lo & 0xff, flow, args: { pin, why } });
    return status;
  }

  private rteChangedAll(): void {
    const fn = this.onRteWrite;
    if (fn !== undefined) for (let pin = 0; pin < IOAPIC_PINS; pin++) fn(pin);
  }

  private checkPin(pin: number): void {
    if (!(pin >= 0 && pin < IOAPIC_PINS) || (pin | 0) !== pin) {
      throw new UsageError('bad-argument', `IOAPIC pin must be an integer in [0, ${IOAPIC_PINS - 1}], got ${describeValue(pin)}`);
    }
  }

  private checkAccess(offset: number, size: number): void {
    if (!(offset >= 0 && offset < 0x1000) || (offset | 0) !== offset) {
      throw new UsageError('bad-argument', `IOAPIC offset must be an integer in [0, 0xfff], got ${describeValue(offset)}`);
    }
    if (size !== 1 && size !== 2 && size !== 4) throw new UsageError('bad-argument', `IOAPIC access size must be 1, 2 or 4 bytes, got ${describeValue(size)}`);
  }

  // ---- snapshots ----

  /** Registers, IOREGSEL and pin levels as plain JSON-safe data; the bus connection is wiring. */
  saveState(): IoApicState {
    return {
      type: 'hvsim.ioapic',
      version: 1,
      id: this.id,
      ioregsel: this.ioregsel,
      rteLow: Array.from(this.rteLow),
      rteHigh: Array.from(this.rteHigh),
      pins: [...this.pins],
      heldEdges: this.heldEdges,
    };
  }

  /** Restores a saved state, refusing foreign or malformed ones (SnapshotError); nothing is re-sent. */
  restoreState(state: unknown): void {
    const r = readState(state, 'hvsim.ioapic', 1);
    const id = r.int('id', 0, 15);
    const ioregsel = r.int('ioregsel', 0, 0xff);
    const low = r.intArray('rteLow', 0, 0xffff_ffff, IOAPIC_PINS);
    const high = r.intArray('rteHigh', 0, 0xffff_ffff, IOAPIC_PINS);
    const pins = r.raw('pins');
    if (!Array.isArray(pins) || pins.length !== IOAPIC_PINS || !pins.every((p) => typeof p === 'boolean')) {
      throw new SnapshotError('shape', `hvsim.ioapic.pins must be an array of ${IOAPIC_PINS} booleans`);
    }
    for (let i = 0; i < IOAPIC_PINS; i++) {
      if ((low[i]! & ~(RTE_LOW_WRITABLE | REMOTE_IRR)) !== 0 || (high[i]! & ~this.highWritable) !== 0) {
        throw new SnapshotError('shape', `hvsim.ioapic.rteLow/rteHigh[${i}] has reserved bits set`);
      }
    }
    const held = r.has('heldEdges') ? r.int('heldEdges', 0, 0xff_ffff) : 0;
    this.id = id;
    this.ioregsel = ioregsel;
    this.rteLow.set(low);
    this.rteHigh.set(high);
    for (let i = 0; i < IOAPIC_PINS; i++) this.pins[i] = pins[i] as boolean;
    this.heldEdges = held;
    this.pinFlows.fill(0);
    this.rteChangedAll();
  }
}
