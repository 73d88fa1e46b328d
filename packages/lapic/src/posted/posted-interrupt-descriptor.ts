/**
 * A view over a 64-byte posted-interrupt descriptor in memory (SDM 3C 30.6
 * "Posted-Interrupt Processing"; VT-d 9.11 "Posted Interrupt Descriptor").
 * The descriptor lives in memory that other agents (the IOMMU, other CPUs,
 * the processor doing posted-interrupt processing) change, so every access
 * goes to memory; only the page lookup is cached (a {@link PageView}, re-taken
 * when `memory.generation` changes). Hot paths use no bigint and allocate
 * nothing; writes are reported to `memory.noteWritten` while the memory is
 * observed (dirty logging sees them).
 *
 * Layout: bits 255:0 PIR; 256 ON; 257 SN; 271:258 reserved; 279:272 NV;
 * 287:280 reserved; 319:288 NDST; 511:320 reserved.
 *
 * The operations are atomic in effect: JavaScript runs one agent at a time,
 * so each read-modify-write completes before any other agent looks, like the
 * locked RMW (LOCK BTS / LOCK CMPXCHG) hardware and KVM use.
 *
 * An inaccessible descriptor (its 64 bytes not backed, or read-only) never
 * throws: it reads as all zeros and writes to it are discarded. Callers on a
 * device or guest path check {@link PostedInterruptDescriptor.isAccessible}
 * first and report their architectural fault (VT-d 7.1.3 records a fault for
 * a posted-descriptor access that fails).
 */
import { UsageError, assertAddress, assertInteger, describeValue, type Memory, type PageView } from '@hvsim/core';

/** Byte offsets of the descriptor's 32-bit words. */
export const PID_OFFSET = {
  /** PIR: eight words at 0x00-0x1f. */
  PIR: 0x00,
  /** Bits 287:256: ON (bit 0), SN (bit 1), NV (bits 23:16). */
  CONTROL: 0x20,
  /** Bits 319:288: NDST. */
  NDST: 0x24,
} as const;

/** Fields of the control word (bits 287:256 of the descriptor). */
export const PID_CONTROL = {
  /** Outstanding notification (bit 256). */
  ON: 1 << 0,
  /** Suppress notification (bit 257). */
  SN: 1 << 1,
  /** Notification vector shift (bits 279:272). */
  NV_SHIFT: 16,
  /** Notification vector mask. */
  NV_MASK: 0xff << 16,
  /** Reserved bits 271:258 and 287:280. */
  RESERVED: 0xff00_fffc | 0,
} as const;

/** Size and alignment of a posted-interrupt descriptor. */
export const PID_SIZE = 64;

const ON = PID_CONTROL.ON;
const SN = PID_CONTROL.SN;
const NV_SHIFT = PID_CONTROL.NV_SHIFT;
const NV_MASK = PID_CONTROL.NV_MASK;
const CONTROL_RESERVED = PID_CONTROL.RESERVED;
const W_CONTROL = PID_OFFSET.CONTROL >>> 2;
const W_NDST = PID_OFFSET.NDST >>> 2;

/**
 * Bits of the answer of {@link PostedInterruptDescriptor.checkAndPost}: 0
 * (POSTED) or NOTIFY, plus COALESCED; or RESERVED or INACCESSIBLE alone.
 */
export const POST_RESULT = {
  /** Posted (PIR[vector] set); no notification needed (ON was set, or SN without urgency). */
  POSTED: 0,
  /** Posted, and ON set: the poster sends the notification event (NV to NDST). */
  NOTIFY: 1,
  /** Posted, and PIR[vector] was already set (the request coalesced with a pending one). */
  COALESCED: 2,
  /** Reserved bits of the descriptor are set: nothing changed (VT-d fault 0x28). */
  RESERVED: 4,
  /** The descriptor's memory is not backed or read-only: nothing changed. */
  INACCESSIBLE: 8,
} as const;

/** An answer of {@link PostedInterruptDescriptor.checkAndPost}: a combination of {@link POST_RESULT}'s bits. */
export type PostResult = number;

/** Linux's vector for posted-interrupt notifications to a running vCPU (irq_vectors.h). */
export const POSTED_INTR_VECTOR = 0xf2;
/** Linux's vector for waking a blocked vCPU (irq_vectors.h). */
export const POSTED_INTR_WAKEUP_VECTOR = 0xf1;

/** Fields {@link PostedInterruptDescriptor.updateControl} changes; omitted fields keep their value. */
export interface PidControlUpdate {
  /** New ON. */
  on?: boolean;
  /** New SN. */
  sn?: boolean;
  /** New notification vector, 0-255. */
  nv?: number;
  /** New notification destination, an unsigned 32-bit value. */
  ndst?: number;
}

/** Scratch words an inaccessible descriptor reads from; writes to it are discarded. */
const ZERO_WORDS = new Uint32Array(16);

/** A posted-interrupt descriptor at a 64-byte-aligned address of a {@link Memory}. */
export class PostedInterruptDescriptor {
  private addr = 0;
  private view: PageView | undefined;
  /** Index of the descriptor's first word in the page view's words. */
  private base = 0;

  /**
   * A view of the descriptor at `address` (64-byte aligned, below 2^53; a
   * UsageError otherwise: check guest-provided addresses with
   * {@link PostedInterruptDescriptor.isValidAddress} first).
   */
  constructor(
    private readonly memory: Memory,
    address: number,
  ) {
    this.moveTo(address);
  }

  /** True when `address` can be a descriptor address here: a 64-byte-aligned integer in [0, 2^53). */
  static isValidAddress(address: number): boolean {
    return Number.isSafeInteger(address) && address >= 0 && address % PID_SIZE === 0;
  }

  /** Address of the descriptor in the memory. */
  get address(): number {
    return this.addr;
  }

  /**
   * Points this view at another descriptor (a new PDA in an IRTE, a new
   * posted-interrupt descriptor address in a VMCS) without allocating.
   */
  moveTo(address: number): void {
    assertAddress(address, 'posted-interrupt descriptor address');
    if (address % PID_SIZE !== 0) {
      throw new UsageError('bad-argument', `posted-interrupt descriptor address must be 64-byte aligned, got ${describeValue(address)}`);
    }
    this.addr = address;
    this.base = (address % 4096) >>> 2;
    this.view = undefined;
  }

  /**
   * True when the descriptor's 64 bytes are backed and writable. When false,
   * every operation reads zeros and discards writes (nothing throws); a device
   * model checks this first and records its fault.
   */
  isAccessible(): boolean {
    return this.words() !== ZERO_WORDS;
  }

  /** The page's words (current generation), or ZERO_WORDS when inaccessible. */
  private words(): Uint32Array {
    const v = this.view;
    if (v !== undefined && v.generation === this.memory.generation) return v.words;
    return this.retake();
  }

  private retake(): Uint32Array {
    const v = this.memory.pageView(this.addr);
    this.view = v;
    return v === undefined ? ZERO_WORDS : v.words;
  }

  /** Index of word 0 in the array `words()` returned. */
  private at(w: Uint32Array): number {
    return w === ZERO_WORDS ? 0 : this.base;
  }

  private wrote(w: Uint32Array, byteOffset: number, size: number): void {
    if (w === ZERO_WORDS) discardWrites();
    else if (this.memory.observed) this.memory.noteWritten(this.addr + byteOffset, size);
  }

  /** The control word, bits 287:256 (ON, SN, NV and reserved bits). */
  get control(): number {
    const w = this.words();
    return w[this.at(w) + W_CONTROL]!;
  }

  private setControl(value: number): void {
    const w = this.words();
    w[this.at(w) + W_CONTROL] = value;
    this.wrote(w, PID_OFFSET.CONTROL, 4);
  }

  /** Outstanding notification (bit 256). */
  get on(): boolean {
    return (this.control & ON) !== 0;
  }

  set on(value: boolean) {
    const c = this.control;
    this.setControl(value ? c | ON : c & ~ON);
  }

  /** Suppress notification for non-urgent posts (bit 257; VT-d). */
  get sn(): boolean {
    return (this.control & SN) !== 0;
  }

  set sn(value: boolean) {
    const c = this.control;
    this.setControl(value ? c | SN : c & ~SN);
  }

  /** Notification vector (bits 279:272; VT-d). */
  get nv(): number {
    return (this.control & NV_MASK) >>> NV_SHIFT;
  }

  set nv(vector: number) {
    assertInteger(vector, 'notification vector', 0, 255);
    this.setControl((this.control & ~NV_MASK) | (vector << NV_SHIFT));
  }

  /** Notification destination (bits 319:288): x2APIC ID, or an xAPIC ID in bits 15:8. */
  get ndst(): number {
    const w = this.words();
    return w[this.at(w) + W_NDST]!;
  }

  set ndst(value: number) {
    checkNdst(value);
    const w = this.words();
    w[this.at(w) + W_NDST] = value;
    this.wrote(w, PID_OFFSET.NDST, 4);
  }

  /**
   * Changes ON, SN, NV and NDST in one step, as KVM's single cmpxchg of the
   * descriptor's control quadword does (vmx_vcpu_pi_load / pi_enable_wakeup_handler),
   * so no other agent sees a half-updated descriptor. Omitted fields keep their
   * value; reserved bits are kept. Values are checked before anything changes.
   */
  updateControl(update: PidControlUpdate): void {
    const { on, sn, nv, ndst } = update;
    if (nv !== undefined) assertInteger(nv, 'notification vector', 0, 255);
    if (ndst !== undefined) checkNdst(ndst);
    const w = this.words();
    const b = this.at(w);
    let c = w[b + W_CONTROL]!;
    if (on !== undefined) c = on ? c | ON : c & ~ON;
    if (sn !== undefined) c = sn ? c | SN : c & ~SN;
    if (nv !== undefined) c = (c & ~NV_MASK) | (nv << NV_SHIFT);
    w[b + W_CONTROL] = c;
    if (ndst !== undefined) w[b + W_NDST] = ndst;
    this.wrote(w, PID_OFFSET.CONTROL, ndst === undefined ? 4 : 8);
  }

  /**
   * Numeric form of {@link updateControl} for hot paths: writes the control
   * word's ON/SN/NV bits from `control` (reserved bits of the descriptor are
   * kept, those of `control` ignored) and NDST from `ndst`, in one step.
   */
  writeControl(control: number, ndst: number): void {
    checkNdst(ndst);
    const w = this.words();
    const b = this.at(w);
    w[b + W_CONTROL] = (w[b + W_CONTROL]! & CONTROL_RESERVED) | (control & ~CONTROL_RESERVED);
    w[b + W_NDST] = ndst;
    this.wrote(w, PID_OFFSET.CONTROL, 8);
  }

  /**
   * KVM's rule when a vCPU is loaded (vmx_vcpu_pi_load): clear SN, then, if
   * the PIR is not empty, set ON, because posts made while SN was set did not
   * set ON and would otherwise wait for the next notification (the lost
   * interrupt Linux commit "KVM: VMX: Fix lost posted interrupt on vCPU load"
   * addressed). Returns true when the PIR holds vectors (ON is then set).
   */
  clearSnAndResync(): boolean {
    const w = this.words();
    const b = this.at(w);
    let c = w[b + W_CONTROL]! & ~SN;
    const pending = (w[b]! | w[b + 1]! | w[b + 2]! | w[b + 3]! | w[b + 4]! | w[b + 5]! | w[b + 6]! | w[b + 7]!) !== 0;
    if (pending) c |= ON;
    w[b + W_CONTROL] = c;
    this.wrote(w, PID_OFFSET.CONTROL, 4);
    return pending;
  }

  /** Word `i` (0-7) of the PIR: vectors 32i..32i+31. */
  pirWord(i: number): number {
    assertInteger(i, 'PIR word index', 0, 7);
    const w = this.words();
    return w[this.at(w) + i]!;
  }

  /** True when any PIR bit is set. */
  hasPending(): boolean {
    const w = this.words();
    const b = this.at(w);
    return (w[b]! | w[b + 1]! | w[b + 2]! | w[b + 3]! | w[b + 4]! | w[b + 5]! | w[b + 6]! | w[b + 7]!) !== 0;
  }

  /** True when PIR bit `vector` is set. */
  testPir(vector: number): boolean {
    checkVector(vector);
    const w = this.words();
    return ((w[this.at(w) + (vector >>> 5)]! >>> (vector & 31)) & 1) === 1;
  }

  /** Sets PIR bit `vector`; returns whether it was already set (LOCK BTS). */
  testAndSetPir(vector: number): boolean {
    checkVector(vector);
    const w = this.words();
    const i = this.at(w) + (vector >>> 5);
    const word = w[i]!;
    const bit = 1 << (vector & 31);
    if ((word & bit) !== 0) return true;
    w[i] = word | bit;
    this.wrote(w, (vector >>> 5) << 2, 4);
    return false;
  }

  /**
   * The VT-d posting operation (VT-d 9.11, 5.2.3): set PIR[vector]; then
   * X = !ON && (urgent || !SN); if X, set ON. Returns X: true when the
   * poster must send the notification event (vector NV to NDST).
   * Reserved-bit checking is the caller's ({@link reservedBitsSet}).
   */
  post(vector: number, urgent = false): boolean {
    checkVector(vector);
    const w = this.words();
    const b = this.at(w);
    return (this.postAt(w, b, vector, urgent) & POST_RESULT.NOTIFY) !== 0;
  }

  /**
   * The VT-d posting operation with the descriptor check fused in (VT-d
   * 9.11, 5.2.3; the IOMMU's hot path): one page-view lookup, then, when
   * reserved bits (271:258, 287:280, 511:320) are set, nothing changes and
   * the answer is {@link POST_RESULT}.RESERVED (the IOMMU blocks the
   * request with fault 0x28); otherwise PIR[vector] is set, ON too when
   * X = !ON && (urgent || !SN), and the answer has NOTIFY when X (send
   * vector NV to NDST: read {@link control} and {@link ndst} after) and
   * COALESCED when PIR[vector] was already set. An inaccessible descriptor
   * answers INACCESSIBLE and nothing changes (the caller records its fault).
   * Same effects as `isAccessible()`, `reservedBitsSet()` and `post()` in a
   * row; meant for the IOMMU's posting path (VT-d 5.2.3).
   */
  checkAndPost(vector: number, urgent = false): PostResult {
    checkVector(vector);
    const w = this.words();
    if (w === ZERO_WORDS) return POST_RESULT.INACCESSIBLE;
    const b = this.base;
    if (((w[b + 8]! & CONTROL_RESERVED) | w[b + 10]! | w[b + 11]! | w[b + 12]! | w[b + 13]! | w[b + 14]! | w[b + 15]!) !== 0) return POST_RESULT.RESERVED;
    return this.postAt(w, b, vector, urgent);
  }

  /** {@link post} on words `w` (descriptor at `b`), vector already checked; answers NOTIFY | COALESCED bits. */
  private postAt(w: Uint32Array, b: number, vector: number, urgent: boolean): number {
    const i = b + (vector >>> 5);
    const word = w[i]!;
    const bit = 1 << (vector & 31);
    let result: number = POST_RESULT.COALESCED;
    if ((word & bit) === 0) {
      w[i] = word | bit;
      this.wrote(w, (vector >>> 5) << 2, 4);
      result = POST_RESULT.POSTED;
    }
    const c = w[b + W_CONTROL]!;
    if ((c & ON) === 0 && (urgent || (c & SN) === 0)) {
      w[b + W_CONTROL] = c | ON;
      this.wrote(w, PID_OFFSET.CONTROL, 4);
      result |= POST_RESULT.NOTIFY;
    }
    return result;
  }

  /**
   * KVM's software posting (vmx_deliver_posted_interrupt / pi_test_and_set_on):
   * set PIR[vector], stopping if it was already set; then set ON, stopping if
   * it was already set; return true when a notification is needed. SN is not
   * consulted: software posts are always for a vCPU that should be notified
   * (KVM only sets SN for preempted vCPUs it will resync on load).
   */
  postFromSoftware(vector: number): boolean {
    checkVector(vector);
    // One page-view lookup for both steps (the hot path of a software post).
    const w = this.words();
    const b = this.at(w);
    const i = b + (vector >>> 5);
    const word = w[i]!;
    const bit = 1 << (vector & 31);
    if ((word & bit) !== 0) return false;
    w[i] = word | bit;
    this.wrote(w, (vector >>> 5) << 2, 4);
    const c = w[b + W_CONTROL]!;
    if ((c & ON) !== 0) return false;
    w[b + W_CONTROL] = c | ON;
    this.wrote(w, PID_OFFSET.CONTROL, 4);
    return true;
  }

  /**
   * ORs the 256-bit PIR into `into` (eight words) and clears it, 64 bits at a
   * time, skipping zero halves (KVM's pi_harvest_pir / xchg of each PIR
   * quadword; SDM 3C 30.6 "VIRR |= PIR; PIR = 0"). Returns whether any bit was
   * set. ON is left as it is; see {@link clearOn}.
   */
  readAndClearPir(into: Uint32Array): boolean {
    if (into.length < 8) throw new UsageError('bad-argument', `readAndClearPir needs an array of at least 8 words, got ${into.length}`);
    const w = this.words();
    const b = this.at(w);
    let any = 0;
    for (let i = 0; i < 8; i += 2) {
      const lo = w[b + i]!;
      const hi = w[b + i + 1]!;
      if ((lo | hi) === 0) continue;
      w[b + i] = 0;
      w[b + i + 1] = 0;
      this.wrote(w, i << 2, 8);
      into[i] = into[i]! | lo;
      into[i + 1] = into[i + 1]! | hi;
      any = 1;
    }
    return any !== 0;
  }

  /**
   * Moves the 256-bit PIR into `into` and clears it, 64 bits at a time,
   * skipping zero halves (KVM's xchg of each PIR quadword; SDM 3C 30.6 "VIRR
   * |= PIR; PIR = 0" — the caller does the OR). Returns a mask whose bit i is
   * set when PIR word i held vectors (0: the PIR was empty); word i of `into`
   * then holds it. Words of a zero 64-bit half are not written: read only
   * the words the mask names (no clearing of `into` needed, unlike
   * {@link readAndClearPir}). ON is left as it is; see {@link clearOn}.
   */
  swapPir(into: Uint32Array): number {
    if (into.length < 8) throw new UsageError('bad-argument', `swapPir needs an array of at least 8 words, got ${into.length}`);
    const w = this.words();
    return this.swapAt(w, this.at(w), into);
  }

  /** {@link swapPir} on words `w` (descriptor at `b`). */
  private swapAt(w: Uint32Array, b: number, into: Uint32Array): number {
    let mask = 0;
    for (let i = 0; i < 8; i += 2) {
      const lo = w[b + i]!;
      const hi = w[b + i + 1]!;
      if ((lo | hi) === 0) continue;
      into[i] = lo;
      into[i + 1] = hi;
      w[b + i] = 0;
      w[b + i + 1] = 0;
      this.wrote(w, i << 2, 8);
      mask |= (lo !== 0 ? 1 << i : 0) | (hi !== 0 ? 2 << i : 0);
    }
    return mask;
  }

  /**
   * Posted-interrupt processing's descriptor steps in one go (SDM 3C 30.6
   * steps 3 and 5: clear ON, then VIRR |= PIR with PIR cleared; step 4, the
   * EOI, goes to the local APIC, not the descriptor): clears ON and does
   * {@link swapPir} on one page-view lookup. Returns swapPir's word mask.
   */
  clearOnAndSwapPir(into: Uint32Array): number {
    if (into.length < 8) throw new UsageError('bad-argument', `clearOnAndSwapPir needs an array of at least 8 words, got ${into.length}`);
    const w = this.words();
    const b = this.at(w);
    const c = w[b + W_CONTROL]!;
    if ((c & ON) !== 0) {
      w[b + W_CONTROL] = c & ~ON;
      this.wrote(w, PID_OFFSET.CONTROL, 4);
    }
    return this.swapAt(w, b, into);
  }

  /** Same as {@link readAndClearPir} (the earlier name). */
  takePir(into: Uint32Array): boolean {
    if (into.length < 8) throw new UsageError('bad-argument', `takePir needs an array of at least 8 words, got ${into.length}`);
    return this.readAndClearPir(into);
  }

  /** Clears ON (posted-interrupt processing step 3; KVM before syncing the PIR). */
  clearOn(): void {
    const w = this.words();
    const i = this.at(w) + W_CONTROL;
    const c = w[i]!;
    if ((c & ON) === 0) return;
    w[i] = c & ~ON;
    this.wrote(w, PID_OFFSET.CONTROL, 4);
  }

  /**
   * True when reserved bits (271:258, 287:280, 511:320) are non-zero: VT-d
   * blocks the post (fault 0x28). One pass over the seven words with no
   * branch per word.
   */
  reservedBitsSet(): boolean {
    const w = this.words();
    const b = this.at(w);
    return ((w[b + 8]! & CONTROL_RESERVED) | w[b + 10]! | w[b + 11]! | w[b + 12]! | w[b + 13]! | w[b + 14]! | w[b + 15]!) !== 0;
  }

  /** Clears the whole descriptor to zero. */
  clear(): void {
    const w = this.words();
    const b = this.at(w);
    w.fill(0, b, b + 16);
    this.wrote(w, 0, PID_SIZE);
  }
}

/** Undoes a write to the stand-in of an inaccessible descriptor (out of line: {@link PostedInterruptDescriptor} writes stay small). */
function discardWrites(): void {
  ZERO_WORDS.fill(0);
}

function checkVector(vector: number): void {
  if (!(vector >= 0 && vector <= 255) || (vector | 0) !== vector) {
    throw new UsageError('bad-argument', `vector must be an integer in [0, 255], got ${describeValue(vector)}`);
  }
}

function checkNdst(value: number): void {
  if (value >>> 0 !== value) throw new UsageError('bad-argument', `notification destination must be an unsigned 32-bit integer, got ${describeValue(value)}`);
}
