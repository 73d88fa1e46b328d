/**
 * The guest's driver of the assigned NIC, as a kernel's VF driver does it
 * (ixgbevf in shape): rings and buffers in its RAM, the BAR's registers
 * written with plain stores (the VF's BAR is mapped into the guest: no
 * exit), the MSI-X entry programmed and unmasked (an exit to the VMM, which
 * emulates the MSI-X table as VFIO VMMs do), and the receive handler's
 * work: every completed receive descriptor is a request, answered with a
 * response of the same size on the transmit ring; the descriptors are
 * given back and both tails written once per interrupt.
 */
import type { Guest, Op } from '@hvsim/cpu';
import { NIC_CTRL, NIC_DESC, NIC_DESC_BITS, NIC_MSIX, NIC_PACKET, NIC_REG } from '../devices/nic-regs.js';
import { GUEST, NIC_BUFFER, NIC_RING_ENTRIES, NIC_STATE, VECTOR } from './layout.js';

type Routine = Generator<Op, void, number>;

const RING_BYTES = NIC_RING_ENTRIES * NIC_DESC.SIZE;

/** Where the driver keeps its rings, buffers and state, where the BAR is, and the MSI it programs (x86 or arm64). */
export interface NicDriverLayout {
  readonly bar: number;
  readonly rxRing: number;
  readonly txRing: number;
  /** NIC_STATE words. */
  readonly state: number;
  /** NIC_RING_ENTRIES receive buffers, then as many transmit buffers, NIC_BUFFER bytes each. */
  readonly buffers: number;
  readonly msiAddress: number;
  readonly msiData: number;
}

/** The x86 kernel's: the MSI to the BSP (physical destination APIC 0, fixed, edge) with the NIC's vector (SDM 3A 11.11.1, 11.11.2). */
export const X86_NIC_LAYOUT: NicDriverLayout = {
  bar: GUEST.NIC_BAR,
  rxRing: GUEST.NIC_RX_RING,
  txRing: GUEST.NIC_TX_RING,
  state: GUEST.NIC_STATE,
  buffers: GUEST.NIC_BUFFERS,
  msiAddress: 0xfee0_0000,
  msiData: VECTOR.NIC,
};
/** Transmit command: end of packet, report status. */
const TX_CMD = (NIC_DESC_BITS.EOP | NIC_DESC_BITS.RS) << 24;

/** Brings the NIC up: rings, buffers, the throttle, the MSI-X vector, then receive and transmit on. */
export function* nicBringUp(g: Guest, itr: number, l: NicDriverLayout = X86_NIC_LAYOUT): Routine {
  const reg = (offset: number): number => l.bar + offset;
  const rxBuffer = (i: number): number => l.buffers + i * NIC_BUFFER;
  const txBuffer = (i: number): number => l.buffers + (NIC_RING_ENTRIES + i) * NIC_BUFFER;
  for (let i = 0; i < NIC_RING_ENTRIES; i++) {
    yield g.st32(l.rxRing + i * NIC_DESC.SIZE + NIC_DESC.ADDR, rxBuffer(i));
    yield g.st32(l.txRing + i * NIC_DESC.SIZE + NIC_DESC.ADDR, txBuffer(i));
  }
  for (const word of [NIC_STATE.RX_NEXT, NIC_STATE.TX_NEXT, NIC_STATE.SERVED]) yield g.st32(l.state + word, 0);
  // The buffers are zeroed as a kernel's page allocator hands them out (one store per page here).
  for (let a = rxBuffer(0); a < txBuffer(NIC_RING_ENTRIES); a += 0x1000) yield g.st32(a, 0);
  yield g.st32(reg(NIC_REG.RDBAL), l.rxRing);
  yield g.st32(reg(NIC_REG.RDBAH), 0);
  yield g.st32(reg(NIC_REG.RDLEN), RING_BYTES);
  yield g.st32(reg(NIC_REG.TDBAL), l.txRing);
  yield g.st32(reg(NIC_REG.TDBAH), 0);
  yield g.st32(reg(NIC_REG.TDLEN), RING_BYTES);
  yield g.st32(reg(NIC_REG.ITR), itr);
  const entry = reg(NIC_MSIX.TABLE);
  yield g.st32(entry + NIC_MSIX.ADDR_LO, l.msiAddress);
  yield g.st32(entry + NIC_MSIX.ADDR_HI, 0);
  yield g.st32(entry + NIC_MSIX.DATA, l.msiData);
  yield g.st32(entry + NIC_MSIX.CTRL, 0); // unmask (PCI 3.0 6.8.2.9)
  yield g.st32(reg(NIC_REG.CTRL), NIC_CTRL.RX_ENABLE | NIC_CTRL.TX_ENABLE);
  yield g.st32(reg(NIC_REG.RDT), NIC_RING_ENTRIES - 1); // every descriptor but one to the device (head == tail is empty)
}

/** The receive handler's work: serve every completed request, computing `work` cycles for each (the server's stack and application). */
export function* nicServe(g: Guest, work: number, l: NicDriverLayout = X86_NIC_LAYOUT): Routine {
  let rx = yield g.ld32(l.state + NIC_STATE.RX_NEXT);
  let tx = yield g.ld32(l.state + NIC_STATE.TX_NEXT);
  let served = 0;
  for (;;) {
    const desc = l.rxRing + rx * NIC_DESC.SIZE;
    const status = yield g.ld32(desc + NIC_DESC.STATUS);
    if ((status & NIC_DESC_BITS.DD) === 0) break;
    const length = (yield g.ld32(desc + NIC_DESC.LENGTH)) & 0xffff;
    const id = yield g.ld32(l.buffers + rx * NIC_BUFFER + NIC_PACKET.ID);
    yield g.compute(work);
    yield g.st32(l.buffers + (NIC_RING_ENTRIES + tx) * NIC_BUFFER + NIC_PACKET.ID, id);
    const txDesc = l.txRing + tx * NIC_DESC.SIZE;
    yield g.st32(txDesc + NIC_DESC.STATUS, 0);
    yield g.st32(txDesc + NIC_DESC.LENGTH, Math.min(length, NIC_BUFFER) | TX_CMD);
    yield g.st32(desc + NIC_DESC.STATUS, 0); // the descriptor is the device's again once the tail passes it
    rx = (rx + 1) % NIC_RING_ENTRIES;
    tx = (tx + 1) % NIC_RING_ENTRIES;
    served++;
  }
  if (served === 0) return;
  yield g.st32(l.state + NIC_STATE.RX_NEXT, rx);
  yield g.st32(l.state + NIC_STATE.TX_NEXT, tx);
  const total = yield g.ld32(l.state + NIC_STATE.SERVED);
  yield g.st32(l.state + NIC_STATE.SERVED, total + served);
  yield g.st32(l.bar + NIC_REG.TDT, tx); // the responses go
  yield g.st32(l.bar + NIC_REG.RDT, (rx + NIC_RING_ENTRIES - 1) % NIC_RING_ENTRIES);
}
