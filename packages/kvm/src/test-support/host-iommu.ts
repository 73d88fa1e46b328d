/**
 * The host's VT-d unit for tests of device assignment: an `IntelIommu`
 * delivering to the VM's physical CPUs' APIC bus, and the host driver with
 * interrupt remapping and (optionally) DMA translation enabled, its tables
 * in KVM's kernel pages.
 */
import { IntelIommu, VtdDriver, apicBusTarget } from '@hvsim/iommu';
import type { X86Vm } from '../x86/vm.js';

/** Builds the unit and its driver for `vm` (which must have a vCPU: its physical CPUs exist). */
export function hostIommu(vm: X86Vm, memory: IntelIommuMemory, translation = true): { iommu: IntelIommu; driver: VtdDriver } {
  const cpus = vm.interrupts.physicalCpus!;
  const iommu = new IntelIommu({ memory, target: apicBusTarget(cpus.hostBus) });
  const driver = new VtdDriver({ unit: iommu, memory, pages: { allocate: () => vm.allocKernelPages(1) } });
  driver.enableInterruptRemapping({ entries: 256 });
  if (translation) driver.enableTranslation();
  return { iommu, driver };
}

type IntelIommuMemory = ConstructorParameters<typeof IntelIommu>[0]['memory'];
