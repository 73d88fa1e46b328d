/**
 * What a run needs of a host, native or virtual: run the CPUs on the shared
 * clock, send a device's MSI, read guest RAM, and count what the host did.
 */
import type { Clock } from '@hvsim/core';
import type { CpuStats } from '@hvsim/cpu';
import type { AssignedNic } from '../devices/nic.js';

/** A machine running the guest kernel (see the file comment). */
export interface SimHost {
  /** Simulated time, in cycles of the profile's clock. */
  readonly clock: Clock;
  /** The number of CPUs (vCPUs) the guest has. */
  readonly cpus: number;
  /** Runs every CPU until its local time reaches `cycle` (serving what the guest asks of the host meanwhile). */
  runUntil(cycle: number): void;
  /** The furthest-behind CPU's local time. */
  now(): number;
  /** A device's MSI to APIC `dest` with `vector` (fixed, edge): Linux's status (> 0 delivered, 0 coalesced, < 0 dropped). */
  sendMsi(dest: number, vector: number): number;
  /** Reads a 32-bit word of guest RAM. */
  read32(gpa: number): number;
  /** Hardware exits so far by reason, and their total (empty for native). */
  exits(): { total: number; byReason: Record<string, number> };
  /** Starts counting exits afresh. */
  resetExits(): void;
  /** CPU `i`'s LAPIC timer current count (TMCCT, SDM 3A 11.5.4) as its APIC sees it at `clock.now()`. */
  timerCurrentCount(i: number): number;
  /** Counters of CPU `i`. */
  cpuStats(i: number): CpuStats;
  /** Cycles of the returns to the userspace VMM so far (KVM_RUN round trips, which kvm charges to the vCPUs). */
  hostCycles(): number;
  /** Cycles from each OUT to the notification port (its TSC in MICRO_IO_SENT) until the backend's eventfd was signalled (empty natively: no backend). */
  ioOutLatencies?(): readonly number[];
  /** The assigned NIC, when the kernel drives one (boot parameter nicWork). */
  readonly nic: AssignedNic | undefined;
}
