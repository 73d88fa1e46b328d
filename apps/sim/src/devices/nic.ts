/**
 * The assigned NIC: one SR-IOV virtual function as its driver sees it —
 * registers and the MSI-X table in a BAR, receive and transmit descriptor
 * rings in the driver's memory reached by DMA through the IOMMU (a VT-d
 * unit's second-level tables decide what each I/O virtual address reaches,
 * or fault), interrupt moderation (a throttle timer that coalesces receive
 * causes into one interrupt, as the 82599's EITR does) and its MSI-X
 * vector sent through the IOMMU's interrupt remapping. Frames come from and
 * go to {@link Wire}s. Every frame and every interrupt cause is counted:
 * received = delivered to the ring + dropped (no descriptor) + DMA faults;
 * causes = moderated into a pending one + MSIs sent; MSIs sent by the
 * status the platform answered.
 *
 * The BAR is host memory the host maps where the driver reaches it (the
 * guest's memslot of the VF's BAR, or RAM natively); the host tells the
 * device of each write with {@link AssignedNic.barWritten}, as a write
 * observer on that memory does.
 */
import type { Clock, Memory } from '@hvsim/core';
import type { DmaResult, MsiResult } from '@hvsim/iommu';
import { NIC_BAR_SIZE, NIC_CTRL, NIC_DESC, NIC_DESC_BITS, NIC_MSIX, NIC_PACKET, NIC_REG } from './nic-regs.js';
import type { Frame, Wire } from './wire.js';

/** What the NIC reaches the platform through: an IOMMU's DMA and interrupt requests (IntelIommu). */
export interface NicPort {
  dmaRead(sid: number, iova: number, size: 4): DmaResult;
  dmaWrite(sid: number, iova: number, size: 4, value: number): DmaResult;
  sendMsi(sid: number, address: number, data: number): MsiResult;
}

/** Options of an {@link AssignedNic}. */
export interface NicOptions {
  readonly clock: Clock;
  /** The IOMMU the function's requests go through. */
  readonly port: NicPort;
  /** The function's requester ID (bus:device.function). */
  readonly sid: number;
  /** Memory holding the BAR, and the BAR's address there. */
  readonly barMemory: Memory;
  readonly barBase: number;
  /** Cycles of one DMA round trip (a descriptor fetch across PCIe). */
  readonly dmaCycles: number;
}

/** What the NIC counted. */
export interface NicCounters {
  /** Frames that reached the NIC from the wire. */
  rxFrames: number;
  /** Of those: written into the ring, dropped for want of a descriptor (or receive off), dropped by a DMA fault. */
  rxDelivered: number;
  rxNoDescriptor: number;
  rxDmaFaults: number;
  /** Transmit descriptors sent on the wire, and those a DMA fault stopped. */
  txFrames: number;
  txDmaFaults: number;
  /** Receive interrupt causes; merged by moderation into one already pending; MSIs sent. */
  causes: number;
  moderated: number;
  msis: number;
  /** MSIs by the platform's answer (DELIVERY_STATUS: > 0 delivered, 0 coalesced, < 0 blocked or dropped). */
  msiDelivered: number;
  msiCoalesced: number;
  msiRefused: number;
  /** Cycles at which MSIs that the platform accepted were sent, in order. */
  readonly msiAcceptedAt: number[];
}

/** The NIC (see the file comment). */
export class AssignedNic {
  readonly counters: NicCounters = {
    rxFrames: 0,
    rxDelivered: 0,
    rxNoDescriptor: 0,
    rxDmaFaults: 0,
    txFrames: 0,
    txDmaFaults: 0,
    causes: 0,
    moderated: 0,
    msis: 0,
    msiDelivered: 0,
    msiCoalesced: 0,
    msiRefused: 0,
    msiAcceptedAt: [],
  };
  private causePending = false;
  private maskedPending = false;
  private lastInterrupt = -Infinity;
  private txBusy = false;
  private link: { readonly tx: Wire; readonly peer: (frame: Frame, now: number) => void } | undefined;

  /** The function at reset: its MSI-X vector masked (PCI 3.0 6.8.2.9), the rest of the BAR zero. */
  constructor(private readonly o: NicOptions) {
    for (let off = 0; off < NIC_BAR_SIZE; off += 4) this.setReg(off, 0);
    this.setReg(NIC_MSIX.TABLE + NIC_MSIX.CTRL, NIC_MSIX.MASKED);
  }

  /** Plugs the cable in: `tx` carries transmitted frames to `peer`. */
  connect(tx: Wire, peer: (frame: Frame, now: number) => void): void {
    this.link = { tx, peer };
  }

  /** Where the wire from the peer delivers (bound: pass it as a callback). */
  readonly receiveFrame = (frame: Frame, now: number): void => {
    this.receive(frame, now);
  };

  private reg(offset: number): number {
    return this.o.barMemory.read32(this.o.barBase + offset);
  }

  private setReg(offset: number, value: number): void {
    this.o.barMemory.write32(this.o.barBase + offset, value);
  }

  /** The driver (or the VMM, for the MSI-X table) wrote `size` bytes at `offset` in the BAR. */
  barWritten(offset: number, size: number): void {
    const end = offset + size;
    const hits = (reg: number): boolean => reg < end && reg + 4 > offset;
    if (hits(NIC_REG.TDT) || hits(NIC_REG.CTRL)) this.kickTx();
    const vectorCtrl = NIC_MSIX.TABLE + NIC_MSIX.CTRL;
    if (hits(vectorCtrl) && (this.reg(vectorCtrl) & NIC_MSIX.MASKED) === 0 && this.maskedPending) {
      // PCI 3.0 6.8.3.5: a pending message is sent when its vector is unmasked.
      this.maskedPending = false;
      this.setReg(NIC_MSIX.PBA, 0);
      this.sendMsi(this.o.clock.now());
    }
  }

  /** A frame arrives from the wire at `now`: fetch the next receive descriptor, write the frame and its status, raise the cause. */
  receive(frame: Frame, now: number): void {
    const c = this.counters;
    c.rxFrames++;
    const count = this.ringEntries(NIC_REG.RDLEN);
    const head = this.reg(NIC_REG.RDH);
    if ((this.reg(NIC_REG.CTRL) & NIC_CTRL.RX_ENABLE) === 0 || count === 0 || head === this.reg(NIC_REG.RDT)) {
      c.rxNoDescriptor++; // the ring is full: the driver has not returned descriptors (head == tail)
      return;
    }
    const desc = this.ringBase(NIC_REG.RDBAL) + head * NIC_DESC.SIZE;
    const { port, sid } = this.o;
    const buffer = this.bufferOf(desc);
    const ok =
      buffer >= 0 &&
      port.dmaWrite(sid, buffer + NIC_PACKET.ID, 4, frame.id).status === 'ok' &&
      port.dmaWrite(sid, buffer + NIC_PACKET.LENGTH, 4, frame.payload).status === 'ok' &&
      // Write-back: length, then the status with DD (one dword: length in bits 15:0 of LENGTH's dword; status at +12).
      port.dmaWrite(sid, desc + NIC_DESC.LENGTH, 4, frame.payload & 0xffff).status === 'ok' &&
      port.dmaWrite(sid, desc + NIC_DESC.STATUS, 4, NIC_DESC_BITS.DD | NIC_DESC_BITS.EOP).status === 'ok';
    if (!ok) {
      c.rxDmaFaults++;
      return;
    }
    c.rxDelivered++;
    this.setReg(NIC_REG.RDH, (head + 1) % count);
    this.raiseCause(now);
  }

  /** Throttled interrupts: a cause while one is pending merges; otherwise the MSI goes when the throttle interval since the last one has passed. */
  private raiseCause(now: number): void {
    const c = this.counters;
    c.causes++;
    if (this.causePending) {
      c.moderated++;
      return;
    }
    this.causePending = true;
    const at = Math.max(now, this.lastInterrupt + this.reg(NIC_REG.ITR));
    if (at <= now) this.fire(now);
    else this.o.clock.schedule(at, (t) => {
      this.fire(t);
    });
  }

  private fire(now: number): void {
    this.causePending = false;
    this.lastInterrupt = now;
    if ((this.reg(NIC_MSIX.TABLE + NIC_MSIX.CTRL) & NIC_MSIX.MASKED) !== 0) {
      if (this.maskedPending) this.counters.moderated++; // merges with the message pending in the PBA
      this.maskedPending = true;
      this.setReg(NIC_MSIX.PBA, 1);
      return;
    }
    this.sendMsi(now);
  }

  private sendMsi(now: number): void {
    const c = this.counters;
    c.msis++;
    const status = this.o.port.sendMsi(this.o.sid, this.reg(NIC_MSIX.TABLE + NIC_MSIX.ADDR_LO), this.reg(NIC_MSIX.TABLE + NIC_MSIX.DATA)).status;
    if (status > 0) {
      c.msiDelivered++;
      c.msiAcceptedAt.push(now);
    } else if (status === 0) {
      c.msiCoalesced++;
      c.msiAcceptedAt.push(now); // accepted, merged with one already pending
    } else c.msiRefused++;
  }

  /** The driver moved the transmit tail: after a descriptor fetch, send every descriptor up to it. */
  private kickTx(): void {
    if (this.txBusy) return;
    this.txBusy = true;
    this.o.clock.schedule(this.o.clock.now() + this.o.dmaCycles, (t) => {
      this.txBusy = false;
      this.transmit(t);
    });
  }

  private transmit(now: number): void {
    const link = this.link;
    if ((this.reg(NIC_REG.CTRL) & NIC_CTRL.TX_ENABLE) === 0 || link === undefined) return; // no carrier: the ring waits
    const count = this.ringEntries(NIC_REG.TDLEN);
    if (count === 0) return;
    const { port, sid } = this.o;
    const base = this.ringBase(NIC_REG.TDBAL);
    const c = this.counters;
    for (let head = this.reg(NIC_REG.TDH); head !== this.reg(NIC_REG.TDT) % count; head = (head + 1) % count) {
      const desc = base + head * NIC_DESC.SIZE;
      const buffer = this.bufferOf(desc);
      const id = buffer >= 0 ? this.dmaRead32(buffer + NIC_PACKET.ID) : -1;
      const payload = id >= 0 ? this.dmaRead32(desc + NIC_DESC.LENGTH) & 0xffff : -1;
      this.setReg(NIC_REG.TDH, (head + 1) % count);
      if (payload < 0 || port.dmaWrite(sid, desc + NIC_DESC.STATUS, 4, NIC_DESC_BITS.DD).status !== 'ok') {
        c.txDmaFaults++;
        continue;
      }
      c.txFrames++;
      // The data fetch is a second round trip before the frame can leave.
      link.tx.send({ id, payload }, now + this.o.dmaCycles, link.peer);
    }
  }

  /** A DMA read of 4 bytes: the value, or -1 when the IOMMU blocked it (the result object is reused: read at once). */
  private dmaRead32(iova: number): number {
    const r = this.o.port.dmaRead(this.o.sid, iova, 4);
    return r.status === 'ok' ? r.value : -1;
  }

  /** The 64-bit buffer address of the descriptor at `desc`, or -1 when a read faulted. */
  private bufferOf(desc: number): number {
    const low = this.dmaRead32(desc + NIC_DESC.ADDR);
    const high = low < 0 ? -1 : this.dmaRead32(desc + NIC_DESC.ADDR + 4);
    return high < 0 ? -1 : low + high * 2 ** 32;
  }

  private ringEntries(lenReg: number): number {
    return Math.floor(this.reg(lenReg) / NIC_DESC.SIZE);
  }

  private ringBase(lowReg: number): number {
    return this.reg(lowReg) + this.reg(lowReg + 4) * 2 ** 32;
  }

  /** Whether a cause waits for the throttle timer or an unmask. */
  get interruptPending(): boolean {
    return this.causePending || this.maskedPending;
  }
}
