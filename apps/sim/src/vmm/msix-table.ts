/**
 * A VFIO VMM's emulation of an assigned function's MSI-X table entry 0
 * (PCI 3.0 6.8.2: message address low and high, data, vector control with
 * its mask bit), as QEMU's vfio-pci keeps it: the table page has no
 * memslot, so the guest's 32-bit accesses exit to the VMM (KVM_EXIT_MMIO),
 * which keeps the guest's entry and tells the VMM when the guest unmasks the
 * vector (vfio_msix_vector_use), changes a live one, or masks it. Other
 * entries and the PBA are not implemented by the function: they read as 0
 * and writes to them are ignored.
 */
import { NIC_MSIX } from '../devices/nic-regs.js';

/** What the VMM does when the guest's entry changes. */
export interface MsixEntryHooks {
  /** The vector is unmasked, or its address or data changed while unmasked: route it (`entry`: address low, high, data, control). */
  route(entry: Uint32Array): void;
  /** The guest wrote the vector control: mask or unmask the physical vector with it (after `route` on an unmask). */
  control(masked: number): void;
}

/** Returns the exit handler of the table page at guest-physical `tableBase`: true when it served `gpa`. */
export function msixTableEmulation(tableBase: number, hooks: MsixEntryHooks): (gpa: number, isWrite: boolean, data: Uint8Array, len: number) => boolean {
  const entry = new Uint32Array(4);
  entry[3] = NIC_MSIX.MASKED; // masked at reset (PCI 3.0 6.8.2.9)
  let live = false;
  return (gpa, isWrite, data, len) => {
    if (gpa < tableBase || gpa >= tableBase + 0x1000) return false;
    const word = (gpa - tableBase) >>> 2;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (word >= 4 || len !== 4) {
      if (!isWrite) view.setUint32(0, 0, true);
      return true;
    }
    if (!isWrite) {
      view.setUint32(0, entry[word]!, true);
      return true;
    }
    entry[word] = view.getUint32(0, true);
    if (word === 3) {
      live = (entry[3]! & NIC_MSIX.MASKED) === 0;
      if (live) hooks.route(entry);
      hooks.control(entry[3]! & NIC_MSIX.MASKED);
    } else if (live) hooks.route(entry);
    return true;
  };
}
