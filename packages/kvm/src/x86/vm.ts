/**
 * An x86 KVM VM (arch/x86/kvm/x86.c `kvm_arch_vm_ioctl`): vCPUs, the
 * in-kernel irqchip of KVM_CREATE_IRQCHIP or the split irqchip of
 * KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP), KVM_GET/SET_IRQCHIP, MSI delivery
 * to the vCPUs' local APICs, the EPT tables filled from the memslots on
 * faults (or shadow paging: `setMmu('shadow')`, shadow-state.ts), and the
 * VM's guest program (this model's "code in guest memory").
 */
import { DELIVERY_STATUS, type DeliveryStatus, type Memslot } from '@hvsim/core';
import { GuestProgram, type X86CostProfile, type X86Guest } from '@hvsim/cpu';
import { EptBuilder, PageAllocator, type ShadowPageTables } from '@hvsim/mmu';
import { KVM_CAP, KVM_IRQCHIP } from '../generic/constants.js';
import { fail, hex, u32, u64 } from '../generic/errors.js';
import type { MemoryRegionChange } from '../generic/memory-region.js';
import { KvmVm, type KvmHost } from '../generic/vm.js';
import { KVM_MAX_VCPUS, KVM_MAX_VCPU_IDS, x86CheckExtension } from './caps.js';
import { X86Irqchip, defaultIrqRoutes, type EoiSender } from './irqchip.js';
import { getIoapicState, getPicState, irqchipId, setIoapicState, setPicState, type KvmIrqchip } from './irqchip-state.js';
import { checkSplitIrqchip, ioapicHandlesVector } from './split-irqchip.js';
import { InterruptDelivery } from './interrupt-delivery.js';
import { DeviceAssignment, type AssignDeviceOptions, type AssignedDevice } from './device-assignment.js';
import { X86_KVM_ZERO_COSTS, type X86KvmCosts } from './kvm-costs.js';
import { HALT_POLL_DEFAULTS, type HaltPollParams } from '../generic/halt-poll.js';
import { X86Vcpu, type X86VcpuHost } from './vcpu.js';
import { checkMmuMode, createShadowPageTables, type MmuMode } from './shadow-state.js';
import { ShadowSlots } from './shadow-slots.js';
import { VmTsc, type KvmClockData } from './tsc.js';
import { X86_DEFAULT_COSTS } from '@hvsim/cpu';

/** `struct kvm_enable_cap` (api.rst 4.37) without `cap`: flags (must be 0) and up to four arguments. */
export interface KvmEnableCapArgs {
  flags?: number;
  args?: readonly (number | bigint)[];
}

/** MSI data bit 15, trigger mode level, and bit 14, level assert (SDM 3A 11.11.2). */
const MSI_DATA_TRIGGER_LEVEL = 1 << 15;
const MSI_DATA_LEVEL_ASSERT = 1 << 14;

/** Pages of host memory reserved for one VM's EPT tables. */
const EPT_POOL_PAGES = 512;

/** An x86 VM (see the file comment). */
export class X86Vm extends KvmVm implements X86VcpuHost {
  readonly msiDevid = false;
  /** The guest code: define routines at guest addresses, as a VMM loads a kernel image. */
  readonly program = new GuestProgram<X86Guest>();
  /** The VM's EPT tables. */
  readonly ept: EptBuilder;
  /** The EPT pointer of every vCPU. */
  readonly eptp: bigint;
  private mmu: MmuMode = 'ept';
  private shadowTables: ShadowPageTables | undefined;
  private shadowView: ShadowSlots | undefined;
  /** The interrupt-delivery mode ('emulated' or 'apicv') and the physical CPUs the vCPUs share: `interrupts.setMode(...)` before KVM_CREATE_VCPU. */
  readonly interrupts = new InterruptDelivery();
  private readonly vcpus = new Map<number, X86Vcpu>();
  private chip: X86Irqchip | undefined;
  private tssAddr = -1;
  private identityMapAddr = -1;
  private reservedIoapicPins = 0;
  private readonly vcpuOfApic = new WeakMap<object, X86Vcpu>();
  private readonly assignment = new DeviceAssignment(this);
  private readonly bypasses = new Set<{ routingChanged(): void }>();
  private maxHaltPoll: number;
  /** The VM's TSC synchronization state and kvmclock (tsc.ts). */
  readonly tsc: VmTsc;

  constructor(host: KvmHost) {
    super(host);
    const pool = host.allocKernelPages(EPT_POOL_PAGES);
    this.ept = new EptBuilder(host.memory, new PageAllocator(pool, EPT_POOL_PAGES * 4096));
    this.eptp = this.ept.eptp();
    this.maxHaltPoll = this.haltPollParams.haltPollNs; // kvm->max_halt_poll_ns = halt_poll_ns
    const clock = host.clock;
    this.tsc = new VmTsc({ now: () => clock.now(), hz: (host.x86CpuCosts ?? X86_DEFAULT_COSTS).clockHz });
  }

  /**
   * KVM_GET_CLOCK (api.rst 4.9): kvmclock (ns since the VM was created,
   * plus KVM_SET_CLOCK's adjustment) with flags KVM_CLOCK_TSC_STABLE,
   * KVM_CLOCK_REALTIME and KVM_CLOCK_HOST_TSC, the host's realtime (the
   * simulated time in ns) and TSC.
   */
  getClock(): KvmClockData {
    return this.tsc.getClock();
  }

  /**
   * KVM_SET_CLOCK (api.rst 4.10): sets kvmclock to `clock` (plus the
   * realtime elapsed since `realtime` with KVM_CLOCK_REALTIME), so a
   * migrated VM's clock continues from the source's. EINVAL for flags
   * outside KVM_CLOCK_VALID_FLAGS.
   */
  setClock(data: Partial<KvmClockData> & { clock: number | bigint }): void {
    this.tsc.setClock(data);
  }

  /** The kvm module's halt-polling parameters (`new Kvm({ haltPoll })`). */
  get haltPollParams(): HaltPollParams {
    return this.host.haltPoll ?? HALT_POLL_DEFAULTS;
  }

  /** kvm->max_halt_poll_ns: the module's `halt_poll_ns`, or KVM_CAP_HALT_POLL's value for this VM. */
  get maxHaltPollNs(): number {
    return this.maxHaltPoll;
  }

  /** Host memory. */
  get memory(): KvmHost['memory'] {
    return this.host.memory;
  }

  /** Simulated time. */
  get clock(): KvmHost['clock'] {
    return this.host.clock;
  }

  /** Whether the guest CPUs record their code's results for mid-flight saves (`new Kvm({ snapshots: true })`). */
  get snapshots(): boolean {
    return this.host.snapshots ?? false;
  }

  /** The guest CPUs' cycle costs (`new Kvm({ x86CpuCosts })`), or undefined for `@hvsim/cpu`'s default. */
  get cpuCosts(): X86CostProfile | undefined {
    return this.host.x86CpuCosts;
  }

  /** The cycles of KVM's own work (`new Kvm({ x86KvmCosts })`; all 0 by default). */
  get kvmCosts(): X86KvmCosts {
    return this.host.x86KvmCosts ?? X86_KVM_ZERO_COSTS;
  }

  /** The in-kernel irqchip, once created. */
  get irqchip(): X86Irqchip | undefined {
    return this.chip;
  }

  /** Whether an in-kernel irqchip exists: KVM_CREATE_IRQCHIP, or the split irqchip (irqchip_in_kernel). */
  get irqchipInKernel(): boolean {
    return this.chip !== undefined;
  }

  /** Whether the irqchip is split (KVM_CAP_SPLIT_IRQCHIP: LAPICs in the kernel, PIC and IOAPIC in userspace). */
  get irqchipSplit(): boolean {
    return this.chip?.split ?? false;
  }

  /** The GSIs reserved for the userspace IOAPIC (KVM_CAP_SPLIT_IRQCHIP's args[0]; 0 otherwise). */
  get nrReservedIoapicPins(): number {
    return this.reservedIoapicPins;
  }

  /**
   * KVM_ENABLE_CAP on the VM (api.rst 4.37, 7): EINVAL for flags other than
   * 0 and for capabilities this KVM cannot enable. KVM_CAP_SPLIT_IRQCHIP
   * with `args: [n]` reserves GSIs 0 to n-1 for the userspace IOAPIC's MSI
   * routes and creates the local APICs' bus without PIC or IOAPIC, starting
   * with an empty routing table: EINVAL for n above
   * MAX_NR_RESERVED_IOAPIC_PINS, EEXIST with an irqchip or a vCPU already
   * there. KVM_CAP_HALT_POLL with `args: [ns]` sets this VM's maximum
   * halt-polling time (kvm->max_halt_poll_ns, api.rst 7.27; EINVAL above
   * 32 bits).
   */
  enableCap(cap: number, options: KvmEnableCapArgs = {}): void {
    const c = u32(cap, 'cap');
    if (u32(options.flags ?? 0, 'flags') !== 0) fail('EINVAL', `kvm_enable_cap flags must be 0, got ${String(options.flags)}`);
    const raw: unknown = options.args ?? [];
    if (!Array.isArray(raw) || raw.length > 4) fail('EINVAL', 'kvm_enable_cap args holds at most four values');
    const args = raw as readonly unknown[];
    const first = typeof args[0] === 'bigint' ? Number(args[0]) : args[0];
    if (c === KVM_CAP.HALT_POLL) {
      if (typeof first !== 'number' || !Number.isInteger(first) || first < 0 || first > 0xffff_ffff) fail('EINVAL', `KVM_CAP_HALT_POLL args[0] must be a 32-bit number of ns, got ${String(first)}`);
      this.maxHaltPoll = first;
      return;
    }
    if (c !== KVM_CAP.SPLIT_IRQCHIP) fail('EINVAL', `capability ${c} cannot be enabled on this VM (KVM_CAP_SPLIT_IRQCHIP ${KVM_CAP.SPLIT_IRQCHIP}, KVM_CAP_HALT_POLL ${KVM_CAP.HALT_POLL})`);
    const pins = checkSplitIrqchip([first], this.chip !== undefined, this.vcpus.size);
    this.chip = new X86Irqchip(this.host.clock, () => undefined, { split: { onEoi: (vector, sender) => this.splitEoi(vector, sender) } });
    this.reservedIoapicPins = pins;
    this.routing.set([]); // kvm_setup_empty_irq_routing
  }

  /** kvm_ioapic_send_eoi with the split irqchip: a vector the userspace IOAPIC handles makes that vCPU exit (KVM_REQ_IOAPIC_EOI_EXIT). */
  private splitEoi(vector: number, sender: EoiSender): void {
    const vcpu = sender === undefined ? undefined : this.vcpuOfApic.get(sender);
    if (!vcpu?.apic || !ioapicHandlesVector(this.routing.list(), this.reservedIoapicPins, vcpu.apic, vector)) return;
    vcpu.arch.pendingIoapicEoi = vector;
    vcpu.requestEvent = true;
  }

  /**
   * KVM_GET_IRQCHIP (api.rst 4.26): the state of the PIC master (chip_id 0),
   * PIC slave (1) or IOAPIC (2). ENXIO without the full in-kernel irqchip
   * (none, or split); EINVAL for another chip_id.
   */
  getIrqchipState(chipId: number): KvmIrqchip {
    const chip = this.kernelIrqchip('KVM_GET_IRQCHIP');
    const id = irqchipId(chipId);
    if (id === KVM_IRQCHIP.IOAPIC) return { chip_id: id, ioapic: getIoapicState(chip.ioapic) };
    return { chip_id: id, pic: getPicState(chip.pic, id) };
  }

  /**
   * KVM_SET_IRQCHIP (api.rst 4.27): loads one chip's state (checked whole
   * first, EINVAL naming the bad field). ENXIO without the full in-kernel
   * irqchip; EINVAL for another chip_id.
   */
  setIrqchipState(state: KvmIrqchip): void {
    if (typeof (state as unknown) !== 'object' || (state as unknown) === null) fail('EFAULT', 'KVM_SET_IRQCHIP needs a struct kvm_irqchip');
    const chip = this.kernelIrqchip('KVM_SET_IRQCHIP');
    const id = irqchipId(state.chip_id);
    if (state.chip_id === KVM_IRQCHIP.IOAPIC) setIoapicState(chip.ioapic, state.ioapic);
    else if (id !== KVM_IRQCHIP.IOAPIC && 'pic' in state) setPicState(chip.pic, id, state.pic);
    else fail('EINVAL', `chip_id ${hex(id)} needs its ${id === KVM_IRQCHIP.IOAPIC ? 'ioapic' : 'pic'} state`);
  }

  private kernelIrqchip(ioctl: string): X86Irqchip & { pic: NonNullable<X86Irqchip['pic']>; ioapic: NonNullable<X86Irqchip['ioapic']> } {
    const chip = this.chip;
    if (!chip?.pic || !chip.ioapic) fail('ENXIO', `${ioctl} needs the in-kernel PIC and IOAPIC (KVM_CREATE_IRQCHIP)${chip ? '; this VM has the split irqchip' : ''}`);
    return chip as X86Irqchip & { pic: NonNullable<X86Irqchip['pic']>; ioapic: NonNullable<X86Irqchip['ioapic']> };
  }

  /**
   * The VM's MMU: 'ept' (the default: two-dimensional paging, KVM's TDP MMU)
   * or 'shadow' (shadow paging: the vCPUs run with EPT off, as KVM with
   * `ept=0`; see shadow-state.ts). Linux chooses this per host (the kvm_intel
   * module's `ept` parameter); this model chooses it per VM, before any vCPU
   * has run. Every interrupt mode works on both: under shadow paging the
   * APIC-access page and ELI's shadow IDT are KVM-private pages of the shadow
   * MMU's guest-physical map and ELI write-tracks the guest's IDT there
   * (shadow-slots.ts). EINVAL for another value and for a change once a vCPU
   * has entered the guest or back to 'ept' once vCPUs exist.
   */
  setMmu(mode: MmuMode): void {
    const m = checkMmuMode(mode);
    if (m === this.mmu) return;
    const running = [...this.vcpus.values()].find((v) => v.entered || v.launched);
    if (running) fail('EINVAL', `the MMU must be chosen before a vCPU runs (vcpu ${running.id} has)`);
    if (m === 'ept') fail('EINVAL', 'the MMU can go back to EPT only before KVM_CREATE_VCPU');
    this.shadowView ??= new ShadowSlots(this.memslots);
    this.shadowTables ??= createShadowPageTables(this.host.memory, this.shadowView, (pages) => this.host.allocKernelPages(pages));
    this.mmu = m;
    for (const v of this.vcpus.values()) v.useShadowPaging(this.shadowTables);
  }

  /** The VM's MMU ('ept' or 'shadow': {@link setMmu}). */
  get mmuMode(): MmuMode {
    return this.mmu;
  }

  /** @internal The shadow MMU's guest-physical map (memslots plus KVM-private pages, write tracking), with the 'shadow' MMU. */
  get shadowSlots(): ShadowSlots | undefined {
    return this.mmu === 'shadow' ? this.shadowView : undefined;
  }

  /** The VM's shadow page tables (`@hvsim/mmu`'s ShadowPageTables: counters, dirty log), with the 'shadow' MMU; else undefined. */
  get shadowPages(): ShadowPageTables | undefined {
    return this.mmu === 'shadow' ? this.shadowTables : undefined;
  }

  /**
   * KVM_GET_DIRTY_LOG (api.rst 4.8). Under shadow paging the pages handed
   * out are write-protected again in the shadow tables, so that the next
   * write faults and is logged (kvm_arch_mmu_enable_log_dirty_pt_masked).
   */
  override getDirtyLog(slot: number): Uint32Array {
    const tables = this.shadowPages;
    if (!tables) return super.getDirtyLog(slot);
    const id = u32(slot, 'slot');
    const s = this.memslots.get(id & 0xffff);
    if (id >>> 16 !== 0 || s === undefined || (s.flags & 1) === 0) fail('ENOENT', `slot ${id} does not exist or does not log dirty pages`);
    return tables.getDirtyLog(id);
  }

  /** KVM_CHECK_EXTENSION on the VM (KVM_CAP_CHECK_EXTENSION_VM): the same answers as the system object. */
  checkExtension(cap: number): number {
    return x86CheckExtension(cap);
  }

  /** The vCPUs by id. */
  vcpu(id: number): X86Vcpu | undefined {
    return this.vcpus.get(id);
  }

  /** The ids of the vCPUs, in creation order. */
  vcpuIds(): number[] {
    return [...this.vcpus.keys()];
  }

  /** Allocates kernel memory (VMXON regions, VMCSs). */
  allocKernelPages(pages: number): number {
    return this.host.allocKernelPages(pages);
  }

  /**
   * KVM_CREATE_IRQCHIP (api.rst 4.24): the PIC pair and IOAPIC, LAPICs for
   * vCPUs created afterwards, and the default GSI routes. EEXIST when it
   * exists, EINVAL once a vCPU exists.
   */
  createIrqchip(): void {
    if (this.chip) fail('EEXIST', `the in-kernel irqchip already exists${this.chip.split ? ' (split)' : ''}`);
    if (this.vcpus.size > 0) fail('EINVAL', 'KVM_CREATE_IRQCHIP must come before KVM_CREATE_VCPU');
    this.chip = new X86Irqchip(this.host.clock, (chip, pin) => {
      for (const gsi of this.routing.gsisOf(chip, pin)) this.irqfds.acked(gsi);
    });
    this.routing.set(defaultIrqRoutes());
  }

  /**
   * KVM_CREATE_VCPU (api.rst 4.7): EINVAL for an id at or above
   * KVM_MAX_VCPU_IDS or beyond KVM_MAX_VCPUS vCPUs, EEXIST for an id in use.
   */
  createVcpu(id: number): X86Vcpu {
    const n = u32(id, 'vcpu id');
    if (n >= KVM_MAX_VCPU_IDS) fail('EINVAL', `vcpu id ${n} is not below KVM_MAX_VCPU_IDS (${KVM_MAX_VCPU_IDS})`);
    if (this.vcpus.size >= KVM_MAX_VCPUS) fail('EINVAL', `the VM already has KVM_MAX_VCPUS (${KVM_MAX_VCPUS}) vCPUs`);
    if (this.vcpus.has(n)) fail('EEXIST', `vcpu ${n} already exists`);
    const vcpu = new X86Vcpu(this, n);
    this.vcpus.set(n, vcpu);
    if (vcpu.apic) this.vcpuOfApic.set(vcpu.apic, vcpu);
    return vcpu;
  }

  /** KVM_SET_TSS_ADDR (api.rst 4.48): recorded (EINVAL above 4 GiB − 3 pages); real-mode emulation is not modelled. */
  setTssAddr(addr: number): void {
    const a = u64(addr, 'tss addr');
    if (a > 0xffff_ffff - 3 * 4096 + 1) fail('EINVAL', `tss addr 0x${a.toString(16)} leaves no room for its three pages below 4 GiB`);
    this.tssAddr = a;
  }

  /**
   * KVM_SET_IDENTITY_MAP_ADDR (api.rst 4.63): the page of real-mode identity
   * tables (vmx.c), recorded; EINVAL once a vCPU exists.
   */
  setIdentityMapAddr(addr: number | bigint): void {
    const a = u64(addr, 'identity map addr');
    if (this.vcpus.size > 0) fail('EINVAL', 'KVM_SET_IDENTITY_MAP_ADDR must come before KVM_CREATE_VCPU');
    this.identityMapAddr = a;
  }

  /** The address of KVM_SET_IDENTITY_MAP_ADDR, or -1. */
  get identityMapAddress(): number {
    return this.identityMapAddr;
  }

  /** The address of KVM_SET_TSS_ADDR, or -1. */
  get tssAddress(): number {
    return this.tssAddr;
  }

  /**
   * VFIO-style device assignment (VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU,
   * KVM_DEV_VFIO_FILE_ADD): the device `sid` behind `driver`'s IOMMU unit
   * joins the VM's DMA domain there, whose second-level tables map every
   * memslot (IOVA = guest-physical) and follow KVM_SET_USER_MEMORY_REGION;
   * its MSIs go through IRQ bypass (`setMsiIrqs`). EINVAL for a sid above
   * 16 bits or a missing driver, EBUSY for a device already assigned here
   * (see device-assignment.ts).
   */
  assignDevice(options: AssignDeviceOptions): AssignedDevice {
    return this.assignment.assign(options);
  }

  /** The devices assigned to this VM. */
  get assignedDevices(): AssignedDevice[] {
    return this.assignment.devices;
  }

  /** @internal An IRQ bypass of this VM's irqfds: KVM_SET_GSI_ROUTING updates its IRTEs. */
  addIrqBypass(bypass: { routingChanged(): void }): void {
    this.bypasses.add(bypass);
  }

  /** kvm_irq_routing_update: every IRQ-bypass producer follows its GSI's new route (kvm_arch_update_irqfd_routing). */
  protected override routingChanged(): void {
    for (const b of this.bypasses) b.routingChanged();
  }

  irqchipPins(chip: number): number {
    return this.chip ? this.chip.pins(chip) : -1;
  }

  setIrqchip(chip: number, pin: number, level: boolean, sourceId: number): DeliveryStatus {
    return this.chip ? this.chip.set(chip, pin, level, sourceId) : DELIVERY_STATUS.BLOCKED;
  }

  /**
   * kvm_set_msi: the MSI to the local APICs it names (address_hi is ignored
   * without KVM_CAP_X2APIC_API). kvm_set_msi_irq always asserts (level 1):
   * a level-triggered MSI is an assert whatever data bit 14 says.
   */
  setMsi(addressLo: number, _addressHi: number, data: number): DeliveryStatus {
    if (!this.chip) return DELIVERY_STATUS.BLOCKED;
    return this.chip.bus.deliverMsi(addressLo, (data & MSI_DATA_TRIGGER_LEVEL) !== 0 ? (data | MSI_DATA_LEVEL_ASSERT) >>> 0 : data);
  }

  /** kvm_arch_irqfd_allowed: irqfds need an in-kernel irqchip, resampling ones the full one. */
  protected irqfdAllowed(resample: boolean): boolean {
    return resample ? this.chip !== undefined && !this.chip.split : this.chip !== undefined;
  }

  protected memslotsChanged(_change: MemoryRegionChange, old: Memslot | undefined, slot: Memslot | undefined): void {
    // kvm_arch_flush_shadow_memslot: zap the old range; the new range may hold cached MMIO SPTEs (the
    // MMIO generation changed); a flags change re-faults the slot's pages with the new permissions.
    // Shadow paging: kvm_mmu_zap_all_fast (the memslot generation moved: every shadow page goes).
    if (this.shadowTables) this.shadowTables.checkMemslots();
    if (old) this.ept.zapRange(old.guestPhysical, old.size);
    if (slot) this.ept.zapRange(slot.guestPhysical, slot.size);
    for (const v of this.vcpus.values()) v.flushTlb();
    // The VMM's VFIO memory listener: assigned devices' DMA mappings follow the slots.
    this.assignment.memslotsChanged(old, slot);
  }
}
