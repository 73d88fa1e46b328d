/**
 * @hvsim/gic: Arm GICv2, GICv3 and GICv4 interrupt controllers with their virtualization interfaces and the ITS.
 *
 * @packageDocumentation
 */
export {};
