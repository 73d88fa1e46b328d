/**
 * A one-PE native arm64 machine for tests and benchmarks: RAM, a GICv3
 * (distributor and redistributor on the MMIO bus, IRQ/FIQ and the virtual
 * outputs wired to the CPU), a generic timer whose PPIs drive the GIC, a
 * clock, and guest-kernel helpers that bring up the GIC and build stage 1
 * tables with guest stores, as a kernel does at boot.
 */
import { Clock, MmioBus, PhysicalMemory, RecordingTracer } from '@hvsim/core';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE, GenericTimer, GicV3 } from '@hvsim/gic';
import { PageAllocator, Stage1Builder, Stage2Builder, Stage2Walker } from '@hvsim/mmu';
import { Arm64Cpu, type Arm64CpuOptions } from '../arm64/arm64-cpu.js';
import { SCTLR_EL1_RESET } from '../arm64/regs.js';
import { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { GuestProgram } from '../guest/program.js';

/** Physical layout of the test machine and its kernel. */
export const ARM_LAYOUT = {
  /** VBAR_EL1. */
  VECTORS: 0x10_0000,
  /** Entry code. */
  MAIN: 0x20_0000,
  DATA: 0x40_0000,
  /** Stage 1 tables: level 1 at TABLES, level 2 at TABLES + 0x1000. */
  TABLES: 0x80_0000,
  GICD: 0x0800_0000,
  GICR: 0x080a_0000,
  /** A VA no stage 1 descriptor maps (level 2 entry 0x180 is invalid). */
  UNMAPPED: 0x3000_0000,
  RAM: 64 << 20,
} as const;

type Routine = Generator<Op, void, number>;

/** The PE's vector-table entry for an IRQ taken from EL1 with SP_EL1 (D1.3.1: group 0x200 + IRQ 0x80). */
export const IRQ_VECTOR = ARM_LAYOUT.VECTORS + 0x280;
/** The synchronous entry from EL1 with SP_EL1. */
export const SYNC_VECTOR = ARM_LAYOUT.VECTORS + 0x200;
/** The synchronous entry from EL0 (lower EL, AArch64). */
export const SYNC_LOWER_VECTOR = ARM_LAYOUT.VECTORS + 0x400;

/** `trace: false` leaves the CPU without a tracer (benchmarks). */
export function arm64Machine(options: Partial<Arm64CpuOptions> = {}, { trace = true }: { trace?: boolean } = {}) {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(0, ARM_LAYOUT.RAM, { name: 'ram' });
  // The GIC is made first; its outputs reach the CPU once it exists.
  const wired: { cpu?: Arm64Cpu } = {};
  const gic = new GicV3({
    cpus: 1,
    clock,
    onIrq: (_c, a) => wired.cpu?.setIrqLevel(a),
    onFiq: (_c, a) => wired.cpu?.setFiqLevel(a),
    onVirq: (_c, a) => wired.cpu?.setVirqLevel(a),
    onVfiq: (_c, a) => wired.cpu?.setVfiqLevel(a),
  });
  const mmio = new MmioBus();
  mmio.map(ARM_LAYOUT.GICD, 0x1_0000, gic.distributorFor(0), 'gicd');
  mmio.map(ARM_LAYOUT.GICR, 0x2_0000, gic.redistributorRegion, 'gicr');
  const timer = new GenericTimer({ clock, cpus: 1, output: (c, intid, level) => gic.setPpiLevel(c, intid, level) });
  const program = new GuestProgram<Arm64Guest>();
  const tracer = new RecordingTracer({ capacity: 4096 });
  const created = new Arm64Cpu({ memory, program, mmio, gic, timer, clock, ...(trace ? { tracer } : {}), ...options });
  wired.cpu = created;
  created.setRegisters({ vbar: ARM_LAYOUT.VECTORS });
  return { clock, memory, gic, mmio, timer, program, cpu: created, tracer };
}

/**
 * What a kernel does to bring up a GICv3 (IHI0069 12.11.42 GICR_WAKER,
 * 12.9.4 GICD_CTLR, 12.2.14/12.2.16 ICC_PMR_EL1 / ICC_IGRPEN1_EL1): wake
 * the redistributor, make SGIs and PPIs Group 1 at priority 0xA0, enable
 * `ppis` (a mask of INTIDs 0-31), enable Group 1, open the PMR.
 */
export function* gicBringUp(g: Arm64Guest, ppis: number): Routine {
  const rd = ARM_LAYOUT.GICR;
  const sgi = rd + GICR_SGI_BASE;
  yield g.st32(rd + GICR.WAKER, 0);
  yield g.st32(sgi + GICR_SGI.IGROUPR0, 0xffff_ffff);
  for (let i = 0; i < 8; i++) yield g.st32(sgi + GICR_SGI.IPRIORITYR0 + 4 * i, 0xa0a0_a0a0);
  yield g.st32(sgi + GICR_SGI.ISENABLER0, ppis >>> 0);
  yield g.st32(ARM_LAYOUT.GICD + GICD.CTLR, 0x3);
  yield g.msr('ICC_PMR_EL1', 0xf0);
  yield g.msr('ICC_IGRPEN1_EL1', 1);
}

/**
 * Builds identity-mapped stage 1 tables with guest stores (Arm ARM D8.2,
 * D8.3): a 39-bit VA space starting at level 1, level 2 blocks of 2 MiB for
 * the RAM and the GIC's 2 MiB, everything else invalid; then TTBR0_EL1,
 * TCR_EL1 and SCTLR_EL1.M with ISBs.
 */
export function* enableStage1(g: Arm64Guest): Routine {
  const l1 = ARM_LAYOUT.TABLES;
  const l2 = l1 + 0x1000;
  // Level 1 entry 0 (VA [0, 1 GiB)) -> the level 2 table.
  yield g.st64(l1, l2 | 0b11);
  // 2 MiB blocks: AF (bit 10), inner shareable (SH 0b11), AttrIndx 0, EL1 read-write (AP 0b00).
  for (let i = 0; i < ARM_LAYOUT.RAM / 0x20_0000; i++) yield g.st64(l2 + i * 8, i * 0x20_0000 + 0x701);
  // The GIC: AttrIndx 1 (Device-nGnRE in MAIR_EL1), not executable (PXN, UXN: bits 53, 54).
  const gicBlock = ARM_LAYOUT.GICD / 0x20_0000;
  yield g.st64Halves(l2 + gicBlock * 8, (ARM_LAYOUT.GICD + 0x405) >>> 0, 0x0060_0000);
  yield g.msr('MAIR_EL1', 0x04ff);
  yield g.msrHalves('TCR_EL1', ...tcrHalves());
  yield g.msr('TTBR0_EL1', l1);
  yield g.isb();
  yield g.msr('SCTLR_EL1', SCTLR_EL1_RESET | 1);
  yield g.isb();
}

function tcrHalves(): [number, number] {
  const tcr = Stage1Builder.tcr({ t0Bits: 39, t1Bits: 39, ipsBits: 40, asid16: false });
  return [Number(tcr & 0xffff_ffffn), Number(tcr >> 32n)];
}

/** Reads ESR_EL1 and FAR_EL1 and skips the faulting operation (ELR_EL1 + 1, every operation is one instruction here). */
export function* skipFaulting(g: Arm64Guest, seen: number[]): Routine {
  seen.push(yield g.mrs('ESR_EL1'), yield g.mrs('FAR_EL1'));
  const elr = yield g.mrs('ELR_EL1');
  yield g.msr('ELR_EL1', elr + 1);
}

/**
 * A machine for a guest under a test hypervisor: RAM identity-mapped at
 * stage 2 (2 MiB blocks), the GIC and everything above RAM left out (every
 * access there is a stage 2 abort the host emulates).
 */
export function arm64GuestMachine(options: Partial<Arm64CpuOptions> = {}) {
  const m = arm64Machine(options);
  const s2 = new Stage2Builder(m.memory, new PageAllocator(0x300_0000, 0x10_0000));
  for (let a = 0; a < ARM_LAYOUT.RAM; a += 0x20_0000) s2.map(a, a, { pageSize: 0x20_0000 });
  const stage2 = new Stage2Walker(m.memory);
  stage2.setVtcr(s2.vtcr());
  stage2.setVttbr(s2.vttbr(1));
  return { ...m, stage2 };
}
