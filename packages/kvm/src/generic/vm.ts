/**
 * The architecture-independent part of a KVM VM (Linux virt/kvm/): memslots
 * and dirty logging, ioeventfds, GSI routing, KVM_IRQ_LINE, KVM_SIGNAL_MSI,
 * irqfds and the VM's exit statistics. An architecture (x86 now, arm64
 * later) extends it with its vCPUs, irqchips and MMU.
 */
import type { Arm64CostProfile, X86CostProfile } from '@hvsim/cpu';
import type { X86KvmCosts } from '../x86/kvm-costs.js';
import { DELIVERY_STATUS, GuestPhysicalMemory, Memslots, type Clock, type DeliveryStatus, type Memory, type Memslot, type PhysicalMemory } from '@hvsim/core';
import { fail, u32 } from './errors.js';
import type { HaltPollParams } from './halt-poll.js';
import { ExitStats } from './exit-stats.js';
import { IoeventfdTable, type KvmIoeventfd } from './ioeventfd.js';
import { IRQ_SOURCE, IrqfdTable, type KvmIrqfd } from './irqfd.js';
import { setUserMemoryRegion, type KernelRange, type KvmUserspaceMemoryRegion, type MemoryRegionChange } from './memory-region.js';
import { GsiRouting, type KvmIrqRoutingEntry, type KvmMsi, type RoutingBackend } from './routing.js';

/** What a VM gets from its `Kvm`: host memory, time, and KVM's own pages. */
export interface KvmHost {
  /** Host memory: the VMM's userspace (identity-mapped) and KVM's kernel region. */
  readonly memory: PhysicalMemory;
  /** Simulated time shared by host and guests. */
  readonly clock: Clock;
  /** KVM's own host range, which userspace may not name. */
  readonly kernel: KernelRange;
  /** Allocates zeroed, page-aligned kernel memory (ENOMEM when the kernel region is full). */
  allocKernelPages(pages: number): number;
  /** Guest CPUs log their code's results so a vCPU can be saved while its code runs (KvmOptions.snapshots). */
  readonly snapshots?: boolean;
  /** The halt-polling module parameters (KvmOptions.haltPoll, validated; default Linux's). */
  readonly haltPoll?: HaltPollParams;
  /** x86 guest CPUs' cycle costs (KvmOptions.x86CpuCosts). */
  readonly x86CpuCosts?: X86CostProfile | undefined;
  /** arm64 guest CPUs' cycle costs (KvmOptions.arm64CpuCosts). */
  readonly arm64CpuCosts?: Arm64CostProfile | undefined;
  /** x86 KVM's own cycle costs (KvmOptions.x86KvmCosts, validated; default all 0). */
  readonly x86KvmCosts?: X86KvmCosts | undefined;
}

/** A KVM VM's architecture-independent state (see the file comment). */
export abstract class KvmVm implements RoutingBackend {
  /** The memslots (KVM_SET_USER_MEMORY_REGION). */
  readonly memslots = new Memslots();
  /** A `Memory` over guest-physical addresses, through the memslots. */
  readonly guestMemory: Memory;
  /** Exits of all this VM's vCPUs by reason. */
  readonly stats = new ExitStats();
  /** The ioeventfds (KVM_IOEVENTFD). */
  readonly ioeventfds = new IoeventfdTable();
  protected readonly routing: GsiRouting;
  protected readonly irqfds: IrqfdTable;
  private stopLogging: (() => void) | undefined;
  /** Whether MSI routes may carry KVM_MSI_VALID_DEVID (false on x86). */
  abstract readonly msiDevid: boolean;

  constructor(protected readonly host: KvmHost) {
    this.guestMemory = new GuestPhysicalMemory(host.memory, this.memslots);
    this.routing = new GsiRouting(this);
    this.irqfds = new IrqfdTable({ setIrq: (gsi, level, source) => this.routing.setIrq(gsi, level, source), irqfdAllowed: (resample) => this.irqfdAllowed(resample) });
  }

  /**
   * KVM_SET_USER_MEMORY_REGION (api.rst 4.35): creates, moves, changes the
   * flags of, or (memory_size 0) deletes a slot, with Linux's errnos; the
   * MMU drops what the change made stale.
   */
  setUserMemoryRegion(region: KvmUserspaceMemoryRegion): void {
    const { change, old, slot } = setUserMemoryRegion(this.memslots, region, this.host.kernel);
    if (change === 'none') return;
    // Guest writes reach host memory through EPT: log them there while any slot logs.
    if (this.memslots.loggingSlots > 0 && this.stopLogging === undefined) this.stopLogging = this.memslots.logHostWrites(this.host.memory);
    if (this.memslots.loggingSlots === 0 && this.stopLogging !== undefined) {
      this.stopLogging();
      this.stopLogging = undefined;
    }
    this.memslotsChanged(change, old, slot);
  }

  /**
   * KVM_GET_DIRTY_LOG (api.rst 4.8): the slot's dirty bitmap (bit n = page
   * n written since the last call), cleared as it is read. ENOENT for a slot
   * that does not exist or does not log.
   */
  getDirtyLog(slot: number): Uint32Array {
    const id = u32(slot, 'slot');
    const s = this.memslots.get(id & 0xffff);
    if (id >>> 16 !== 0 || s === undefined || (s.flags & 1) === 0) fail('ENOENT', `slot ${id} does not exist or does not log dirty pages`);
    return this.memslots.getDirtyLog(id);
  }

  /** KVM_IOEVENTFD (api.rst 4.59). */
  ioeventfd(args: KvmIoeventfd): void {
    this.ioeventfds.ioeventfd(args);
  }

  /** KVM_SET_GSI_ROUTING (api.rst 4.52): replaces the whole table, atomically. EINVAL without an in-kernel irqchip. */
  setGsiRouting(entries: readonly KvmIrqRoutingEntry[]): void {
    if (!this.irqchipInKernel) fail('EINVAL', 'KVM_SET_GSI_ROUTING needs an in-kernel irqchip');
    this.routing.set(entries);
    this.routingChanged();
  }

  /** The current routing entries. */
  gsiRouting(): readonly KvmIrqRoutingEntry[] {
    return this.routing.list();
  }

  /**
   * KVM_IRQ_LINE_STATUS (api.rst 4.25): sets GSI `gsi` to `level` and
   * returns Linux's status: > 0 delivered (to that many destinations), 0
   * coalesced (already pending), < 0 not delivered (masked, no destination,
   * no route). ENXIO without an in-kernel irqchip.
   */
  irqLine(gsi: number, level: boolean | number): number {
    if (!this.irqchipInKernel) fail('ENXIO', 'KVM_IRQ_LINE needs an in-kernel irqchip');
    return this.routing.setIrq(u32(gsi, 'irq'), level === true || level === 1, IRQ_SOURCE.USERSPACE);
  }

  /**
   * KVM_SIGNAL_MSI (api.rst 4.71): > 0 delivered, 0 blocked by the guest
   * (coalesced or refused), < 0 no destination. EINVAL without an in-kernel
   * irqchip or with flags other than KVM_MSI_VALID_DEVID.
   */
  signalMsi(msi: KvmMsi): number {
    if (typeof (msi as unknown) !== 'object' || (msi as unknown) === null) fail('EFAULT', 'KVM_SIGNAL_MSI needs a struct kvm_msi');
    const flags = u32(msi.flags ?? 0, 'flags');
    if (!this.irqchipInKernel || (flags & ~1) !== 0) fail('EINVAL', !this.irqchipInKernel ? 'KVM_SIGNAL_MSI needs an in-kernel irqchip' : `kvm_msi flags ${flags} are not valid`);
    const s = this.setMsi(u32(msi.addressLo, 'address_lo'), u32(msi.addressHi ?? 0, 'address_hi'), u32(msi.data, 'data'), u32(msi.devid ?? 0, 'devid'), flags);
    return s === DELIVERY_STATUS.DELIVERED ? 1 : s === DELIVERY_STATUS.COALESCED || s === DELIVERY_STATUS.BLOCKED ? 0 : -1;
  }

  /** KVM_IRQFD (api.rst 4.75). */
  irqfd(args: KvmIrqfd): void {
    this.irqfds.irqfd(args);
  }

  /** How many times the irqfd of `fd` injected its GSI. */
  irqfdInjections(fd: KvmIrqfd['fd']): number {
    return this.irqfds.injections(fd);
  }

  /** Whether an in-kernel irqchip exists (full or split). */
  abstract get irqchipInKernel(): boolean;
  /** Pins of an in-kernel irqchip, or -1. */
  abstract irqchipPins(chip: number): number;
  /** Drives an in-kernel irqchip pin. */
  abstract setIrqchip(chip: number, pin: number, level: boolean, sourceId: number): DeliveryStatus;
  /** Delivers an MSI to the vCPUs' local interrupt controllers (`flags`: KVM_MSI_VALID_DEVID or 0). */
  abstract setMsi(addressLo: number, addressHi: number, data: number, devid: number, flags: number): DeliveryStatus;
  /** Whether irqfds (resampling ones when `resample`) are allowed. */
  protected abstract irqfdAllowed(resample: boolean): boolean;
  /** The memslots changed (`old` before, `slot` after): drop stale mappings. */
  protected abstract memslotsChanged(change: MemoryRegionChange, old: Memslot | undefined, slot: Memslot | undefined): void;
  /** The routing table changed (KVM_REQ_SCAN_IOAPIC and friends). */
  protected routingChanged(): void {
    // Nothing by default.
  }
}
