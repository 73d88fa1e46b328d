// The vITS's look-up (vgic_its_resolve_lpi without injecting, used to forward events to GICv4 vPEs) against a reference
// model of the ITS's mappings (IHI 0069 5.3: MAPD, MAPC, MAPTI, MOVI, DISCARD) after random command sequences, and
// against the translation itself: KVM_SIGNAL_MSI makes the looked-up LPI pending on the looked-up vCPU, or nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GICR, GITS, encodeItsCommand, type ItsCommandFields, type ItsCommandName } from '@hvsim/gic';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_MSI_VALID_DEVID } from '../generic/constants.js';
import { KVM_DEV_ARM_VGIC_CTRL, KVM_DEV_ARM_VGIC_GRP } from './constants.js';
import { ARM_GUEST, arm64Vmm } from './test-support/arm64-vmm.js';
import { GITS_TRANSLATER_ADDR, ITS_GUEST, LPI_BASE, lpiConfig } from './test-support/its-guest.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

type Cmd =
  | { op: 'MAPD'; dev: number; valid: boolean }
  | { op: 'MAPC'; icid: number; rd: number; valid: boolean }
  | { op: 'MAPTI'; dev: number; ev: number; lpi: number; icid: number }
  | { op: 'MOVI'; dev: number; ev: number; icid: number }
  | { op: 'DISCARD'; dev: number; ev: number };

const dev = fc.integer({ min: 0, max: 3 });
const ev = fc.integer({ min: 0, max: 3 });
const icid = fc.integer({ min: 0, max: 2 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant('MAPD' as const), dev, valid: fc.boolean() }),
  fc.record({ op: fc.constant('MAPC' as const), icid, rd: fc.integer({ min: 0, max: 1 }), valid: fc.boolean() }),
  fc.record({ op: fc.constant('MAPTI' as const), dev, ev, lpi: fc.integer({ min: 0, max: 15 }), icid }),
  fc.record({ op: fc.constant('MOVI' as const), dev, ev, icid }),
  fc.record({ op: fc.constant('DISCARD' as const), dev, ev }),
);

/** The reference: what the ITS maps (IHI 0069 5.3.x: a command on an unmapped device or event is an error, ignored). */
class Reference {
  readonly devices = new Set<number>();
  readonly collections = new Map<number, number>();
  readonly events = new Map<string, { lpi: number; icid: number }>();
  apply(c: Cmd): void {
    const key = (d: number, e: number): string => `${d}/${e}`;
    switch (c.op) {
      case 'MAPD':
        if (c.valid) this.devices.add(c.dev);
        else {
          this.devices.delete(c.dev);
          for (const k of [...this.events.keys()]) if (k.startsWith(`${c.dev}/`)) this.events.delete(k);
        }
        return;
      case 'MAPC':
        if (c.valid) this.collections.set(c.icid, c.rd);
        else this.collections.delete(c.icid);
        return;
      case 'MAPTI':
        if (this.devices.has(c.dev) && !this.events.has(key(c.dev, c.ev))) this.events.set(key(c.dev, c.ev), { lpi: LPI_BASE + c.lpi, icid: c.icid });
        return;
      case 'MOVI': {
        const e = this.events.get(key(c.dev, c.ev));
        if (this.devices.has(c.dev) && e !== undefined && this.collections.has(e.icid) && this.collections.has(c.icid)) e.icid = c.icid;
        return;
      }
      case 'DISCARD':
        if (this.devices.has(c.dev)) this.events.delete(key(c.dev, c.ev));
    }
  }
  lookup(d: number, e: number): { vcpu: number; intid: number } | undefined {
    const m = this.devices.has(d) ? this.events.get(`${d}/${e}`) : undefined;
    const rd = m === undefined ? undefined : this.collections.get(m.icid);
    return m === undefined || rd === undefined ? undefined : { vcpu: rd, intid: m.lpi };
  }
}

function fields(c: Cmd): [ItsCommandName, Partial<ItsCommandFields>] {
  switch (c.op) {
    case 'MAPD':
      return ['MAPD', { deviceId: c.dev, size: 1, ittAddress: ITS_GUEST.ITT + c.dev * 0x100, valid: c.valid ? 1 : 0 }];
    case 'MAPC':
      return ['MAPC', { icid: c.icid, rdbase: c.rd, valid: c.valid ? 1 : 0 }];
    case 'MAPTI':
      return ['MAPTI', { deviceId: c.dev, eventId: c.ev, intid: LPI_BASE + c.lpi, icid: c.icid }];
    case 'MOVI':
      return ['MOVI', { deviceId: c.dev, eventId: c.ev, icid: c.icid }];
    case 'DISCARD':
      return ['DISCARD', { deviceId: c.dev, eventId: c.ev }];
  }
}

describe('the vITS look-up against a reference model (IHI 0069 5.3)', () => {
  // The runs are shared between two tests (each well under a second): part k takes seed + k and half the runs.
  it.each([0, 1])('after random MAPD/MAPC/MAPTI/MOVI/DISCARD sequences, lookup and KVM_SIGNAL_MSI agree with the model (part %i)', (part) => {
    // One VM for every run; each run starts from an ITS reset with empty tables.
    const vmm = arm64Vmm({
      vcpus: 2,
      its: true,
      code: (vm) =>
        vm.program.define(ARM_GUEST.ENTRY, function* idle(g: Arm64Guest): Generator<Op, void, number> {
          yield g.wfi();
        }),
    });
    const { vm, vgic } = vmm;
    const its = vmm.its!;
    const mem = vm.guestMemory;
    const out = { lo: 0, hi: 0 };
    const base = ARM_GUEST.ITS;
    // The guest's set-up, as its MMIO accesses would make it (the vGIC's and the vITS's trapped stores).
    mem.writeBytes(ITS_GUEST.PROP, new Uint8Array(16).fill(lpiConfig(0xa0, true)));
    for (const c of [0, 1]) {
      const rd = ARM_GUEST.GICR + c * 0x2_0000;
      vgic.mmioWrite(c, rd + GICR.PROPBASER, 8, ITS_GUEST.PROP | 15, 0);
      vgic.mmioWrite(c, rd + GICR.PENDBASER, 8, ITS_GUEST.PEND + c * 0x1_0000, 1 << 30);
      vgic.mmioWrite(c, rd + GICR.CTLR, 4, 1, 0);
    }
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 20 }), (cmds) => {
        its.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.ITS_RESET });
        mem.writeBytes(ITS_GUEST.DEVICES, new Uint8Array(0x2000));
        mem.writeBytes(ITS_GUEST.COLLECTIONS, new Uint8Array(0x1000));
        mem.writeBytes(ITS_GUEST.ITT, new Uint8Array(0x1000));
        vgic.mmioWrite(0, base + GITS.BASER, 8, ITS_GUEST.DEVICES, 1 << 31);
        vgic.mmioWrite(0, base + GITS.BASER + 8, 8, ITS_GUEST.COLLECTIONS, 1 << 31);
        vgic.mmioWrite(0, base + GITS.CBASER, 8, ITS_GUEST.QUEUE, 1 << 31);
        vgic.mmioWrite(0, base + GITS.CTLR, 4, 1, 0);
        const ref = new Reference();
        let cwriter = 0;
        for (const c of cmds) {
          const [name, f] = fields(c);
          const w = encodeItsCommand(name, f);
          for (let i = 0; i < 8; i++) mem.write32(ITS_GUEST.QUEUE + cwriter + 4 * i, w[i]!);
          cwriter = (cwriter + 32) % 0x1000;
          vgic.mmioWrite(0, base + GITS.CWRITER, 8, cwriter, 0);
          ref.apply(c);
        }
        vgic.mmioRead(0, base + GITS.CREADR, 8, out);
        expect(out.lo).toBe(cwriter); // every command consumed (errors skipped, as vgic-its.c)
        for (let d = 0; d < 4; d++) {
          for (let e = 0; e < 4; e++) {
            const want = ref.lookup(d, e);
            expect(its.lookup(d, e)).toEqual(want);
            const r = vm.signalMsi({ addressLo: GITS_TRANSLATER_ADDR, data: e, flags: KVM_MSI_VALID_DEVID, devid: d });
            expect(r).toBe(want === undefined ? 0 : 1);
            if (want !== undefined) {
              const lpis = vgic.distributor!.lpiRedistributor(want.vcpu);
              expect(lpis.isPending(want.intid)).toBe(true);
              lpis.clearPending(want.intid);
            }
          }
        }
      }),
      { seed: seed + part, numRuns: Math.ceil(numRuns / 2) },
    );
  });
});
