/**
 * The interfaces a device model implements to sit on a bus. Offsets are
 * relative to the base the device is mapped at. A device decides, per its
 * specification, what a misaligned or odd-sized access does (ignore it, set
 * an error register, or fault).
 */

/** Sizes in bytes of an MMIO or port access carried as a `number`. */
export type AccessSize = 1 | 2 | 4;

/** A memory-mapped device: registers reached by loads and stores. */
export interface MmioDevice {
  /** Reads the register at `offset` from the device's base, `size` bytes wide. */
  mmioRead(offset: number, size: AccessSize): number;
  /** Writes `value` to the register at `offset` from the device's base, `size` bytes wide. */
  mmioWrite(offset: number, size: AccessSize, value: number): void;
  /** 64-bit read, for devices with 64-bit registers (GICv3, VT-d, ITS). */
  mmioRead64?(offset: number): bigint;
  /** 64-bit write, for devices with 64-bit registers. */
  mmioWrite64?(offset: number, value: bigint): void;
}

/** A device in the x86 I/O port space (IN/OUT). */
export interface PioDevice {
  /** Reads `size` bytes at port `offset` from the device's first port (IN). */
  pioRead(offset: number, size: AccessSize): number;
  /** Writes `size` bytes of `value` at port `offset` from the device's first port (OUT). */
  pioWrite(offset: number, size: AccessSize, value: number): void;
}

/**
 * A device reached through model-specific registers (RDMSR/WRMSR). `index`
 * is the architectural MSR number, not an offset: MSR numbers are names.
 */
export interface MsrDevice {
  /** Reads MSR `index` (RDMSR); a model raises {@link CpuException} #GP where the CPU would. */
  readMsr(index: number): bigint;
  /** Writes MSR `index` (WRMSR); a model raises {@link CpuException} #GP where the CPU would. */
  writeMsr(index: number, value: bigint): void;
}
