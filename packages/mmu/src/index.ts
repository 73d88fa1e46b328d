/**
 * @hvsim/mmu: x86-64 paging, EPT, TLBs, shadow paging and nested walks; Arm stage-2 translation.
 *
 * @packageDocumentation
 */
export {};
