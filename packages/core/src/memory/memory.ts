/**
 * The memory contract every model reads and writes through. `PhysicalMemory`
 * is the host's RAM; a hypervisor hands a model a guest-physical view
 * (`GuestPhysicalMemory`) instead, and the model cannot tell the difference.
 *
 * Addresses are numbers below 2^53. An access to an address that is not
 * backed throws `MemoryError('unmapped')`: models on guest- or
 * device-reachable paths check `isBacked` first (or catch) and turn it into
 * the architectural outcome (a fault value, a recorded fault, an abort).
 */

/** The two 32-bit halves of a 64-bit value, filled by {@link Memory.read64Halves}. */
export interface U64Halves {
  /** Bits 31:0. */
  lo: number;
  /** Bits 63:32. */
  hi: number;
}

/**
 * A live typed view of one 4 KiB page of a {@link Memory}. Reads and writes
 * through it touch the memory itself, with no page lookup per access. It stays
 * valid while the memory's {@link Memory.generation} is the one recorded in
 * {@link PageView.generation}; after that, ask for the page again.
 */
export interface PageView {
  /** Address of the page's first byte in the memory the view came from. */
  readonly address: number;
  /** The page's bytes. */
  readonly bytes: Uint8Array;
  /** The page as little-endian 32-bit words (index = byte offset / 4). */
  readonly words: Uint32Array;
  /** `Memory.generation` when the view was taken. */
  readonly generation: number;
}

/** Called after bytes `[address, address + size)` of a memory were written. */
export type WriteObserver = (address: number, size: number) => void;

/**
 * A little-endian byte-addressed memory: host RAM, a guest-physical view of
 * it, or anything else a model may be pointed at.
 */
export interface Memory {
  /** Reads the byte at `addr`. */
  read8(addr: number): number;
  /** Reads the little-endian 16-bit value at `addr`. */
  read16(addr: number): number;
  /** Reads the little-endian 32-bit value at `addr`, as an unsigned number. */
  read32(addr: number): number;
  /** 64-bit read as bigint (API boundary); hot paths use `read64Halves`. */
  read64(addr: number): bigint;
  /** 64-bit read into `out` as two 32-bit halves, allocating nothing. */
  read64Halves(addr: number, out: U64Halves): U64Halves;
  /** Writes the low 8 bits of `value` at `addr`. */
  write8(addr: number, value: number): void;
  /** Writes the low 16 bits of `value` at `addr`, little-endian. */
  write16(addr: number, value: number): void;
  /** Writes the low 32 bits of `value` at `addr`, little-endian. */
  write32(addr: number, value: number): void;
  /** Writes the 64-bit `value` (0 to 2^64 - 1) at `addr`, little-endian. */
  write64(addr: number, value: bigint): void;
  /** Copies `length` bytes from `addr` into a new array (or into `into`). */
  readBytes(addr: number, length: number, into?: Uint8Array): Uint8Array;
  /** Copies `bytes` to memory starting at `addr`. */
  writeBytes(addr: number, bytes: Uint8Array): void;
  /** True when every byte of `[addr, addr + size)` can be accessed (`size` defaults to 1). */
  isBacked(addr: number, size?: number): boolean;
  /** True when `[addr, addr + size)` is backed and writable. */
  isWritable(addr: number, size?: number): boolean;
  /**
   * A live view of the page holding `addr` (the page is allocated if it was
   * not), or `undefined` when that page is not backed or not writable.
   * Writes through the view are not seen by write observers: while
   * {@link Memory.observed} is true, a writer calls {@link Memory.noteWritten}.
   */
  pageView(addr: number): PageView | undefined;
  /** Changes whenever a page view taken earlier may no longer be the page's backing, and whenever the layout changes (a region added or removed), so a user may cache what it learnt about an address until then. */
  readonly generation: number;
  /** True while at least one write observer is attached. */
  readonly observed: boolean;
  /** Tells the write observers that `[addr, addr + size)` was written through a page view. */
  noteWritten(addr: number, size: number): void;
  /** Attaches a write observer; returns the function that detaches it. */
  addWriteObserver(observer: WriteObserver): () => void;
}
