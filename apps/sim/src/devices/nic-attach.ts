/**
 * Puts the assigned NIC on a machine: the function's BAR in host memory,
 * decoded by a write observer on that memory (every store to the BAR — the
 * driver's, or the VMM's to the MSI-X table — reaches the device, as a
 * posted write on PCIe does), and its DMA and MSIs through an IOMMU.
 */
import type { Clock, PhysicalMemory } from '@hvsim/core';
import { AssignedNic, type NicPort } from './nic.js';
import { NIC_BAR_SIZE } from './nic-regs.js';

/** The NIC's requester ID: bus 3, device 0, function 0 (a VF as an SR-IOV NIC would expose it). */
export const NIC_SID = 0x0300;
/**
 * Builds the NIC with its BAR at `barBase` in `memory`, its requests through `port`, a DMA round trip costing `dmaCycles` (the profile's device.nicDmaRoundTrip).
 * With `writerTime` (the local time of the CPU whose stores reach the BAR), a write the CPU makes ahead of the clock reaches the device when the
 * clock gets there, as a posted write does, not at the clock's earlier time.
 */
export function attachNic(o: { clock: Clock; dmaCycles: number; memory: PhysicalMemory; barBase: number; port: NicPort; writerTime?: () => number }): AssignedNic {
  const nic = new AssignedNic({ clock: o.clock, port: o.port, sid: NIC_SID, barMemory: o.memory, barBase: o.barBase, dmaCycles: o.dmaCycles });
  const { barBase, clock, writerTime } = o;
  const barEnd = barBase + NIC_BAR_SIZE;
  o.memory.addWriteObserver((addr, size) => {
    if (addr >= barEnd || addr + size <= barBase) return;
    const at = writerTime?.() ?? 0;
    if (at > clock.now()) clock.schedule(at, () => nic.barWritten(addr - barBase, size));
    else nic.barWritten(addr - barBase, size);
  });
  return nic;
}
