/**
 * The register page of a VT-d unit (VT-d 11.4, Table 11-2), described once
 * per 32-bit register half as QEMU's `vtd_define_long/quad` does: reset
 * value, writable bits, write-1-to-clear bits, how it reads and what a write
 * does. Dispatch is a table lookup by dword offset; nothing switches on
 * offsets. The Global Command protocol (11.4.4) and the register-based
 * invalidation commands (CCMD, IOTLB_REG; 6.5.1) are the handlers of their
 * registers. 64-bit registers are two halves.
 */
import { getField } from '@hvsim/core';
import { hostPageAddress, pageAddress } from './address.js';
import type { DmaRemapper } from './dma/dma-remapper.js';
import type { EventInterrupt } from './faults/event-interrupt.js';
import type { FaultRecorder } from './faults/fault-recorder.js';
import type { InterruptRemapper } from './interrupts/interrupt-remapper.js';
import type { Invalidations } from './invalidation.js';
import type { InvalidationQueue } from './qi/invalidation-queue.js';
import {
  CCMD,
  EVENT_CTL,
  FSTS,
  FSTS_RW1C,
  GCMD,
  GCMD_ENABLES,
  GCMD_ONE_SHOT,
  IOTLB,
  IRTA,
  IVA,
  RTADDR,
  VTD_FAULT_RECORDING_REGISTERS,
  VTD_REG,
  VTD_REG_PAGE_SIZE,
  VTD_VERSION,
} from './regs.js';

/** What the model says about one 32-bit register (or half of a 64-bit one). */
export interface RegisterInfo {
  /** Spec mnemonic; `.HI` for bits 63:32 of a 64-bit register; `reserved@0x..` for reserved offsets. */
  readonly name: string;
  /** Value after reset (CAP/ECAP: see the capability registers). */
  readonly reset: number;
  /** Bits software writes (RW). */
  readonly writable: number;
  /** Further writable bits only with ECAP.EIM (x2APIC destinations, IRTA.EIME). */
  readonly writableWithEim?: number;
  /** Bits a written 1 clears (RW1C / RW1CS). */
  readonly w1c: number;
}

/**
 * A register with its behaviour. A write passes `value & (writable | w1c)`
 * to `write`; read-only and reserved bits never reach it. Registers with
 * neither writable nor W1C bits ignore writes.
 */
interface RegisterDescription extends RegisterInfo {
  /** The value software reads. */
  read(file: RegisterFile): number;
  /** The effect of a write of the masked `value`. */
  write?(file: RegisterFile, value: number): void;
}

/** A register whose value the file keeps in `halves[i]`, written through `writable` (stored bits outside it are kept). */
function stored(name: string, halves: (f: RegisterFile) => [number, number], i: 0 | 1, writable: number, writableWithEim = 0): RegisterDescription {
  return {
    name,
    reset: 0,
    writable,
    writableWithEim,
    w1c: 0,
    read: (f) => halves(f)[i],
    write(f, value) {
      const h = halves(f);
      h[i] = ((h[i] & ~f.writableBits(this)) | value) >>> 0;
    },
  };
}

/** A read-only register. */
function readOnly(name: string, read: (f: RegisterFile) => number, reset = 0): RegisterDescription {
  return { name, reset, writable: 0, w1c: 0, read };
}

/** The register descriptions of one unit, by dword offset. */
function describeRegisters(): RegisterDescription[] {
  const list: [offset: number, d: RegisterDescription][] = [
    [VTD_REG.VER_REG, readOnly('VER_REG', () => VTD_VERSION, VTD_VERSION)],
    [VTD_REG.CAP_REG, readOnly('CAP_REG', (f) => f.cap[0])],
    [VTD_REG.CAP_REG + 4, readOnly('CAP_REG.HI', (f) => f.cap[1])],
    [VTD_REG.ECAP_REG, readOnly('ECAP_REG', (f) => f.ecap[0])],
    [VTD_REG.ECAP_REG + 4, readOnly('ECAP_REG.HI', (f) => f.ecap[1])],
    // Write-only: reads 0. Bits 22:0 are reserved.
    [VTD_REG.GCMD_REG, { name: 'GCMD_REG', reset: 0, writable: 0xff80_0000, w1c: 0, read: () => 0, write: (f, v) => f.globalCommand(v) }],
    [VTD_REG.GSTS_REG, readOnly('GSTS_REG', (f) => f.status)],
    // Bits 9:0 reserved; TTM (11:10) and RTA kept as written, latched by SRTP.
    [VTD_REG.RTADDR_REG, stored('RTADDR_REG', (f) => f.rtaddr, 0, 0xffff_fc00)],
    [VTD_REG.RTADDR_REG + 4, stored('RTADDR_REG.HI', (f) => f.rtaddr, 1, 0xffff_ffff)],
    [VTD_REG.CCMD_REG, stored('CCMD_REG', (f) => f.ccmd, 0, 0xffff_ffff)],
    // ICC (63), CIRG (62:61), FM (33:32); CAIG (60:59) read-only.
    [VTD_REG.CCMD_REG + 4, { ...stored('CCMD_REG.HI', (f) => f.ccmd, 1, 0xe000_0003), write: (f, v) => f.contextCommand(v) }],
    [VTD_REG.FSTS_REG, { name: 'FSTS_REG', reset: 0, writable: 0, w1c: FSTS_RW1C, read: (f) => f.blocks.faults.readStatus(), write: (f, v) => f.faultStatus(v) }],
    [VTD_REG.FECTL_REG, { name: 'FECTL_REG', reset: EVENT_CTL.IM >>> 0, writable: EVENT_CTL.IM >>> 0, w1c: 0, read: (f) => f.blocks.faultEvent.readControl(), write: (f, v) => f.blocks.faultEvent.writeControl(v) }],
    [VTD_REG.FEDATA_REG, { name: 'FEDATA_REG', reset: 0, writable: 0xffff, w1c: 0, read: (f) => f.blocks.faultEvent.readData(), write: (f, v) => f.blocks.faultEvent.writeData(v) }],
    [VTD_REG.FEADDR_REG, { name: 'FEADDR_REG', reset: 0, writable: 0xffff_fffc, w1c: 0, read: (f) => f.blocks.faultEvent.readAddress(), write: (f, v) => f.blocks.faultEvent.writeAddress(v) }],
    // Reserved without ECAP.EIM (VT-d 11.4.7.4); with it, bits 31:8 of an x2APIC destination.
    [VTD_REG.FEUADDR_REG, { name: 'FEUADDR_REG', reset: 0, writable: 0, writableWithEim: 0xffff_ffff, w1c: 0, read: (f) => f.blocks.faultEvent.readUpperAddress(), write: (f, v) => f.blocks.faultEvent.writeUpperAddress(v) }],
    [VTD_REG.IQH_REG, readOnly('IQH_REG', (f) => f.blocks.queue.head << 4)],
    // QT is bits 18:4.
    [VTD_REG.IQT_REG, { name: 'IQT_REG', reset: 0, writable: 0x0007_fff0, w1c: 0, read: (f) => f.blocks.queue.tail << 4, write: (f, v) => f.blocks.queue.writeTail(v) }],
    // Bits 10:3 reserved.
    [VTD_REG.IQA_REG, { name: 'IQA_REG', reset: 0, writable: 0xffff_f807, w1c: 0, read: (f) => f.blocks.queue.addressLow, write: (f, v) => f.blocks.queue.writeAddress(v, f.blocks.queue.addressHigh) }],
    [VTD_REG.IQA_REG + 4, { name: 'IQA_REG.HI', reset: 0, writable: 0xffff_ffff, w1c: 0, read: (f) => f.blocks.queue.addressHigh, write: (f, v) => f.blocks.queue.writeAddress(f.blocks.queue.addressLow, v) }],
    [VTD_REG.ICS_REG, { name: 'ICS_REG', reset: 0, writable: 0, w1c: 1, read: (f) => f.blocks.queue.completionStatus, write: (f, v) => f.blocks.queue.writeCompletionStatus(v) }],
    [VTD_REG.IECTL_REG, { name: 'IECTL_REG', reset: EVENT_CTL.IM >>> 0, writable: EVENT_CTL.IM >>> 0, w1c: 0, read: (f) => f.blocks.invalidationEvent.readControl(), write: (f, v) => f.blocks.invalidationEvent.writeControl(v) }],
    [VTD_REG.IEDATA_REG, { name: 'IEDATA_REG', reset: 0, writable: 0xffff, w1c: 0, read: (f) => f.blocks.invalidationEvent.readData(), write: (f, v) => f.blocks.invalidationEvent.writeData(v) }],
    [VTD_REG.IEADDR_REG, { name: 'IEADDR_REG', reset: 0, writable: 0xffff_fffc, w1c: 0, read: (f) => f.blocks.invalidationEvent.readAddress(), write: (f, v) => f.blocks.invalidationEvent.writeAddress(v) }],
    [VTD_REG.IEUADDR_REG, { name: 'IEUADDR_REG', reset: 0, writable: 0, writableWithEim: 0xffff_ffff, w1c: 0, read: (f) => f.blocks.invalidationEvent.readUpperAddress(), write: (f, v) => f.blocks.invalidationEvent.writeUpperAddress(v) }],
    [VTD_REG.IQERCD_REG, readOnly('IQERCD_REG', (f) => f.blocks.queue.errorInfo)],
    // Bits 10:4 reserved; EIME (bit 11) only where ECAP.EIM = 1.
    [VTD_REG.IRTA_REG, stored('IRTA_REG', (f) => f.irta, 0, 0xffff_f00f, 1 << IRTA.EIME.lsb)],
    [VTD_REG.IRTA_REG + 4, stored('IRTA_REG.HI', (f) => f.irta, 1, 0xffff_ffff)],
    // Bits 11:7 reserved.
    [VTD_REG.IVA_REG, stored('IVA_REG', (f) => f.iva, 0, 0xffff_f07f)],
    [VTD_REG.IVA_REG + 4, stored('IVA_REG.HI', (f) => f.iva, 1, 0xffff_ffff)],
    // Bits 31:0 reserved (read 0 as stored).
    [VTD_REG.IOTLB_REG, readOnly('IOTLB_REG', (f) => f.iotlbReg[0])],
    // IVT (63), IIRG (61:60), DR/DW (49:48), DID (47:32); IAIG (58:57) read-only.
    [VTD_REG.IOTLB_REG + 4, { ...stored('IOTLB_REG.HI', (f) => f.iotlbReg, 1, 0xb003_ffff), write: (f, v) => f.iotlbCommand(v) }],
  ];
  for (let i = 0; i < VTD_FAULT_RECORDING_REGISTERS; i++) {
    for (let word = 0; word < 4; word++) {
      const name = `FRCD_REG[${i}]${['', '.W1', '.W2', '.W3'][word]!}`;
      // Only F (bit 127) is writable: RW1CS (VT-d 11.4.14).
      const d: RegisterDescription = {
        name,
        reset: 0,
        writable: 0,
        w1c: word === 3 ? 0x8000_0000 : 0,
        read: (f) => f.blocks.faults.readRecordWord(i, word),
        write: (f, v) => {
          f.blocks.faults.writeRecordWord(i, word, v);
        },
      };
      list.push([VTD_REG.FRCD_REG + i * 16 + word * 4, d]);
    }
  }
  const table = new Array<RegisterDescription | undefined>(VTD_REG_PAGE_SIZE / 4).fill(undefined);
  for (const [offset, d] of list) table[offset >>> 2] = d;
  // Reserved and unimplemented registers (AFLOG, PMEN, PLM/PHM, page request, MTRR) read 0 and ignore writes.
  return table.map((d, i) => d ?? readOnly(`reserved@0x${(i * 4).toString(16)}`, () => 0));
}

/** The register table, shared by every unit (descriptions hold no state). */
const REGISTERS: readonly RegisterDescription[] = describeRegisters();

/** The register descriptions (VT-d 11.4), indexed by dword offset: for inspection and tests. */
export function registerDescriptions(): readonly RegisterInfo[] {
  return REGISTERS;
}

/** The blocks whose state the registers show. */
export interface RegisterBlocks {
  dma: DmaRemapper;
  interrupts: InterruptRemapper;
  faults: FaultRecorder;
  faultEvent: EventInterrupt;
  invalidationEvent: EventInterrupt;
  queue: InvalidationQueue;
  invalidations: Invalidations;
}

/** Register state and dispatch of one unit. */
export class RegisterFile {
  /** GSTS_REG. */
  status = 0;
  rtaddr: [number, number] = [0, 0];
  ccmd: [number, number] = [0, 0];
  irta: [number, number] = [0, 0];
  iva: [number, number] = [0, 0];
  iotlbReg: [number, number] = [0, 0];
  /** GCMD writes naming more than one command (ignored). */
  rejectedCommands = 0;
  /** GCMD commands this hardware does not support (SFL, EAFL with CAP.AFL = 0; WBF with CAP.RWBF = 0), counted. */
  unsupportedCommands = 0;
  /** Narrow or misaligned writes (ignored). */
  ignoredWrites = 0;

  constructor(
    /** The blocks whose state the registers show. */
    readonly blocks: RegisterBlocks,
    /** CAP_REG halves. */
    readonly cap: readonly [number, number],
    /** ECAP_REG halves. */
    readonly ecap: readonly [number, number],
    private readonly extendedInterruptMode: boolean,
    private readonly onRejectedCommand: (value: number) => void,
  ) {}

  /** Reads the dword at `offset` (4-byte aligned). */
  read(offset: number): number {
    return REGISTERS[offset >>> 2]!.read(this);
  }

  /** Writes the dword at `offset` (4-byte aligned): the register's writable and W1C bits reach its handler. */
  write(offset: number, value: number): void {
    const d = REGISTERS[offset >>> 2]!;
    const mask = this.writableBits(d) | d.w1c;
    // Read-only (VER, CAP, ECAP, GSTS, IQH, IQERCD) and reserved registers: writes have no effect.
    if (mask === 0 || d.write === undefined) return;
    d.write(this, (value & mask) >>> 0);
  }

  /** The RW bits of `d` in this unit (with the EIM-only bits when ECAP.EIM = 1). */
  writableBits(d: RegisterInfo): number {
    return this.extendedInterruptMode ? (d.writable | (d.writableWithEim ?? 0)) >>> 0 : d.writable;
  }

  /** FSTS_REG: RW1C status bits; clearing IQE lets the queue resume fetching (VT-d 6.5.2.10). */
  faultStatus(value: number): void {
    const hadQueueError = this.blocks.faults.hasStatus(FSTS.IQE);
    this.blocks.faults.writeStatus(value);
    if (hadQueueError && !this.blocks.faults.hasStatus(FSTS.IQE)) this.blocks.queue.resume();
  }

  /** GCMD_REG (VT-d 11.4.4): exactly one command per write, compared against GSTS. */
  globalCommand(value: number): void {
    const commands = ((value & GCMD_ONE_SHOT) | ((value ^ this.status) & GCMD_ENABLES)) >>> 0;
    if (commands === 0) return;
    if ((commands & (commands - 1)) !== 0) {
      // Documented choice for the undefined multi-command write: ignore it and count it.
      this.rejectedCommands++;
      this.onRejectedCommand(value);
      return;
    }
    const on = (value & commands) !== 0;
    switch (commands >>> 0) {
      case GCMD.TE >>> 0:
        this.blocks.dma.enabled = on;
        this.setStatus(GCMD.TE, on);
        return;
      case GCMD.SRTP:
        // A root table beyond the host address width is latched as such: every root-entry fetch faults (LRT.1).
        this.blocks.dma.rootTable = hostPageAddress(this.rtaddr[0], this.rtaddr[1]);
        this.blocks.dma.tableMode = getField(this.rtaddr[0], RTADDR.TTM);
        this.setStatus(GCMD.SRTP, true);
        return;
      case GCMD.QIE:
        this.blocks.queue.setEnabled(on);
        this.setStatus(GCMD.QIE, on);
        return;
      case GCMD.IRE:
        this.blocks.interrupts.enabled = on;
        this.setStatus(GCMD.IRE, on);
        return;
      case GCMD.SIRTP:
        // A table beyond the host address width is latched as such: every IRTE fetch faults (0x23).
        this.blocks.interrupts.tableAddress = hostPageAddress(this.irta[0], this.irta[1]);
        this.blocks.interrupts.tableEntries = 2 ** (getField(this.irta[0], IRTA.S) + 1);
        this.blocks.interrupts.extendedMode = getField(this.irta[0], IRTA.EIME) === 1;
        this.setStatus(GCMD.SIRTP, true);
        return;
      case GCMD.CFI:
        this.blocks.interrupts.compatibilityAllowed = on;
        this.setStatus(GCMD.CFI, on);
        return;
      default:
        // SFL/EAFL (CAP.AFL = 0) and WBF (CAP.RWBF = 0) are unsupported here (VT-d 11.4.4): no status change.
        this.unsupportedCommands++;
        return;
    }
  }

  private setStatus(bit: number, on: boolean): void {
    this.status = (on ? this.status | bit : this.status & ~bit) >>> 0;
  }

  /** CCMD_REG high dword (VT-d 11.4.7): ICC starts the invalidation; CAIG reports what was done. */
  contextCommand(high: number): void {
    // CAIG (bits 60:59) is read-only: a write keeps the last reported granularity.
    this.ccmd[1] = ((high & 0xe000_0003) | (this.ccmd[1] & 0x1800_0000)) >>> 0;
    if (getField(high, CCMD.ICC_HI) === 0) return;
    const did = getField(this.ccmd[0], CCMD.DID);
    const sid = getField(this.ccmd[0], CCMD.SID);
    const done = this.blocks.invalidations.contextCache(getField(high, CCMD.CIRG_HI), did, sid, getField(high, CCMD.FM_HI));
    // ICC clears on completion; CAIG = 0 reports an ignored (invalid) request.
    this.ccmd[1] = ((this.ccmd[1] & 0x6000_0003) | (done << CCMD.CAIG_HI.lsb)) >>> 0;
  }

  /** IOTLB_REG high dword (VT-d 11.4.8.1): IVT starts the invalidation; IAIG reports what was done. */
  iotlbCommand(high: number): void {
    // IAIG (bits 58:57) is read-only: a write keeps the last reported granularity.
    this.iotlbReg[1] = ((high & 0xb003_ffff) | (this.iotlbReg[1] & 0x0600_0000)) >>> 0;
    if (getField(high, IOTLB.IVT_HI) === 0) return;
    const address = pageAddress(this.iva[0], this.iva[1]);
    const done = this.blocks.invalidations.iotlb(getField(high, IOTLB.IIRG_HI), getField(high, IOTLB.DID_HI), address, getField(this.iva[0], IVA.AM));
    this.iotlbReg[1] = ((this.iotlbReg[1] & 0x3003_ffff) | (done << IOTLB.IAIG_HI.lsb)) >>> 0;
  }
}
