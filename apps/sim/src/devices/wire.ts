/**
 * One direction of an Ethernet link: a frame occupies the line for its
 * bytes at the line rate (serialization, frames queue behind each other)
 * and reaches the other end `latency` cycles after its last bit left.
 * Every frame handed to it is counted and arrives.
 */
import type { Clock } from '@hvsim/core';

/** A frame on the wire, as the models carry it: its transaction id and payload bytes. */
export interface Frame {
  readonly id: number;
  readonly payload: number;
}

/** Ethernet, IPv4 and UDP headers and the FCS around a payload (14 + 20 + 8 + 4 bytes). */
const FRAME_OVERHEAD = 46;
/** The smallest Ethernet frame (IEEE 802.3 4.4.2). */
const MIN_FRAME = 64;
/** Preamble, start delimiter and inter-frame gap: the line time a frame costs beyond its bytes. */
const LINE_OVERHEAD = 20;

/** Bytes of line time a frame with `payload` bytes takes. */
export function lineBytes(payload: number): number {
  return Math.max(MIN_FRAME, payload + FRAME_OVERHEAD) + LINE_OVERHEAD;
}

/** Options of a {@link Wire}. */
export interface WireOptions {
  readonly clock: Clock;
  /** Cycles from a frame's last bit leaving to its arrival (propagation, PHYs, a switch). */
  readonly latencyCycles: number;
  /** Line rate in bits per second. */
  readonly bitsPerSecond: number;
  /** The clock's cycles per second. */
  readonly clockHz: number;
}

/** One direction of a link (see the file comment). */
export class Wire {
  /** Frames sent and frames arrived. */
  sent = 0;
  arrived = 0;
  private busyUntil = 0;
  private readonly cyclesPerByte: number;

  constructor(private readonly options: WireOptions) {
    if (!(options.latencyCycles >= 0)) throw new RangeError(`wire latency must be a non-negative number of cycles, got ${options.latencyCycles}`);
    if (!(options.bitsPerSecond > 0)) throw new RangeError(`line rate must be positive, got ${options.bitsPerSecond}`);
    this.cyclesPerByte = (8 * options.clockHz) / options.bitsPerSecond;
  }

  /** Sends `frame` at cycle `at` (or when the line is free); `deliver` runs at its arrival, which is returned. */
  send(frame: Frame, at: number, deliver: (frame: Frame, now: number) => void): number {
    const start = Math.max(at, this.busyUntil);
    this.busyUntil = start + Math.ceil(lineBytes(frame.payload) * this.cyclesPerByte);
    const arrival = this.busyUntil + this.options.latencyCycles;
    this.sent++;
    this.options.clock.schedule(arrival, (now) => {
      this.arrived++;
      deliver(frame, now);
    });
    return arrival;
  }

  /** Frames sent that have not arrived yet. */
  get inFlight(): number {
    return this.sent - this.arrived;
  }
}
