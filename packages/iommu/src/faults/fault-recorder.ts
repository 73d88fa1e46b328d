/**
 * Primary fault logging (VT-d 7.2.1 "Primary Fault Logging"): the Fault
 * Recording registers (FRCD, VT-d 11.4.14), the Fault Status register (FSTS,
 * VT-d 11.4.6) and the fault event interrupt they raise (VT-d 7.3).
 *
 * Hardware records faults in the FRCDs in circular order. A fault is not
 * recorded when FSTS.PFO is set, and when the next FRCD still holds an
 * unserviced fault (F = 1) hardware sets PFO instead (overflow). Each such
 * loss is counted here so nothing is dropped without a trace.
 */
import { getField, setField } from '@hvsim/core';
import { FRCD, FSTS, FSTS_RW1C, FSTS_STATUS } from '../regs.js';
import type { EventInterrupt } from './event-interrupt.js';

/** A decoded Fault Recording register. */
export interface FaultRecord {
  /** F: the register holds a fault. */
  fault: boolean;
  /** SID: requester ID (bus:device.function) of the faulting request. */
  sourceId: number;
  /** FR: the VT-d fault reason. */
  reason: number;
  /** T1: true for a read request, false for a write (interrupt requests are writes). */
  read: boolean;
  /** FI for DMA faults: the page address (bits 63:12) of the faulting request. */
  address: number;
  /** FI[63:48] for interrupt-remapping faults: the interrupt_index. */
  interruptIndex: number;
}

/** Why faults were not recorded. */
export interface FaultLossCounters {
  /** Suppressed because FSTS.PFO was already set. */
  droppedOverflowPending: number;
  /** Caused PFO: the next FRCD still held a fault. */
  droppedOverflow: number;
}

/** Saved form of the fault recording registers and FSTS. */
export interface FaultRecorderState {
  /** FSTS_REG without PPF (derived from the records). */
  status: number;
  /** Index of the FRCD the next fault is recorded in. */
  next: number;
  /** The FRCD registers, four 32-bit words each. */
  records: number[];
  /** Faults suppressed because FSTS.PFO was already set. */
  droppedOverflowPending: number;
  /** Faults that set PFO: the next FRCD still held a fault. */
  droppedOverflow: number;
}

/** The FRCD array, FSTS and their event. */
export class FaultRecorder {
  /** FSTS without PPF (computed) and with FRI. */
  private status = 0;
  /** Index of the FRCD the next fault goes to. */
  private next = 0;
  /** Four 32-bit words per FRCD. */
  private readonly records: Uint32Array;
  readonly lost: FaultLossCounters = { droppedOverflowPending: 0, droppedOverflow: 0 };

  constructor(
    readonly count: number,
    private readonly event: EventInterrupt,
  ) {
    this.records = new Uint32Array(count * 4);
  }

  /**
   * Records a fault. `infoLow`/`infoHigh` are FI bits 31:12 and 63:32 as
   * words 0 and 1 of the FRCD. Returns whether it was recorded.
   */
  record(sourceId: number, reason: number, infoLow: number, infoHigh: number, read: boolean): boolean {
    if ((this.status & FSTS.PFO) !== 0) {
      this.lost.droppedOverflowPending++;
      return false;
    }
    const base = this.next * 4;
    if ((this.records[base + 3]! & 0x8000_0000) !== 0) {
      this.lost.droppedOverflow++;
      this.setStatus(FSTS.PFO);
      return false;
    }
    const wasQuiet = (this.readStatus() & FSTS_STATUS) === 0;
    const hadPending = this.anyPending();
    this.records[base] = (infoLow & 0xffff_f000) >>> 0;
    this.records[base + 1] = infoHigh >>> 0;
    this.records[base + 2] = sourceId & 0xffff;
    let w3 = setField(0, FRCD.FR, reason);
    if (read) w3 = setField(w3, FRCD.T1, 1);
    this.records[base + 3] = setField(w3, FRCD.F, 1);
    // FRI names the FRCD of the first pending fault when PPF becomes set (VT-d 11.4.6).
    if (!hadPending) this.status = setField(this.status, FSTS.FRI, this.next);
    this.next = (this.next + 1) % this.count;
    if (wasQuiet) this.event.signal();
    return true;
  }

  /** Sets a status bit (IQE, ICE, ITE, PFO); an interrupt condition (not PFO) only if no other condition was pending. */
  setStatus(bit: number): void {
    const wasQuiet = (this.readStatus() & FSTS_STATUS) === 0;
    this.status = (this.status | bit) >>> 0;
    if (wasQuiet && (bit & FSTS_STATUS) !== 0) this.event.signal();
  }

  /** True when status `bit` is set. */
  hasStatus(bit: number): boolean {
    return (this.readStatus() & bit) !== 0;
  }

  /** FSTS as read: PPF reflects any FRCD with F set. */
  readStatus(): number {
    return (this.status | (this.anyPending() ? FSTS.PPF : 0)) >>> 0;
  }

  /** FSTS write: RW1C status bits; PPF and FRI are read-only. */
  writeStatus(value: number): void {
    this.status = (this.status & ~(value & FSTS_RW1C)) >>> 0;
    this.checkServiced();
  }

  /** Reads word `word` (0-3) of FRCD `index`. */
  readRecordWord(index: number, word: number): number {
    return this.records[index * 4 + word]!;
  }

  /** Writes word `word` of FRCD `index`: only F (bit 127) is writable, write-1-to-clear. */
  writeRecordWord(index: number, word: number, value: number): void {
    if (word !== 3 || (value & 0x8000_0000) === 0) return;
    const i = index * 4 + 3;
    this.records[i] = (this.records[i]! & 0x7fff_ffff) >>> 0;
    this.checkServiced();
  }

  /** Decoded FRCD `index`. */
  recordAt(index: number): FaultRecord {
    const base = index * 4;
    const w0 = this.records[base]!;
    const w1 = this.records[base + 1]!;
    const w3 = this.records[base + 3]!;
    return {
      fault: getField(w3, FRCD.F) === 1,
      sourceId: getField(this.records[base + 2]!, FRCD.SID),
      reason: getField(w3, FRCD.FR),
      read: getField(w3, FRCD.T1) === 1,
      address: w1 * 0x1_0000_0000 + w0,
      interruptIndex: w1 >>> 16,
    };
  }

  saveState(): FaultRecorderState {
    return {
      status: this.status,
      next: this.next,
      records: Array.from(this.records),
      droppedOverflowPending: this.lost.droppedOverflowPending,
      droppedOverflow: this.lost.droppedOverflow,
    };
  }

  restoreState(state: FaultRecorderState): void {
    this.status = state.status >>> 0;
    this.next = state.next;
    this.records.set(state.records);
    this.lost.droppedOverflowPending = state.droppedOverflowPending;
    this.lost.droppedOverflow = state.droppedOverflow;
  }

  private anyPending(): boolean {
    for (let i = 3; i < this.records.length; i += 4) if ((this.records[i]! & 0x8000_0000) !== 0) return true;
    return false;
  }

  /** IP clears when software has serviced every status field (VT-d 11.4.7.1). */
  private checkServiced(): void {
    if ((this.readStatus() & FSTS_STATUS) === 0) this.event.serviced();
  }
}
