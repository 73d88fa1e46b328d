import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ARM64_EXCEPTION_CLASS, CpuException, UsageError } from '@hvsim/core';
import { GITS } from '../its/regs.js';
import { PROP_TABLE, VM_CONFIG, VPT, enableLpi, lpiConfig, makeItsRig, mapDevice, type ItsRig } from '../test-support/its.js';
import { GICR_VLPI_BASE } from './regs.js';
import { itInParts, propertyRuns } from '../test-support/property-share.js';

const LPI = 8192;
const VPENDBASER = GICR_VLPI_BASE + 0x78;
const VPROPBASER = GICR_VLPI_BASE + 0x70;
const VSGIR = GICR_VLPI_BASE + 0x80;
const VSGIPENDR = GICR_VLPI_BASE + 0x88;
const VALID = 1n << 63n;
const DOORBELL = LPI + 500;
const VINTID = LPI + 10;

interface Vm {
  rig: ItsRig;
  /** Physical IRQ level changes seen per CPU (the hypervisor's only way to learn of an interrupt). */
  hostIrqs: number[];
}

/**
 * Hypervisor set-up (KVM vgic-v4.c order): the VM's vLPI configuration table,
 * the host doorbell LPI, VMAPP, MAPD + VMAPTI of a device's event to the vPE,
 * and the guest's virtual CPU interface (ICH_HCR_EL2.En, ICH_VMCR_EL2, IMO).
 */
function makeVm(version: 'v4.0' | 'v4.1', perEventDoorbell = false): Vm {
  const rig = makeItsRig({ cpus: 2, gicv4: version });
  const hostIrqs = [0, 0];
  rig.memory.fill(VM_CONFIG, 0x1_0000, lpiConfig(0xa0, false));
  rig.memory.write8(VM_CONFIG + VINTID - LPI, lpiConfig(0x60));
  for (const c of [0, 1]) enableLpi(rig, c, DOORBELL, 0x20);
  rig.cmd('VMAPP', {
    vpeId: 1,
    rdbase: 0,
    valid: 1,
    vptAddress: VPT(1),
    vptSize: 15,
    ...(version === 'v4.1' ? { vconfAddress: VM_CONFIG, doorbell: DOORBELL } : {}),
  });
  mapDevice(rig, 9);
  rig.cmd('VMAPTI', { deviceId: 9, eventId: 0, vpeId: 1, vintid: VINTID, doorbell: perEventDoorbell ? DOORBELL : 1023 });
  rig.cmd('VSYNC', { vpeId: 1 });
  for (const c of [0, 1]) {
    rig.gic.setVirtualRouting(c, { imo: true, fmo: true });
    rig.gic.write(c, 'ICH_HCR_EL2', 1n);
    rig.gic.write(c, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
    // v4.0 names the VM's configuration table in GICR_VPROPBASER (IDbits 15: 16 bits).
    if (version === 'v4.0') rig.gicr64(c, VPROPBASER, BigInt(VM_CONFIG) | 15n);
  }
  expect(rig.its.commandErrorCount).toBe(0);
  return { rig, hostIrqs };
}

/** Makes vPE 1 resident on `cpu` (GICR_VPENDBASER, IHI0069 12.11.38) and waits for Dirty to clear. */
function schedule(rig: ItsRig, cpu: number): void {
  if (rig.gic.gicv4 === 'v4.1') rig.gicr64(cpu, VPENDBASER, VALID | (1n << 58n) | 1n);
  else rig.gicr64(cpu, VPENDBASER, VALID | (1n << 61n) | BigInt(VPT(1)));
  let polls = 0;
  while ((rig.rgicr64(cpu, VPENDBASER) >> 60n) & 1n) polls++;
  expect(polls).toBe(1);
}

/** Makes the vPE non-resident; v4.1 with DB = 1 (the vCPU blocks). Returns PendingLast. */
function deschedule(rig: ItsRig, cpu: number, doorbell = true): boolean {
  const db = rig.gic.gicv4 === 'v4.1' && doorbell ? 1n << 62n : 0n;
  rig.gicr64(cpu, VPENDBASER, db);
  while ((rig.rgicr64(cpu, VPENDBASER) >> 60n) & 1n);
  return ((rig.rgicr64(cpu, VPENDBASER) >> 61n) & 1n) === 1n;
}

const guestAck = (rig: ItsRig, cpu: number): number => Number(rig.gic.read(cpu, 'ICC_IAR1_EL1'));
const guestEoi = (rig: ItsRig, cpu: number, intid: number): void => rig.gic.write(cpu, 'ICC_EOIR1_EL1', BigInt(intid));

describe.each(['v4.1', 'v4.0'] as const)('GICv4 direct injection, %s (IHI0069 5.4 "Virtual LPIs", 12.11 VLPI_base)', (version) => {
  it('resident: a vLPI is injected and completed by the guest with no hypervisor action', () => {
    const { rig } = makeVm(version);
    schedule(rig, 0);
    expect(rig.gic.read(0, 'ICH_VTR_EL2') >> 20n & 1n).toBe(0n); // nV4 = 0: direct injection implemented
    expect(rig.its.translate(9, 0)).toBe('vlpi');
    expect(rig.virq[0]).toBe(true);
    expect(rig.irq[0]).toBeFalsy(); // no physical interrupt: the hypervisor is not involved
    expect(rig.gic.maintenanceLevel(0)).toBe(false);
    expect(guestAck(rig, 0)).toBe(VINTID);
    expect(rig.virq[0]).toBe(false);
    expect(Number(rig.gic.read(0, 'ICC_RPR_EL1'))).toBe(0x60);
    guestEoi(rig, 0, VINTID);
    expect(Number(rig.gic.read(0, 'ICC_RPR_EL1'))).toBe(0xff);
    expect(Number(rig.gic.read(0, 'ICH_HCR_EL2')) >>> 27).toBe(0); // EOIcount untouched by a vLPI
    expect(guestAck(rig, 0)).toBe(1023);
    // With EOImode = 1 the guest's DIR of a vLPI finds nothing to deactivate and counts nothing.
    rig.gic.write(0, 'ICC_CTLR_EL1', 2n);
    rig.its.translate(9, 0);
    expect(guestAck(rig, 0)).toBe(VINTID);
    guestEoi(rig, 0, VINTID);
    rig.gic.write(0, 'ICC_DIR_EL1', BigInt(VINTID));
    expect(Number(rig.gic.read(0, 'ICH_HCR_EL2')) >>> 27).toBe(0);
  });

  it('deschedule writes back pending vLPIs, a doorbell fires, rescheduling delivers them, VMOVP migrates', () => {
    const { rig } = makeVm(version, version === 'v4.0');
    schedule(rig, 0);
    rig.its.translate(9, 0); // pending, not yet acknowledged
    expect(deschedule(rig, 0)).toBe(true); // PendingLast: an enabled vLPI is pending
    expect(rig.memory.read8(VPT(1) + (VINTID >>> 3)) & (1 << (VINTID & 7))).not.toBe(0);
    expect(rig.virq[0]).toBe(false);
    schedule(rig, 0);
    expect(guestAck(rig, 0)).toBe(VINTID);
    guestEoi(rig, 0, VINTID);
    // The vCPU blocks: non-resident with a doorbell, nothing pending.
    expect(deschedule(rig, 0)).toBe(false);
    expect(rig.its.translate(9, 0)).toBe('vlpi');
    expect(rig.irq[0]).toBe(true); // the doorbell: a physical LPI to the host
    // The host takes it at EL2, through the physical CPU interface.
    expect(rig.gic.cpuInterface(0).readIar(1)).toBe(DOORBELL);
    rig.gic.cpuInterface(0).writeEoir(1, DOORBELL);
    // Migrate the vPE to CPU 1 (KVM: vcpu_load on another PE -> VMOVP), then make it resident there.
    rig.cmd('VMOVP', { vpeId: 1, rdbase: 1 });
    expect(rig.its.commandErrorCount).toBe(0);
    schedule(rig, 1);
    expect(rig.virq[1]).toBe(true);
    expect(guestAck(rig, 1)).toBe(VINTID);
    guestEoi(rig, 1, VINTID);
    expect(rig.its.translate(9, 0)).toBe('vlpi');
    expect(guestAck(rig, 1)).toBe(VINTID);
    expect(rig.virq[0]).toBe(false);
  });

  it('a snapshot of a VM with pending vLPIs, taken after deschedule, restores without losing them', () => {
    const { rig } = makeVm(version);
    schedule(rig, 0);
    rig.its.translate(9, 0);
    expect(() => rig.gic.saveState()).toThrow(UsageError); // resident: pending state not yet in memory
    deschedule(rig, 0, false);
    const saved = { gic: JSON.parse(JSON.stringify(rig.gic.saveState())) as unknown, its: rig.its.saveState(), mem: rig.memory.saveState() };
    const fresh = makeItsRig({ cpus: 2, gicv4: version, raw: true });
    fresh.memory.restoreState(saved.mem);
    fresh.gic.restoreState(saved.gic);
    fresh.its.restoreState(saved.its);
    // The virtual interface (ICH_HCR_EL2, ICH_VMCR_EL2, HCR_EL2 routing) comes back with the snapshot.
    for (const c of [0, 1]) {
      expect(fresh.gic.read(c, 'ICH_HCR_EL2')).toBe(rig.gic.read(c, 'ICH_HCR_EL2'));
      expect(fresh.gic.read(c, 'ICH_VMCR_EL2')).toBe(rig.gic.read(c, 'ICH_VMCR_EL2'));
    }
    schedule(fresh, 0);
    expect(guestAck(fresh, 0)).toBe(VINTID);
    guestEoi(fresh, 0, VINTID);
    expect(fresh.its.translate(9, 0)).toBe('vlpi');
    expect(guestAck(fresh, 0)).toBe(VINTID);
  });

  it('vLPI configuration is cached: VINVALL / INV apply a change made in memory', () => {
    const { rig } = makeVm(version);
    schedule(rig, 0);
    rig.memory.write8(VM_CONFIG + VINTID - LPI, lpiConfig(0x60, false));
    rig.its.translate(9, 0);
    expect(rig.virq[0]).toBe(true); // still enabled in the cache
    rig.cmd('VINVALL', { vpeId: 1 });
    expect(rig.virq[0]).toBe(false);
    rig.memory.write8(VM_CONFIG + VINTID - LPI, lpiConfig(0x40));
    rig.cmd('INV', { deviceId: 9, eventId: 0 });
    expect(rig.virq[0]).toBe(true);
    expect(Number(rig.gic.read(0, 'ICC_HPPIR1_EL1'))).toBe(VINTID);
  });

  it('CLEAR and DISCARD act on a virtual mapping; VMOVI moves a pending vLPI to another vPE', () => {
    const { rig } = makeVm(version);
    rig.cmd('VMAPP', { vpeId: 2, rdbase: 1, valid: 1, vptAddress: VPT(2), vptSize: 15, ...(version === 'v4.1' ? { vconfAddress: VM_CONFIG, doorbell: 1023 } : {}) });
    rig.its.translate(9, 0);
    expect(rig.memory.read8(VPT(1) + (VINTID >>> 3))).not.toBe(0);
    rig.cmd('VMOVI', { deviceId: 9, eventId: 0, vpeId: 2 });
    expect(rig.memory.read8(VPT(1) + (VINTID >>> 3))).toBe(0);
    expect(rig.memory.read8(VPT(2) + (VINTID >>> 3))).not.toBe(0);
    rig.cmd('CLEAR', { deviceId: 9, eventId: 0 });
    expect(rig.memory.read8(VPT(2) + (VINTID >>> 3))).toBe(0);
    rig.cmd('DISCARD', { deviceId: 9, eventId: 0 });
    expect(rig.its.translate(9, 0)).toBe('unmapped-interrupt');
    expect(rig.its.commandErrorCount).toBe(0);
  });

  it('VMAPI maps EventID = vINTID; a vLPI for a vPE that is not the resident one goes to its VPT (5.3 VMAPI)', () => {
    const { rig } = makeVm(version);
    rig.cmd('VMAPP', { vpeId: 2, rdbase: 0, valid: 1, vptAddress: VPT(2), vptSize: 15, ...(version === 'v4.1' ? { vconfAddress: VM_CONFIG, doorbell: 1023 } : {}) });
    mapDevice(rig, 12, 14);
    rig.cmd('VMAPI', { deviceId: 12, eventId: VINTID, vpeId: 2, doorbell: 1023 });
    expect(rig.its.commandErrorCount).toBe(0);
    schedule(rig, 0); // vPE 1 resident on CPU 0
    expect(rig.its.translate(12, VINTID)).toBe('vlpi');
    expect(rig.virq[0]).toBeFalsy();
    expect(rig.memory.read8(VPT(2) + (VINTID >>> 3)) & (1 << (VINTID & 7))).not.toBe(0);
    expect(rig.gic.vpeRedistributor(0).residentPending()).toEqual([]);
  });

  it('virtual command errors: unmapped vPE, vPEID beyond the vPE table, bad VPT size, unmapped vPE on translation', () => {
    const { rig } = makeVm(version);
    rig.cmd('VINVALL', { vpeId: 7 });
    expect(rig.its.commandError?.code).toBe(0x012d0b);
    const rig2 = makeVm(version).rig;
    rig2.cmd('VMAPP', { vpeId: 200, rdbase: 0, valid: 1, vptAddress: VPT(3), vptSize: 15 });
    expect(rig2.its.commandError?.kind).toBe('vpe-out-of-range'); // 4 KiB vPE table: 128 entries
    const rig3 = makeVm(version).rig;
    rig3.cmd('VMAPP', { vpeId: 3, rdbase: 0, valid: 1, vptAddress: VPT(3), vptSize: 5 });
    expect(rig3.its.commandError?.kind).toBe('vpt-size-out-of-range');
    const rig5 = makeVm(version).rig;
    rig5.cmd('VMAPP', { vpeId: 1, rdbase: 0, valid: 1, vptAddress: 0x7000_0000, vptSize: 15, ...(version === 'v4.1' ? { vconfAddress: VM_CONFIG, doorbell: 1023 } : {}) });
    expect(rig5.its.translate(9, 0)).toBe('memory-fault'); // the VPT is not in memory
    const rig4 = makeVm(version).rig;
    rig4.cmd('VMAPP', { vpeId: 1, valid: 0 });
    expect(rig4.its.translate(9, 0)).toBe('unmapped-vpe');
    expect(rig4.its.dropped('unmapped-vpe')).toBe(1);
  });

  it('lookup names the vINTID, vPE, redistributor and doorbell without making anything pending (IHI0069 5.2)', () => {
    const { rig } = makeVm(version, true);
    schedule(rig, 0);
    const found = rig.its.lookup(9, 0);
    expect(found).toEqual({ result: 'vlpi', intid: VINTID, collection: -1, vpeId: 1, target: 0, doorbell: DOORBELL });
    expect(guestAck(rig, 0)).toBe(1023); // nothing pending: lookup does not inject
    rig.cmd('VMOVP', { vpeId: 1, rdbase: 1, ...(version === 'v4.0' ? { sequenceNumber: 1, itsList: 1 } : {}) });
    // A reused result object is filled in place.
    expect(rig.its.lookup(9, 0, found)).toBe(found);
    expect(found.target).toBe(1);
    rig.cmd('VMAPP', { vpeId: 1, valid: 0 });
    expect(rig.its.lookup(9, 0)).toEqual({ result: 'unmapped-vpe', intid: -1, collection: -1, vpeId: 1, target: -1, doorbell: -1 });
    expect(rig.its.dropped()).toBe(0); // lookups are not counted as drops
  });
});

describe('no vLPI is lost across residency changes (property, IHI0069 5.4)', () => {
  const numRuns = Math.min(propertyRuns(200), 60);
  for (const version of ['v4.0', 'v4.1'] as const) itInParts(`${version}: every injected vLPI is acknowledged exactly once, resident or not`, numRuns, 2, (params) => {
    const op = fc.oneof(
      fc.tuple(fc.constant('inject' as const), fc.integer({ min: 0, max: 7 })),
      fc.tuple(fc.constant('toggle' as const), fc.constant(0)),
      fc.tuple(fc.constant('ack' as const), fc.constant(0)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const { rig } = makeVm(version);
        for (let e = 0; e < 8; e++) {
          rig.memory.write8(VM_CONFIG + 100 + e, lpiConfig(0x80));
          rig.cmd('VMAPTI', { deviceId: 9, eventId: 1 + e, vpeId: 1, vintid: LPI + 100 + e, doorbell: 1023 });
        }
        let resident = false;
        const pending = new Set<number>();
        const failures: string[] = [];
        for (const [kind, e] of ops) {
          if (kind === 'inject') {
            const r = rig.its.translate(9, 1 + e);
            if (r !== 'vlpi') failures.push(`event ${1 + e}: ${r}`);
            pending.add(LPI + 100 + e);
          } else if (kind === 'toggle') {
            if (resident) deschedule(rig, 0, false);
            else schedule(rig, 0);
            resident = !resident;
          } else if (resident) {
            const got = guestAck(rig, 0);
            if (pending.size === 0) {
              if (got !== 1023) failures.push(`acknowledged ${got} with nothing pending`);
            } else {
              if (!pending.delete(got)) failures.push(`acknowledged ${got}, not pending`);
              guestEoi(rig, 0, got);
            }
          }
        }
        if (!resident) schedule(rig, 0);
        for (;;) {
          const got = guestAck(rig, 0);
          if (got === 1023) break;
          if (!pending.delete(got)) failures.push(`drain acknowledged ${got}, not pending`);
          guestEoi(rig, 0, got);
        }
        // Mismatches are collected and asserted once per run.
        expect({ failures, left: [...pending] }).toEqual({ failures: [], left: [] });
      }),
      params,
    );
  });
});

describe('direct injection beside list registers (IHI0069 6.2, 5.4)', () => {
  it('the higher priority of a list register and a resident vLPI is taken first; ICH_HCR_EL2.En = 0 masks both', () => {
    const { rig } = makeVm('v4.1');
    schedule(rig, 0);
    rig.its.translate(9, 0); // vLPI at 0x60
    rig.gic.write(0, 'ICH_LR0_EL2', (1n << 62n) | (1n << 60n) | (0x40n << 48n) | 27n); // vINTID 27 at 0x40
    expect(Number(rig.gic.read(0, 'ICC_HPPIR1_EL1'))).toBe(27);
    rig.gic.write(0, 'ICH_HCR_EL2', 0n);
    expect(rig.virq[0]).toBe(false);
    expect(guestAck(rig, 0)).toBe(1023);
    rig.gic.write(0, 'ICH_HCR_EL2', 1n);
    expect(guestAck(rig, 0)).toBe(27);
    // The vLPI (0x60) does not preempt the active 0x40.
    expect(rig.virq[0]).toBe(false);
    guestEoi(rig, 0, 27);
    expect(guestAck(rig, 0)).toBe(VINTID);
    guestEoi(rig, 0, VINTID);
    // A list register at lower priority than a pending vLPI waits for it.
    rig.gic.write(0, 'ICH_LR1_EL2', (1n << 62n) | (1n << 60n) | (0x80n << 48n) | 28n);
    rig.its.translate(9, 0);
    expect(guestAck(rig, 0)).toBe(VINTID);
    guestEoi(rig, 0, VINTID);
    expect(guestAck(rig, 0)).toBe(28);
  });

  it('GicV3.reset() returns LPIs and vPE residency to their reset state', () => {
    const { rig } = makeVm('v4.1');
    schedule(rig, 0);
    rig.gic.reset();
    expect(rig.rd(0, 0x0)).toBe(0b10); // GICR_CTLR.EnableLPIs = 0, CES = 1 (IHI0069 12.11.2)
    expect(rig.gic.vpeRedistributor(0).isResident).toBe(false);
    expect(rig.rgicr64(0, 0x70)).toBe(0n);
  });
});

describe('GICv4.1 specifics (IHI0069 GICv4.1: vSGIs, default doorbell, INVDB, GICR_INVLPIR.V)', () => {
  it('the default doorbell rings once per non-residency and only after DB = 1 with nothing pending', () => {
    const { rig } = makeVm('v4.1');
    schedule(rig, 0);
    deschedule(rig, 0, false); // "we'll be back": no doorbell requested
    rig.its.translate(9, 0);
    expect(rig.irq[0]).toBeFalsy();
    schedule(rig, 0);
    expect(guestAck(rig, 0)).toBe(VINTID);
    guestEoi(rig, 0, VINTID);
    deschedule(rig, 0, true);
    rig.its.translate(9, 0);
    expect(rig.gic.lpiRedistributor(0).isPending(DOORBELL)).toBe(true);
    rig.gic.lpiRedistributor(0).clearPending(DOORBELL);
    rig.its.translate(9, 0);
    expect(rig.gic.lpiRedistributor(0).isPending(DOORBELL)).toBe(false);
  });

  it('a two-level vPE table (GITS_BASER2.Indirect, GICR_VPROPBASER.Indirect) is shared by the ITS and the redistributor', () => {
    const { rig } = makeVm('v4.1');
    const l1 = VPT(9); // a spare 64 KiB-aligned area: level-1 table, level-2 page at +0x1000
    rig.memory.write64(l1 + 8, BigInt(l1 + 0x1000) | VALID); // vPEIDs 128-255 (128 x 32-byte entries per 4 KiB page)
    rig.its.mmioWrite(GITS.CTLR, 4, 0);
    rig.its64(GITS.BASER + 16, BigInt(l1) | VALID | (1n << 62n));
    rig.its.mmioWrite(GITS.CTLR, 4, 1);
    rig.gicr64(0, VPROPBASER, BigInt(l1) | VALID | (1n << 55n));
    rig.cmd('VMAPP', { vpeId: 200, rdbase: 0, valid: 1, vptAddress: VPT(5), vptSize: 15, vconfAddress: VM_CONFIG, doorbell: 1023 });
    rig.cmd('VMAPTI', { deviceId: 9, eventId: 1, vpeId: 200, vintid: VINTID, doorbell: 1023 });
    expect(rig.its.commandErrorCount).toBe(0);
    rig.gicr64(0, VPENDBASER, VALID | (1n << 58n) | 200n);
    expect(rig.gic.vpeRedistributor(0).residentVpe).toBe(200);
    expect(rig.its.translate(9, 0)).toBe('unmapped-vpe'); // vPE 1 lived in the old table
    expect(rig.its.translate(9, 1)).toBe('vlpi');
    expect(guestAck(rig, 0)).toBe(VINTID);
    rig.cmd('VMAPP', { vpeId: 300, rdbase: 0, valid: 1, vptAddress: VPT(6), vptSize: 15, vconfAddress: VM_CONFIG, doorbell: 1023 });
    expect(rig.its.commandError?.kind).toBe('vpe-out-of-range'); // no level-2 page for 256-383
  });

  it('INVDB reloads the doorbell configuration', () => {
    const { rig } = makeVm('v4.1');
    schedule(rig, 0);
    deschedule(rig, 0, true);
    rig.memory.write8(PROP_TABLE + DOORBELL - LPI, lpiConfig(0x20, false));
    rig.cmd('INVDB', { vpeId: 1 });
    rig.its.translate(9, 0);
    expect(rig.gic.lpiRedistributor(0).isPending(DOORBELL)).toBe(true);
    expect(rig.irq[0]).toBeFalsy(); // pending but masked by the reloaded configuration
  });

  it('GICR_INVLPIR and GICR_INVALLR with V = 1 invalidate by vPEID', () => {
    const { rig } = makeVm('v4.1');
    schedule(rig, 0);
    rig.memory.write8(VM_CONFIG + VINTID - LPI, lpiConfig(0x60, false));
    rig.gicr64(0, 0xa0, VALID | (1n << 32n) | BigInt(VINTID));
    rig.its.translate(9, 0);
    expect(rig.virq[0]).toBeFalsy();
    rig.memory.write8(VM_CONFIG + VINTID - LPI, lpiConfig(0x60));
    rig.gicr64(0, 0xb0, VALID | (1n << 32n));
    expect(rig.virq[0]).toBe(true);
  });

  it('vSGIs: VSGI configures, GITS_SGIR makes pending, GICR_VSGIPENDR reports, the guest acknowledges', () => {
    const { rig } = makeVm('v4.1');
    rig.cmd('VSGI', { vpeId: 1, vintid: 3, priority: 0x2, group: 1, enable: 1 });
    rig.its64(GITS.SGIR, (1n << 32n) | 3n);
    rig.wr(0, VSGIR, 1);
    expect(rig.rd(0, VSGIPENDR)).toBe(1 << 3); // not resident: read from the VPT, Busy = 0
    schedule(rig, 0);
    expect(rig.rd(0, VSGIPENDR)).toBe(1 << 3);
    expect(guestAck(rig, 0)).toBe(3);
    expect(Number(rig.gic.read(0, 'ICC_RPR_EL1'))).toBe(0x20);
    guestEoi(rig, 0, 3);
    rig.its64(GITS.SGIR, (1n << 32n) | 3n);
    rig.cmd('VSGI', { vpeId: 1, vintid: 3, clear: 1 });
    expect(rig.rd(0, VSGIPENDR)).toBe(0);
    expect(guestAck(rig, 0)).toBe(1023);
  });

  it('a vPE table outside memory: GICR_VSGIPENDR reads raise an SError, GITS_SGIR writes are dropped (issue 12 bug 5)', () => {
    const rig = makeItsRig({ cpus: 1, gicv4: 'v4.1' });
    // GICR_VPROPBASER and GITS_BASER2 name a vPE table at 1 TiB, where there is no memory.
    const far = 1n << 40n;
    rig.gicr64(0, VPROPBASER, far | VALID);
    rig.wr(0, VSGIR, 7);
    let caught: unknown;
    try {
      rig.rd(0, VSGIPENDR);
    } catch (e) {
      caught = e;
    }
    // IHI0069 5.1: what a failed table access does is IMPLEMENTATION DEFINED; this model reports an SError.
    expect(caught).toBeInstanceOf(CpuException);
    expect((caught as CpuException).vector).toBe(ARM64_EXCEPTION_CLASS.SERROR);
    const raw = makeItsRig({ cpus: 1, gicv4: 'v4.1', raw: true });
    raw.its64(GITS.BASER + 16, far | VALID);
    raw.its.mmioWrite(GITS.CTLR, 4, 1);
    expect(() => raw.its64(GITS.SGIR, (7n << 32n) | 3n)).not.toThrow();
    expect(raw.its.dropped('memory-fault')).toBe(1);
  });

  it('GICR_TYPER reports PLPIS, VLPIS, DirectLPI, Dirty and RVPEID; GICD_TYPER reports LPIS and IDbits', () => {
    const { rig } = makeVm('v4.1');
    const typer = rig.rgicr64(0, 0x8);
    expect(typer & 0xffn).toBe(0b1000_1111n); // PLPIS, VLPIS, Dirty, DirectLPI, RVPEID (Last is on CPU 1)
    const gicd = rig.gicd(0x4);
    expect((gicd >>> 17) & 1).toBe(1);
    expect((gicd >>> 19) & 0x1f).toBe(15);
    expect(rig.gic.redistributorRegion.size).toBe(2 * 0x40000);
    expect(rig.rd(0, GICR_VLPI_BASE + 0x10000)).toBe(0); // the reserved frame is RAZ
  });

  it('a VMAPP naming a doorbell beyond the LPI range is an error; VSGI on a GICv4.0 ITS is unknown', () => {
    const { rig } = makeVm('v4.1');
    rig.cmd('VMAPP', { vpeId: 4, rdbase: 0, valid: 1, vptAddress: VPT(4), vptSize: 15, vconfAddress: VM_CONFIG, doorbell: 100 });
    expect(rig.its.commandError?.kind).toBe('intid-out-of-range');
    const v40 = makeVm('v4.0').rig;
    v40.cmd('VSGI', { vpeId: 1, vintid: 1 });
    expect(v40.its.commandError?.code).toBe(0x0123ff);
  });
});
