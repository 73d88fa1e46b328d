/**
 * GICv4 / v4.1 direct injection for one VM (Linux arch/arm64/kvm/vgic/
 * vgic-v4.c over the host ITS driver, irq-gic-v3-its.c; IHI 0069 chapter 5
 * "Virtual LPIs", 12.11 GICR_VPROPBASER / GICR_VPENDBASER):
 *
 * - vgic_v4_init: one vPE per vCPU (vPEID = vCPU id) with its virtual
 *   pending table, the VM's vLPI configuration table (vprop), and a host
 *   doorbell LPI per vPE; VMAPP on the host ITS (GICv4.1 with the
 *   configuration table and the default doorbell).
 * - vgic_v4_load at vCPU load: the vPE resident on the physical CPU
 *   (GICR_VPENDBASER.Valid = 1; GICv4.0 also GICR_VPROPBASER), so its vLPIs
 *   reach the virtual CPU interface with no hypervisor action.
 * - vgic_v4_put at vCPU put: non-resident; when the vCPU blocks in WFI with
 *   the doorbell (GICv4.1 DB = 1; GICv4.0 the doorbell LPI enabled), a vLPI
 *   then makes the doorbell pending, whose host handler records
 *   pending_last and kicks the vCPU. PendingLast read back at put means a
 *   vLPI is already pending: the vCPU does not block.
 * - kvm_vgic_v4_set_forwarding / unset_forwarding: an assigned device's
 *   event whose route translates in the vITS to an LPI of one vCPU is mapped
 *   on the host ITS to that vPE as a vLPI (DISCARD + VMAPTI, or VMOVI when
 *   it moves), its configuration byte copied into vprop (INV); otherwise it
 *   is a host LPI (DISCARD + MAPTI) whose handler signals the eventfd.
 */
import { UsageError } from '@hvsim/core';
import type { GicV3 } from '@hvsim/gic';
import { GICR_VLPI, GICR_VLPI_BASE } from '@hvsim/gic';
import { HOST_LPI_FIRST, lpiConfigByte, type HostItsDriver, type KernelAlloc } from './host-its.js';

/** The GICv4 version of the host GIC. */
export type Gicv4Version = 'v4.0' | 'v4.1';

/** What GICv4 needs of its VM. */
export interface VgicV4Host {
  readonly hostGic: GicV3;
  readonly hostIts: HostItsDriver;
  readonly memory: { read8(addr: number): number; write8(addr: number, value: number): void; fill(addr: number, length: number, byte?: number): void };
  readonly kernelAlloc: KernelAlloc;
  /** kvm_vcpu_kick (the doorbell's handler). */
  kick(vcpu: number): void;
}

const VPENDBASER = GICR_VLPI_BASE + GICR_VLPI.VPENDBASER;
const VPROPBASER = GICR_VLPI_BASE + GICR_VLPI.VPROPBASER;
const VALID = 1n << 63n;
/** GICR_VPENDBASER bits (IHI 0069 12.11.38): IDAI/DB 62, PendingLast 61, Dirty 60, vGrp0En 59, vGrp1En 58. */
const DB = 1n << 62n;
const PENDING_LAST = 1n << 61n;
const DIRTY = 1n << 60n;
const VGRP1EN = 1n << 58n;
/** vINTID bits of every vPE: 16, as the vITS's LPIs. */
const VPT_BITS = 16;
const DOORBELL_PRIORITY = 0xa0;

interface Vpe {
  readonly vpt: number;
  readonly doorbell: number;
  /** The physical CPU it is resident on, or -1. */
  resident: number;
  /** The physical CPU the ITS has it mapped to (VMAPP / VMOVP). */
  mappedTo: number;
  /** vpe->pending_last: the doorbell fired, or PendingLast was read at put. */
  pendingLast: boolean;
  doorbells: number;
}

/** A forwarded event: host (DeviceID, EventID) as a vLPI of a vCPU. */
export interface VlpiForward {
  /** The vCPU (vPE) the event is mapped to. */
  vcpu: number;
  /** The virtual LPI's INTID in that vCPU's vPE (VMAPTI's vINTID: the guest's LPI number). */
  vintid: number;
}

/** GICv4 direct injection of one VM (see the file comment). */
export class VgicV4 {
  private readonly vpes: Vpe[] = [];
  /** The VM's vLPI configuration table (its_vm->vprop_page). */
  readonly vprop: number;
  private readonly forwards = new Map<number, VlpiForward>();

  constructor(
    private readonly host: VgicV4Host,
    readonly version: Gicv4Version,
    vcpus: number,
    pcpuOf: (vcpu: number) => number,
  ) {
    const lpis = 2 ** VPT_BITS - HOST_LPI_FIRST;
    this.vprop = host.kernelAlloc(lpis, 0x1_0000);
    host.memory.fill(this.vprop, lpis, lpiConfigByte(0xa0, false));
    const its = host.hostIts;
    for (let v = 0; v < vcpus; v++) {
      const vpt = host.kernelAlloc(0x1_0000, 0x1_0000);
      // GICv4.1 keeps the doorbell enabled (DB decides); GICv4.0 enables it only while the vCPU blocks.
      const doorbell = its.allocLpi(DOORBELL_PRIORITY, version === 'v4.1', () => {
        this.doorbellFired(v);
      });
      const pcpu = pcpuOf(v);
      this.vpes.push({ vpt, doorbell, resident: -1, mappedTo: pcpu, pendingLast: false, doorbells: 0 });
      its.command('VMAPP', {
        vpeId: v,
        rdbase: pcpu,
        valid: 1,
        vptAddress: vpt,
        vptSize: VPT_BITS - 1,
        ...(version === 'v4.1' ? { vconfAddress: this.vprop, doorbell, ptz: 1, alloc: 1 } : {}),
      });
    }
  }

  /** Doorbells vCPU `vcpu`'s vPE has rung. */
  doorbellCount(vcpu: number): number {
    return this.vpes[vcpu]?.doorbells ?? 0;
  }

  /** Whether the vPE is resident now. */
  isResident(vcpu: number): boolean {
    return (this.vpes[vcpu]?.resident ?? -1) >= 0;
  }

  /** kvm_vgic_vcpu_pending_irq's GICv4 part: a vLPI is known pending while the vPE is not resident. */
  pendingLast(vcpu: number): boolean {
    return this.vpes[vcpu]?.pendingLast === true;
  }

  /**
   * vgic_v4_load: VMOVP when the vCPU now runs on another physical CPU
   * (its_vpe_set_affinity), then the vPE resident there; the host's
   * doorbell for it is no longer needed (GICv4.0: disabled).
   */
  load(vcpu: number, pcpu: number): void {
    const vpe = this.vpes[vcpu];
    if (vpe === undefined || vpe.resident >= 0) return;
    if (vpe.mappedTo !== pcpu) {
      this.host.hostIts.command('VMOVP', { vpeId: vcpu, rdbase: pcpu, ...(this.version === 'v4.1' ? { doorbell: vpe.doorbell } : {}) });
      vpe.mappedTo = pcpu;
    }
    const r = this.host.hostGic.redistributorRegion;
    const rd = pcpu * r.stride;
    if (this.version === 'v4.1') r.mmioWrite64(rd + VPENDBASER, VALID | VGRP1EN | BigInt(vcpu));
    else {
      r.mmioWrite64(rd + VPROPBASER, BigInt(this.vprop) | BigInt(VPT_BITS - 1));
      r.mmioWrite64(rd + VPENDBASER, VALID | PENDING_LAST | BigInt(vpe.vpt));
    }
    // its_wait_vpt_parse_complete: GICR_VPENDBASER.Dirty clears once the VPT is read.
    while ((r.mmioRead64(rd + VPENDBASER) & DIRTY) !== 0n);
    vpe.resident = pcpu;
    vpe.pendingLast = false;
  }

  /**
   * vgic_v4_put: the vPE non-resident; `blocking` (the vCPU waits in WFI)
   * asks for the doorbell. Returns PendingLast: an enabled vLPI is pending.
   */
  put(vcpu: number, blocking: boolean): boolean {
    const vpe = this.vpes[vcpu];
    if (vpe === undefined || vpe.resident < 0) return false;
    const r = this.host.hostGic.redistributorRegion;
    const rd = vpe.resident * r.stride;
    if (this.version === 'v4.0' && blocking) this.host.hostIts.setLpiEnable(vpe.doorbell, DOORBELL_PRIORITY, true);
    r.mmioWrite64(rd + VPENDBASER, this.version === 'v4.1' && blocking ? DB : 0n);
    let v: bigint;
    do v = r.mmioRead64(rd + VPENDBASER);
    while ((v & DIRTY) !== 0n);
    vpe.resident = -1;
    if ((v & PENDING_LAST) !== 0n) vpe.pendingLast = true;
    return vpe.pendingLast;
  }

  /** The doorbell's handler (vgic_v4_doorbell_handler): pending_last, kick; GICv4.0 disables the doorbell again. */
  private doorbellFired(vcpu: number): void {
    const vpe = this.vpes[vcpu]!;
    vpe.doorbells++;
    vpe.pendingLast = true;
    if (this.version === 'v4.0') this.host.hostIts.setLpiEnable(vpe.doorbell, DOORBELL_PRIORITY, false);
    this.host.kick(vcpu);
  }

  /** The vCPU was woken: GICv4.0 disables its doorbell (it is enabled only while blocked). */
  unblocked(vcpu: number): void {
    const vpe = this.vpes[vcpu];
    if (vpe !== undefined && this.version === 'v4.0') this.host.hostIts.setLpiEnable(vpe.doorbell, DOORBELL_PRIORITY, false);
  }

  /**
   * The forwarded vINTIDs of `vcpu` pending in its vPE's virtual pending
   * table (IHI 0069 5.4: one bit per INTID, as an LPI pending table),
   * read while the vPE is not resident (vgic_v4_get_vlpi_state after
   * vgic_v4_put; the table is then up to date).
   */
  pendingVlpis(vcpu: number): number[] {
    const vpe = this.vpes[vcpu];
    const out: number[] = [];
    if (vpe === undefined) return out;
    if (vpe.resident >= 0) throw new UsageError('bad-state', `vPE ${vcpu} is resident: deschedule it (vCPU out of KVM_RUN) before reading its pending table`);
    for (const f of this.forwards.values()) {
      if (f.vcpu === vcpu && ((this.host.memory.read8(vpe.vpt + (f.vintid >>> 3)) >>> (f.vintid & 7)) & 1) === 1) out.push(f.vintid);
    }
    return out;
  }

  /** The vCPU and vINTID host event `key` is forwarded to, or undefined. */
  forwardOf(key: number): VlpiForward | undefined {
    return this.forwards.get(key);
  }

  /**
   * its_map_vlpi: host event (`deviceId`, `eventId`) becomes vLPI `vintid`
   * of vCPU `vcpu` with LPI configuration byte `config` (the guest's):
   * written into vprop, then VMAPTI (after DISCARD of the host LPI), VMOVI
   * when it was forwarded to another vCPU, and INV of the configuration.
   */
  forward(deviceId: number, eventId: number, vcpu: number, vintid: number, config: number): void {
    const its = this.host.hostIts;
    const key = deviceId * 65536 + eventId;
    const old = this.forwards.get(key);
    this.host.memory.write8(this.vprop + vintid - HOST_LPI_FIRST, config & 0xff);
    const doorbell = this.version === 'v4.0' ? this.vpes[vcpu]!.doorbell : 1023;
    if (old === undefined || old.vintid !== vintid) {
      its.command('DISCARD', { deviceId, eventId });
      its.command('VMAPTI', { deviceId, eventId, vpeId: vcpu, vintid, doorbell });
    } else if (old.vcpu !== vcpu) {
      its.command('VMOVI', { deviceId, eventId, vpeId: vcpu, doorbellValid: this.version === 'v4.0' ? 1 : 0, doorbell });
    }
    its.command('INV', { deviceId, eventId });
    this.forwards.set(key, { vcpu, vintid });
  }

  /** its_unmap_vlpi: the event back to host LPI `hostLpi` in collection 0 (DISCARD + MAPTI). */
  unforward(deviceId: number, eventId: number, hostLpi: number): void {
    const key = deviceId * 65536 + eventId;
    if (!this.forwards.has(key)) return;
    const its = this.host.hostIts;
    its.command('DISCARD', { deviceId, eventId });
    its.command('MAPTI', { deviceId, eventId, intid: hostLpi, icid: 0 });
    this.forwards.delete(key);
  }
}
