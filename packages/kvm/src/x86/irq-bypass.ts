/**
 * IRQ bypass for assigned devices: VT-d posted interrupts (Linux
 * virt/lib/irqbypass.c, x86 `kvm_arch_irq_bypass_add_producer`,
 * `kvm_arch_update_irqfd_routing`, vmx/posted_intr.c `vmx_pi_update_irte`;
 * VT-d 5.2.3, 9.11). A producer is one MSI vector of a device assigned to
 * the VM (VFIO's host IRQ: an interrupt-remapping table entry the device's
 * remappable MSI names); its consumer is the irqfd of the VM's GSI with the
 * same eventfd. When that GSI's route is an MSI that targets exactly one
 * vCPU and is postable (fixed or lowest-priority, physical destination,
 * not broadcast; the vCPU in APICv mode), the IRTE is rewritten in posted
 * format naming the vCPU's posted-interrupt descriptor and the guest
 * vector, so the device's interrupts reach the vCPU with no host
 * involvement — the descriptor's NV/NDST/SN, kept by vcpu_load, vcpu_put
 * and blocking, decide the notification (0xF2 to the CPU it runs on, 0xF1
 * to wake it). Otherwise the IRTE is remapped to a host vector on CPU 0,
 * whose handler signals the eventfd (vfio_msihandler) and the irqfd injects.
 * In ELI mode (eli.ts) a route to one vCPU instead gets a remapped IRTE
 * with the guest's vector aimed at the vCPU's physical CPU, delivered
 * through the shadow IDT with no exit. KVM_SET_GSI_ROUTING re-evaluates
 * every producer (the VM calls `routingChanged`). Every change is followed
 * by the interrupt-entry-cache invalidation the driver issues through the
 * invalidation queue.
 */
import { DELIVERY_MODE } from '@hvsim/core';
import { encodeRemappableMsi } from '@hvsim/lapic';
import type { VtdDriver } from '@hvsim/iommu';
import { KVM_IRQ_ROUTING } from '../generic/constants.js';
import { fail, u32 } from '../generic/errors.js';
import type { EventFd } from '../generic/eventfd.js';
import type { KvmIrqRoutingEntry } from '../generic/routing.js';
import type { DeliveryVcpu, InterruptDelivery } from './interrupt-delivery.js';

/** The first host vector of remapped (not posted) device interrupts: one vector per producer from here. */
export const HOST_DEVICE_VECTOR = 0x41;

/** What IRQ bypass needs of the VM. */
export interface BypassVm {
  readonly interrupts: InterruptDelivery;
  gsiRouting(): readonly KvmIrqRoutingEntry[];
  /** Registers the bypass so KVM_SET_GSI_ROUTING calls its `routingChanged` (kvm_irq_routing_update → kvm_arch_update_irqfd_routing). */
  addIrqBypass?(bypass: { routingChanged(): void }): void;
}

/** One producer: an assigned device's MSI vector and its IRTE. */
export interface BypassProducer {
  /** The device's requester ID. */
  readonly sid: number;
  /** The eventfd shared with the VM's irqfd (the bypass token). */
  readonly fd: EventFd;
  /** The GSI of that irqfd. */
  readonly gsi: number;
  /** Its interrupt-remapping table entry. */
  readonly irte: number;
  /** The remappable MSI address the device is programmed with (data 0). */
  readonly msiAddress: number;
  /** The host vector (on CPU 0) of the IRTE in remapped format. */
  readonly hostVector: number;
  /** The vCPU id the IRTE posts to now, or -1 (remapped to the host). */
  postedTo: number;
  /** ELI: the guest vector the IRTE delivers straight to the vCPU's physical CPU, or -1. */
  eliVector: number;
}

/** Options of an {@link IrqBypass}. */
export interface IrqBypassOptions {
  /** The VM whose irqfds consume the producers. */
  vm: BypassVm;
  /** The host's VT-d driver, with interrupt remapping enabled. */
  driver: VtdDriver;
  /** The first host vector for interrupts that are not posted (default 0x41; one per producer). */
  hostVector?: number;
}

/** IRQ bypass between assigned devices and a VM's irqfds (see the file comment). */
export class IrqBypass {
  private readonly vm: BypassVm;
  private readonly driver: VtdDriver;
  private readonly hostVector: number;
  private readonly producers: BypassProducer[] = [];

  constructor(options: IrqBypassOptions) {
    this.vm = options.vm;
    this.driver = options.driver;
    this.hostVector = options.hostVector ?? HOST_DEVICE_VECTOR;
    if (this.vm.interrupts.physicalCpus === undefined) fail('EINVAL', 'IRQ bypass needs the VM to have vCPUs (its physical CPUs)');
    this.vm.addIrqBypass?.(this);
  }

  /**
   * VFIO_DEVICE_SET_IRQS for one MSI vector of device `sid`, with the
   * eventfd the VMM also gave KVM_IRQFD for `gsi`: allocates the IRTE,
   * pairs it with the irqfd's route (posted when postable) and returns the
   * producer, whose `msiAddress` the device sends its MSI to.
   */
  addProducer(sid: number, fd: EventFd, gsi: number): BypassProducer {
    const s = u32(sid, 'sid');
    if (s > 0xffff) fail('EINVAL', `sid must be a 16-bit requester ID, got ${s}`);
    const g = u32(gsi, 'gsi');
    if (this.producers.some((p) => p.fd === fd)) fail('EBUSY', 'this eventfd already has a producer');
    let hostVector = this.hostVector;
    while (this.producers.some((p) => p.hostVector === hostVector)) hostVector++;
    if (hostVector > 0xdf) fail('ENOSPC', `no host vector left for another producer (${this.producers.length} in use)`);
    const irte = this.driver.allocateIrte(1);
    const producer: BypassProducer = { sid: s, fd, gsi: g, irte, msiAddress: encodeRemappableMsi({ handle: irte, shv: false, subhandle: 0 }).address, hostVector, postedTo: -1, eliVector: -1 };
    this.producers.push(producer);
    // vfio_msihandler: the host's handler of the remapped interrupt signals the eventfd; the irqfd injects.
    this.vm.interrupts.physicalCpus!.setHandler(hostVector, () => {
      fd.write(1n);
    });
    this.update(producer);
    return producer;
  }

  /**
   * kvm_arch_irq_bypass_del_producer and VFIO's free_irq: the IRTE is
   * freed (and its cached copy invalidated) and the host handler removed.
   * EINVAL for a producer this bypass does not hold.
   */
  removeProducer(producer: BypassProducer): void {
    const i = this.producers.indexOf(producer);
    if (i < 0) fail('EINVAL', `no producer for sid ${producer.sid} gsi ${producer.gsi} in this IRQ bypass`);
    this.producers.splice(i, 1);
    this.vm.interrupts.physicalCpus!.setHandler(producer.hostVector, undefined);
    this.dropEli(producer);
    this.driver.freeIrte(producer.irte);
    producer.postedTo = -1;
  }

  /** kvm_arch_update_irqfd_routing: after KVM_SET_GSI_ROUTING every producer's IRTE follows its GSI's route. */
  routingChanged(): void {
    for (const p of this.producers) this.update(p);
  }

  /** The producers. */
  get all(): readonly BypassProducer[] {
    return this.producers;
  }

  /** vmx_pi_update_irte for one producer (in ELI mode: the direct-delivery IRTE, eli.ts). */
  private update(p: BypassProducer): void {
    if (this.vm.interrupts.eli && this.updateEli(p)) return;
    this.dropEli(p);
    const target = this.postTarget(p.gsi);
    if (target !== undefined) {
      this.driver.postToVcpu(p.irte, { vector: target.vector, descriptorAddress: target.descriptor, sid: p.sid, svt: 1 });
      p.postedTo = target.vcpu;
    } else {
      this.driver.setRemappedIrte(p.irte, { vector: p.hostVector, destination: 0, sid: p.sid, svt: 1 });
      p.postedTo = -1;
    }
  }

  /**
   * ELI: a route to one vCPU with a vector the host does not use itself
   * (0x20-0xDF) gets a remapped IRTE carrying the guest's vector to the
   * vCPU's physical CPU; the host handler of that vector (the vCPU not in
   * guest mode) signals the eventfd. False when the route does not qualify.
   */
  private updateEli(p: BypassProducer): boolean {
    const t = this.singleVcpu(p.gsi);
    if (t === undefined || t.vector < 0x20 || t.vector > 0xdf) return false;
    if (p.eliVector !== t.vector) this.dropEli(p);
    const delivery = this.vm.interrupts;
    this.driver.setRemappedIrte(p.irte, { vector: t.vector, destination: t.target.pcpu.index, sid: p.sid, svt: 1 });
    delivery.physicalCpus!.setHandler(t.vector, () => {
      p.fd.write(1n);
    });
    delivery.setEliVector(t.vector, true);
    p.eliVector = t.vector;
    p.postedTo = -1;
    return true;
  }

  /** The producer no longer delivers directly: its vector is no longer assigned (unless another producer's). */
  private dropEli(p: BypassProducer): void {
    const vector = p.eliVector;
    if (vector < 0) return;
    p.eliVector = -1;
    if (this.producers.some((o) => o !== p && o.eliVector === vector)) return;
    this.vm.interrupts.physicalCpus!.setHandler(vector, undefined);
    this.vm.interrupts.setEliVector(vector, false);
  }

  /** kvm_intr_is_single_vcpu && kvm_irq_is_postable on the GSI's MSI route. */
  private postTarget(gsi: number): { vcpu: number; vector: number; descriptor: number } | undefined {
    const t = this.singleVcpu(gsi);
    const posted = t?.target.posted;
    if (t === undefined || posted === undefined) return undefined;
    return { vcpu: t.target.id, vector: t.vector, descriptor: posted.address };
  }

  /** The GSI's MSI route when it is a fixed or lowest-priority physical interrupt to exactly one vCPU (kvm_intr_is_single_vcpu). */
  private singleVcpu(gsi: number): { target: DeliveryVcpu; vector: number } | undefined {
    const routes = this.vm.gsiRouting().filter((e) => e.gsi === gsi);
    if (routes.length !== 1) return undefined;
    const route = routes[0]!;
    if (route.type !== KVM_IRQ_ROUTING.MSI) return undefined;
    const address = route.msi.addressLo >>> 0;
    const data = route.msi.data >>> 0;
    const logical = (address & (1 << 2)) !== 0;
    const dest = (address >>> 12) & 0xff;
    const mode = (data >>> 8) & 7;
    if (logical || dest === 0xff || (mode !== DELIVERY_MODE.FIXED && mode !== DELIVERY_MODE.LOWEST_PRIORITY)) return undefined;
    const vcpus = this.vm.interrupts.vcpusWithApicId(dest);
    if (vcpus.length !== 1) return undefined;
    return { target: vcpus[0]!, vector: data & 0xff };
  }
}
