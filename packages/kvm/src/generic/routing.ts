/**
 * The GSI routing table (api.rst 4.52 KVM_SET_GSI_ROUTING; Linux
 * virt/kvm/irqchip.c and arch/x86/kvm/irq_comm.c): a GSI maps to a list
 * of entries, each an irqchip pin or an MSI. `setGsiRouting` replaces the
 * whole table at once after checking every entry; `set(gsi, level)` calls
 * every entry of the GSI and combines their results as `kvm_set_irq` does.
 */
import { DELIVERY_STATUS, type DeliveryStatus } from '@hvsim/core';
import { KVM_IRQ_ROUTING, KVM_MAX_IRQ_ROUTES, KVM_MSI_VALID_DEVID } from './constants.js';
import { fail, u32 } from './errors.js';

/** An IRQCHIP routing entry: the GSI drives pin `pin` of irqchip `irqchip`. */
export interface KvmIrqchipRoute {
  gsi: number;
  type: typeof KVM_IRQ_ROUTING.IRQCHIP;
  flags?: number;
  irqchip: { irqchip: number; pin: number };
}

/** An MSI routing entry: the GSI sends this MSI. */
export interface KvmMsiRoute {
  gsi: number;
  type: typeof KVM_IRQ_ROUTING.MSI;
  /** KVM_MSI_VALID_DEVID when `devid` is meaningful (arm64's ITS). */
  flags?: number;
  msi: { addressLo: number; addressHi?: number; data: number; devid?: number };
}

/** `struct kvm_irq_routing_entry`, as this KVM accepts it. */
export type KvmIrqRoutingEntry = KvmIrqchipRoute | KvmMsiRoute;

/** `struct kvm_msi` (api.rst 4.71 KVM_SIGNAL_MSI). */
export interface KvmMsi {
  addressLo: number;
  addressHi?: number;
  data: number;
  flags?: number;
  devid?: number;
}

/** What an architecture's irqchips and MSI delivery do with a routed interrupt. */
export interface RoutingBackend {
  /** The number of pins of irqchip `chip`, or -1 when that irqchip does not exist (or is not in the kernel). */
  irqchipPins(chip: number): number;
  /** Whether MSIs need a DeviceID (KVM_CAP_MSI_DEVID: arm64's ITS); entries may carry KVM_MSI_VALID_DEVID either way. */
  readonly msiDevid: boolean;
  /** Drives an irqchip pin. */
  setIrqchip(chip: number, pin: number, level: boolean, sourceId: number): DeliveryStatus;
  /**
   * Sends an MSI (level true; a level-0 MSI is ignored by the caller).
   * `flags` are the route's or kvm_msi's (KVM_MSI_VALID_DEVID: arm64's ITS
   * needs it, x86 ignores it).
   */
  setMsi(addressLo: number, addressHi: number, data: number, devid: number, flags: number): DeliveryStatus;
}

/** A compiled entry (kvm_kernel_irq_routing_entry). */
export interface KernelRoutingEntry {
  type: number;
  chip: number;
  pin: number;
  addressLo: number;
  addressHi: number;
  data: number;
  devid: number;
  /** The MSI entry's flags (KVM_MSI_VALID_DEVID), passed to the backend's setMsi. */
  flags: number;
}

/**
 * Linux's `kvm_set_irq` result for one entry's DeliveryStatus: delivered
 * counts 1, coalesced 0, blocked or dropped -1.
 */
export function statusValue(s: DeliveryStatus): number {
  return s === DELIVERY_STATUS.DELIVERED ? 1 : s === DELIVERY_STATUS.COALESCED ? 0 : -1;
}

/** The GSI routing table (see the file comment). */
export class GsiRouting {
  private table: (KernelRoutingEntry[] | undefined)[] = [];
  private entries: readonly KvmIrqRoutingEntry[] = [];

  constructor(private readonly backend: RoutingBackend) {}

  /** The entries of the current table, as set. */
  list(): readonly KvmIrqRoutingEntry[] {
    return this.entries;
  }

  /** True when `gsi` has at least one entry. */
  has(gsi: number): boolean {
    return (this.table[gsi]?.length ?? 0) > 0;
  }

  /** The irqchip pins `gsi` drives (for ack notifiers). */
  irqchipPins(gsi: number): { chip: number; pin: number }[] {
    return (this.table[gsi] ?? []).filter((e) => e.type === KVM_IRQ_ROUTING.IRQCHIP).map((e) => ({ chip: e.chip, pin: e.pin }));
  }

  /** The GSIs that drive irqchip `chip` pin `pin` (kvm_irq_map_chip_pin, the reverse map). */
  gsisOf(chip: number, pin: number): number[] {
    const out: number[] = [];
    this.table.forEach((list, gsi) => {
      if (list?.some((e) => e.type === KVM_IRQ_ROUTING.IRQCHIP && e.chip === chip && e.pin === pin)) out.push(gsi);
    });
    return out;
  }

  /**
   * KVM_SET_GSI_ROUTING: checks every entry (EINVAL for more than
   * KVM_MAX_IRQ_ROUTES entries, a GSI at or above it, unknown types or
   * flags, a missing irqchip, a pin out of range, a GSI mapped twice to one
   * irqchip or an MSI GSI with any second entry) and then replaces the table.
   */
  set(entries: readonly KvmIrqRoutingEntry[]): void {
    const raw: unknown = entries;
    if (!Array.isArray(raw)) fail('EFAULT', 'KVM_SET_GSI_ROUTING needs an array of entries');
    if (entries.length > KVM_MAX_IRQ_ROUTES) fail('EINVAL', `${entries.length} routing entries exceed KVM_MAX_IRQ_ROUTES (${KVM_MAX_IRQ_ROUTES})`);
    const table: (KernelRoutingEntry[] | undefined)[] = [];
    entries.forEach((ue, i) => {
      const gsi = u32(ue.gsi, `entry ${i} gsi`);
      if (gsi >= KVM_MAX_IRQ_ROUTES) fail('EINVAL', `entry ${i}: gsi ${gsi} is not below KVM_MAX_IRQ_ROUTES (${KVM_MAX_IRQ_ROUTES})`);
      const flags = u32(ue.flags ?? 0, `entry ${i} flags`);
      const type: number = ue.type;
      if (type !== KVM_IRQ_ROUTING.IRQCHIP && type !== KVM_IRQ_ROUTING.MSI) fail('EINVAL', `entry ${i}: routing type ${String(type)} is not supported`);
      const e: KernelRoutingEntry = { type, chip: -1, pin: -1, addressLo: 0, addressHi: 0, data: 0, devid: 0, flags: 0 };
      if (ue.type === KVM_IRQ_ROUTING.IRQCHIP) {
        if (flags !== 0) fail('EINVAL', `entry ${i}: irqchip entries take no flags, got ${flags}`);
        e.chip = u32(ue.irqchip.irqchip, `entry ${i} irqchip`);
        e.pin = u32(ue.irqchip.pin, `entry ${i} pin`);
        const pins = this.backend.irqchipPins(e.chip);
        if (pins < 0) fail('EINVAL', `entry ${i}: irqchip ${e.chip} does not exist in the kernel`);
        if (e.pin >= pins) fail('EINVAL', `entry ${i}: pin ${e.pin} is out of range for irqchip ${e.chip} (${pins} pins)`);
      } else {
        // kvm_set_irq_routing: an MSI entry may carry KVM_MSI_VALID_DEVID on every architecture (x86 ignores it).
        if ((flags & ~KVM_MSI_VALID_DEVID) !== 0) fail('EINVAL', `entry ${i}: MSI flags ${flags} are not valid (only KVM_MSI_VALID_DEVID)`);
        e.flags = flags;
        e.addressLo = u32(ue.msi.addressLo, `entry ${i} address_lo`);
        e.addressHi = u32(ue.msi.addressHi ?? 0, `entry ${i} address_hi`);
        e.data = u32(ue.msi.data, `entry ${i} data`);
        e.devid = flags !== 0 ? u32(ue.msi.devid ?? 0, `entry ${i} devid`) : 0;
      }
      const list = (table[gsi] ??= []);
      // setup_routing_entry: one entry per irqchip for a GSI; an MSI GSI has no other entry.
      for (const other of list) {
        if (other.type !== KVM_IRQ_ROUTING.IRQCHIP || e.type !== KVM_IRQ_ROUTING.IRQCHIP || other.chip === e.chip) {
          fail('EINVAL', `entry ${i}: gsi ${gsi} is already routed ${other.type === KVM_IRQ_ROUTING.MSI || e.type === KVM_IRQ_ROUTING.MSI ? '(an MSI gsi has exactly one entry)' : `to irqchip ${e.chip}`}`);
        }
      }
      list.push(e);
    });
    this.table = table;
    this.entries = entries.map((e) => structuredClone(e));
  }

  /**
   * kvm_set_irq: drives every entry of `gsi` and sums their results (1
   * delivered, 0 coalesced, -1 not delivered; -1 when no entry delivered or
   * coalesced, and for a GSI with no entry).
   */
  setIrq(gsi: number, level: boolean, sourceId: number): number {
    const list = this.table[gsi];
    let ret = -1;
    if (list === undefined) return ret;
    for (const e of list) {
      let r: number;
      if (e.type === KVM_IRQ_ROUTING.IRQCHIP) r = statusValue(this.backend.setIrqchip(e.chip, e.pin, level, sourceId));
      else if (!level) r = -1; // kvm_set_msi ignores a level-0 MSI
      else r = statusValue(this.backend.setMsi(e.addressLo, e.addressHi, e.data, e.devid, e.flags));
      if (r < 0) continue;
      ret = r + (ret < 0 ? 0 : ret);
    }
    return ret;
  }

  /** The MSI of an MSI-routed GSI (irqfd's atomic fast path), or undefined. */
  msiOf(gsi: number): KernelRoutingEntry | undefined {
    const list = this.table[gsi];
    return list?.length === 1 && list[0]!.type === KVM_IRQ_ROUTING.MSI ? list[0] : undefined;
  }
}
