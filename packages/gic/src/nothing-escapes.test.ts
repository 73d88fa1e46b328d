/**
 * Nothing a guest or device can do escapes as a host error (issue 12,
 * "Nothing escapes"): random register accesses of every size and offset of
 * every GIC frame (GICD, GICR with LPI and VLPI frames, GICC, GICH, GICV, the
 * ITS), system registers by encoding with random routing, random ITS
 * command queues and random table contents in memory, MSIs and input lines.
 * The only outcomes allowed are a normal return and `CpuException`; after
 * the sequence the state survives saveState -> JSON -> restoreState.
 */
import { CpuException, type MmioDevice } from '@hvsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ITS_CMD } from './its/commands.js';
import { itInParts } from './test-support/property-share.js';
import { GITS } from './its/regs.js';
import { GICV3_SYSREGS } from './v3/sysregs.js';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE } from './v3/regs.js';
import { GICR_VLPI, GICR_VLPI_BASE } from './v4/regs.js';
import { GicV3 } from './v3/gic-v3.js';
import { GicV2 } from './v2/gic-v2.js';
import { bringUpLpis, makeItsRig, CMD_QUEUE, MEM_BASE } from './test-support/its.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

/** Runs `fn`; a CpuException is an architectural outcome, anything else fails the property. */
function guest(fn: () => unknown): void {
  try {
    const v = fn();
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)) throw new Error(`register read returned ${v}`);
  } catch (e) {
    if (!(e instanceof CpuException)) throw e;
  }
}

/** One MMIO access of any size (1, 2, 4 or 8 bytes) at any offset, reading or writing. */
function access(dev: MmioDevice, offset: number, size: number, write: boolean, lo: number, hi: number): void {
  if (size === 8) {
    if (write) guest(() => dev.mmioWrite64?.(offset, (BigInt(hi) << 32n) | BigInt(lo)));
    else guest(() => dev.mmioRead64?.(offset));
    return;
  }
  const s = size as 1 | 2 | 4;
  if (write) guest(() => dev.mmioWrite(offset, s, lo));
  else guest(() => dev.mmioRead(offset, s));
}

const u32 = fc.nat({ max: 0xffff_ffff });
const size = fc.constantFrom(1, 2, 4, 8);
/** Every register offset of the GICv3 frames (GICD, RD_base, SGI_base, VLPI_base, the ITS), to aim at. */
const REGISTER_OFFSETS: readonly number[] = [
  ...new Set(
    [GICD, GICR, GITS].flatMap((t): number[] => Object.values(t)).concat(Object.values(GICR_SGI).map((o) => o + GICR_SGI_BASE), Object.values(GICR_VLPI).map((o) => o + GICR_VLPI_BASE)),
  ),
];
/** Offsets: any within the span (and a little past it), exact registers, and the first words of each 64 KiB frame. */
const offsetIn = (span: number, stride = 0x2_0000): fc.Arbitrary<number> =>
  fc.oneof(
    fc.nat({ max: span + 64 }),
    fc.tuple(fc.constantFrom(...REGISTER_OFFSETS), fc.nat({ max: 3 }), fc.nat({ max: Math.max(0, Math.floor(span / stride) - 1) })).map(([o, d, cpu]) => o + d + cpu * stride),
    fc.tuple(fc.nat({ max: Math.max(0, Math.floor(span / 0x1_0000)) }), fc.nat({ max: 0x200 })).map(([f, o]) => f * 0x1_0000 + o),
  );
const gicEncodings = [...GICV3_SYSREGS.values()].map((i) => i.encoding);
const encoding = fc.oneof(fc.constantFrom(...gicEncodings), fc.nat({ max: 0xffff }));
const opcodes = Object.values(ITS_CMD);

type V3Op =
  | { k: 'gicd' | 'gicr' | 'its'; off: number; size: number; write: boolean; lo: number; hi: number }
  | { k: 'sysreg'; cpu: number; enc: number; write: boolean; lo: number; hi: number }
  | { k: 'route'; cpu: number; route: number }
  | { k: 'mem'; off: number; lo: number; hi: number }
  | { k: 'cmd'; opcode: number; words: number[] }
  | { k: 'msi'; dev: number; event: number }
  | { k: 'line'; intid: number; level: boolean };

function v3Ops(gicrSpan: number, gicrStride: number, itsSpan: number): fc.Arbitrary<V3Op> {
  const mmio = (k: 'gicd' | 'gicr' | 'its', span: number, stride?: number): fc.Arbitrary<V3Op> =>
    fc.record({ k: fc.constant(k), off: offsetIn(span, stride), size, write: fc.boolean(), lo: u32, hi: u32 });
  return fc.oneof(
    { weight: 3, arbitrary: mmio('gicd', 0x1_0000) },
    { weight: 4, arbitrary: mmio('gicr', gicrSpan, gicrStride) },
    { weight: 4, arbitrary: mmio('its', itsSpan) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('sysreg' as const), cpu: fc.nat({ max: 1 }), enc: encoding, write: fc.boolean(), lo: u32, hi: u32 }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('route' as const), cpu: fc.nat({ max: 1 }), route: fc.nat({ max: 3 }) }) },
    // Table contents: any word of the first 8 MiB of RAM (LPI, device, collection, vPE tables, ITTs, VPTs).
    { weight: 3, arbitrary: fc.record({ k: fc.constant('mem' as const), off: fc.nat({ max: 0x7f_fff8 }), lo: u32, hi: u32 }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('cmd' as const), opcode: fc.constantFrom(...opcodes, 0xff), words: fc.array(u32, { minLength: 8, maxLength: 8 }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('msi' as const), dev: fc.nat({ max: 20 }), event: fc.nat({ max: 40 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('line' as const), intid: fc.integer({ min: 32, max: 95 }), level: fc.boolean() }) },
  );
}

describe('nothing escapes: only normal returns or CpuException for guest- and device-reachable operations', () => {
  it('GicV3 with LPIs, GICv4.1 and an ITS (both command-error modes)', () => {
    const probe = makeItsRig({ cpus: 2, gicv4: 'v4.1', raw: true });
    const gicrSpan = probe.gic.redistributorRegion.size;
    const itsSpan = probe.its.size;
    // Restore targets, reused: a restore replaces the whole state.
    const again = makeItsRig({ cpus: 2, gicv4: 'v4.1', raw: true });
    fc.assert(
      fc.property(fc.boolean(), fc.array(v3Ops(gicrSpan, probe.gic.redistributorRegion.stride, itsSpan), { minLength: 1, maxLength: 40 }), (ignore, ops) => {
        const rig = makeItsRig({ cpus: 2, gicv4: 'v4.1', its: { commandErrors: ignore ? 'ignore' : 'stall' }, raw: true });
        bringUpLpis(rig, false);
        let cwriter = rig.its.mmioRead(GITS.CWRITER, 4);
        for (const op of ops) {
          switch (op.k) {
            case 'gicd':
              access(rig.gic.distributorFor(0), op.off, op.size, op.write, op.lo, op.hi);
              break;
            case 'gicr':
              access(rig.gic.redistributorRegion, op.off, op.size, op.write, op.lo, op.hi);
              break;
            case 'its':
              access(rig.its, op.off, op.size, op.write, op.lo, op.hi);
              break;
            case 'sysreg':
              if (op.write) guest(() => rig.gic.writeSysreg(op.cpu, op.enc, op.lo, op.hi));
              else guest(() => rig.gic.readSysreg(op.cpu, op.enc));
              break;
            case 'route':
              rig.gic.setVirtualRouting(op.cpu, { imo: (op.route & 2) !== 0, fmo: (op.route & 1) !== 0 });
              break;
            case 'mem':
              rig.memory.write64(MEM_BASE + op.off, (BigInt(op.hi) << 32n) | BigInt(op.lo));
              break;
            case 'cmd': {
              const w = op.words.slice();
              w[0] = (w[0]! & ~0xff) | op.opcode;
              for (let i = 0; i < 8; i++) rig.memory.write32(CMD_QUEUE + cwriter + 4 * i, w[i]!);
              cwriter = (cwriter + 32) % 0x1000;
              guest(() => rig.its.mmioWrite(GITS.CWRITER, 4, cwriter));
              break;
            }
            case 'msi':
              guest(() => {
                // A delivery status, not a register value: any DeliveryStatus is a normal outcome.
                rig.its.deliverMsi(GITS.TRANSLATER, op.event, op.dev);
              });
              break;
            case 'line':
              rig.gic.setSpiLevel(op.intid, op.level);
              break;
          }
        }
        // The state survives a snapshot (saving is refused, as documented, while a vPE is resident).
        const resident = [0, 1].some((c) => rig.gic.vpeRedistributor(c).isResident);
        if (!resident) {
          again.gic.restoreState(JSON.parse(JSON.stringify(rig.gic.saveState())));
          expect(JSON.stringify(again.gic.saveState())).toBe(JSON.stringify(rig.gic.saveState()));
        }
        again.its.restoreState(JSON.parse(JSON.stringify(rig.its.saveState())));
        expect(again.its.saveState()).toEqual(rig.its.saveState());
      }),
      // A GIC with LPIs, GICv4.1 and an ITS costs a bring-up per run: fewer runs, scaled by HVSIM_PROPERTY_RUNS.
      { seed, numRuns: Math.max(1, Math.round(numRuns / 10)) },
    );
  });

  itInParts('GicV3 without LPIs, every size and offset of GICD and GICR and every system register encoding', Math.max(1, Math.round(numRuns / 2)), 2, (params) => {
    fc.assert(
      fc.property(fc.array(v3Ops(2 * 0x2_0000, 0x2_0000, 0), { minLength: 1, maxLength: 60 }), (ops) => {
        const gic = new GicV3({ cpus: 2 });
        for (const op of ops) {
          if (op.k === 'gicd') access(gic.distributorFor(0), op.off, op.size, op.write, op.lo, op.hi);
          else if (op.k === 'gicr') access(gic.redistributorRegion, op.off, op.size, op.write, op.lo, op.hi);
          else if (op.k === 'sysreg') {
            if (op.write) guest(() => gic.writeSysreg(op.cpu, op.enc, op.lo, op.hi));
            else guest(() => gic.readSysreg(op.cpu, op.enc));
          } else if (op.k === 'route') gic.setVirtualRouting(op.cpu, { imo: (op.route & 2) !== 0, fmo: (op.route & 1) !== 0 });
          else if (op.k === 'line') gic.setSpiLevel(op.intid, op.level);
        }
        const again = new GicV3({ cpus: 2 });
        again.restoreState(JSON.parse(JSON.stringify(gic.saveState())));
        expect(again.saveState()).toEqual(gic.saveState());
      }),
      params,
    );
  });

  itInParts('GicV2: GICD, GICC, GICH and GICV frames of every CPU', numRuns, 2, (params) => {
    const frame = fc.constantFrom('gicd', 'gicc', 'gich', 'gicv');
    const op = fc.record({ frame, cpu: fc.nat({ max: 1 }), off: fc.nat({ max: 0x2100 }), size, write: fc.boolean(), lo: u32 });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
        const gic = new GicV2({ cpus: 2 });
        for (const o of ops) {
          const dev: MmioDevice =
            o.frame === 'gicd'
              ? gic.distributorFor(o.cpu)
              : o.frame === 'gicc'
                ? gic.cpuInterface(o.cpu)
                : o.frame === 'gich'
                  ? gic.hypervisorInterface(o.cpu)
                  : gic.virtualCpuInterface(o.cpu);
          access(dev, o.off, o.size, o.write, o.lo, 0);
        }
        const again = new GicV2({ cpus: 2 });
        again.restoreState(JSON.parse(JSON.stringify(gic.saveState())));
        expect(again.saveState()).toEqual(gic.saveState());
      }),
      params,
    );
  });
});

