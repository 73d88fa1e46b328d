/**
 * `netperf-rr`: netperf's TCP_RR over the assigned NIC, the setting of the
 * ELI paper (Gordon et al., ASPLOS 2012): a client on the wire side
 * ({@link RrPeer}) sends a request, the guest's NIC driver takes the
 * receive interrupt, computes the server's work and sends the response; the
 * client sends the next request when the response arrives. The result is
 * transactions per second and each transaction's round trip, and every
 * frame and interrupt cause accounted for.
 */
import { RrPeer } from '../devices/rr-peer.js';
import { NIC_STATE, GUEST } from '../guest/layout.js';
import type { SimHost } from '../host/host.js';
import type { DeviceCosts } from '../profiles.js';
import { stormLatencies } from './accounting.js';
import type { Accounting } from './accounting.js';

/**
 * The workload's parameters (assumptions, documented in the README; the
 * wire and the NIC's DMA are the profile's `device` costs): a 1-byte
 * request and response (netperf TCP_RR's default sizes), 4,000 cycles of
 * the server's work per request (its network stack and netserver, ~1.9 µs
 * at 2.1 GHz), no interrupt throttling (a VF driver's adaptive moderation
 * settles at its lowest-latency setting on a request/response load), no
 * think time (netperf sends the next request at once).
 */
export const NETPERF_RR = {
  requestBytes: 1,
  serverWorkCycles: 4000,
  throttleNs: 0,
  thinkNs: 0,
} as const;

/** Every frame of a run: sent by the client, through the NIC and the guest, back to the client. */
export interface PacketAccounting {
  readonly requests: number;
  readonly requestsInFlight: number;
  readonly nicReceived: number;
  readonly toRing: number;
  readonly droppedNoDescriptor: number;
  readonly droppedDmaFault: number;
  readonly served: number;
  readonly responses: number;
  readonly responseDmaFaults: number;
  readonly responsesInFlight: number;
  readonly clientReceived: number;
}

/** Connects a client to the host's NIC and starts transactions at `start` until `stop`. */
export function startNetperfRr(host: SimHost, o: { clockHz: number; device: DeviceCosts; seed: number; start: number; stop: number }): RrPeer {
  const nic = host.nic;
  if (nic === undefined) throw new Error('netperf-rr: the host has no NIC (boot parameter nicWork)');
  const cycles = (ns: number): number => Math.round((ns * o.clockHz) / 1e9);
  const peer = new RrPeer({
    clock: host.clock,
    clockHz: o.clockHz,
    wire: { latencyCycles: o.device.wireLatency, bitsPerSecond: o.device.lineRateBitsPerSecond },
    requestBytes: NETPERF_RR.requestBytes,
    thinkCycles: cycles(NETPERF_RR.thinkNs),
    seed: o.seed,
  });
  peer.connect(nic.receiveFrame);
  nic.connect(peer.toPeer, peer.receive);
  peer.start(o.start, o.stop);
  return peer;
}

/** The interrupts (causes: receive completions) and frames of a netperf-rr run, from the NIC's counters, the guest's handler log and the client (the driver's NIC_STATE at `state`: x86's or arm64's layout). */
export function accountNetperfRr(host: SimHost, peer: RrPeer, handled: readonly number[], state: number = GUEST.NIC_STATE): Accounting & { packets: PacketAccounting } {
  const c = host.nic!.counters;
  const merged = c.msiDelivered + c.msiCoalesced - handled.length; // MSIs accepted but merged before the guest took them (IRR, PIR, eventfd counter)
  const coalescedBy = { moderation: c.moderated, host: merged };
  return {
    raised: c.causes,
    delivered: handled.length,
    coalesced: c.moderated + merged,
    dropped: c.msiRefused,
    coalescedBy,
    latencies: stormLatencies(c.msiAcceptedAt, handled),
    packets: {
      requests: peer.sent,
      requestsInFlight: peer.toNic.inFlight,
      nicReceived: c.rxFrames,
      toRing: c.rxDelivered,
      droppedNoDescriptor: c.rxNoDescriptor,
      droppedDmaFault: c.rxDmaFaults,
      served: host.read32(state + NIC_STATE.SERVED),
      responses: c.txFrames,
      responseDmaFaults: c.txDmaFaults,
      responsesInFlight: peer.toPeer.inFlight,
      clientReceived: peer.received,
    },
  };
}

/** Transactions that ended in [start, end), and their round trips. */
export function transactionsIn(peer: RrPeer, start: number, end: number): number[] {
  const out: number[] = [];
  peer.endedAt.forEach((t, i) => {
    if (t >= start && t < end) out.push(peer.roundTrips[i]!);
  });
  return out;
}
