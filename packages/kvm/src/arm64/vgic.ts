/**
 * The in-kernel vGICv3 (Linux arch/arm64/kvm/vgic/: vgic-kvm-device.c,
 * vgic-init.c, vgic-mmio-v3.c, vgic.c; Documentation/virt/kvm/devices/
 * arm-vgic-v3.rst): the KVM_DEV_TYPE_ARM_VGIC_V3 device with its attribute
 * groups, the guest's distributor and redistributors emulated from stage 2
 * aborts, and the list-register flush before each entry and fold after each
 * exit.
 *
 * The emulated distributor is a `GicV3` of `@hvsim/gic` with one PE per
 * vCPU (its register rules are the architecture's, IHI 0069 chapter 12): the
 * guest's trapped GICD/GICR accesses and userspace's DIST_REGS/REDIST_REGS
 * go to its frames; its pending interrupts are moved into the host GIC's list
 * registers (ICH_LR<n>_EL2, IHI 0069 12.4.6) of the physical CPU the vCPU
 * runs on, active ones first, then by priority (vgic_flush_lr_state), and
 * folded back after the exit (vgic_fold_lr_state). More than the list
 * registers hold sets ICH_HCR_EL2.UIE (the underflow maintenance interrupt,
 * IHI 0069 12.4.5, 4.9); EOIs of active interrupts that were in no list
 * register come back as ICH_HCR_EL2.EOIcount and are deactivated here.
 */
import { MemoryError, type Memory } from '@hvsim/core';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE, GICR_STRIDE, GicV3, HCR_BIT, sysregEncoding } from '@hvsim/gic';
import { fail, hex } from '../generic/errors.js';
import { KVM_DEV_ARM_VGIC_CTRL, KVM_DEV_ARM_VGIC_GRP, KVM_VGIC_V3_ADDR_TYPE } from './constants.js';
import { VGIC_ADDR_UNDEF, toBig, type KvmDeviceAttr } from './vgic-attr.js';
import type { Arm64Vits } from './vits.js';

export { VGIC_ADDR_UNDEF, type KvmDeviceAttr } from './vgic-attr.js';

/** What the vGIC needs of its VM. */
export interface VgicHost {
  /** The vCPUs created so far (KVM_CREATE_VCPU). */
  readonly vcpuCount: number;
  /** The vCPU index whose MPIDR is `mpidr`, or -1. */
  vcpuByMpidr(mpidr: number): number;
  /** Whether a vCPU has run (attributes that need all vCPUs stopped answer EBUSY while one runs). */
  readonly vcpuRunning: boolean;
  /** A vCPU's pending interrupts changed: kick it (kvm_vcpu_kick). */
  kick(vcpu: number): void;
  /** The host GIC (its virtual interfaces hold the list registers). */
  readonly hostGic: GicV3;
  /** The physical CPU vCPU `vcpu` runs on. */
  pcpuOf(vcpu: number): number;
  /** The IPA space in bits (KVM_VM_TYPE_ARM_IPA_SIZE; 40 by default). */
  readonly ipaBits: number;
  /** The guest-physical view of memory (the LPI property and pending tables, the vITS's tables). */
  readonly guestMemory: Memory;
  /** vgic_init finished with `spis` SPIs (kvm_vgic_setup_default_irq_routing). */
  vgicInitialized(spis: number): void;
  /** kvm_notify_acked_irq: the guest completed level-triggered SPI `pin` + 32 (irqfd resamplers). */
  notifyAcked(pin: number): void;
  /** GICv4: the forwarded vLPIs of `vcpu` pending in its vPE's table (descheduled), for SAVE_PENDING_TABLES. */
  pendingVlpis(vcpu: number): readonly number[];
}

/** The virtual timer's PPI (KVM's default, as DT/ACPI describe it). */
export const VTIMER_PPI = 27;
/** The maintenance interrupt's PPI. */
export const MAINTENANCE_PPI = 25;
/** KVM's default interrupt count when userspace sets none (VGIC_NR_IRQS_LEGACY). */
const NR_IRQS_LEGACY = 256;
/** The largest SPI count the GIC model takes (INTIDs up to 1019). */
const MAX_SPIS = 988;
const GICD_SIZE = 0x1_0000;
/** ICH_LR<n>_EL2 high word: HW bit 61, EOI bit 41 (HW = 0), Group bit 60. */
const LR_HI_HW = 1 << 29;
const LR_HI_EOI = 1 << 9;
const MAX_LRS = 16;
/** The first LPI (IHI 0069 2.2.1). */
const LPI_FIRST = 8192;
const EOICOUNT_SHIFT = 27;

/** ICC_* registers of KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, by instr (op0:op1:CRn:CRm:op2). */
const ICC = {
  PMR: sysregEncoding(3, 0, 4, 6, 0),
  BPR0: sysregEncoding(3, 0, 12, 8, 3),
  AP0R0: sysregEncoding(3, 0, 12, 8, 4),
  AP1R0: sysregEncoding(3, 0, 12, 9, 0),
  BPR1: sysregEncoding(3, 0, 12, 12, 3),
  CTLR: sysregEncoding(3, 0, 12, 12, 4),
  SRE: sysregEncoding(3, 0, 12, 12, 5),
  IGRPEN0: sysregEncoding(3, 0, 12, 12, 6),
  IGRPEN1: sysregEncoding(3, 0, 12, 12, 7),
} as const;

/**
 * The CPU_SYSREGS a VMM saves for each vCPU, in the order it restores them
 * (arm-vgic-v3.rst: ICC_SRE_EL1 and ICC_CTLR_EL1 first, the group enables
 * last); one active-priority register per group (5 bits of priority).
 */
export const VGIC_SAVED_CPU_SYSREGS: readonly number[] = [ICC.SRE, ICC.CTLR, ICC.PMR, ICC.BPR0, ICC.BPR1, ICC.AP0R0, ICC.AP1R0, ICC.IGRPEN0, ICC.IGRPEN1];

/** The vGICv3 device (see the file comment). */
export class Arm64Vgic {
  /** KVM_DEV_TYPE_ARM_VGIC_V3. */
  readonly type = 7;
  private distBase = -1;
  private redistBase = -1;
  private redistCount = 0;
  private redistMode: 'none' | 'redist' | 'region' = 'none';
  private nrIrqs = 0;
  private gic: GicV3 | undefined;
  /** Per vCPU: how many LRs the last flush used and their INTIDs. */
  private usedLrs: Int32Array = new Int32Array(0);
  /** Per vCPU: LRs that are not empty in the hardware (folded ones keep their state until the next flush rewrites them). */
  private liveLrs: Int32Array = new Int32Array(0);
  /** Per vCPU: 0 when it surely has no active interrupt (the last look found none, and no LR or register write since could activate one). */
  private mayBeActive: Uint8Array = new Uint8Array(0);
  /** Int_config per INTID (vCPU PPIs first, then SPIs): 0 not read yet, 1 level, 2 edge; dropped on register writes. */
  private config: Uint8Array = new Uint8Array(0);
  private configStale = false;
  private lrIds: Int32Array = new Int32Array(0);
  private readonly activeBuf = new Int32Array(MAX_LRS + 1);
  private readonly pendingBuf = new Int32Array(MAX_LRS + 1);
  private readonly inLr = new Int32Array(MAX_LRS);
  private nrLr = 4;
  private readonly itsList: Arm64Vits[] = [];

  constructor(private readonly host: VgicHost) {}

  /** The vITS devices of the VM (KVM_DEV_TYPE_ARM_VGIC_ITS). */
  get its(): readonly Arm64Vits[] {
    return this.itsList;
  }

  /**
   * A vITS was created (vgic_its_create: has_its): its frames become
   * in-kernel MMIO, and its translator is built on the redistributors once
   * they exist. ITS frames must not overlap (EINVAL at KVM_RUN otherwise).
   */
  addIts(its: Arm64Vits): void {
    this.itsList.push(its);
    if (this.gic) its.attach(this.gic);
  }

  /** The emulated distributor, once initialized (KVM_DEV_ARM_VGIC_CTRL_INIT or the first KVM_RUN). */
  get distributor(): GicV3 | undefined {
    return this.gic;
  }

  /** Whether the vGIC is initialized (vgic_initialized). */
  get initialized(): boolean {
    return this.gic !== undefined;
  }

  /** The distributor's guest-physical base, or -1. */
  get distributorBase(): number {
    return this.distBase;
  }

  /** The first redistributor's guest-physical base, or -1. */
  get redistributorBase(): number {
    return this.redistBase;
  }

  /** SPIs of the initialized vGIC. */
  get spis(): number {
    return this.gic ? this.gic.spis : 0;
  }

  // --- attributes (vgic-kvm-device.c) ----------------------------------------------------------

  /** KVM_HAS_DEVICE_ATTR: whether the attribute exists (the ioctl's 0) or not (its ENXIO). */
  hasAttr(a: KvmDeviceAttr): boolean {
    const attr = BigInt(a.attr);
    switch (a.group) {
      case KVM_DEV_ARM_VGIC_GRP.ADDR:
        return attr === BigInt(KVM_VGIC_V3_ADDR_TYPE.DIST) || attr === BigInt(KVM_VGIC_V3_ADDR_TYPE.REDIST) || attr === BigInt(KVM_VGIC_V3_ADDR_TYPE.REDIST_REGION);
      case KVM_DEV_ARM_VGIC_GRP.NR_IRQS:
        return true;
      case KVM_DEV_ARM_VGIC_GRP.CTRL:
        return attr === BigInt(KVM_DEV_ARM_VGIC_CTRL.INIT) || attr === BigInt(KVM_DEV_ARM_VGIC_CTRL.SAVE_PENDING_TABLES);
      case KVM_DEV_ARM_VGIC_GRP.DIST_REGS:
      case KVM_DEV_ARM_VGIC_GRP.REDIST_REGS: {
        const off = Number(attr & 0xffff_ffffn);
        return off % 4 === 0 && off < (a.group === KVM_DEV_ARM_VGIC_GRP.DIST_REGS ? GICD_SIZE : GICR_STRIDE);
      }
      case KVM_DEV_ARM_VGIC_GRP.CPU_SYSREGS:
        return this.sysregKnown(Number(attr & 0xffffn));
      default:
        return false;
    }
  }

  /** KVM_SET_DEVICE_ATTR (arm-vgic-v3.rst), with its errnos. */
  setAttr(a: KvmDeviceAttr): void {
    const attr = BigInt(a.attr);
    switch (a.group) {
      case KVM_DEV_ARM_VGIC_GRP.ADDR:
        this.setAddr(attr, toBig(a.value, 'address'));
        return;
      case KVM_DEV_ARM_VGIC_GRP.NR_IRQS: {
        const n = Number(toBig(a.value, 'nr_irqs'));
        if (this.nrIrqs !== 0 || this.gic) fail('EBUSY', `the number of IRQs is already set (${this.nrIrqs || this.gic!.spis + 32})`);
        if (n < 64 || n > 1024 || n % 32 !== 0) fail('EINVAL', `nr_irqs ${n} is not a multiple of 32 in [64, 1024]`);
        this.nrIrqs = n;
        return;
      }
      case KVM_DEV_ARM_VGIC_GRP.CTRL:
        if (attr === BigInt(KVM_DEV_ARM_VGIC_CTRL.SAVE_PENDING_TABLES)) {
          this.savePendingTables();
          return;
        }
        if (attr !== BigInt(KVM_DEV_ARM_VGIC_CTRL.INIT)) fail('ENXIO', `vGIC control attribute ${attr} is not supported`);
        this.init();
        return;
      case KVM_DEV_ARM_VGIC_GRP.DIST_REGS:
      case KVM_DEV_ARM_VGIC_GRP.REDIST_REGS:
        this.regsAccess(a.group, attr, true, Number(toBig(a.value, 'register value') & 0xffff_ffffn));
        return;
      case KVM_DEV_ARM_VGIC_GRP.CPU_SYSREGS:
        this.sysregAccess(attr, true, toBig(a.value, 'register value'));
        return;
      default:
        fail('ENXIO', `vGIC attribute group ${a.group} is not supported`);
    }
  }

  /** KVM_GET_DEVICE_ATTR: the u32 or u64 the attribute holds. */
  getAttr(a: KvmDeviceAttr): bigint {
    const attr = BigInt(a.attr);
    switch (a.group) {
      case KVM_DEV_ARM_VGIC_GRP.ADDR: {
        const type = Number(attr);
        if (type === KVM_VGIC_V3_ADDR_TYPE.DIST) return this.distBase < 0 ? VGIC_ADDR_UNDEF : BigInt(this.distBase);
        if (type === KVM_VGIC_V3_ADDR_TYPE.REDIST) return this.redistBase < 0 ? VGIC_ADDR_UNDEF : BigInt(this.redistBase);
        if (type === KVM_VGIC_V3_ADDR_TYPE.REDIST_REGION) {
          const index = Number(toBig(a.value ?? 0n, 'region') & 0xfffn);
          if (this.redistMode !== 'region' || index !== 0) fail('ENOENT', `redistributor region ${index} does not exist`);
          return (BigInt(this.redistCount) << 52n) | BigInt(this.redistBase);
        }
        fail('ENXIO', `vGIC address type ${type} is not supported`);
      }
      // eslint-disable-next-line no-fallthrough -- fail() never returns
      case KVM_DEV_ARM_VGIC_GRP.NR_IRQS:
        return BigInt(this.gic ? this.gic.spis + 32 : this.nrIrqs);
      case KVM_DEV_ARM_VGIC_GRP.DIST_REGS:
      case KVM_DEV_ARM_VGIC_GRP.REDIST_REGS:
        return BigInt(this.regsAccess(a.group, attr, false, 0));
      case KVM_DEV_ARM_VGIC_GRP.CPU_SYSREGS:
        return this.sysregAccess(attr, false, 0n);
      default:
        fail('ENXIO', `vGIC attribute group ${a.group} cannot be read`);
    }
  }

  private setAddr(type: bigint, value: bigint): void {
    const limit = 2n ** BigInt(this.host.ipaBits);
    const check = (addr: bigint, size: bigint, what: string): number => {
      if (addr % 0x1_0000n !== 0n) fail('EINVAL', `${what} address ${hex(addr)} is not 64 KiB aligned`);
      if (addr + size > limit) fail('E2BIG', `${what} address ${hex(addr)} + ${hex(size)} is outside the ${this.host.ipaBits}-bit IPA space`);
      return Number(addr);
    };
    switch (Number(type)) {
      case KVM_VGIC_V3_ADDR_TYPE.DIST:
        if (this.distBase >= 0) fail('EEXIST', `the distributor address is already ${hex(this.distBase)}`);
        this.distBase = check(value, BigInt(GICD_SIZE), 'distributor');
        return;
      case KVM_VGIC_V3_ADDR_TYPE.REDIST:
        if (this.redistMode === 'region') fail('EINVAL', 'KVM_VGIC_V3_ADDR_TYPE_REDIST cannot be mixed with REDIST_REGION');
        if (this.redistBase >= 0) fail('EEXIST', `the redistributor address is already ${hex(this.redistBase)}`);
        this.redistBase = check(value, BigInt(GICR_STRIDE), 'redistributor');
        this.redistMode = 'redist';
        return;
      case KVM_VGIC_V3_ADDR_TYPE.REDIST_REGION: {
        if (this.redistMode === 'redist') fail('EINVAL', 'KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION cannot be mixed with REDIST');
        const index = Number(value & 0xfffn);
        const flags = Number((value >> 12n) & 0xfn);
        const base = value & 0x000f_ffff_ffff_0000n;
        const count = Number(value >> 52n);
        if (flags !== 0 || count === 0) fail('EINVAL', `redistributor region ${hex(value)}: flags must be 0 and count above 0`);
        if (index !== (this.redistMode === 'region' ? 1 : 0)) fail('EINVAL', `redistributor region index ${index} is not the next one (regions are registered from index 0; this model has one)`);
        if (this.redistMode === 'region') fail('EINVAL', 'this model supports one redistributor region (index 0)');
        this.redistBase = check(base, BigInt(count * GICR_STRIDE), 'redistributor region');
        this.redistCount = count;
        this.redistMode = 'region';
        return;
      }
      default:
        fail('ENXIO', `vGIC address type ${type} is not supported`);
    }
  }

  /**
   * vgic_init (CTRL_INIT): the emulated distributor with one redistributor
   * per vCPU, NR_IRQS (256 by default) interrupts; done once (later calls
   * succeed and change nothing). ENODEV without vCPUs.
   */
  init(): void {
    if (this.gic) return;
    if (this.host.vcpuCount === 0) fail('ENODEV', 'the vGIC needs at least one vCPU before KVM_DEV_ARM_VGIC_CTRL_INIT');
    const cpus = this.host.vcpuCount;
    const spis = Math.min((this.nrIrqs || NR_IRQS_LEGACY) - 32, MAX_SPIS);
    this.nrLr = (this.host.hostGic.virtualInterface(0).readVtr() & 0x1f) + 1;
    // LPIs (16 INTID bits, as INTERRUPT_ID_BITS_ITS) with their tables in guest memory; reported only with a vITS.
    this.gic = new GicV3({ cpus, spis, lpis: { memory: this.host.guestMemory, idBits: 16 }, onPendingChange: (cpu) => this.host.kick(cpu) });
    for (const its of this.itsList) its.attach(this.gic);
    this.usedLrs = new Int32Array(cpus);
    this.liveLrs = new Int32Array(cpus);
    this.mayBeActive = new Uint8Array(cpus).fill(1);
    this.config = new Uint8Array(cpus * 32 + 32 + spis);
    this.lrIds = new Int32Array(cpus * MAX_LRS);
    this.host.vgicInitialized(spis);
  }

  /**
   * KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES (arm-vgic-v3.rst, vgic_v3_save_pending_tables):
   * every redistributor with LPIs enabled writes its LPIs' pending bits into
   * its pending table in guest memory (the first KiB untouched); a restored
   * redistributor reads them back when GICR_CTLR.EnableLPIs is set. With
   * GICv4 the vLPIs forwarded to the vCPU and pending in its (descheduled)
   * vPE's table are written too (vgic_v4_get_vlpi_state): a restored VM
   * takes them through the vITS. EBUSY before init or while a vCPU runs.
   */
  private savePendingTables(): void {
    const gic = this.requireInit();
    const r = gic.redistributorRegion;
    for (let v = 0; v < gic.cpus; v++) {
      try {
        gic.lpiRedistributor(v).writeBackPending();
        const vlpis = this.host.pendingVlpis(v);
        if (vlpis.length === 0) continue;
        // GICR_PENDBASER.PA (IHI 0069 12.11.29): bits 51:16.
        const table = Number(r.mmioRead64(v * r.stride + GICR.PENDBASER) & 0x000f_ffff_ffff_0000n);
        const mem = this.host.guestMemory;
        for (const id of vlpis) mem.write8(table + (id >>> 3), mem.read8(table + (id >>> 3)) | (1 << (id & 7)));
      } catch (e) {
        if (e instanceof MemoryError) fail('EFAULT', `vCPU ${v}'s LPI pending table is not in guest memory: ${e.message}`);
        throw e;
      }
    }
  }

  /** vgic_v3_map_resources at the first KVM_RUN: initialized (EBUSY otherwise) with both addresses set (ENXIO). */
  checkReady(): void {
    if (!this.gic) fail('EBUSY', 'the vGICv3 is not initialized (KVM_DEV_ARM_VGIC_CTRL_INIT)');
    if (this.distBase < 0 || this.redistBase < 0) fail('ENXIO', 'the vGIC distributor and redistributor addresses must be set before KVM_RUN');
    if (this.redistMode === 'region' && this.redistCount < this.gic.cpus) fail('ENXIO', `the redistributor region holds ${this.redistCount} redistributors for ${this.gic.cpus} vCPUs`);
  }

  private requireInit(): GicV3 {
    if (!this.gic) fail('EBUSY', 'the vGIC is not initialized');
    if (this.host.vcpuRunning) fail('EBUSY', 'a vCPU is running');
    return this.gic;
  }

  private vcpuOfAttr(attr: bigint): number {
    const m = attr >> 32n;
    const mpidr = Number(m & 0xff_ffffn) + Number((m >> 24n) & 0xffn) * 2 ** 32;
    const v = this.host.vcpuByMpidr(mpidr);
    if (v < 0) fail('EINVAL', `no vCPU has MPIDR ${hex(mpidr)}`);
    return v;
  }

  private regsAccess(group: number, attr: bigint, write: boolean, value: number): number {
    const gic = this.requireInit();
    if (write) this.registersWritten();
    const offset = Number(attr & 0xffff_ffffn);
    if (offset % 4 !== 0) fail('ENXIO', `register offset ${hex(offset)} is not a 32-bit register`);
    try {
      if (group === KVM_DEV_ARM_VGIC_GRP.DIST_REGS) {
        if (offset >= GICD_SIZE) fail('ENXIO', `distributor offset ${hex(offset)} is past the frame`);
        const d = gic.distributorFor(0);
        if (write) d.mmioWrite(offset, 4, value);
        return write ? 0 : this.hideLpis(d, offset, d.mmioRead(offset, 4)) >>> 0;
      }
      const vcpu = this.vcpuOfAttr(attr);
      if (offset >= GICR_STRIDE) fail('ENXIO', `redistributor offset ${hex(offset)} is past the frames`);
      const r = gic.redistributorRegion;
      if (write) r.mmioWrite(vcpu * r.stride + offset, 4, value);
      return write ? 0 : this.hideLpis(r, offset, r.mmioRead(vcpu * r.stride + offset, 4)) >>> 0;
    } catch (e) {
      if (e instanceof Error && e.name === 'CpuException') fail('ENXIO', `register at offset ${hex(offset)} cannot be accessed: ${e.message}`);
      throw e;
    }
  }

  private sysregKnown(instr: number): boolean {
    return Object.values<number>(ICC).includes(instr) || (instr > ICC.AP0R0 && instr <= ICC.AP0R0 + 3) || (instr > ICC.AP1R0 && instr <= ICC.AP1R0 + 3);
  }

  /** The guest's ICC_* state: the vCPU's virtual CPU interface (ICH_VMCR_EL2 and the APRs, IHI 0069 12.4.9). */
  private sysregAccess(attr: bigint, write: boolean, value: bigint): bigint {
    this.requireInit();
    const vcpu = this.vcpuOfAttr(attr);
    const instr = Number(attr & 0xffffn);
    if (!this.sysregKnown(instr)) fail('ENXIO', `CPU system register ${hex(instr)} is not supported`);
    const v = this.host.hostGic.virtualInterface(this.host.pcpuOf(vcpu));
    const n = Number(value & 0xffff_ffffn);
    const rw = (get: () => number, set: (x: number) => void): bigint => {
      if (write) set(n);
      return write ? 0n : BigInt(get() >>> 0);
    };
    if (instr === ICC.PMR) return rw(() => v.readPmr(), (x) => v.writePmr(x));
    if (instr === ICC.BPR0) return rw(() => v.readBpr(0), (x) => v.writeBpr(0, x));
    if (instr === ICC.BPR1) return rw(() => v.readBpr(1), (x) => v.writeBpr(1, x));
    if (instr === ICC.CTLR) return rw(() => v.readCtlr(), (x) => v.writeCtlr(x));
    if (instr === ICC.IGRPEN0) return rw(() => v.readIgrpen(0), (x) => v.writeIgrpen(0, x));
    if (instr === ICC.IGRPEN1) return rw(() => v.readIgrpen(1), (x) => v.writeIgrpen(1, x));
    if (instr === ICC.SRE) {
      // ICC_SRE_EL1 reads SRE | DFB | DIB = 0x7 (KVM's vgic_v3 sysreg emulation); writes of other values are EINVAL.
      if (write && n !== 0x7) fail('EINVAL', `ICC_SRE_EL1 value ${hex(n)} is not 0x7`);
      return write ? 0n : 7n;
    }
    const group = instr >= ICC.AP1R0 && instr <= ICC.AP1R0 + 3 ? 1 : 0;
    const index = instr - (group === 1 ? ICC.AP1R0 : ICC.AP0R0);
    return rw(() => v.readApr(group, index), (x) => v.writeApr(group, index, x));
  }

  // --- guest MMIO (vgic-mmio-v3.c) ---------------------------------------------------------------

  /** Whether `ipa` is in the distributor or a redistributor frame (an in-kernel MMIO device). */
  claims(ipa: number): boolean {
    const gic = this.gic;
    if (!gic) return false;
    if (this.distBase >= 0 && ipa >= this.distBase && ipa < this.distBase + GICD_SIZE) return true;
    if (this.redistBase >= 0 && ipa >= this.redistBase && ipa < this.redistBase + gic.cpus * GICR_STRIDE) return true;
    return this.itsAt(ipa) !== undefined;
  }

  private itsAt(ipa: number): Arm64Vits | undefined {
    const list = this.itsList;
    for (let i = 0; i < list.length; i++) if (list[i]!.claims(ipa)) return list[i];
    return undefined;
  }

  /**
   * Without a vITS the guest sees no LPIs (vgic-mmio-v3.c: GICD_TYPER.LPIS
   * and IDbits = 16 only with has_its, GICR_TYPER.PLPIS likewise); the
   * emulated distributor always has them, so the ID registers are adjusted.
   */
  private hideLpis(dev: unknown, offset: number, value: number): number {
    if (this.itsList.length > 0) return value;
    if (dev === this.gic!.redistributorRegion) {
      // GICR_TYPER (IHI 0069 12.11.37): PLPIS bit 0, DirectLPI bit 3.
      return (offset & (GICR_STRIDE - 1)) === GICR.TYPER ? value & ~0b1001 : value;
    }
    // GICD_TYPER (12.9.38): LPIS bit 17 clear, IDbits (23:19) = 9.
    return offset === GICD.TYPER ? ((value & ~((0x1f << 19) | (1 << 17))) | (9 << 19)) >>> 0 : value;
  }

  /** A guest load from a claimed IPA: the register's value (low, high halves in `out`). */
  mmioRead(vcpu: number, ipa: number, size: number, out: { lo: number; hi: number }): void {
    const gic = this.gic!;
    if (this.itsList.length > 0) {
      const its = this.itsAt(ipa);
      if (its !== undefined) {
        its.mmioRead(ipa, size, out);
        return;
      }
    }
    const dev = ipa < this.distBase + GICD_SIZE && ipa >= this.distBase ? gic.distributorFor(vcpu) : gic.redistributorRegion;
    const offset = ipa - (dev === gic.redistributorRegion ? this.redistBase : this.distBase);
    if (size === 8) {
      const v = dev.mmioRead64(offset);
      out.lo = this.hideLpis(dev, offset, Number(v & 0xffff_ffffn)) >>> 0;
      out.hi = Number(v >> 32n);
      return;
    }
    out.lo = this.hideLpis(dev, offset, dev.mmioRead(offset, size as 1 | 2 | 4)) >>> 0;
    out.hi = 0;
  }

  /** A guest store to a claimed IPA. */
  mmioWrite(vcpu: number, ipa: number, size: number, lo: number, hi: number): void {
    const gic = this.gic!;
    if (this.itsList.length > 0) {
      const its = this.itsAt(ipa);
      if (its !== undefined) {
        its.mmioWrite(ipa, size, lo, hi);
        return;
      }
    }
    this.registersWritten();
    const dev = ipa < this.distBase + GICD_SIZE && ipa >= this.distBase ? gic.distributorFor(vcpu) : gic.redistributorRegion;
    const offset = ipa - (dev === gic.redistributorRegion ? this.redistBase : this.distBase);
    if (size === 8) dev.mmioWrite64(offset, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
    else dev.mmioWrite(offset, size as 1 | 2 | 4, lo);
  }

  // --- list registers (vgic.c) -------------------------------------------------------------------

  /**
   * kvm_vgic_flush_hwstate: the vCPU's active, then pending, interrupts into
   * the list registers of physical CPU `pcpu` (priority order, at most
   * ICH_VTR_EL2.ListRegs + 1), the rest cleared; ICH_HCR_EL2.En, and UIE when
   * some did not fit. A level-sensitive software interrupt asks for an EOI
   * maintenance interrupt (its line is resampled at the exit); the virtual
   * timer's PPI is hardware-mapped (HW = 1, pINTID 27): the guest's
   * deactivation deactivates the physical interrupt (IHI 0069 4.9.3).
   */
  flush(vcpu: number, pcpu: number): void {
    const gic = this.gic!;
    const v = this.host.hostGic.virtualInterface(pcpu);
    const nrLr = this.nrLr;
    const ids = this.lrIds;
    const base = vcpu * MAX_LRS;
    let used = 0;
    let na = 0;
    if (this.mayBeActive[vcpu] === 1) {
      na = gic.activeInterrupts(vcpu, this.activeBuf);
      if (na === 0) this.mayBeActive[vcpu] = 0;
    }
    for (let i = 0; i < na && used < nrLr; i++) used = this.populate(gic, v, vcpu, this.activeBuf[i]!, used, base, ids);
    const np = gic.pendingInterrupts(vcpu, this.pendingBuf);
    for (let i = 0; i < np && used < nrLr; i++) used = this.populate(gic, v, vcpu, this.pendingBuf[i]!, used, base, ids);
    // LRs the previous entry used beyond these still hold their folded state: empty them (vgic_v3_clear_lr).
    for (let i = used; i < this.liveLrs[vcpu]!; i++) v.writeLr(i, 0, 0);
    this.usedLrs[vcpu] = used;
    this.liveLrs[vcpu] = used;
    v.writeHcr(HCR_BIT.EN | (na + np > used ? HCR_BIT.UIE : 0));
  }

  private populate(gic: GicV3, v: ReturnType<GicV3['virtualInterface']>, vcpu: number, id: number, n: number, base: number, ids: Int32Array): number {
    const state = gic.takeForListRegister(vcpu, id) & 3;
    if (state === 0) return n;
    let hi = (state << 30) | (gic.interruptGroup(vcpu, id) << 28) | (gic.interruptPriority(vcpu, id) << 16);
    if (id === VTIMER_PPI) hi |= LR_HI_HW | VTIMER_PPI;
    else if (!this.isEdge(gic, vcpu, id)) hi |= LR_HI_EOI;
    v.writeLr(n, id, hi);
    ids[base + n] = id;
    return n + 1;
  }

  /** A register write may activate interrupts (GICD_ISACTIVER, GICR_ISACTIVER0) or change Int_config (GICD_ICFGR). */
  private registersWritten(): void {
    this.mayBeActive.fill(1);
    this.configStale = true;
  }

  /** GICD_ICFGR<n> / GICR_ICFGR0-1 Int_config (IHI 0069 12.9.10): 1 edge-triggered; read once per register change. */
  private isEdge(gic: GicV3, vcpu: number, id: number): boolean {
    if (id < 16 || id >= LPI_FIRST) return true; // SGIs and LPIs (IHI 0069 5.1: edge, no active state)
    if (this.configStale) {
      this.config.fill(0);
      this.configStale = false;
    }
    const k = id < 32 ? vcpu * 32 + id : gic.cpus * 32 + id;
    const known = this.config[k]!;
    if (known !== 0) return known === 2;
    const word =
      id < 32
        ? gic.redistributorRegion.mmioRead(vcpu * gic.redistributorRegion.stride + GICR_SGI_BASE + GICR_SGI.ICFGR1, 4)
        : gic.distributorFor(vcpu).mmioRead(GICD.ICFGR + (id >>> 4) * 4, 4);
    const edge = ((word >>> (2 * (id & 15) + 1)) & 1) === 1;
    this.config[k] = edge ? 2 : 1;
    return edge;
  }

  /**
   * kvm_vgic_sync_hwstate: every used list register folded back into the
   * emulated distributor (the next flush rewrites or empties it);
   * ICH_HCR_EL2.EOIcount deactivates that many active interrupts that were
   * in no list register (in INTID order); ICH_HCR_EL2 back to 0, as the
   * world switch leaves it (the virtual interface off while the host runs).
   */
  fold(vcpu: number, pcpu: number): void {
    const gic = this.gic!;
    const v = this.host.hostGic.virtualInterface(pcpu);
    const used = this.usedLrs[vcpu]!;
    const base = vcpu * MAX_LRS;
    const ids = this.lrIds;
    const inLr = this.inLr;
    let active = 0;
    for (let i = 0; i < used; i++) {
      const hi = v.readLrHigh(i);
      const state = (hi >>> 30) & 3;
      const id = ids[base + i]!;
      gic.foldListRegister(vcpu, id, state);
      // A level-triggered SPI the guest completed (the LR asked for an EOI maintenance interrupt): tell the resamplers.
      if (state === 0 && (hi & (LR_HI_HW | LR_HI_EOI)) === LR_HI_EOI && id >= 32) this.host.notifyAcked(id - 32);
      if ((state & 2) !== 0) {
        inLr[active++] = id;
        this.mayBeActive[vcpu] = 1; // folded back active
      }
    }
    let eoiCount = v.readHcr() >>> EOICOUNT_SHIFT;
    if (eoiCount > 0) {
      const n = gic.activeInterrupts(vcpu, this.activeBuf);
      for (let i = 0; i < n && eoiCount > 0; i++) {
        const id = this.activeBuf[i]!;
        if (inLr.subarray(0, active).includes(id)) continue;
        gic.deactivateInterrupt(vcpu, id);
        eoiCount--;
      }
    }
    this.usedLrs[vcpu] = 0;
    v.writeHcr(0);
  }

  /**
   * The guest's configuration byte of LPI `intid` for vCPU `vcpu` (IHI 0069
   * 5.1.1, at GICR_PROPBASER.PA + intid - 8192 in guest memory), or -1 when
   * that redistributor has no table or the byte is not in guest memory.
   */
  lpiConfig(vcpu: number, intid: number): number {
    const gic = this.gic;
    if (!gic || intid < LPI_FIRST || intid >= 2 ** 16) return -1;
    const r = gic.redistributorRegion;
    const prop = r.mmioRead64(vcpu * r.stride + GICR.PROPBASER);
    const idBits = Number(prop & 0x1fn) + 1;
    if (idBits < 14 || intid >= 2 ** idBits) return -1;
    const addr = Number(prop & 0x000f_ffff_ffff_f000n) + intid - LPI_FIRST;
    try {
      return this.host.guestMemory.read8(addr);
    } catch (e) {
      if (e instanceof MemoryError) return -1;
      throw e;
    }
  }

  /** kvm_vgic_vcpu_pending_irq: whether the vCPU has an interrupt it could take (wakes a WFI). */
  hasPending(vcpu: number): boolean {
    return this.gic !== undefined && this.gic.pendingInterrupts(vcpu, this.pendingBuf.subarray(0, 1)) > 0;
  }

  /**
   * kvm_vgic_inject_irq for an SPI or a vCPU's PPI: the line's level. A
   * rising line whose interrupt is already on a vCPU (in its list registers,
   * or active in the emulated distributor) kicks that vCPU, as
   * vgic_queue_irq_unlock does: the guest may complete the listed interrupt
   * without an exit (an edge-triggered one asks for no EOI maintenance
   * interrupt), and the new edge would wait for an unrelated exit.
   */
  setLine(vcpu: number, intid: number, level: boolean): void {
    const gic = this.gic!;
    if (intid < 32) gic.setPpiLevel(vcpu, intid, level);
    else gic.setSpiLevel(intid, level);
    if (level) this.kickIfQueued(intid, intid < 32 ? vcpu : -1);
  }

  /**
   * vgic_queue_irq_unlock's "already on an ap_list" case: kicks each vCPU
   * (`only`, or every vCPU for an SPI) that holds `intid` in a list register
   * now, or (an SPI) has it active in the emulated distributor while list
   * registers overflowed (its EOI then comes back as EOIcount, no exit).
   */
  private kickIfQueued(intid: number, only: number): void {
    const used = this.usedLrs;
    const ids = this.lrIds;
    const first = only < 0 ? 0 : only;
    const last = only < 0 ? used.length : only + 1;
    let kicked = false;
    for (let v = first; v < last; v++) {
      const n = used[v]!;
      const base = v * MAX_LRS;
      for (let i = 0; i < n; i++) {
        if (ids[base + i] === intid) {
          this.host.kick(v);
          kicked = true;
          break;
        }
      }
    }
    if (kicked || only >= 0) return;
    const may = this.mayBeActive;
    let any = false;
    for (let v = 0; v < may.length; v++) if (may[v] === 1 && used[v]! > 0) any = true;
    if (!any) return;
    // GICD_ISACTIVER<n> (IHI 0069 12.9.7): the SPI's active bit.
    const word = this.gic!.distributorFor(0).mmioRead(GICD.ISACTIVER + (intid >>> 5) * 4, 4);
    if (((word >>> (intid & 31)) & 1) === 0) return;
    for (let v = 0; v < may.length; v++) if (may[v] === 1 && used[v]! > 0) this.host.kick(v);
  }

  /**
   * An ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 / ICC_SGI0R_EL1 write the guest
   * trapped (vgic_v3_dispatch_sgi): the emulated distributor generates the
   * SGIs (target list, affinity, IRM; IHI 0069 12.2.x); a target that holds
   * the SGI in a list register is kicked (vgic_queue_irq_unlock).
   */
  dispatchSgi(vcpu: number, encoding: number, lo: number, hi: number): void {
    this.gic!.writeSysreg(vcpu, encoding, lo, hi);
    const intid = (lo >>> 24) & 0xf;
    // ICC_SGI1R_EL1 (IHI 0069 12.2.22): IRM bit 40 (every PE but the sender), else TargetList 15:0 at Aff3.Aff2.Aff1.RS.
    if (((hi >>> 8) & 1) === 1) {
      for (let v = 0; v < this.usedLrs.length; v++) if (v !== vcpu) this.kickIfQueued(intid, v);
      return;
    }
    const aff = ((hi & 0xff) << 16) | (((lo >>> 16) & 0xff) << 8);
    const rs = (hi >>> 12) & 0xf;
    for (let bit = 0; bit < 16; bit++) {
      if (((lo >>> bit) & 1) === 0) continue;
      const target = this.host.vcpuByMpidr(aff | (rs * 16 + bit));
      if (target >= 0) this.kickIfQueued(intid, target);
    }
  }
}
