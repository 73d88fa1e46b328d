/**
 * The interrupt a remapping unit sends about itself: the fault event (FECTL,
 * FEDATA, FEADDR, FEUADDR; VT-d 7.3 "Fault Event Interrupt" and 11.4.7.1-4)
 * and the invalidation completion event (IECTL, IEDATA, IEADDR, IEUADDR;
 * VT-d 6.5.2.7, 11.4.9.5-8) follow the same rules, kept here once:
 *
 * - an interrupt condition sets IP; if IM is clear the message is sent at
 *   once and IP clears;
 * - while IM is set the message is held (IP stays set); clearing IM sends it;
 * - software servicing every status field that caused it clears IP, so a
 *   held message is then never sent.
 *
 * The message itself is a compatibility-format MSI write (VT-d 5.1.6
 * "Remapping Hardware Event Interrupt Programming"); it is not subject to
 * interrupt remapping.
 */
import { EVENT_CTL, EVENT_CTL_RESET } from '../regs.js';

/** Sends an event message: address low dword, upper address (x2APIC destination bits 31:8), data. */
export type EventMessageSender = (address: number, upperAddress: number, data: number) => void;

/** Saved form of an event interrupt's registers (FECTL/FEDATA/FEADDR/FEUADDR or IECTL/IEDATA/IEADDR/IEUADDR). */
export interface EventInterruptState {
  /** FECTL / IECTL (IM bit 31, IP bit 30). */
  control: number;
  /** FEDATA / IEDATA: MSI data. */
  data: number;
  /** FEADDR / IEADDR: MSI address. */
  address: number;
  /** FEUADDR / IEUADDR: MSI address bits 63:32. */
  upperAddress: number;
}

/** One event-interrupt register group (control, data, address, upper address). */
export class EventInterrupt {
  private control = EVENT_CTL_RESET;
  private data = 0;
  private address = 0;
  private upperAddress = 0;
  /** Messages sent since construction (or restore). */
  sentCount = 0;

  constructor(private readonly send: EventMessageSender) {}

  /** Hardware detected an interrupt condition. */
  signal(): void {
    this.control = (this.control | EVENT_CTL.IP) >>> 0;
    if ((this.control & EVENT_CTL.IM) === 0) this.fire();
  }

  /** Software cleared every status field behind the condition: a held message is dropped. */
  serviced(): void {
    this.control = (this.control & ~EVENT_CTL.IP) >>> 0;
  }

  /** True while a message is held pending. */
  get pending(): boolean {
    return (this.control & EVENT_CTL.IP) !== 0;
  }

  readControl(): number {
    return this.control;
  }

  /** Only IM is writable; IP is read-only. Unmasking with IP set sends the held message. */
  writeControl(value: number): void {
    this.control = ((this.control & EVENT_CTL.IP) | (value & EVENT_CTL.IM)) >>> 0;
    if ((this.control & (EVENT_CTL.IM | EVENT_CTL.IP)) === EVENT_CTL.IP) this.fire();
  }

  readData(): number {
    return this.data;
  }

  /** IMD is bits 15:0; bits 31:16 are reserved (EIMD in VT-d revisions before 2021) and read 0. */
  writeData(value: number): void {
    this.data = value & 0xffff;
  }

  readAddress(): number {
    return this.address;
  }

  /** Bits 1:0 are reserved and read 0. */
  writeAddress(value: number): void {
    this.address = (value & ~3) >>> 0;
  }

  readUpperAddress(): number {
    return this.upperAddress;
  }

  writeUpperAddress(value: number): void {
    this.upperAddress = value >>> 0;
  }

  saveState(): EventInterruptState {
    return { control: this.control, data: this.data, address: this.address, upperAddress: this.upperAddress };
  }

  restoreState(state: EventInterruptState): void {
    this.control = (state.control & (EVENT_CTL.IM | EVENT_CTL.IP)) >>> 0;
    this.data = state.data & 0xffff;
    this.address = (state.address & ~3) >>> 0;
    this.upperAddress = state.upperAddress >>> 0;
  }

  private fire(): void {
    this.control = (this.control & ~EVENT_CTL.IP) >>> 0;
    this.sentCount++;
    this.send(this.address, this.upperAddress, this.data);
  }
}
