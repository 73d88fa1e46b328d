/**
 * The assigned NIC's port on the arm64 machines, which have no SMMU model:
 * its DMA goes straight to memory — the bus address is the guest-physical
 * address, turned into a host address through the VM's memslot (natively
 * the physical address itself); an address no memory backs ends as an
 * Unsupported Request, as on PCIe. Its MSIs are memory writes to an ITS's
 * GITS_TRANSLATER with the requester ID as DeviceID on the side band
 * (IHI0069 5.2), whose delivery the host supplies.
 */
import type { DeliveryStatus, Memory } from '@hvsim/core';
import type { DmaResult, MsiResult } from '@hvsim/iommu';
import type { NicPort } from './nic.js';

/** What the port needs of the host. */
export interface Arm64NicPortOptions {
  /** Memory the NIC's DMA reaches. */
  readonly memory: Memory;
  /** The address in `memory` of bus address `busAddress` (a guest-physical address), or -1 when none. */
  readonly translate: (busAddress: number) => number;
  /** The device's MSI write of `data` to `address` with DeviceID `deviceId`: what the interrupt controller answered. */
  readonly msi: (address: number, data: number, deviceId: number) => DeliveryStatus;
}

/** Builds the port (see the file comment); its results are reused objects, as the IOMMU's are. */
export function arm64NicPort(o: Arm64NicPortOptions): NicPort {
  const { memory, translate } = o;
  const dma: DmaResult = { status: 'ok', value: 0, physicalAddress: -1, faultReason: 0, faultRecorded: false };
  const msi: MsiResult = { outcome: 'passthrough', status: 1, faultReason: 0, faultRecorded: false, interruptIndex: -1, cacheHit: false, notified: false };
  const target = (iova: number): number => {
    const pa = translate(iova);
    dma.value = 0;
    dma.physicalAddress = pa >= 0 && memory.isBacked(pa, 4) ? pa : -1;
    dma.status = dma.physicalAddress < 0 ? 'unsupported-request' : 'ok';
    return dma.physicalAddress;
  };
  return {
    dmaRead(_sid, iova) {
      const pa = target(iova);
      if (pa >= 0) dma.value = memory.read32(pa);
      return dma;
    },
    dmaWrite(_sid, iova, _size, value) {
      const pa = target(iova);
      if (pa >= 0) memory.write32(pa, value);
      return dma;
    },
    sendMsi(sid, address, data) {
      msi.status = o.msi(address, data, sid);
      return msi;
    },
  };
}
