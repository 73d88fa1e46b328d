/**
 * What a loader does before the kernel runs, native or virtual alike: the
 * IDT's gates and the boot parameters written into guest RAM (the VMM does
 * it through its mapping of the memslot, the native host into RAM).
 */
import { encodeIdtGate } from '@hvsim/cpu';
import { BOOT, GUEST, VECTOR } from './layout.js';

/** The page-fault exception's vector (SDM 3A 6.15, Interrupt 14). */
const VECTOR_PF = 14;

/** What the kernel is told at boot. */
export interface BootParams {
  /** LAPIC timer initial count, 0 for no timer. */
  readonly timerCount: number;
  /** Cycles per work unit of the busy loop, 0 for an idle kernel. */
  readonly workChunk: number;
  /** Work units between CPU 0's ping IPIs to CPU 1, 0 for none. */
  readonly ipiEvery: number;
  /** Cycles of the server's work per NIC request, 0 for no NIC driver. */
  readonly nicWork: number;
  /** The NIC's interrupt throttle interval in cycles (0: off). */
  readonly nicItr: number;
  /** Samples per microbenchmark row, 0 for none (see MICRO_ROW). */
  readonly microReps: number;
  /** The `memory` workload's processes (address spaces), 0 for none, and the pages each touches per time slice. */
  readonly memProcs?: number;
  readonly memPages?: number;
}

/** Writes the IDT and the boot parameters with `write32(guestPhysicalAddress, value)`. */
export function loadGuest(write32: (gpa: number, value: number) => void, boot: BootParams): void {
  const gates: [number, number][] = [
    [VECTOR.TIMER, GUEST.TIMER_HANDLER],
    [VECTOR.DEVICE, GUEST.DEVICE_HANDLER],
    [VECTOR.IPI, GUEST.IPI_HANDLER],
    [VECTOR.SPURIOUS, GUEST.SPURIOUS_HANDLER],
    [VECTOR.NIC, GUEST.NIC_HANDLER],
    [VECTOR_PF, GUEST.PF_HANDLER],
  ];
  for (const [vector, target] of gates) {
    encodeIdtGate({ target }).forEach((w, i) => {
      write32(GUEST.IDT + vector * 16 + 4 * i, w);
    });
  }
  write32(GUEST.BOOT + BOOT.TIMER_COUNT, boot.timerCount);
  write32(GUEST.BOOT + BOOT.WORK_CHUNK, boot.workChunk);
  write32(GUEST.BOOT + BOOT.IPI_EVERY, boot.ipiEvery);
  write32(GUEST.BOOT + BOOT.NIC_WORK, boot.nicWork);
  write32(GUEST.BOOT + BOOT.NIC_ITR, boot.nicItr);
  write32(GUEST.BOOT + BOOT.MICRO_REPS, boot.microReps);
  write32(GUEST.BOOT + BOOT.MEM_PROCS, boot.memProcs ?? 0);
  write32(GUEST.BOOT + BOOT.MEM_PAGES, boot.memPages ?? 0);
}
