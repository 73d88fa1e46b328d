/**
 * A view over a 64-byte posted-interrupt descriptor in physical memory
 * (SDM 3C 30.6 "Posted-Interrupt Processing"; VT-d 9.11 "Posted Interrupt
 * Descriptor"). The descriptor lives in memory that other agents (the IOMMU,
 * other CPUs, the processor doing posted-interrupt processing) change, so
 * every access goes to memory; nothing is cached. Accesses are 32-bit words,
 * so the hot paths use no bigint and allocate nothing.
 *
 * Layout: bits 255:0 PIR; 256 ON; 257 SN; 271:258 reserved; 279:272 NV;
 * 287:280 reserved; 319:288 NDST; 511:320 reserved.
 *
 * The operations are atomic in effect: JavaScript runs one agent at a time,
 * so each read-modify-write completes before any other agent looks, like the
 * locked RMW (LOCK BTS / LOCK CMPXCHG) hardware and KVM use.
 */
import { UsageError, assertAddress, assertInteger, describeValue, type PhysicalMemory } from '@hvsim/core';

/** Byte offsets of the descriptor's 32-bit words. */
export const PID_OFFSET = {
  /** PIR: eight words at 0x00-0x1f. */
  PIR: 0x00,
  /** Bits 287:256: ON (bit 0), SN (bit 1), NV (bits 23:16). */
  CONTROL: 0x20,
  /** Bits 319:288: NDST. */
  NDST: 0x24,
} as const;

/** Size and alignment of a posted-interrupt descriptor. */
export const PID_SIZE = 64;

const ON = 1 << 0;
const SN = 1 << 1;
const NV_SHIFT = 16;
const NV_MASK = 0xff << NV_SHIFT;
/** Reserved bits of the control word: 271:258 and 287:280. */
const CONTROL_RESERVED = 0xff00_fffc;

/** Linux's vector for posted-interrupt notifications to a running vCPU (irq_vectors.h). */
export const POSTED_INTR_VECTOR = 0xf2;
/** Linux's vector for waking a blocked vCPU (irq_vectors.h). */
export const POSTED_INTR_WAKEUP_VECTOR = 0xf1;

/** A posted-interrupt descriptor at a 64-byte-aligned physical address. */
export class PostedInterruptDescriptor {
  /** Physical address of the descriptor. */
  readonly address: number;

  constructor(
    private readonly memory: PhysicalMemory,
    address: number,
  ) {
    assertAddress(address, 'posted-interrupt descriptor address');
    if (address % PID_SIZE !== 0) {
      throw new UsageError('bad-argument', `posted-interrupt descriptor address must be 64-byte aligned, got ${describeValue(address)}`);
    }
    this.address = address;
  }

  private get control(): number {
    return this.memory.read32(this.address + PID_OFFSET.CONTROL);
  }

  private set control(value: number) {
    this.memory.write32(this.address + PID_OFFSET.CONTROL, value >>> 0);
  }

  /** Outstanding notification (bit 256). */
  get on(): boolean {
    return (this.control & ON) !== 0;
  }

  set on(value: boolean) {
    const c = this.control;
    this.control = value ? c | ON : c & ~ON;
  }

  /** Suppress notification for non-urgent posts (bit 257; VT-d). */
  get sn(): boolean {
    return (this.control & SN) !== 0;
  }

  set sn(value: boolean) {
    const c = this.control;
    this.control = value ? c | SN : c & ~SN;
  }

  /** Notification vector (bits 279:272; VT-d). */
  get nv(): number {
    return (this.control & NV_MASK) >>> NV_SHIFT;
  }

  set nv(vector: number) {
    assertInteger(vector, 'notification vector', 0, 255);
    this.control = (this.control & ~NV_MASK) | (vector << NV_SHIFT);
  }

  /** Notification destination (bits 319:288): x2APIC ID, or an xAPIC ID in bits 15:8. */
  get ndst(): number {
    return this.memory.read32(this.address + PID_OFFSET.NDST);
  }

  set ndst(value: number) {
    if (value >>> 0 !== value) throw new UsageError('bad-argument', `notification destination must be an unsigned 32-bit integer, got ${describeValue(value)}`);
    this.memory.write32(this.address + PID_OFFSET.NDST, value);
  }

  /** Word `i` (0-7) of the PIR: vectors 32i..32i+31. */
  pirWord(i: number): number {
    assertInteger(i, 'PIR word index', 0, 7);
    return this.memory.read32(this.address + i * 4);
  }

  /** True when any PIR bit is set. */
  hasPending(): boolean {
    for (let i = 0; i < 8; i++) if (this.memory.read32(this.address + i * 4) !== 0) return true;
    return false;
  }

  /** True when PIR bit `vector` is set. */
  testPir(vector: number): boolean {
    this.checkVector(vector);
    return ((this.memory.read32(this.address + ((vector >>> 5) << 2)) >>> (vector & 31)) & 1) === 1;
  }

  /** Sets PIR bit `vector`; returns whether it was already set (LOCK BTS). */
  testAndSetPir(vector: number): boolean {
    this.checkVector(vector);
    const addr = this.address + ((vector >>> 5) << 2);
    const word = this.memory.read32(addr);
    const bit = 1 << (vector & 31);
    if ((word & bit) !== 0) return true;
    this.memory.write32(addr, (word | bit) >>> 0);
    return false;
  }

  /**
   * The VT-d posting operation (VT-d 9.11, 5.2.3): set PIR[vector]; then
   * X = !ON && (urgent || !SN); if X, set ON. Returns X: true when the
   * poster must send the notification event (vector NV to NDST).
   * Reserved-bit checking is the caller's ({@link reservedBitsSet}).
   */
  post(vector: number, urgent = false): boolean {
    this.testAndSetPir(vector);
    const c = this.control;
    const notify = (c & ON) === 0 && (urgent || (c & SN) === 0);
    if (notify) this.control = c | ON;
    return notify;
  }

  /**
   * KVM's software posting (vmx_deliver_posted_interrupt / pi_test_and_set_on):
   * set PIR[vector], stopping if it was already set; then set ON, stopping if
   * it was already set; return true when a notification is needed. SN is not
   * consulted: software posts are always for a vCPU that should be notified
   * (KVM only sets SN for preempted vCPUs it will resync on load).
   */
  postFromSoftware(vector: number): boolean {
    if (this.testAndSetPir(vector)) return false;
    const c = this.control;
    if ((c & ON) !== 0) return false;
    this.control = c | ON;
    return true;
  }

  /**
   * Moves the PIR into `into` (eight words, ORed in) and clears it, as the
   * processor's posted-interrupt processing and KVM's PIR-to-IRR sync do
   * (SDM 3C 30.6 step "VIRR |= PIR; PIR = 0"). Returns whether any bit was set.
   * ON is left as it is; see {@link clearOn}.
   */
  takePir(into: Uint32Array): boolean {
    if (into.length < 8) throw new UsageError('bad-argument', `takePir needs an array of at least 8 words, got ${into.length}`);
    let any = 0;
    for (let i = 0; i < 8; i++) {
      const addr = this.address + i * 4;
      const w = this.memory.read32(addr);
      if (w !== 0) {
        this.memory.write32(addr, 0);
        into[i] = (into[i]! | w) >>> 0;
        any |= w;
      }
    }
    return any !== 0;
  }

  /** Clears ON (posted-interrupt processing step 3; KVM before syncing the PIR). */
  clearOn(): void {
    const c = this.control;
    if ((c & ON) !== 0) this.control = c & ~ON;
  }

  /** True when reserved bits (271:258, 287:280, 511:320) are non-zero: VT-d blocks the post (fault 0x28). */
  reservedBitsSet(): boolean {
    if ((this.control & CONTROL_RESERVED) !== 0) return true;
    for (let off = 0x28; off < PID_SIZE; off += 4) if (this.memory.read32(this.address + off) !== 0) return true;
    return false;
  }

  /** Clears the whole descriptor to zero. */
  clear(): void {
    for (let off = 0; off < PID_SIZE; off += 4) this.memory.write32(this.address + off, 0);
  }

  private checkVector(vector: number): void {
    if (!(vector >= 0 && vector <= 255) || (vector | 0) !== vector) {
      throw new UsageError('bad-argument', `vector must be an integer in [0, 255], got ${describeValue(vector)}`);
    }
  }
}
