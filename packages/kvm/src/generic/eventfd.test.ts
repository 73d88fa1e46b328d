import { describe, expect, it } from 'vitest';
import { EVENTFD_MAX, EventFd } from './eventfd.js';
import { expectErrno } from '../test-support/expect-errno.js';

describe('EventFd (eventfd(2) counter semantics)', () => {
  it('adds on write, takes the whole counter on read, EAGAIN when empty', () => {
    const fd = new EventFd({ initval: 2 });
    fd.write(3);
    expect(fd.count).toBe(5n);
    expect(fd.read()).toBe(5n);
    expectErrno(() => fd.read(), 'EAGAIN');
  });

  it('in semaphore mode reads 1 and decrements (EFD_SEMAPHORE)', () => {
    const fd = new EventFd({ semaphore: true });
    fd.write(2);
    expect(fd.read()).toBe(1n);
    expect(fd.read()).toBe(1n);
    expect(fd.readable).toBe(false);
  });

  it('refuses 2^64-1 (EINVAL) and an overflow past 2^64-2 (EAGAIN) without changing the counter', () => {
    const fd = new EventFd();
    expectErrno(() => fd.write(0xffff_ffff_ffff_ffffn), 'EINVAL');
    fd.write(EVENTFD_MAX - 1n);
    fd.write(1n);
    expect(fd.count).toBe(EVENTFD_MAX);
    expectErrno(() => fd.write(1), 'EAGAIN');
    expect(fd.count).toBe(EVENTFD_MAX);
    expectErrno(() => fd.write(-1), 'EINVAL');
    expectErrno(() => new EventFd({ initval: -1 }), 'EINVAL');
  });

  it('wakes its poll waiters on every write that leaves it readable', () => {
    const fd = new EventFd();
    let woken = 0;
    const remove = fd.addWaiter(() => woken++);
    fd.write(1);
    fd.write(0);
    remove();
    fd.write(1);
    expect(woken).toBe(2);
  });
});
