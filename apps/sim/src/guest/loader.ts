/**
 * What a loader does before the kernel runs, native or virtual alike: the
 * IDT's gates and the boot parameters written into guest RAM (the VMM does
 * it through its mapping of the memslot, the native host into RAM).
 */
import { encodeIdtGate } from '@hvsim/cpu';
import { BOOT, GUEST, VECTOR } from './layout.js';

/** What the kernel is told at boot. */
export interface BootParams {
  /** LAPIC timer initial count, 0 for no timer. */
  readonly timerCount: number;
  /** Cycles per work unit of the busy loop, 0 for an idle kernel. */
  readonly workChunk: number;
  /** Work units between CPU 0's ping IPIs to CPU 1, 0 for none. */
  readonly ipiEvery: number;
}

/** Writes the IDT and the boot parameters with `write32(guestPhysicalAddress, value)`. */
export function loadGuest(write32: (gpa: number, value: number) => void, boot: BootParams): void {
  const gates: [number, number][] = [
    [VECTOR.TIMER, GUEST.TIMER_HANDLER],
    [VECTOR.DEVICE, GUEST.DEVICE_HANDLER],
    [VECTOR.IPI, GUEST.IPI_HANDLER],
    [VECTOR.SPURIOUS, GUEST.SPURIOUS_HANDLER],
  ];
  for (const [vector, target] of gates) {
    encodeIdtGate({ target }).forEach((w, i) => {
      write32(GUEST.IDT + vector * 16 + 4 * i, w);
    });
  }
  write32(GUEST.BOOT + BOOT.TIMER_COUNT, boot.timerCount);
  write32(GUEST.BOOT + BOOT.WORK_CHUNK, boot.workChunk);
  write32(GUEST.BOOT + BOOT.IPI_EVERY, boot.ipiEvery);
}
