/**
 * The x86 in-kernel irqchip of KVM_CREATE_IRQCHIP (api.rst 4.24; Linux
 * arch/x86/kvm/irq_comm.c, ioapic.c, i8259.c): a PIC pair and an IOAPIC on
 * an APIC bus with the vCPUs' local APICs, and the default GSI routes of
 * `kvm_setup_default_irq_routing` (GSI 0-15 to the IOAPIC pin and the PIC,
 * 16-23 to the IOAPIC only). A pin's level is the OR of its sources
 * (`__kvm_irq_line_state`), so userspace and a resampling irqfd may share
 * a line. The IOAPIC's EOI (broadcast by a local APIC for a level vector)
 * notifies the GSIs of every pin with that vector (ack notifiers).
 *
 * With KVM_CAP_SPLIT_IRQCHIP (api.rst 7.8) only the bus of the local APICs
 * is in the kernel: no PIC, no IOAPIC (userspace emulates them), and an EOI
 * broadcast goes to the VM, which decides whether userspace must see it
 * (KVM_EXIT_IOAPIC_EOI).
 */
import { DELIVERY_STATUS, PioBus, type Clock, type DeliveryStatus, type InterruptLine } from '@hvsim/core';
import { ApicBus, IoApic, PicPair, type LocalApic } from '@hvsim/lapic';
import { KVM_IRQCHIP, KVM_IRQ_ROUTING } from '../generic/constants.js';
import type { KvmIrqRoutingEntry } from '../generic/routing.js';

/** Guest-physical base of the in-kernel IOAPIC (IOAPIC_DEFAULT_BASE_ADDRESS) and its MMIO length. */
export const IOAPIC_BASE = 0xfec0_0000;
/** IOAPIC_MEM_LENGTH. */
export const IOAPIC_MEM_LENGTH = 0x100;
/** KVM_IOAPIC_NUM_PINS. */
export const IOAPIC_NUM_PINS = 24;
/** PIC ports of the in-kernel PIC (master, slave, ELCR). */
export const PIC_PORTS: readonly number[] = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1];

/** The endpoint that sent an EOI broadcast (a local APIC). */
export type EoiSender = Parameters<ApicBus['broadcastEoi']>[1];

/** An APIC bus that also tells KVM about EOI broadcasts (the IOAPIC's ack notifiers). */
export class KvmApicBus extends ApicBus {
  onEoi: ((vector: number, sender: EoiSender) => void) | undefined;

  override broadcastEoi(vector: number, sender?: EoiSender): void {
    // kvm_ioapic_update_eoi: the ack notifiers run first (a resampling irqfd lowers its line), then
    // Remote IRR is cleared and a pin still asserted is serviced again.
    this.onEoi?.(vector, sender);
    super.broadcastEoi(vector, sender);
  }
}

/** The default routes of kvm_setup_default_irq_routing. */
export function defaultIrqRoutes(): KvmIrqRoutingEntry[] {
  const routes: KvmIrqRoutingEntry[] = [];
  for (let gsi = 0; gsi < IOAPIC_NUM_PINS; gsi++) {
    if (gsi < 16) routes.push({ gsi, type: KVM_IRQ_ROUTING.IRQCHIP, irqchip: { irqchip: gsi < 8 ? KVM_IRQCHIP.PIC_MASTER : KVM_IRQCHIP.PIC_SLAVE, pin: gsi % 8 } });
    routes.push({ gsi, type: KVM_IRQ_ROUTING.IRQCHIP, irqchip: { irqchip: KVM_IRQCHIP.IOAPIC, pin: gsi } });
  }
  return routes;
}

/** Options of an {@link X86Irqchip}. */
export interface X86IrqchipOptions {
  /** KVM_CAP_SPLIT_IRQCHIP: only the local APICs' bus; `onEoi` hears their EOI broadcasts. */
  split?: { onEoi: (vector: number, sender: EoiSender) => void };
}

/** The PIC pair, IOAPIC and APIC bus of one VM (see the file comment). */
export class X86Irqchip {
  readonly bus = new KvmApicBus();
  /** The in-kernel IOAPIC (undefined with the split irqchip). */
  readonly ioapic: IoApic | undefined;
  /** The in-kernel PIC pair (undefined with the split irqchip). */
  readonly pic: PicPair | undefined;
  private lint0: InterruptLine | undefined;
  private picLevel = false;
  /** The PIC's INT output (to the BSP's LINT0). */
  readonly picOutput: InterruptLine = {
    setLevel: (level: boolean) => {
      this.picLevel = level;
      this.lint0?.setLevel(level);
    },
  };
  /** The PIC's ports. */
  readonly ports = new PioBus();
  private readonly sources = new Uint32Array(16 + IOAPIC_NUM_PINS);

  constructor(clock: Clock, onAck: (chip: number, pin: number) => void, options: X86IrqchipOptions = {}) {
    if (options.split) {
      this.ioapic = undefined;
      this.pic = undefined;
      this.bus.onEoi = options.split.onEoi;
      return;
    }
    const ioapic = new IoApic({ clock });
    this.ioapic = ioapic;
    this.bus.attach(ioapic);
    this.pic = new PicPair({ output: this.picOutput, clock, onEoi: (irq) => onAck(irq < 8 ? KVM_IRQCHIP.PIC_MASTER : KVM_IRQCHIP.PIC_SLAVE, irq % 8) });
    this.pic.attach(this.ports);
    this.bus.onEoi = (vector) => {
      for (let pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        if ((ioapic.redirectionEntry(pin)[0] & 0xff) === vector) onAck(KVM_IRQCHIP.IOAPIC, pin);
      }
    };
  }

  /** True with KVM_CAP_SPLIT_IRQCHIP (no PIC or IOAPIC in the kernel). */
  get split(): boolean {
    return this.ioapic === undefined;
  }

  /** Attaches a vCPU's local APIC to the bus; the BSP's LINT0 follows the PIC's output. */
  attachApic(apic: LocalApic, bsp: boolean): void {
    this.bus.attach(apic);
    if (bsp) {
      this.lint0 = apic.lintLine(0);
      this.lint0.setLevel(this.picLevel);
    }
  }

  /** Pins of an in-kernel irqchip: 8 per PIC, 24 for the IOAPIC; -1 for others (all with the split irqchip). */
  pins(chip: number): number {
    if (this.split) return -1;
    return chip === KVM_IRQCHIP.PIC_MASTER || chip === KVM_IRQCHIP.PIC_SLAVE ? 8 : chip === KVM_IRQCHIP.IOAPIC ? IOAPIC_NUM_PINS : -1;
  }

  /** Drives a pin from `sourceId`; the line's level is the OR of its sources. */
  set(chip: number, pin: number, level: boolean, sourceId: number): DeliveryStatus {
    const index = chip === KVM_IRQCHIP.IOAPIC ? 16 + pin : chip * 8 + pin;
    const bit = 1 << sourceId;
    const s = level ? this.sources[index]! | bit : this.sources[index]! & ~bit;
    this.sources[index] = s;
    const line = s !== 0;
    if (chip === KVM_IRQCHIP.IOAPIC && this.ioapic) return this.ioapic.setIrq(pin, line);
    if ((chip === KVM_IRQCHIP.PIC_MASTER || chip === KVM_IRQCHIP.PIC_SLAVE) && this.pic) return this.pic.setIrq(chip * 8 + pin, line);
    return DELIVERY_STATUS.DROPPED;
  }
}
