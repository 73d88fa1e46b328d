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
  /** Bits 287:256: ON (bit 0), SN (bit 1), NV (bits 23:16). Value `0x20`. */
  CONTROL: 0x20,
  /** Bits 319:288: NDST. Value `0x24`. */
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

// Word indexes in the descriptor's 16 words.
const W_CONTROL = PID_OFFSET.CONTROL >>> 2;
const W_NDST = PID_OFFSET.NDST >>> 2;

/** A posted-interrupt descriptor at a 64-byte-aligned address of a {@link Memory}. */
export class PostedInterruptDescriptor {
  private addr = 0;
  private view: PageView | undefined;
  /** Index of the descriptor's first word in the page view's words. */
  private base = 0;
  /**
   * The descriptor's 16 words: a subarray of the page view's words (made
   * again whenever the view is re-taken), or ZERO_WORDS while inaccessible;
   * hot paths index it with constants.
   */
  private d: Uint32Array = ZERO_WORDS;
  /**
   * NV as the last {@link checkAndPost} that answered NOTIFY read it: the
   * vector of the notification event the poster sends (VT-d 5.2.3). Reused:
   * read it before the next post.
   */
  notifiedVector = 0;
  /** NDST as the last {@link checkAndPost} that answered NOTIFY read it: the notification event's destination (see {@link notifiedVector}). */
  notifiedDestination = 0;

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
    this.d = ZERO_WORDS;
  }

  /**
   * True when the descriptor's 64 bytes are backed and writable. When false,
   * every operation reads zeros and discards writes (nothing throws); a device
   * model checks this first and records its fault.
   */
  isAccessible(): boolean {
    return this.words() !== ZERO_WORDS;
  }

  /** The descriptor's 16 words (current generation), or ZERO_WORDS when inaccessible. */
  private words(): Uint32Array {
    const v = this.view;
    if (v !== undefined && v.generation === this.memory.generation) return this.d;
    return this.retake();
  }

  private retake(): Uint32Array {
    const v = this.memory.pageView(this.addr);
    this.view = v;
    const d = v === undefined ? ZERO_WORDS : v.words.subarray(this.base, this.base + 16);
    this.d = d;
    return d;
  }

  private wrote(d: Uint32Array, byteOffset: number, size: number): void {
    if (d === ZERO_WORDS) discardWrites();
    else if (this.memory.observed) this.memory.noteWritten(this.addr + byteOffset, size);
  }

  /** The control word, bits 287:256 (ON, SN, NV and reserved bits). */
  get control(): number {
    return this.words()[W_CONTROL]!;
  }

  private setControl(value: number): void {
    const d = this.words();
    d[W_CONTROL] = value;
    this.wrote(d, PID_OFFSET.CONTROL, 4);
  }

  /** Outstanding notification (bit 256). */
  get on(): boolean {
    return (this.control & ON) !== 0;
  }

  /** Sets or clears ON (bit 256). */
  set on(value: boolean) {
    const c = this.control;
    this.setControl(value ? c | ON : c & ~ON);
  }

  /** Suppress notification for non-urgent posts (bit 257; VT-d). */
  get sn(): boolean {
    return (this.control & SN) !== 0;
  }

  /** Sets or clears SN (bit 257). */
  set sn(value: boolean) {
    const c = this.control;
    this.setControl(value ? c | SN : c & ~SN);
  }

  /** Notification vector (bits 279:272; VT-d). */
  get nv(): number {
    return (this.control & NV_MASK) >>> NV_SHIFT;
  }

  /** Writes NV (bits 279:272); a vector outside 0-255 is a UsageError. */
  set nv(vector: number) {
    assertInteger(vector, 'notification vector', 0, 255);
    this.setControl((this.control & ~NV_MASK) | (vector << NV_SHIFT));
  }

  /** Notification destination (bits 319:288): x2APIC ID, or an xAPIC ID in bits 15:8. */
  get ndst(): number {
    return this.words()[W_NDST]!;
  }

  /** Writes NDST (bits 319:288). */
  set ndst(value: number) {
    checkNdst(value);
    const d = this.words();
    d[W_NDST] = value;
    this.wrote(d, PID_OFFSET.NDST, 4);
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
    const d = this.words();
    let c = d[W_CONTROL]!;
    if (on !== undefined) c = on ? c | ON : c & ~ON;
    if (sn !== undefined) c = sn ? c | SN : c & ~SN;
    if (nv !== undefined) c = (c & ~NV_MASK) | (nv << NV_SHIFT);
    d[W_CONTROL] = c;
    if (ndst !== undefined) d[W_NDST] = ndst;
    this.wrote(d, PID_OFFSET.CONTROL, ndst === undefined ? 4 : 8);
  }

  /**
   * Numeric form of {@link updateControl} for hot paths: writes the control
   * word's ON/SN/NV bits from `control` (reserved bits of the descriptor are
   * kept, those of `control` ignored) and NDST from `ndst`, in one step.
   */
  writeControl(control: number, ndst: number): void {
    checkNdst(ndst);
    const d = this.words();
    d[W_CONTROL] = (d[W_CONTROL]! & CONTROL_RESERVED) | (control & ~CONTROL_RESERVED);
    d[W_NDST] = ndst;
    this.wrote(d, PID_OFFSET.CONTROL, 8);
  }

  /**
   * KVM's rule when a vCPU is loaded (vmx_vcpu_pi_load): clear SN, then, if
   * the PIR is not empty, set ON, because posts made while SN was set did not
   * set ON and would otherwise wait for the next notification (the lost
   * interrupt Linux commit "KVM: VMX: Fix lost posted interrupt on vCPU load"
   * addressed). Returns true when the PIR holds vectors (ON is then set).
   */
  clearSnAndResync(): boolean {
    const d = this.words();
    let c = d[W_CONTROL]! & ~SN;
    const pending = pirNonZero(d);
    if (pending) c |= ON;
    d[W_CONTROL] = c;
    this.wrote(d, PID_OFFSET.CONTROL, 4);
    return pending;
  }

  /** Word `i` (0-7) of the PIR: vectors 32i..32i+31. */
  pirWord(i: number): number {
    assertInteger(i, 'PIR word index', 0, 7);
    return this.words()[i]!;
  }

  /** True when any PIR bit is set. */
  hasPending(): boolean {
    return pirNonZero(this.words());
  }

  /** True when PIR bit `vector` is set. */
  testPir(vector: number): boolean {
    if ((vector & 0xff) !== vector) badVector(vector);
    return ((this.words()[vector >>> 5]! >>> (vector & 31)) & 1) === 1;
  }

  /** Sets PIR bit `vector`; returns whether it was already set (LOCK BTS). */
  testAndSetPir(vector: number): boolean {
    if ((vector & 0xff) !== vector) badVector(vector);
    const d = this.words();
    const i = vector >>> 5;
    const word = d[i]!;
    const bit = 1 << (vector & 31);
    if ((word & bit) !== 0) return true;
    d[i] = word | bit;
    this.wrote(d, i << 2, 4);
    return false;
  }

  /**
   * The VT-d posting operation (VT-d 9.11, 5.2.3): set PIR[vector]; then
   * X = !ON && (urgent || !SN); if X, set ON. Returns X: true when the
   * poster must send the notification event (vector NV to NDST).
   * Reserved-bit checking is the caller's ({@link reservedBitsSet}).
   */
  post(vector: number, urgent = false): boolean {
    if ((vector & 0xff) !== vector) badVector(vector);
    const d = this.words();
    const result = postBits(d, vector, urgent);
    if (d === ZERO_WORDS || this.memory.observed) this.wrotePost(d, vector, result);
    return (result & POST_RESULT.NOTIFY) !== 0;
  }

  /**
   * The VT-d posting operation with the descriptor check fused in (VT-d
   * 9.11, 5.2.3; the IOMMU's hot path): one page-view lookup, then, when
   * reserved bits (271:258, 287:280, 511:320) are set, nothing changes and
   * the answer is {@link POST_RESULT}.RESERVED (the IOMMU blocks the
   * request with fault 0x28); otherwise PIR[vector] is set, ON too when
   * X = !ON && (urgent || !SN), and the answer has NOTIFY when X (send
   * vector NV to NDST: {@link notifiedVector} and {@link notifiedDestination}
   * hold them, as read in the same step) and
   * COALESCED when PIR[vector] was already set. An inaccessible descriptor
   * answers INACCESSIBLE and nothing changes (the caller records its fault).
   * Same effects as `isAccessible()`, `reservedBitsSet()` and `post()` in a
   * row; meant for the IOMMU's posting path (VT-d 5.2.3).
   */
  checkAndPost(vector: number, urgent = false): PostResult {
    if ((vector & 0xff) !== vector) badVector(vector);
    const v = this.view;
    const d = v !== undefined && v.generation === this.memory.generation ? this.d : this.retake();
    if (d === ZERO_WORDS) return POST_RESULT.INACCESSIBLE;
    if (((d[8]! & CONTROL_RESERVED) | d[10]! | d[11]! | d[12]! | d[13]! | d[14]! | d[15]!) !== 0) return POST_RESULT.RESERVED;
    // postBits written out: on the IOMMU-to-vCPU path V8's inlining budget runs out before it, and the call
    // costs a few percent of a posted MSI.
    const i = vector >>> 5;
    const word = d[i]!;
    const bit = 1 << (vector & 31);
    let result: number = POST_RESULT.COALESCED;
    if ((word & bit) === 0) {
      d[i] = word | bit;
      result = POST_RESULT.POSTED;
    }
    const c = d[8]!;
    if ((c & ON) === 0 && (urgent || (c & SN) === 0)) {
      d[8] = c | ON;
      result |= POST_RESULT.NOTIFY;
      // The notification event's vector and destination, as this atomic post read them (no second lookup).
      this.notifiedVector = (c & NV_MASK) >>> NV_SHIFT;
      this.notifiedDestination = d[W_NDST]!;
    }
    if (this.memory.observed) this.wrotePost(d, vector, result);
    return result;
  }

  /** The write reports of a post answering `result`: the PIR word when it changed, then the control word when ON was set (out of line). */
  private wrotePost(d: Uint32Array, vector: number, result: number): void {
    if ((result & POST_RESULT.COALESCED) === 0) this.wrote(d, (vector >>> 5) << 2, 4);
    if ((result & POST_RESULT.NOTIFY) !== 0) this.wrote(d, PID_OFFSET.CONTROL, 4);
  }

  /**
   * KVM's software posting (vmx_deliver_posted_interrupt / pi_test_and_set_on):
   * set PIR[vector], stopping if it was already set; then set ON, stopping if
   * it was already set; return true when a notification is needed. SN is not
   * consulted: software posts are always for a vCPU that should be notified
   * (KVM only sets SN for preempted vCPUs it will resync on load).
   */
  postFromSoftware(vector: number): boolean {
    if ((vector & 0xff) !== vector) badVector(vector);
    // One page-view lookup for both steps (the hot path of a software post).
    const v = this.view;
    const d = v !== undefined && v.generation === this.memory.generation ? this.d : this.retake();
    const i = vector >>> 5;
    const word = d[i]!;
    const bit = 1 << (vector & 31);
    if ((word & bit) !== 0) return false;
    d[i] = word | bit;
    const c = d[8]!;
    const notify = (c & ON) === 0;
    if (notify) d[8] = c | ON;
    if (d === ZERO_WORDS || this.memory.observed) this.wrotePost(d, vector, notify ? POST_RESULT.NOTIFY : POST_RESULT.POSTED);
    return notify;
  }

  /**
   * ORs the 256-bit PIR into `into` (eight words) and clears it, 64 bits at a
   * time, skipping zero halves (KVM's pi_harvest_pir / xchg of each PIR
   * quadword; SDM 3C 30.6 "VIRR |= PIR; PIR = 0"). Returns whether any bit was
   * set. ON is left as it is; see {@link clearOn}.
   */
  readAndClearPir(into: Uint32Array): boolean {
    if (into.length < 8) shortScratch('readAndClearPir', into.length);
    const d = this.words();
    let any = 0;
    for (let i = 0; i < 8; i += 2) {
      const lo = d[i]!;
      const hi = d[i + 1]!;
      if ((lo | hi) === 0) continue;
      d[i] = 0;
      d[i + 1] = 0;
      this.wrote(d, i << 2, 8);
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
    if (into.length < 8) shortScratch('swapPir', into.length);
    return this.swapAt(this.words(), into);
  }

  /** {@link swapPir} on the descriptor's words `d`. */
  private swapAt(d: Uint32Array, into: Uint32Array): number {
    let mask = 0;
    for (let i = 0; i < 8; i += 2) mask |= swapHalf(d, into, i);
    // One look at the write observers for the whole harvest: each cleared 64-bit half, in order.
    if (mask !== 0 && (d === ZERO_WORDS || this.memory.observed)) this.wroteHalves(d, mask);
    return mask;
  }

  /** The write reports of the PIR halves `mask` names (bit i or i + 1 for the half at word i; out of line). */
  private wroteHalves(d: Uint32Array, mask: number): void {
    for (let i = 0; i < 8; i += 2) if ((mask & (3 << i)) !== 0) this.wrote(d, i << 2, 8);
  }

  /**
   * Posted-interrupt processing's descriptor steps in one go (SDM 3C 30.6
   * steps 3 and 5: clear ON, then VIRR |= PIR with PIR cleared; step 4, the
   * EOI, goes to the local APIC, not the descriptor): clears ON and does
   * {@link swapPir} on one page-view lookup. Returns swapPir's word mask.
   */
  clearOnAndSwapPir(into: Uint32Array): number {
    if (into.length < 8) shortScratch('clearOnAndSwapPir', into.length);
    // Written out flat (the processor's notification path; V8's inlining budget runs out before the helpers):
    // one page-view lookup, the control word, then the PIR halves.
    const v = this.view;
    const d = v !== undefined && v.generation === this.memory.generation ? this.d : this.retake();
    const c = d[W_CONTROL]!;
    const on = c & ON;
    if (on !== 0) d[W_CONTROL] = c & ~ON;
    let mask = 0;
    for (let i = 0; i < 8; i += 2) mask |= swapHalf(d, into, i);
    // An inaccessible descriptor reads as zeros, so nothing above wrote to ZERO_WORDS: only observers need telling.
    if ((on | mask) !== 0 && this.memory.observed) this.wroteHarvest(d, on, mask);
    return mask;
  }

  /**
   * Posted-interrupt processing's descriptor steps merged straight into a
   * virtual APIC's IRR (SDM 3C 30.6 steps 3 and 5: clear ON, then
   * VIRR |= PIR with PIR cleared): clears ON, then ORs each non-zero 64-bit
   * PIR half into words `at + i`, `at + i + 1` of `virr` and clears it (as
   * KVM's xchg per half; a zero half is not written), on one page-view
   * lookup, with the same write reports as {@link clearOnAndSwapPir}.
   * Returns 0 when the PIR was empty; otherwise the mask of the non-zero PIR
   * words in bits 7:0 (as {@link swapPir}) and the highest vector moved in
   * bits 15:8 (RVI's candidate, SDM 3C 30.6 step 5).
   */
  clearOnAndMergePir(virr: Uint32Array, at: number): number {
    if (!(at >>> 0 === at && at + 8 <= virr.length)) badMergeTarget(at, virr.length);
    const v = this.view;
    const d = v !== undefined && v.generation === this.memory.generation ? this.d : this.retake();
    const c = d[W_CONTROL]!;
    const on = c & ON;
    if (on !== 0) d[W_CONTROL] = c & ~ON;
    let mask = 0;
    let top = 0;
    // Written out (the processor's notification path): ascending halves, so the last one moved holds the top vector.
    for (let i = 0; i < 8; i += 2) {
      const lo = d[i]!;
      const hi = d[i + 1]!;
      if ((lo | hi) === 0) continue;
      d[i] = 0;
      d[i + 1] = 0;
      virr[at + i] = virr[at + i]! | lo;
      virr[at + i + 1] = virr[at + i + 1]! | hi;
      mask |= (lo !== 0 ? 1 << i : 0) | (hi !== 0 ? 2 << i : 0);
      top = hi !== 0 ? ((i + 1) << 5) + 31 - Math.clz32(hi) : (i << 5) + 31 - Math.clz32(lo);
    }
    // An inaccessible descriptor reads as zeros, so nothing above wrote to ZERO_WORDS: only observers need telling.
    if ((on | mask) !== 0 && this.memory.observed) this.wroteHarvest(d, on, mask);
    return mask === 0 ? 0 : mask | (top << 8);
  }

  /** The write reports of {@link clearOnAndSwapPir}: the control word when ON was cleared, then each cleared PIR half (out of line). */
  private wroteHarvest(d: Uint32Array, on: number, mask: number): void {
    if (on !== 0) this.wrote(d, PID_OFFSET.CONTROL, 4);
    this.wroteHalves(d, mask);
  }

  /** Same as {@link readAndClearPir} (the earlier name). */
  takePir(into: Uint32Array): boolean {
    if (into.length < 8) shortScratch('takePir', into.length);
    return this.readAndClearPir(into);
  }

  /** Clears ON (posted-interrupt processing step 3; KVM before syncing the PIR). */
  clearOn(): void {
    const d = this.words();
    const c = d[W_CONTROL]!;
    if ((c & ON) === 0) return;
    d[W_CONTROL] = c & ~ON;
    this.wrote(d, PID_OFFSET.CONTROL, 4);
  }

  /**
   * True when reserved bits (271:258, 287:280, 511:320) are non-zero: VT-d
   * blocks the post (fault 0x28). One pass over the seven words with no
   * branch per word.
   */
  reservedBitsSet(): boolean {
    const d = this.words();
    return ((d[8]! & CONTROL_RESERVED) | d[10]! | d[11]! | d[12]! | d[13]! | d[14]! | d[15]!) !== 0;
  }

  /** Clears the whole descriptor to zero. */
  clear(): void {
    const d = this.words();
    d.fill(0);
    this.wrote(d, 0, PID_SIZE);
  }
}

/**
 * The posting operation on the descriptor's words `d` (VT-d 9.11: PIR[vector]
 * = 1; X = !ON && (urgent || !SN); if X, ON = 1), vector already checked;
 * answers {@link POST_RESULT}'s NOTIFY and COALESCED bits. Write reports are
 * the caller's. (checkAndPost has the same steps written out.)
 */
function postBits(d: Uint32Array, vector: number, urgent: boolean): number {
  const i = vector >>> 5;
  const word = d[i]!;
  const bit = 1 << (vector & 31);
  let result: number = POST_RESULT.COALESCED;
  if ((word & bit) === 0) {
    d[i] = word | bit;
    result = POST_RESULT.POSTED;
  }
  const c = d[8]!;
  if ((c & ON) === 0 && (urgent || (c & SN) === 0)) {
    d[8] = c | ON;
    result |= POST_RESULT.NOTIFY;
  }
  return result;
}

/**
 * Moves the 64-bit PIR half at words `i`, `i + 1` of `d` into the same words
 * of `into` and clears it, unless it is zero (then nothing is written, as
 * KVM's xchg is skipped); returns the word mask bits (1 << i, 2 << i) of
 * the non-zero words.
 */
function swapHalf(d: Uint32Array, into: Uint32Array, i: number): number {
  const lo = d[i]!;
  const hi = d[i + 1]!;
  if ((lo | hi) === 0) return 0;
  into[i] = lo;
  into[i + 1] = hi;
  d[i] = 0;
  d[i + 1] = 0;
  return (lo !== 0 ? 1 << i : 0) | (hi !== 0 ? 2 << i : 0);
}

/** True when any of the PIR words (0-7 of the descriptor's words `d`) is non-zero. */
function pirNonZero(d: Uint32Array): boolean {
  return (d[0]! | d[1]! | d[2]! | d[3]! | d[4]! | d[5]! | d[6]! | d[7]!) !== 0;
}

/** Undoes a write to the stand-in of an inaccessible descriptor (out of line: {@link PostedInterruptDescriptor} writes stay small). */
function discardWrites(): void {
  ZERO_WORDS.fill(0);
}

/** The throw of a scratch-array length check (out of line: the PIR paths stay small). */
function shortScratch(method: string, length: number): never {
  throw new UsageError('bad-argument', `${method} needs an array of at least 8 words, got ${length}`);
}

/** The throw of {@link PostedInterruptDescriptor.clearOnAndMergePir}'s target check (out of line). */
function badMergeTarget(at: number, length: number): never {
  throw new UsageError('bad-argument', `clearOnAndMergePir needs 8 words at ${describeValue(at)} of an array of ${length} words`);
}

/** The throw of a vector check (out of line: the posting paths stay small). */
function badVector(vector: number): never {
  throw new UsageError('bad-argument', `vector must be an integer in [0, 255], got ${describeValue(vector)}`);
}

function checkNdst(value: number): void {
  if (value >>> 0 !== value) throw new UsageError('bad-argument', `notification destination must be an unsigned 32-bit integer, got ${describeValue(value)}`);
}
