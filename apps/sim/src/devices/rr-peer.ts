/**
 * The traffic generator on the wire side of the NIC, playing netperf's
 * TCP_RR client: one transaction at a time, a request of `requestBytes`
 * sent, the response awaited, the next request after a think time
 * (exponential with the given mean, seeded; 0: at once, as netperf does).
 * It counts what it sent and received and each transaction's round trip
 * as it sees it (request sent to response arrived).
 */
import type { Clock } from '@hvsim/core';
import { Rng } from '../workloads/rng.js';
import { Wire, type Frame, type WireOptions } from './wire.js';

/** Options of an {@link RrPeer}. */
export interface RrPeerOptions {
  readonly clock: Clock;
  readonly clockHz: number;
  /** The link: one-way latency (cycles) and line rate (bits per second), the same both ways. */
  readonly wire: Pick<WireOptions, 'latencyCycles' | 'bitsPerSecond'>;
  /** Payload bytes of a request (the server answers with as many). */
  readonly requestBytes: number;
  /** Mean think time between a response and the next request, cycles (0: none). */
  readonly thinkCycles: number;
  readonly seed: number;
}

/** The request/response client (see the file comment). */
export class RrPeer {
  /** The wire from the peer to the NIC, and from the NIC to the peer. */
  readonly toNic: Wire;
  readonly toPeer: Wire;
  /** Requests sent, responses received, responses that answered no outstanding request. */
  sent = 0;
  received = 0;
  unexpected = 0;
  /** Round trips of the transactions that ended, with when each ended. */
  readonly roundTrips: number[] = [];
  readonly endedAt: number[] = [];
  private nic: ((frame: Frame, now: number) => void) | undefined;
  private outstanding = -1;
  private sentAt = 0;
  private stopAt = 0;
  private readonly rng: Rng;

  constructor(private readonly o: RrPeerOptions) {
    const wire = { clock: o.clock, clockHz: o.clockHz, ...o.wire };
    this.toNic = new Wire(wire);
    this.toPeer = new Wire(wire);
    this.rng = new Rng(o.seed);
  }

  /** Plugs the NIC's receive side in. */
  connect(nicReceive: (frame: Frame, now: number) => void): void {
    this.nic = nicReceive;
  }

  /** Where the NIC's transmitted frames arrive. */
  readonly receive = (frame: Frame, now: number): void => {
    this.received++;
    if (frame.id !== this.outstanding) {
      this.unexpected++;
      return;
    }
    this.roundTrips.push(now - this.sentAt);
    this.endedAt.push(now);
    this.outstanding = -1;
    const think = this.o.thinkCycles > 0 ? Math.round(this.rng.exponential(this.o.thinkCycles)) : 0;
    if (now + think < this.stopAt) this.sendAt(now + think);
  };

  /** Starts transactions at `start`; none starts at or after `stop`. */
  start(start: number, stop: number): void {
    if (this.nic === undefined) throw new Error('RrPeer: connect the NIC first');
    this.stopAt = stop;
    this.sendAt(start);
  }

  /** Sends at `at`: at once when that is now (an event at the current cycle would wait for the clock's next step). */
  private sendAt(at: number): void {
    if (at <= this.o.clock.now()) this.send(this.o.clock.now());
    else
      this.o.clock.schedule(at, (t) => {
        this.send(t);
      });
  }

  private send(now: number): void {
    this.sent++;
    this.outstanding = this.sent;
    this.sentAt = now;
    this.toNic.send({ id: this.sent, payload: this.o.requestBytes }, now, this.nic!);
  }
}
