/**
 * Buses for the three x86 address spaces and Arm's MMIO: each maps devices on
 * ranges and dispatches accesses to them with offsets relative to the range's
 * base. An access no device claims throws a {@link BusError} of kind
 * `unclaimed`; callers that handle that case themselves (a guest MMIO to no
 * device is a KVM exit to userspace) ask `lookup()` first.
 */
import { assertAccessSize } from '../errors/validate.js';
import { AddressMap } from './address-map.js';
import { BusError } from './bus-error.js';
import type { AccessSize, MmioDevice, MsrDevice, PioDevice } from './devices.js';

const SIZES: readonly number[] = [1, 2, 4];

function checkSize(size: number): void {
  if (size !== 1 && size !== 2 && size !== 4) assertAccessSize(size, SIZES);
}

/** The physical (or guest-physical) MMIO address space, up to 2^52. */
export class MmioBus extends AddressMap<MmioDevice> {
  constructor() {
    super('MMIO', 2 ** 52);
  }

  /** Reads `size` bytes at `addr` from the device mapped there; an unmapped address is a {@link BusError}. */
  read(addr: number, size: AccessSize): number {
    checkSize(size);
    const m = this.resolve(addr, size, 'read');
    return m.device.mmioRead(addr - m.base, size);
  }

  /** Writes `size` bytes of `value` at `addr` to the device mapped there; an unmapped address is a {@link BusError}. */
  write(addr: number, size: AccessSize, value: number): void {
    checkSize(size);
    const m = this.resolve(addr, size, 'write');
    m.device.mmioWrite(addr - m.base, size, value);
  }

  /** 64-bit read; the device must implement `mmioRead64`. */
  read64(addr: number): bigint {
    const m = this.resolve(addr, 8, 'read');
    if (!m.device.mmioRead64) throw new BusError('no-64-bit-access', addr, `${m.name} does not decode 64-bit accesses (read at 0x${addr.toString(16)})`);
    return m.device.mmioRead64(addr - m.base);
  }

  /** 64-bit write; the device must implement `mmioWrite64`. */
  write64(addr: number, value: bigint): void {
    const m = this.resolve(addr, 8, 'write');
    if (!m.device.mmioWrite64) throw new BusError('no-64-bit-access', addr, `${m.name} does not decode 64-bit accesses (write at 0x${addr.toString(16)})`);
    m.device.mmioWrite64(addr - m.base, value);
  }
}

/** The x86 I/O port space, ports 0 to 0xFFFF. */
export class PioBus extends AddressMap<PioDevice> {
  constructor() {
    super('port I/O', 0x1_0000);
  }

  /** Reads `size` bytes from I/O port `port` (IN); an unmapped port is a {@link BusError}. */
  read(port: number, size: AccessSize): number {
    checkSize(size);
    const m = this.resolve(port, size, 'read');
    return m.device.pioRead(port - m.base, size);
  }

  /** Writes `size` bytes of `value` to I/O port `port` (OUT); an unmapped port is a {@link BusError}. */
  write(port: number, size: AccessSize, value: number): void {
    checkSize(size);
    const m = this.resolve(port, size, 'write');
    m.device.pioWrite(port - m.base, size, value);
  }
}

/**
 * The MSR space, indices 0 to 0xFFFFFFFF. Unlike MMIO and ports, the device
 * receives the architectural MSR index, not an offset.
 */
export class MsrBus extends AddressMap<MsrDevice> {
  constructor() {
    super('MSR', 0x1_0000_0000);
  }

  /** Reads MSR `index` (RDMSR) from the device that owns it; an unowned MSR is a {@link BusError}. */
  read(index: number): bigint {
    return this.resolve(index, 1, 'read').device.readMsr(index);
  }

  /** Writes MSR `index` (WRMSR) to the device that owns it; an unowned MSR is a {@link BusError}. */
  write(index: number, value: bigint): void {
    this.resolve(index, 1, 'write').device.writeMsr(index, value);
  }
}

