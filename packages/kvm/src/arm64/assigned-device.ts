/**
 * A device assigned to an arm64 VM (VFIO-PCI's MSI eventfds and KVM's IRQ
 * bypass on arm64: virt/lib/irqbypass.c, arch/arm64/kvm/arm.c
 * `kvm_arch_irq_bypass_add_producer` → vgic-v4.c
 * `kvm_vgic_v4_set_forwarding`): the device's MSIs go to the host ITS with
 * its host DeviceID; each vector is a host LPI whose handler signals the
 * vector's eventfd (vfio_msihandler), so the VM's irqfd on that eventfd
 * injects through its route, unless the route is forwarded: then the host
 * ITS delivers the vector straight to the target vCPU's vPE as a vLPI.
 */
import type { DeliveryStatus } from '@hvsim/core';
import { GITS } from '@hvsim/gic';
import type { EventFd } from '../generic/eventfd.js';
import type { HostItsDriver } from './host-its.js';

/** One MSI vector of an assigned device: VFIO_DEVICE_SET_IRQS' eventfd and the GSI of the VM's irqfd on it. */
export interface Arm64AssignedMsi {
  fd: EventFd;
  gsi: number;
}

/** Options of `Arm64Vm.assignDevice`. */
export interface Arm64AssignDeviceOptions {
  /** The device's DeviceID at the host ITS (its requester ID). */
  deviceId: number;
  /** Its MSI vectors: vector n writes EventID n. */
  msis: readonly Arm64AssignedMsi[];
}

/** An assigned device (see the file comment). */
export class Arm64AssignedDevice {
  /** The host LPI of each vector when not forwarded. */
  readonly hostLpis: readonly number[];

  constructor(
    private readonly its: HostItsDriver,
    /** The host DeviceID. */
    readonly deviceId: number,
    /** The vectors. */
    readonly msis: readonly Arm64AssignedMsi[],
    /** The host ran its interrupts after the device's write (physical CPUs not running a guest take them at once). */
    private readonly afterMsi: () => void,
  ) {
    its.mapDevice(deviceId, msis.length);
    this.hostLpis = msis.map((m, n) => {
      const lpi = its.allocLpi(0xa0, true, () => {
        m.fd.write(1);
      });
      its.command('MAPTI', { deviceId, eventId: n, intid: lpi, icid: 0 });
      return lpi;
    });
  }

  /**
   * The device writes EventID `vector` to the host ITS's GITS_TRANSLATER
   * (a memory write with its DeviceID on the side band, IHI 0069 5.2):
   * the host ITS's delivery status.
   */
  raiseMsi(vector: number): DeliveryStatus {
    const s = this.its.its.deliverMsi(GITS.TRANSLATER, vector, this.deviceId);
    this.afterMsi();
    return s;
  }
}
