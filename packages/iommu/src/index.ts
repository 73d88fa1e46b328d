/**
 * @hvsim/iommu: Intel VT-d IOMMU: DMA remapping, interrupt remapping and posted interrupts.
 *
 * @packageDocumentation
 */
export {};
