/**
 * The APIC bus: connects local APICs and IOAPICs, resolves each message's
 * destination (physical, logical flat/cluster, x2APIC cluster, shorthands,
 * broadcast; SDM 3A 11.6.2, 11.12.10), arbitrates lowest-priority delivery
 * (11.6.2.4), decodes MSIs (11.11) and carries level EOIs back to the
 * IOAPICs (11.8.5).
 *
 * Destination indexes make a physical delivery one map lookup and a logical
 * or broadcast delivery cost proportional to the APICs it reaches. They are
 * rebuilt lazily when an APIC reports a new ID, LDR, DFR or mode.
 */
import { DELIVERY_MODE, DELIVERY_STATUS, UsageError, assertOptions, describeValue, readState, type Clock, type DeliveryStatus, type MsiTarget, type Snapshottable, type Tracer } from '@hvsim/core';
import { LocalApic } from '../apic/local-apic.js';
import type { IoApic } from '../ioapic/io-apic.js';
import { isMsiAddress, isRemappableMsi } from '../msi/msi.js';
import { emptyMessage, isReservedMessageDeliveryMode, type ApicBusEndpoint, type ApicBusMessage, type ApicBusPort } from './apic-message.js';
import { broadcastAddress } from './destination.js';
import { DFR_MODEL, ICR_SHORTHAND } from '../apic/regs.js';

/** Options of an {@link ApicBus}. */
export interface ApicBusOptions {
  /**
   * Decode MSI address bits 11:5 as destination ID bits 14:8 (the
   * non-architectural extended destination ID of KVM/Hyper-V guests; off by
   * default).
   */
  extendedDestinationId?: boolean;
  /**
   * Lowest-priority arbitration: `'priority'` (default: a focus processor,
   * else the lowest TPR class, SDM 3A 11.6.2.4) or `'vector-hashing'`
   * (KVM's default: the (vector mod n)-th of the n candidates, ignoring
   * priorities).
   */
  lowestPriority?: 'priority' | 'vector-hashing';
  /** Clock used only to time-stamp trace events. */
  clock?: Clock;
  /** Receives `msi` and dropped-message trace events. */
  tracer?: Tracer;
}

/** Saved state of an {@link ApicBus}: the arbitration cursor (the attached devices save their own state). */
export interface ApicBusState {
  /** Format tag. */
  type: 'hvsim.apic-bus';
  /** Format version. */
  version: 1;
  /** Round-robin position for lowest-priority arbitration. */
  rotate: number;
}

const APIC_BUS_OPTIONS: readonly (keyof ApicBusOptions)[] = ['extendedDestinationId', 'lowestPriority', 'clock', 'tracer'];

/** A LocalApic, or an IoApic (or a model with IoApic's `connect` and `eoi`). */
function checkDevice(device: unknown): void {
  if (device instanceof LocalApic) return;
  const d = device as Partial<IoApic> | null;
  if (typeof d !== 'object' || d === null || typeof d.connect !== 'function' || typeof d.eoi !== 'function') {
    throw new UsageError('bad-argument', `ApicBus connects LocalApic and IoApic instances, got ${describeValue(device)}`);
  }
}

/** The interconnect between local APICs and IOAPICs; also the MSI target without an IOMMU. */
export class ApicBus implements MsiTarget, ApicBusPort, Snapshottable<ApicBusState> {
  private readonly apicList: LocalApic[] = [];
  private readonly ioapicList: IoApic[] = [];
  private readonly slotOf = new Map<ApicBusEndpoint, number>();
  private dirty = true;
  private byId = new Map<number, number[]>();
  /**
   * Dense physical index for IDs below its length: the slot of the one APIC
   * with that ID, -1 for none, -2 for several (then `byId` has them). Makes
   * a physical delivery one typed-array read whatever the number of APICs.
   */
  private idSlot = new Int32Array(0);
  /** xAPIC flat model: slots per logical-ID bit. */
  private flat: number[][] = [];
  /** xAPIC cluster model: slots per (cluster << 2 | bit). */
  private cluster: number[][] = [];
  /** x2APIC: per cluster ID, slots per bit of the 16-bit logical ID. */
  private x2cluster = new Map<number, number[][]>();
  private seen = new Uint32Array(0);
  private generation = 0;
  private readonly targets: number[] = [];
  private rotate = 0;
  /** Deliveries in progress: a receiver's notifier may deliver again before one finishes. */
  private depth = 0;
  private msiDepth = 0;
  private readonly msiMessage: ApicBusMessage = emptyMessage();
  private accepted = 0;
  private matched = 0;
  private readonly extendedDestinationId: boolean;
  private readonly vectorHashing: boolean;
  private readonly clock: Clock | undefined;
  private readonly tracer: Tracer | undefined;

  constructor(options: ApicBusOptions = {}) {
    assertOptions(options, APIC_BUS_OPTIONS, 'ApicBus');
    this.extendedDestinationId = options.extendedDestinationId === true;
    const lp: unknown = options.lowestPriority ?? 'priority';
    if (lp !== 'priority' && lp !== 'vector-hashing') {
      throw new UsageError('bad-argument', `lowestPriority must be 'priority' or 'vector-hashing', got ${describeValue(lp)}`);
    }
    this.vectorHashing = lp === 'vector-hashing';
    this.clock = options.clock;
    this.tracer = options.tracer;
  }

  /** Connects a local APIC or an IOAPIC to this bus. */
  attach(device: LocalApic | IoApic): void {
    checkDevice(device);
    if (device instanceof LocalApic) {
      if (this.slotOf.has(device)) throw new UsageError('bad-state', `local APIC ${device.id} is already attached to this bus`);
      // Two processors with one configured APIC ID is a wiring error (IDs are unique per platform, SDM 3A 11.4.6).
      if (this.apicList.some((a) => a.id === device.id)) throw new UsageError('bad-state', `another local APIC with id ${device.id} is already attached to this bus`);
      this.slotOf.set(device, this.apicList.length);
      this.apicList.push(device);
      this.seen = new Uint32Array(this.apicList.length);
      device.connect(this);
      this.dirty = true;
    } else {
      if (this.ioapicList.includes(device)) throw new UsageError('bad-state', 'this IOAPIC is already attached to this bus');
      this.ioapicList.push(device);
      device.connect(this);
    }
  }

  /** Disconnects a local APIC or an IOAPIC from this bus. */
  detach(device: LocalApic | IoApic): void {
    checkDevice(device);
    if (device instanceof LocalApic) {
      const slot = this.slotOf.get(device);
      if (slot === undefined) throw new UsageError('bad-state', `local APIC ${device.id} is not attached to this bus`);
      this.apicList.splice(slot, 1);
      this.slotOf.clear();
      this.apicList.forEach((apic, i) => this.slotOf.set(apic, i));
      this.seen = new Uint32Array(this.apicList.length);
      this.dirty = true;
    } else {
      const i = this.ioapicList.indexOf(device);
      if (i < 0) throw new UsageError('bad-state', 'this IOAPIC is not attached to this bus');
      this.ioapicList.splice(i, 1);
    }
    device.connect(undefined);
  }

  /** The attached local APICs, in attach order. */
  get apics(): readonly LocalApic[] {
    return this.apicList;
  }

  /** The attached IOAPICs. */
  get ioapics(): readonly IoApic[] {
    return this.ioapicList;
  }

  /** The local APIC whose physical ID in effect is `id`, if exactly one has it. */
  apicById(id: number): LocalApic | undefined {
    if (this.dirty) this.rebuild();
    const slots = this.byId.get(id);
    return slots?.length === 1 ? this.apicList[slots[0]!] : undefined;
  }

  /** An attached APIC's ID, LDR, DFR or mode changed: the destination indexes are rebuilt before the next delivery. */
  apicChanged(_apic: ApicBusEndpoint): void {
    this.dirty = true;
  }

  /** Sends a level EOI to every IOAPIC (SDM 3A 11.8.5). */
  broadcastEoi(vector: number, _sender?: ApicBusEndpoint): void {
    for (const io of this.ioapicList) io.eoi(vector);
  }

  /**
   * A memory write to the MSI window (SDM 3A 11.11). Remappable-format
   * messages need an IOMMU: without one they are dropped (traced); so are
   * messages with the reserved delivery modes 3 and 6 (DROPPED). A fixed
   * message with RH = 1 and logical DM goes to the lowest-priority processor
   * of the logical group (11.11.1). Returns the status of the whole message
   * (see {@link deliver}); {@link lastAcceptedCount} says how many APICs
   * accepted it and {@link lastMatchedCount} how many it reached (0 for a
   * dropped remappable or reserved-mode message). `flow` (optional) is
   * carried into the trace events.
   */
  deliverMsi(address: number, data: number, sourceId?: number, flow = 0): DeliveryStatus {
    if (!isMsiAddress(address)) throw new UsageError('bad-argument', `MSI address must be in [0xfee00000, 0xfeefffff], got ${describeValue(address)}`);
    if (data >>> 0 !== data) throw new UsageError('bad-argument', `MSI data must be an unsigned 32-bit integer, got ${describeValue(data)}`);
    if ((flow | 0) !== flow || flow < 0) throw new UsageError('bad-argument', `flow must be a non-negative 32-bit integer, got ${describeValue(flow)}`);
    const traceFlow = flow === 0 ? undefined : flow;
    this.tracer?.emit({ kind: 'msi', cycle: this.clock?.now() ?? 0, source: 'apic-bus', address, data, flow: traceFlow, args: sourceId === undefined ? undefined : { sourceId } });
    this.accepted = 0;
    this.matched = 0;
    if (isRemappableMsi(address)) {
      this.tracer?.emit({ kind: 'interrupt.dropped', cycle: this.clock?.now() ?? 0, source: 'apic-bus', vector: data & 0xff, flow: traceFlow, args: { why: 'remappable-msi-without-iommu' } });
      return DELIVERY_STATUS.DROPPED;
    }
    const deliveryMode = (data >>> 8) & 7;
    // MSI data delivery modes 011b and 110b are reserved (SDM 3A 11.11.2): nothing is delivered.
    if (isReservedMessageDeliveryMode(deliveryMode)) {
      this.tracer?.emit({ kind: 'interrupt.dropped', cycle: this.clock?.now() ?? 0, source: 'apic-bus', vector: data & 0xff, flow: traceFlow, args: { why: 'reserved-delivery-mode', deliveryMode } });
      return DELIVERY_STATUS.DROPPED;
    }
    // A nested MSI (written from a receiver's notifier) must not overwrite the message in flight.
    const m = this.msiDepth === 0 ? this.msiMessage : emptyMessage();
    let dest = (address >>> 12) & 0xff;
    if (this.extendedDestinationId) dest |= ((address >>> 5) & 0x7f) << 8;
    m.destination = dest;
    m.logical = (address & 0x4) !== 0;
    m.shorthand = 0;
    m.vector = data & 0xff;
    // RH = 1 with logical DM redirects the message to the lowest-priority processor of the
    // logical group; with physical DM only the addressed processor is considered (SDM 3A 11.11.1).
    m.deliveryMode = deliveryMode === DELIVERY_MODE.FIXED && (address & 0xc) === 0xc ? DELIVERY_MODE.LOWEST_PRIORITY : deliveryMode;
    const level = (data & 0x8000) !== 0;
    m.trigger = level ? 'level' : 'edge';
    m.level = level ? (data & 0x4000) !== 0 : true;
    m.x2apicDestination = false;
    m.flow = flow;
    this.msiDepth++;
    try {
      return this.deliver(m);
    } finally {
      this.msiDepth--;
    }
  }

  /** How many APICs accepted (newly or coalesced) the message the last finished `deliver`/`deliverMsi` carried. */
  get lastAcceptedCount(): number {
    return this.accepted;
  }

  /**
   * How many APICs the message the last finished `deliver`/`deliverMsi`
   * carried was offered to: those its destination matched (for lowest
   * priority, the one arbitration chose; 0 when no candidate could take
   * part). Tells "no APIC matched" (0) from "matched, but refused" (BLOCKED
   * with a count above 0). KVM's kvm_irq_delivery_to_apic answers -1 only
   * for the first and the number of APICs that accepted otherwise:
   * `lastMatchedCount === 0 ? -1 : lastAcceptedCount`.
   */
  get lastMatchedCount(): number {
    return this.matched;
  }

  /**
   * Delivers one message to the APICs it addresses and says what became of
   * it, by KVM's rule (kvm_irq_delivery_to_apic): DELIVERED when at least one
   * destination took it newly; else COALESCED when one already had it
   * pending; BLOCKED when no APIC matched the destination or the matches
   * refused it (disabled; KVM counts such refusals as 0, "coalesced"; here
   * they are told apart, and {@link lastMatchedCount} tells the two BLOCKED
   * cases apart); DROPPED when every match dropped it (an illegal vector, a
   * reserved mode). That is the greatest DELIVERY_STATUS over the
   * destinations. {@link lastAcceptedCount} then holds how many accepted it,
   * {@link lastMatchedCount} how many it was offered to.
   * `sender` is needed for the self and all-excluding-self shorthands.
   */
  deliver(m: ApicBusMessage, sender?: ApicBusEndpoint): DeliveryStatus {
    if ((m.vector & 0xff) !== m.vector || (m.deliveryMode & 7) !== m.deliveryMode || (m.shorthand & 3) !== m.shorthand) {
      throw new UsageError('bad-argument', `APIC bus message needs a vector in [0, 255], a delivery mode in [0, 7] and a shorthand in [0, 3], got ${describeValue(m.vector)}, ${describeValue(m.deliveryMode)}, ${describeValue(m.shorthand)}`);
    }
    if (this.dirty) this.rebuild();
    const shorthand = m.shorthand;
    if (shorthand === ICR_SHORTHAND.SELF) return sender === undefined ? this.none(m) : this.one(sender, m);
    // Nested deliveries (from a receiver's notifier) get their own target list.
    const targets = this.depth === 0 ? this.targets : [];
    targets.length = 0;
    if (shorthand === ICR_SHORTHAND.ALL_INCLUDING_SELF || shorthand === ICR_SHORTHAND.ALL_EXCLUDING_SELF || m.destination === broadcastAddress(m.x2apicDestination)) {
      const skip = shorthand === ICR_SHORTHAND.ALL_EXCLUDING_SELF && sender !== undefined ? this.slotOf.get(sender) : undefined;
      for (let i = 0; i < this.apicList.length; i++) if (i !== skip) targets.push(i);
    } else if (!m.logical) {
      const dest = m.destination;
      if (dest < this.idSlot.length && m.deliveryMode !== DELIVERY_MODE.LOWEST_PRIORITY) {
        const slot = this.idSlot[dest]!;
        if (slot >= 0) return this.one(this.apicList[slot]!, m);
        if (slot === -1) return this.none(m);
      }
      const slots = this.byId.get(dest);
      if (slots === undefined) return this.none(m);
      if (slots.length === 1 && m.deliveryMode !== DELIVERY_MODE.LOWEST_PRIORITY) return this.one(this.apicList[slots[0]!]!, m);
      for (const s of slots) targets.push(s);
    } else {
      this.collectLogical(m.destination, targets);
    }
    if (targets.length === 0) return this.none(m);
    if (m.deliveryMode === DELIVERY_MODE.LOWEST_PRIORITY) {
      // Only APICs that can accept a fixed interrupt take part: a software- or globally disabled
      // APIC would drop it (SDM 3A 11.4.7.2), and the message would be lost (as KVM decides).
      let n = 0;
      for (let i = 0; i < targets.length; i++) if (this.apicList[targets[i]!]!.softwareEnabled) targets[n++] = targets[i]!;
      targets.length = n;
      if (n === 0) return this.none(m);
      return this.one(this.apicList[this.arbitrate(targets, m.vector)]!, m);
    }
    let accepted = 0;
    let status: DeliveryStatus = DELIVERY_STATUS.DROPPED;
    this.depth++;
    try {
      for (let i = 0; i < targets.length; i++) {
        const s = this.apicList[targets[i]!]!.acceptBusMessage(m);
        if (s >= DELIVERY_STATUS.COALESCED) accepted++;
        if (s > status) status = s;
      }
    } finally {
      this.depth--;
    }
    this.accepted = accepted;
    this.matched = targets.length;
    return status;
  }

  /** Delivery to exactly one APIC. */
  private one(apic: ApicBusEndpoint, m: ApicBusMessage): DeliveryStatus {
    const s = apic.acceptBusMessage(m);
    this.accepted = s >= DELIVERY_STATUS.COALESCED ? 1 : 0;
    this.matched = 1;
    return s;
  }

  /** No APIC matched (or none could take part in lowest-priority arbitration): BLOCKED, traced. */
  private none(m: ApicBusMessage): DeliveryStatus {
    this.accepted = 0;
    this.matched = 0;
    this.tracer?.emit({ kind: 'interrupt.dropped', cycle: this.clock?.now() ?? 0, source: 'apic-bus', vector: m.vector, flow: m.flow === 0 ? undefined : m.flow, args: { why: 'no-destination', destination: m.destination } });
    return DELIVERY_STATUS.BLOCKED;
  }

  /**
   * Lowest-priority arbitration (SDM 3A 11.6.2.4): a focus processor (the
   * vector already in its IRR or ISR, focus checking enabled) wins; otherwise
   * the lowest task priority, as Pentium 4 and later chipsets decide; ties
   * rotate among the candidates so the choice is deterministic and fair.
   */
  private arbitrate(targets: readonly number[], vector: number): number {
    if (this.vectorHashing) return targets[vector % targets.length]!;
    if (vector >= 16) {
      for (const s of targets) {
        const a = this.apicList[s]!;
        if (a.focusChecking && (a.isRequested(vector) || a.isInService(vector))) return s;
      }
    }
    let best = -1;
    let bestPriority = 256;
    const n = targets.length;
    const start = this.rotate % n;
    this.rotate = (this.rotate + 1) % 0x1_0000_0000;
    for (let k = 0; k < n; k++) {
      const s = targets[(start + k) % n]!;
      const p = this.apicList[s]!.tpr & 0xf0;
      if (p < bestPriority) {
        bestPriority = p;
        best = s;
      }
    }
    return best;
  }

  private collectLogical(mda: number, into: number[]): void {
    const gen = ++this.generation;
    for (let bits = mda & 0xff; bits !== 0; bits &= bits - 1) this.addTargets(this.flat[31 - Math.clz32(bits & -bits)], gen, into);
    const clusterBase = ((mda >>> 4) & 0xf) << 2;
    for (let bits = mda & 0xf; bits !== 0; bits &= bits - 1) this.addTargets(this.cluster[clusterBase + 31 - Math.clz32(bits & -bits)], gen, into);
    const x2 = this.x2cluster.get(mda >>> 16);
    if (x2 !== undefined) for (let bits = mda & 0xffff; bits !== 0; bits &= bits - 1) this.addTargets(x2[31 - Math.clz32(bits & -bits)], gen, into);
  }

  /** Adds the slots of one index list, each APIC once per delivery (an LDR may have several bits). */
  private addTargets(list: readonly number[] | undefined, gen: number, into: number[]): void {
    if (list === undefined) return;
    const seen = this.seen;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (seen[s] !== gen) {
        seen[s] = gen;
        into.push(s);
      }
    }
  }

  private rebuild(): void {
    this.byId = new Map();
    let maxId = -1;
    for (const apic of this.apicList) maxId = Math.max(maxId, apic.apicId);
    // IDs up to 2^16 get the dense index (x2APIC IDs can be 32-bit; sparse large ones stay in the map).
    const idSlot = new Int32Array(maxId < 0x1_0000 ? maxId + 1 : 0).fill(-1);
    this.flat = Array.from({ length: 8 }, () => []);
    this.cluster = Array.from({ length: 64 }, () => []);
    this.x2cluster = new Map();
    this.apicList.forEach((apic, slot) => {
      const ids = this.byId.get(apic.apicId);
      if (apic.apicId < idSlot.length) idSlot[apic.apicId] = ids === undefined ? slot : -2;
      if (ids === undefined) this.byId.set(apic.apicId, [slot]);
      else ids.push(slot);
      const ldr = apic.ldr;
      if (apic.isX2apic) {
        let lists = this.x2cluster.get(ldr >>> 16);
        if (lists === undefined) {
          lists = Array.from({ length: 16 }, () => []);
          this.x2cluster.set(ldr >>> 16, lists);
        }
        for (let b = 0; b < 16; b++) if ((ldr >>> b) & 1) lists[b]!.push(slot);
      } else if (apic.dfr >>> 28 === DFR_MODEL.FLAT) {
        for (let b = 0; b < 8; b++) if ((ldr >>> (24 + b)) & 1) this.flat[b]!.push(slot);
      } else {
        const c = ldr >>> 28;
        for (let b = 0; b < 4; b++) if ((ldr >>> (24 + b)) & 1) this.cluster[(c << 2) + b]!.push(slot);
      }
    });
    this.idSlot = idSlot;
    this.dirty = false;
  }

  /** The lowest-priority tie-break cursor; wiring (attached devices) is not saved. */
  saveState(): ApicBusState {
    return { type: 'hvsim.apic-bus', version: 1, rotate: this.rotate };
  }

  /** Restores the arbitration cursor. */
  restoreState(state: unknown): void {
    this.rotate = readState(state, 'hvsim.apic-bus', 1).int('rotate', 0, Number.MAX_SAFE_INTEGER);
    this.dirty = true;
  }
}
