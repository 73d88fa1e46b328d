/**
 * The arm64 interrupt-delivery modes, each a configuration of the real
 * models: `native` is the kernel on bare Arm64Cpus with a GICv3 and its ITS;
 * `gicv3` is a KVM VM with the in-kernel vGICv3 and vITS on a GICv3 host,
 * which injects through the list registers of the host GIC's virtual CPU
 * interface; `gicv4` is the same VM on a GICv4.1 host, where an assigned
 * device's MSIs become direct vLPIs (KVM's IRQ bypass).
 */
import type { Arm64BootParams } from '../guest/arm64-kernel.js';
import type { Arm64SimProfile } from '../arm64-profile.js';
import { arm64VmmHost } from '../vmm/arm64-vmm.js';
import type { Arm64SimHost } from './arm64-host.js';
import { arm64NativeHost } from './arm64-native.js';

/** The arm64 modes, in the order reports show them. */
export const ARM64_MODES = ['native', 'gicv3', 'gicv4'] as const;
/** An arm64 mode. */
export type Arm64Mode = (typeof ARM64_MODES)[number];

/** One line per mode for `--help` and the README. */
export const ARM64_MODE_HELP: Record<Arm64Mode, string> = {
  native: 'no virtualization: the kernel on Arm64Cpus and a GICv3 (the baseline)',
  gicv3: 'KVM with the in-kernel vGICv3 and vITS: injection through list registers, acknowledge and EOI without exits, trapped distributor accesses',
  gicv4: 'gicv3 on a GICv4.1 host: the assigned NIC\'s MSIs are direct vLPIs to the resident vCPU, no exit to deliver',
};

/** Builds the arm64 host of `mode`. */
export function buildArm64Host(mode: Arm64Mode, options: { cpus: number; profile: Arm64SimProfile; boot: Arm64BootParams; quantum: number }): Arm64SimHost {
  switch (mode) {
    case 'native':
      return arm64NativeHost(options);
    case 'gicv3':
      return arm64VmmHost({ ...options, hostGic: 'v3' });
    case 'gicv4':
      return arm64VmmHost({ ...options, hostGic: 'v4.1' });
  }
}
