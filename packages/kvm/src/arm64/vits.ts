/**
 * The in-kernel vITS (Linux arch/arm64/kvm/vgic/vgic-its.c;
 * Documentation/virt/kvm/devices/arm-vgic-its.rst): the
 * KVM_DEV_TYPE_ARM_VGIC_ITS device with its attribute groups (ADDR, CTRL,
 * ITS_REGS), the guest's GITS_* frames emulated from stage 2 aborts, and
 * MSIs from KVM_SIGNAL_MSI, MSI routes and irqfds translated to LPIs of the
 * vGICv3's redistributors.
 *
 * The translator is a `GicV3Its` of `@hvsim/gic` built on the vGIC's
 * emulated distributor (`GicV3.createIts`) over the VM's guest-physical view,
 * with `commandErrors: 'ignore'`: the command queue (MAPD, MAPC, MAPTI/MAPI,
 * INT, INV, INVALL, DISCARD, MOVI, MOVALL, CLEAR, SYNC) runs at each
 * GITS_CWRITER write, a failing command is skipped (IHI 0069 5.3 lets an ITS
 * ignore it; vgic-its.c does), and the device, collection and interrupt
 * translation tables live in guest memory where the guest's GITS_BASER<n>
 * and MAPD put them, written through by every command. Their entries use the
 * `@hvsim/gic` ITS's layout (GITS_BASER<n>.Entry_Size and
 * GITS_TYPER.ITT_entry_size say 16, 8 and 16 bytes), not KVM's ABI REV0
 * 8-byte entries, so KVM_DEV_ARM_ITS_SAVE_TABLES has nothing left to write
 * and KVM_DEV_ARM_ITS_RESTORE_TABLES drops the ITS's cached translations and
 * reads the tables again.
 */
import { DELIVERY_STATUS, MemoryError, type DeliveryStatus, type Memory } from '@hvsim/core';
import type { GicV3, GicV3Its } from '@hvsim/gic';
import { fail, hex } from '../generic/errors.js';
import { KVM_DEV_ARM_VGIC_CTRL, KVM_DEV_ARM_VGIC_GRP, KVM_VGIC_V3_ADDR_TYPE } from './constants.js';
import { VGIC_ADDR_UNDEF, toBig, type KvmDeviceAttr } from './vgic-attr.js';

/** KVM_VGIC_V3_ITS_SIZE: the control and translation frames, 64 KiB each. */
export const VITS_SIZE = 0x2_0000;
/** GITS_* offsets of the control frame (IHI 0069 12.19). */
const GITS_CTLR = 0x0;
const GITS_IIDR = 0x4;
const GITS_TYPER = 0x8;
const GITS_CBASER = 0x80;
const GITS_CWRITER = 0x88;
const GITS_CREADR = 0x90;
const GITS_BASER0 = 0x100;
const GITS_BASER7 = 0x138;
/** GITS_PIDR4 to GITS_CIDR3: the ID registers (32-bit). */
const GITS_IDREGS = 0xffd0;
const FRAME = 0x1_0000;

/** What a vITS needs of its VM. */
export interface VitsHost {
  /** The IPA space in bits. */
  readonly ipaBits: number;
  /** The guest-physical view of memory (the tables). */
  readonly guestMemory: Memory;
  /** The ITS's mappings may have changed (commands ran, tables restored, reset): forwarded events follow. */
  itsChanged(): void;
  /** Whether a vCPU is inside KVM_RUN (the attributes answer EBUSY then). */
  readonly vcpuRunning: boolean;
}

/** One vITS (see the file comment). */
export class Arm64Vits {
  private base = -1;
  private its: GicV3Its | undefined;

  constructor(private readonly host: VitsHost) {}

  /** ITS_base in guest-physical space, or -1 while unset. */
  get baseAddress(): number {
    return this.base;
  }

  /** The translator, once the vGIC is initialized (its LPIs and redistributors exist then). */
  get translator(): GicV3Its | undefined {
    return this.its;
  }

  /** The vGICv3's emulated distributor is ready: build the translator on its redistributors. */
  attach(gic: GicV3): void {
    this.its ??= gic.createIts({ commandErrors: 'ignore' });
  }

  // --- attributes (vgic-its.c vgic_its_{set,get,has}_attr) --------------------------------------

  /** KVM_HAS_DEVICE_ATTR. */
  hasAttr(a: KvmDeviceAttr): boolean {
    const attr = BigInt(a.attr);
    switch (a.group) {
      case KVM_DEV_ARM_VGIC_GRP.ADDR:
        return attr === BigInt(KVM_VGIC_V3_ADDR_TYPE.ITS);
      case KVM_DEV_ARM_VGIC_GRP.CTRL:
        return attr === BigInt(KVM_DEV_ARM_VGIC_CTRL.INIT) || attr === BigInt(KVM_DEV_ARM_VGIC_CTRL.ITS_RESET) || attr === BigInt(KVM_DEV_ARM_VGIC_CTRL.ITS_SAVE_TABLES) || attr === BigInt(KVM_DEV_ARM_VGIC_CTRL.ITS_RESTORE_TABLES);
      case KVM_DEV_ARM_VGIC_GRP.ITS_REGS:
        return regWidth(attr) > 0;
      default:
        return false;
    }
  }

  /** KVM_SET_DEVICE_ATTR (arm-vgic-its.rst "Groups"), with its errnos. */
  setAttr(a: KvmDeviceAttr): void {
    const attr = BigInt(a.attr);
    switch (a.group) {
      case KVM_DEV_ARM_VGIC_GRP.ADDR:
        this.setAddr(attr, toBig(a.value, 'address'));
        return;
      case KVM_DEV_ARM_VGIC_GRP.CTRL:
        this.ctrl(attr);
        return;
      case KVM_DEV_ARM_VGIC_GRP.ITS_REGS:
        this.regs(attr, true, toBig(a.value, 'register value'));
        return;
      default:
        fail('ENXIO', `vITS attribute group ${a.group} is not supported`);
    }
  }

  /** KVM_GET_DEVICE_ATTR: the u64 the attribute holds. */
  getAttr(a: KvmDeviceAttr): bigint {
    const attr = BigInt(a.attr);
    switch (a.group) {
      case KVM_DEV_ARM_VGIC_GRP.ADDR:
        if (attr !== BigInt(KVM_VGIC_V3_ADDR_TYPE.ITS)) fail('ENODEV', `vITS address type ${attr} is not KVM_VGIC_ITS_ADDR_TYPE (4)`);
        return this.base < 0 ? VGIC_ADDR_UNDEF : BigInt(this.base);
      case KVM_DEV_ARM_VGIC_GRP.ITS_REGS:
        return this.regs(attr, false, 0n);
      default:
        fail('ENXIO', `vITS attribute group ${a.group} cannot be read`);
    }
  }

  /** KVM_VGIC_ITS_ADDR_TYPE: 64 KiB aligned (EINVAL), inside the IPA space (E2BIG), set once (EEXIST); ENODEV for another type. */
  private setAddr(type: bigint, addr: bigint): void {
    if (type !== BigInt(KVM_VGIC_V3_ADDR_TYPE.ITS)) fail('ENODEV', `vITS address type ${type} is not KVM_VGIC_ITS_ADDR_TYPE (4)`);
    if (this.base >= 0) fail('EEXIST', `the ITS address is already ${hex(this.base)}`);
    if (addr % 0x1_0000n !== 0n) fail('EINVAL', `ITS address ${hex(addr)} is not 64 KiB aligned`);
    if (addr + BigInt(VITS_SIZE) > 2n ** BigInt(this.host.ipaBits)) fail('E2BIG', `ITS address ${hex(addr)} + ${hex(VITS_SIZE)} is outside the ${this.host.ipaBits}-bit IPA space`);
    this.base = Number(addr);
  }

  private requireReady(what: string): GicV3Its {
    if (this.base < 0) fail('ENXIO', `${what}: the ITS address is not set (KVM_VGIC_ITS_ADDR_TYPE)`);
    if (!this.its) fail('ENXIO', `${what}: the vGICv3 is not initialized, so the ITS has no redistributors yet`);
    if (this.host.vcpuRunning) fail('EBUSY', `${what}: a vCPU is running`);
    return this.its;
  }

  /**
   * KVM_DEV_ARM_VGIC_GRP_CTRL: INIT (nothing to do), ITS_CTRL_RESET (the
   * "ITS Reset State": disabled, no queue, no tables, no cached state),
   * SAVE_TABLES (the tables are already in guest memory), RESTORE_TABLES
   * (cached translations dropped: the next translation reads the restored
   * tables).
   */
  private ctrl(attr: bigint): void {
    switch (Number(attr)) {
      case KVM_DEV_ARM_VGIC_CTRL.INIT:
        return;
      case KVM_DEV_ARM_VGIC_CTRL.ITS_RESET:
        this.requireReady('KVM_DEV_ARM_ITS_CTRL_RESET').reset();
        this.host.itsChanged();
        return;
      case KVM_DEV_ARM_VGIC_CTRL.ITS_SAVE_TABLES:
        this.requireReady('KVM_DEV_ARM_ITS_SAVE_TABLES');
        return;
      case KVM_DEV_ARM_VGIC_CTRL.ITS_RESTORE_TABLES: {
        const its = this.requireReady('KVM_DEV_ARM_ITS_RESTORE_TABLES');
        its.restoreState(its.saveState());
        this.host.itsChanged();
        return;
      }
      default:
        fail('ENXIO', `vITS control attribute ${attr} is not supported`);
    }
  }

  /**
   * KVM_DEV_ARM_VGIC_GRP_ITS_REGS: the register at offset `attr` of the
   * control frame as a u64. 64-bit registers only whole (offsets 8-aligned,
   * EINVAL otherwise), GITS_CTLR, GITS_IIDR and the ID registers as 32 bits;
   * ENXIO for an offset with no register. Writes as the guest's, except
   * (arm-vgic-its.rst): GITS_CREADR is restored (while the ITS is disabled,
   * inside the queue), GITS_CWRITER is set without running the queue, and
   * GITS_IIDR must be written with the value it has (the table ABI).
   */
  private regs(attr: bigint, write: boolean, value: bigint): bigint {
    const width = regWidth(attr);
    const offset = Number(attr & 0xffff_ffffn);
    if (width < 0) fail('EINVAL', `ITS register offset ${hex(attr)} is not aligned to the register's width`);
    if (width === 0) fail('ENXIO', `ITS register offset ${hex(attr)} is not a register`);
    const its = this.requireReady('KVM_DEV_ARM_VGIC_GRP_ITS_REGS');
    if (!write) return width === 4 ? BigInt(its.mmioRead(offset, 4) >>> 0) : its.mmioRead64(offset);
    if (offset === GITS_IIDR) {
      const iidr = BigInt(its.mmioRead(GITS_IIDR, 4) >>> 0);
      if (value !== iidr) fail('EINVAL', `GITS_IIDR ${hex(value)} is not this ITS's ${hex(iidr)} (its table ABI)`);
      return 0n;
    }
    if (offset === GITS_CREADR || offset === GITS_CWRITER) {
      const s = its.saveState();
      const queueBytes = (((s.cbaser[0] & 0xff) >>> 0) + 1) * 0x1000;
      const v = Number(value & 0xf_ffe0n);
      // vgic_mmio_uaccess_write_its_creadr: ignored while enabled or beyond the queue.
      if (offset === GITS_CREADR && (s.enabled || v >= queueBytes)) return 0n;
      if (offset === GITS_CREADR) s.creadr = v;
      else s.cwriter = v;
      its.restoreState(s);
      return 0n;
    }
    if (offset === GITS_TYPER || offset >= GITS_IDREGS) return 0n; // read-only: writes ignored
    if (width === 4) its.mmioWrite(offset, 4, Number(value & 0xffff_ffffn));
    else its.mmioWrite64(offset, value);
    return 0n;
  }

  // --- guest MMIO --------------------------------------------------------------------------------

  /** Whether `ipa` is in this ITS's frames. */
  claims(ipa: number): boolean {
    return this.its !== undefined && this.base >= 0 && ipa >= this.base && ipa < this.base + VITS_SIZE;
  }

  /** A guest load from the ITS frames (GITS_TRANSLATER and reserved offsets read as zero). */
  mmioRead(ipa: number, size: number, out: { lo: number; hi: number }): void {
    const its = this.its!;
    const offset = ipa - this.base;
    if (size === 8 && offset < FRAME) {
      const v = its.mmioRead64(offset);
      out.lo = Number(v & 0xffff_ffffn);
      out.hi = Number(v >> 32n);
      return;
    }
    out.lo = its.mmioRead(offset, size as 1 | 2 | 4) >>> 0;
    out.hi = 0;
  }

  /** A guest store to the ITS frames (GITS_CWRITER runs the queue). */
  mmioWrite(ipa: number, size: number, lo: number, hi: number): void {
    const its = this.its!;
    const offset = ipa - this.base;
    if (size === 8) its.mmioWrite64(offset, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
    else its.mmioWrite(offset, size as 1 | 2 | 4, lo);
    // GITS_CWRITER or GITS_CTLR ran commands: forwarded events follow (vgic-its.c's its_cmd handlers update hw IRQs).
    if (offset === GITS_CWRITER || offset === GITS_CTLR) this.host.itsChanged();
  }

  // --- MSIs (vgic_its_inject_msi) ----------------------------------------------------------------

  /** Whether an MSI to `address` reaches this ITS (vgic_msi_to_its: any address of its MMIO region). */
  owns(address: number): boolean {
    return this.base >= 0 && address >= this.base && address < this.base + VITS_SIZE;
  }

  /**
   * vgic_its_trigger_msi: EventID `data` of DeviceID `devid` translated
   * and made pending. DELIVERED when the LPI is pending (also when it
   * already was: KVM sets the latch and reports success), BLOCKED when the
   * ITS is disabled, the target redistributor's LPIs are off or the
   * translation is unmapped.
   */
  inject(devid: number, data: number): DeliveryStatus {
    const its = this.its;
    if (!its) return DELIVERY_STATUS.BLOCKED;
    const s = its.deliverMsi(this.base + 0x1_0040, data, devid);
    return s === DELIVERY_STATUS.COALESCED ? DELIVERY_STATUS.DELIVERED : s === DELIVERY_STATUS.DROPPED ? DELIVERY_STATUS.BLOCKED : s;
  }

  /**
   * vgic_its_resolve_lpi without injecting (kvm_vgic_v4_set_forwarding's
   * look-up): the LPI and target redistributor (vCPU) EventID `eventId` of
   * DeviceID `deviceId` translates to, or undefined. It reads the tables the
   * translator keeps in guest memory, in `@hvsim/gic`'s layout (its/tables.ts:
   * device entry w0 = Valid[31] | Size[4:0], w2-w3 the ITT; ITT entry w0 =
   * Valid[31] | Virtual[30] | ICID[15:0], w1 the pINTID; collection entry w0 =
   * Valid[31] | processor[15:0]), found through GITS_BASER0/1 (flat or
   * two-level, IHI 0069 5.2.5).
   */
  lookup(deviceId: number, eventId: number): { vcpu: number; intid: number } | undefined {
    const its = this.its;
    if (its?.isEnabled !== true) return undefined;
    const mem = this.host.guestMemory;
    try {
      const dte = tableEntry(mem, its.mmioRead64(GITS_BASER0), deviceId);
      if (dte < 0) return undefined;
      const w0 = mem.read32(dte);
      if (w0 >>> 31 === 0 || eventId >= 2 ** ((w0 & 0x1f) + 1)) return undefined;
      const ite = Number(mem.read64(dte + 8)) + eventId * 16;
      const i0 = mem.read32(ite);
      if (i0 >>> 31 === 0 || ((i0 >>> 30) & 1) === 1) return undefined;
      const cte = tableEntry(mem, its.mmioRead64(GITS_BASER0 + 8), i0 & 0xffff);
      if (cte < 0) return undefined;
      const c0 = mem.read32(cte);
      return c0 >>> 31 === 0 ? undefined : { vcpu: c0 & 0xffff, intid: mem.read32(ite + 4) };
    } catch (e) {
      if (e instanceof MemoryError) return undefined;
      throw e;
    }
  }

  /** Whether GITS_CTLR.Enabled is set. */
  get enabled(): boolean {
    return this.its?.isEnabled === true;
  }
}

/** The width of the ITS register at `attr` (4 or 8), 0 for no register, -1 for a misaligned offset (vgic_its_attr_regs_access). */
function regWidth(attr: bigint): number {
  if (attr < 0n || attr >= 0x1_0000n) return 0;
  const off = Number(attr);
  const wide = off >= GITS_TYPER && off < GITS_IDREGS;
  if ((off & (wide ? 7 : 3)) !== 0) return -1;
  if (off === GITS_CTLR || off === GITS_IIDR || off >= GITS_IDREGS) return 4;
  if (off === GITS_TYPER || off === GITS_CBASER || off === GITS_CWRITER || off === GITS_CREADR || (off >= GITS_BASER0 && off <= GITS_BASER7)) return 8;
  return 0;
}

/** GITS_BASER<n> page sizes (IHI 0069 12.19.1 Page_Size). */
const PAGE_BYTES = [0x1000, 0x4000, 0x1_0000, 0x1_0000];

/** The address of entry `id` of the table GITS_BASER value `baser` describes, or -1 (not valid, out of range, no level-2 page). */
function tableEntry(mem: Memory, baser: bigint, id: number): number {
  if (baser >> 63n === 0n) return -1;
  const pageBytes = PAGE_BYTES[Number((baser >> 8n) & 3n)]!;
  const pages = Number(baser & 0xffn) + 1;
  const entryBytes = Number((baser >> 48n) & 0x1fn) + 1;
  // PA bits 47:12 (bits 51:48 of a 64 KiB-page table sit in 15:12; Entry_Size is in 52:48).
  const base = Number(baser & 0x0000_ffff_ffff_f000n) - (Number(baser & 0x0000_ffff_ffff_f000n) % pageBytes);
  if (((baser >> 62n) & 1n) === 0n) return id < Math.floor((pages * pageBytes) / entryBytes) ? base + id * entryBytes : -1;
  const perPage = Math.floor(pageBytes / entryBytes);
  const l1 = Math.floor(id / perPage);
  if (l1 >= (pages * pageBytes) / 8) return -1;
  const e = mem.read64(base + l1 * 8);
  if (e >> 63n === 0n) return -1;
  return Number(e & 0x000f_ffff_ffff_f000n) + (id % perPage) * entryBytes;
}
