/**
 * The storm's device model: raises MSIs (fixed, edge) at one CPU with
 * Poisson arrivals at a rate, as a clock event each — another thread calling
 * KVM_SIGNAL_MSI while the vCPU runs — and accounts for every one by the
 * status the host answered: delivered (> 0), coalesced (0: already pending)
 * or dropped (< 0).
 */
import type { SimHost } from '../host/host.js';
import { Rng } from './rng.js';

/** What the device raised and how each was answered. */
export interface StormCounts {
  raised: number;
  accepted: number;
  coalesced: number;
  dropped: number;
  /** Cycles at which accepted MSIs were raised, in order. */
  readonly acceptedAt: number[];
}

/** The storm device (see the file comment). */
export class StormDevice {
  readonly counts: StormCounts = { raised: 0, accepted: 0, coalesced: 0, dropped: 0, acceptedAt: [] };
  private readonly rng: Rng;

  constructor(
    private readonly host: SimHost,
    private readonly options: { readonly rateHz: number; readonly clockHz: number; readonly dest: number; readonly vector: number; readonly seed: number },
  ) {
    this.rng = new Rng(options.seed);
  }

  /** Schedules the MSIs of [start, end) on the host's clock. */
  start(start: number, end: number): void {
    const mean = this.options.clockHz / this.options.rateHz;
    const clock = this.host.clock;
    const raise = (at: number): void => {
      const status = this.host.sendMsi(this.options.dest, this.options.vector);
      const c = this.counts;
      c.raised++;
      if (status > 0) {
        c.accepted++;
        c.acceptedAt.push(at);
      } else if (status === 0) c.coalesced++;
      else c.dropped++;
      const next = at + Math.max(1, Math.round(this.rng.exponential(mean)));
      if (next < end) clock.schedule(next, raise);
    };
    const first = start + Math.max(1, Math.round(this.rng.exponential(mean)));
    if (first < end) clock.schedule(first, raise);
  }
}
