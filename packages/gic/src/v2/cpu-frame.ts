/**
 * The register layout a GICv2 CPU interface frame has — GICC (IHI0048B 4.4,
 * Table 4-2) and GICV, which uses the same layout (5.4) — described once:
 * each register with its offset, reset value, writable bits and handlers,
 * serving both views through {@link GicV2CpuFrame}. What differs (GICV has
 * one active-priorities register, its DIR names an SGI source, its CTLR is
 * GICH_VMCR's) lives in the views' methods.
 */
import { RegisterTable, type RegisterSpec } from '../common/register-table.js';
import { GICC, GICC_IIDR_VALUE, GICV2_FRAME_SIZE } from './regs.js';

/** What a GICC or GICV frame does for each of its registers. */
export interface GicV2CpuFrame {
  /** GICC_CTLR (IHI0048B 4.4.1). */
  readCtlr(): number;
  /** Writes GICC_CTLR. */
  writeCtlr(value: number): void;
  /** GICC_PMR (IHI0048B 4.4.2). */
  readPmr(): number;
  /** Writes GICC_PMR. */
  writePmr(value: number): void;
  /** GICC_BPR (`group` 0) / GICC_ABPR (1). */
  readBpr(group: number): number;
  /** Writes GICC_BPR (`group` 0) / GICC_ABPR (1). */
  writeBpr(group: number, value: number): void;
  /** GICC_IAR. */
  readIar(): number;
  /** GICC_AIAR: Group 1 only. */
  readAiar(): number;
  /** GICC_EOIR and GICC_AEOIR. */
  writeEoir(value: number): void;
  /** GICC_RPR: the running priority (IHI0048B 4.4.6). */
  readRpr(): number;
  /** GICC_HPPIR (`group` 0, Group 1 too with AckCtl) / GICC_AHPPIR (1). */
  readHppir(group: number): number;
  /** GICC_APR<n> (`group` 0) / GICC_NSAPR<n> (1). */
  readApr(group: number, n: number): number;
  /** Writes GICC_APR<n> (`group` 0) / GICC_NSAPR<n> (1). */
  writeApr(group: number, n: number, value: number): void;
  /** GICC_DIR: deactivates an interrupt (IHI0048B 4.4.15). */
  writeDir(value: number): void;
}

/** EOIINTID [9:0] and CPUID [12:10] of GICC_EOIR, GICC_AEOIR and GICC_DIR (IHI0048B 4.4.5, 4.4.15). */
const EOIR_WRITABLE = 0x1fff;

/** The four GICC_APR<n> or GICC_NSAPR<n> words at `base`, for `group`. */
function aprWords(name: string, base: number, group: number): RegisterSpec<GicV2CpuFrame>[] {
  return [0, 1, 2, 3].map((n) => ({
    name: `${name}${n}`,
    offset: base + 4 * n,
    reset: 0,
    writable: 0xffff_ffff,
    read: (f) => f.readApr(group, n),
    write: (f, v) => f.writeApr(group, n, v),
  }));
}

/** GICC / GICV registers (IHI0048B 4.4, 5.4); other offsets are RAZ/WI. */
export const GICV2_CPU_FRAME_REGISTERS = new RegisterTable<GicV2CpuFrame>('GICC', GICV2_FRAME_SIZE.GICC, [
  // EnableGrp0/1, AckCtl, FIQEn, CBPR, the bypass-disable bits, EOImodeS, EOImodeNS (GICV: EOImode is bit 9).
  { name: 'GICC_CTLR', offset: GICC.CTLR, reset: 0, writable: 0x7ff, read: (f) => f.readCtlr(), write: (f, v) => f.writeCtlr(v) },
  { name: 'GICC_PMR', offset: GICC.PMR, reset: 0, writable: 0xff, read: (f) => f.readPmr(), write: (f, v) => f.writePmr(v) },
  { name: 'GICC_BPR', offset: GICC.BPR, writable: 0x7, read: (f) => f.readBpr(0), write: (f, v) => f.writeBpr(0, v) },
  { name: 'GICC_IAR', offset: GICC.IAR, read: (f) => f.readIar() },
  { name: 'GICC_EOIR', offset: GICC.EOIR, writable: EOIR_WRITABLE, read: () => 0, write: (f, v) => f.writeEoir(v) },
  { name: 'GICC_RPR', offset: GICC.RPR, reset: 0xff, read: (f) => f.readRpr() },
  { name: 'GICC_HPPIR', offset: GICC.HPPIR, reset: 1023, read: (f) => f.readHppir(0) },
  // Without the Security Extensions GICC_ABPR is a plain register; CBPR only decides which
  // binary point Group 1 preemption uses (IHI0048B 4.4.3, 4.4.8).
  { name: 'GICC_ABPR', offset: GICC.ABPR, writable: 0x7, read: (f) => f.readBpr(1), write: (f, v) => f.writeBpr(1, v) },
  { name: 'GICC_AIAR', offset: GICC.AIAR, read: (f) => f.readAiar() },
  { name: 'GICC_AEOIR', offset: GICC.AEOIR, writable: EOIR_WRITABLE, read: () => 0, write: (f, v) => f.writeEoir(v) },
  { name: 'GICC_AHPPIR', offset: GICC.AHPPIR, reset: 1023, read: (f) => f.readHppir(1) },
  ...aprWords('GICC_APR', GICC.APR0, 0),
  ...aprWords('GICC_NSAPR', GICC.NSAPR0, 1),
  { name: 'GICC_IIDR', offset: GICC.IIDR, reset: GICC_IIDR_VALUE, read: () => GICC_IIDR_VALUE },
  { name: 'GICC_DIR', offset: GICC.DIR, writable: EOIR_WRITABLE, read: () => 0, write: (f, v) => f.writeDir(v) },
]);
