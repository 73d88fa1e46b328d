/**
 * The register page of a VT-d unit (VT-d 11.4, Table 11-2): dword reads and
 * writes dispatched to the blocks that own the state, the Global Command
 * protocol (11.4.4) and the register-based invalidation commands (CCMD,
 * IOTLB_REG; 6.5.1). 64-bit registers are kept as 32-bit halves.
 */
import { getField } from '@hvsim/core';
import { pageAddress } from './address.js';
import type { DmaRemapper } from './dma/dma-remapper.js';
import type { EventInterrupt } from './faults/event-interrupt.js';
import type { FaultRecorder } from './faults/fault-recorder.js';
import type { InterruptRemapper } from './interrupts/interrupt-remapper.js';
import type { Invalidations } from './invalidation.js';
import type { InvalidationQueue } from './qi/invalidation-queue.js';
import { CCMD, FSTS, GCMD, GCMD_ENABLES, GCMD_ONE_SHOT, IOTLB, IRTA, IVA, RTADDR, VTD_FAULT_RECORDING_REGISTERS, VTD_REG, VTD_VERSION } from './regs.js';


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

  private readonly dma: DmaRemapper;
  private readonly interrupts: InterruptRemapper;
  private readonly faults: FaultRecorder;
  private readonly faultEvent: EventInterrupt;
  private readonly invalidationEvent: EventInterrupt;
  private readonly queue: InvalidationQueue;
  private readonly invalidations: Invalidations;

  constructor(
    blocks: RegisterBlocks,
    private readonly cap: readonly [number, number],
    private readonly ecap: readonly [number, number],
    private readonly extendedInterruptMode: boolean,
    private readonly onRejectedCommand: (value: number) => void,
  ) {
    this.dma = blocks.dma;
    this.interrupts = blocks.interrupts;
    this.faults = blocks.faults;
    this.faultEvent = blocks.faultEvent;
    this.invalidationEvent = blocks.invalidationEvent;
    this.queue = blocks.queue;
    this.invalidations = blocks.invalidations;
  }

  /** Reads the dword at `offset` (4-byte aligned). */
  read(offset: number): number {
    const frcdEnd = VTD_REG.FRCD_REG + VTD_FAULT_RECORDING_REGISTERS * 16;
    if (offset >= VTD_REG.FRCD_REG && offset < frcdEnd) {
      const rel = offset - VTD_REG.FRCD_REG;
      return this.faults.readRecordWord(rel >>> 4, (rel & 0xf) >>> 2);
    }
    switch (offset) {
      case VTD_REG.VER_REG:
        return VTD_VERSION;
      case VTD_REG.CAP_REG:
        return this.cap[0];
      case VTD_REG.CAP_REG + 4:
        return this.cap[1];
      case VTD_REG.ECAP_REG:
        return this.ecap[0];
      case VTD_REG.ECAP_REG + 4:
        return this.ecap[1];
      case VTD_REG.GSTS_REG:
        return this.status;
      case VTD_REG.RTADDR_REG:
        return this.rtaddr[0];
      case VTD_REG.RTADDR_REG + 4:
        return this.rtaddr[1];
      case VTD_REG.CCMD_REG:
        return this.ccmd[0];
      case VTD_REG.CCMD_REG + 4:
        return this.ccmd[1];
      case VTD_REG.FSTS_REG:
        return this.faults.readStatus();
      case VTD_REG.FECTL_REG:
        return this.faultEvent.readControl();
      case VTD_REG.FEDATA_REG:
        return this.faultEvent.readData();
      case VTD_REG.FEADDR_REG:
        return this.faultEvent.readAddress();
      case VTD_REG.FEUADDR_REG:
        return this.faultEvent.readUpperAddress();
      case VTD_REG.IQH_REG:
        return this.queue.head << 4;
      case VTD_REG.IQT_REG:
        return this.queue.tail << 4;
      case VTD_REG.IQA_REG:
        return this.queue.addressLow;
      case VTD_REG.IQA_REG + 4:
        return this.queue.addressHigh;
      case VTD_REG.ICS_REG:
        return this.queue.completionStatus;
      case VTD_REG.IECTL_REG:
        return this.invalidationEvent.readControl();
      case VTD_REG.IEDATA_REG:
        return this.invalidationEvent.readData();
      case VTD_REG.IEADDR_REG:
        return this.invalidationEvent.readAddress();
      case VTD_REG.IEUADDR_REG:
        return this.invalidationEvent.readUpperAddress();
      case VTD_REG.IQERCD_REG:
        return this.queue.errorInfo;
      case VTD_REG.IRTA_REG:
        return this.irta[0];
      case VTD_REG.IRTA_REG + 4:
        return this.irta[1];
      case VTD_REG.IVA_REG:
        return this.iva[0];
      case VTD_REG.IVA_REG + 4:
        return this.iva[1];
      case VTD_REG.IOTLB_REG:
        return this.iotlbReg[0];
      case VTD_REG.IOTLB_REG + 4:
        return this.iotlbReg[1];
      default:
        // GCMD is write-only; reserved and unimplemented registers (AFLOG, PMEN, PLM/PHM, page request, MTRR) read 0.
        return 0;
    }
  }

  /** Writes the dword at `offset` (4-byte aligned). */
  write(offset: number, value: number): void {
    const frcdEnd = VTD_REG.FRCD_REG + VTD_FAULT_RECORDING_REGISTERS * 16;
    if (offset >= VTD_REG.FRCD_REG && offset < frcdEnd) {
      const rel = offset - VTD_REG.FRCD_REG;
      this.faults.writeRecordWord(rel >>> 4, (rel & 0xf) >>> 2, value);
      return;
    }
    switch (offset) {
      case VTD_REG.GCMD_REG:
        this.globalCommand(value);
        return;
      case VTD_REG.RTADDR_REG:
        // Bits 9:0 reserved; TTM (11:10) and RTA kept as written, used at SRTP.
        this.rtaddr[0] = (value & 0xffff_fc00) >>> 0;
        return;
      case VTD_REG.RTADDR_REG + 4:
        this.rtaddr[1] = value;
        return;
      case VTD_REG.CCMD_REG:
        this.ccmd[0] = value;
        return;
      case VTD_REG.CCMD_REG + 4:
        this.contextCommand(value);
        return;
      case VTD_REG.FSTS_REG: {
        const hadQueueError = this.faults.hasStatus(FSTS.IQE);
        this.faults.writeStatus(value);
        if (hadQueueError && !this.faults.hasStatus(FSTS.IQE)) this.queue.resume();
        return;
      }
      case VTD_REG.FECTL_REG:
        this.faultEvent.writeControl(value);
        return;
      case VTD_REG.FEDATA_REG:
        this.faultEvent.writeData(value);
        return;
      case VTD_REG.FEADDR_REG:
        this.faultEvent.writeAddress(value);
        return;
      case VTD_REG.FEUADDR_REG:
        // Reserved without ECAP.EIM (VT-d 11.4.7.4); with it, bits 31:8 of an x2APIC destination.
        if (this.extendedInterruptMode) this.faultEvent.writeUpperAddress(value);
        return;
      case VTD_REG.IQT_REG:
        this.queue.writeTail(value);
        return;
      case VTD_REG.IQA_REG:
        this.queue.writeAddress(value, this.queue.addressHigh);
        return;
      case VTD_REG.IQA_REG + 4:
        this.queue.writeAddress(this.queue.addressLow, value);
        return;
      case VTD_REG.ICS_REG:
        this.queue.writeCompletionStatus(value);
        return;
      case VTD_REG.IECTL_REG:
        this.invalidationEvent.writeControl(value);
        return;
      case VTD_REG.IEDATA_REG:
        this.invalidationEvent.writeData(value);
        return;
      case VTD_REG.IEADDR_REG:
        this.invalidationEvent.writeAddress(value);
        return;
      case VTD_REG.IEUADDR_REG:
        if (this.extendedInterruptMode) this.invalidationEvent.writeUpperAddress(value);
        return;
      case VTD_REG.IRTA_REG:
        // Bits 10:4 reserved; EIME only where ECAP.EIM = 1.
        this.irta[0] = (value & (this.extendedInterruptMode ? 0xffff_f80f : 0xffff_f00f)) >>> 0;
        return;
      case VTD_REG.IRTA_REG + 4:
        this.irta[1] = value;
        return;
      case VTD_REG.IVA_REG:
        // Bits 11:7 reserved.
        this.iva[0] = (value & ~0xf80) >>> 0;
        return;
      case VTD_REG.IVA_REG + 4:
        this.iva[1] = value;
        return;
      case VTD_REG.IOTLB_REG + 4:
        this.iotlbCommand(value);
        return;
      default:
        // Read-only (VER, CAP, ECAP, GSTS, IQH, IQERCD), reserved bits 31:0 of IOTLB_REG and
        // unimplemented registers: writes have no effect, as for RO/RsvdZ fields.
        return;
    }
  }

  /** GCMD_REG (VT-d 11.4.4): exactly one command per write, compared against GSTS. */
  private globalCommand(value: number): void {
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
        this.dma.enabled = on;
        this.setStatus(GCMD.TE, on);
        return;
      case GCMD.SRTP:
        this.dma.rootTable = pageAddress(this.rtaddr[0], this.rtaddr[1]);
        this.dma.tableMode = getField(this.rtaddr[0], RTADDR.TTM);
        this.setStatus(GCMD.SRTP, true);
        return;
      case GCMD.QIE:
        this.queue.setEnabled(on);
        this.setStatus(GCMD.QIE, on);
        return;
      case GCMD.IRE:
        this.interrupts.enabled = on;
        this.setStatus(GCMD.IRE, on);
        return;
      case GCMD.SIRTP:
        this.interrupts.tableAddress = pageAddress(this.irta[0], this.irta[1]);
        this.interrupts.tableEntries = 2 ** (getField(this.irta[0], IRTA.S) + 1);
        this.interrupts.extendedMode = getField(this.irta[0], IRTA.EIME) === 1;
        this.setStatus(GCMD.SIRTP, true);
        return;
      case GCMD.CFI:
        this.interrupts.compatibilityAllowed = on;
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
  private contextCommand(high: number): void {
    // CAIG (bits 60:59) is read-only: a write keeps the last reported granularity.
    this.ccmd[1] = ((high & 0xe000_0003) | (this.ccmd[1] & 0x1800_0000)) >>> 0;
    if (getField(high, CCMD.ICC_HI) === 0) return;
    const did = getField(this.ccmd[0], CCMD.DID);
    const sid = getField(this.ccmd[0], CCMD.SID);
    const done = this.invalidations.contextCache(getField(high, CCMD.CIRG_HI), did, sid, getField(high, CCMD.FM_HI));
    // ICC clears on completion; CAIG = 0 reports an ignored (invalid) request.
    this.ccmd[1] = ((this.ccmd[1] & 0x6000_0003) | (done << CCMD.CAIG_HI.lsb)) >>> 0;
  }

  /** IOTLB_REG high dword (VT-d 11.4.8.1): IVT starts the invalidation; IAIG reports what was done. */
  private iotlbCommand(high: number): void {
    // IAIG (bits 58:57) is read-only: a write keeps the last reported granularity.
    this.iotlbReg[1] = ((high & 0xb003_ffff) | (this.iotlbReg[1] & 0x0600_0000)) >>> 0;
    if (getField(high, IOTLB.IVT_HI) === 0) return;
    const address = pageAddress(this.iva[0], this.iva[1]);
    const done = this.invalidations.iotlb(getField(high, IOTLB.IIRG_HI), getField(high, IOTLB.DID_HI), address, getField(this.iva[0], IVA.AM));
    this.iotlbReg[1] = ((this.iotlbReg[1] & 0x3003_ffff) | (done << IOTLB.IAIG_HI.lsb)) >>> 0;
  }
}
