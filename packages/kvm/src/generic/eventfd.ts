/**
 * An eventfd(2) object shared by the VMM, devices and KVM (irqfd,
 * ioeventfd): a 64-bit counter that `write` adds to and `read` takes
 * (or decrements by one in semaphore mode), non-blocking (EAGAIN instead
 * of blocking), with poll waiters woken when it becomes readable — the
 * wait-queue KVM's irqfd hooks into.
 */
import { fail } from './errors.js';

/** eventfd(2): the largest value the counter may hold, 2^64 − 2. */
export const EVENTFD_MAX = 0xffff_ffff_ffff_fffen;

/** Options of an {@link EventFd} (eventfd(2) `initval` and `EFD_SEMAPHORE`). */
export interface EventFdOptions {
  /** Initial counter value (default 0). */
  initval?: number;
  /** EFD_SEMAPHORE: each read returns 1 and decrements the counter (default false). */
  semaphore?: boolean;
}

/** Called when the counter becomes or stays non-zero after a write (EPOLLIN). */
export type EventFdWaiter = (fd: EventFd) => void;

let nextFd = 3;

/** An eventfd (see the file comment). */
export class EventFd {
  /** A file-descriptor-like number, unique in this process, for traces and messages. */
  readonly fd: number;
  readonly semaphore: boolean;
  // Exact while below 2^53; a bigint above that (rare: only for huge writes).
  private small: number;
  private big: bigint | null = null;
  private readonly waiters: EventFdWaiter[] = [];

  constructor(options: EventFdOptions = {}) {
    const init = options.initval ?? 0;
    if (!Number.isInteger(init) || init < 0 || init > 0xffff_ffff) fail('EINVAL', `eventfd initval must be an unsigned int, got ${String(init)}`);
    this.small = init;
    this.semaphore = options.semaphore === true;
    this.fd = nextFd++;
  }

  /** The counter. */
  get count(): bigint {
    return this.big ?? BigInt(this.small);
  }

  /** True when a read would not fail with EAGAIN (poll's EPOLLIN). */
  get readable(): boolean {
    return this.big !== null || this.small !== 0;
  }

  /**
   * Adds `value` to the counter (eventfd(2) write): 2^64 − 1 is EINVAL; a
   * sum above 2^64 − 2 is EAGAIN (the non-blocking answer) and changes
   * nothing. Wakes the waiters.
   */
  write(value: number | bigint = 1): void {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && this.big === null && this.small + value <= Number.MAX_SAFE_INTEGER) {
      this.small += value;
    } else {
      if (typeof value === 'number' && (!Number.isSafeInteger(value) || value < 0)) fail('EINVAL', `eventfd write needs an unsigned 64-bit value, got ${String(value)}`);
      const v = BigInt(value);
      if (v < 0n || v > 0xffff_ffff_ffff_ffffn) fail('EINVAL', `eventfd write needs an unsigned 64-bit value, got ${String(value)}`);
      if (v === 0xffff_ffff_ffff_ffffn) fail('EINVAL', 'eventfd write of 0xffffffffffffffff is not allowed');
      const sum = this.count + v;
      if (sum > EVENTFD_MAX) fail('EAGAIN', `eventfd ${this.fd}: counter ${this.count} + ${v} would exceed 2^64 - 2`);
      this.setCount(sum);
    }
    if (this.readable) for (const w of this.waiters) w(this);
  }

  /** Takes the counter (or 1 in semaphore mode); EAGAIN when it is 0. */
  read(): bigint {
    if (!this.readable) fail('EAGAIN', `eventfd ${this.fd} read: the counter is 0`);
    const value = this.semaphore ? 1n : this.count;
    this.setCount(this.count - value);
    return value;
  }

  /** Takes the counter as a number (irqfd's eventfd_ctx_do_read); 0 when it is 0. */
  drain(): number {
    const v = this.big === null ? this.small : Number(this.big);
    this.small = 0;
    this.big = null;
    return v;
  }

  /** Registers a poll waiter; returns its removal. */
  addWaiter(waiter: EventFdWaiter): () => void {
    this.waiters.push(waiter);
    return () => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
    };
  }

  private setCount(v: bigint): void {
    if (v <= BigInt(Number.MAX_SAFE_INTEGER)) {
      this.small = Number(v);
      this.big = null;
    } else {
      this.big = v;
    }
  }
}
