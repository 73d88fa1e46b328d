/**
 * @hvsim/core: the contracts every hvsim model composes through — values and
 * bit fields, physical memory, device interfaces and buses, interrupt wiring,
 * architectural faults, simulated time, tracing, snapshots and seeded
 * randomness.
 *
 * @packageDocumentation
 */

// Errors and argument checks
export {
  /** Base class of every hvsim error, with a `kind` discriminant. */
  HvsimError,
  /** A caller misused a model's API (bad argument, unknown name, wrong state). */
  UsageError,
} from './errors/hvsim-error.js';
export {
  /** An architectural fault (#GP, #PF, an Arm abort) raised where the CPU would raise it. */
  CpuException,
  /** x86 exception vector numbers (SDM 3A 6.3.1). */
  X86_VECTOR,
  /** AArch64 ESR_ELx exception classes. */
  ARM64_EXCEPTION_CLASS,
  /** AArch64 vector-table offsets. */
  ARM64_VECTOR_OFFSET,
} from './errors/cpu-exception.js';
export {
  /** Throws a UsageError unless a value is an integer in range. */
  assertInteger,
  /** Throws a UsageError unless a value is a non-negative safe integer address. */
  assertAddress,
  /** Throws a UsageError unless an access size is one of those allowed. */
  assertAccessSize,
  /** Throws a UsageError unless a value is an unsigned 32-bit integer. */
  assertU32,
  /** Renders any value for an error message. */
  describeValue,
  /** Throws a UsageError naming an option that is not one of those known (a misspelling). */
  assertOptions,
  /** Throws the UsageError for a bigint where a number is expected (or the reverse). */
  wrongType,
} from './errors/validate.js';
export type {
  /** Kinds of UsageError. */
  UsageErrorKind,
} from './errors/hvsim-error.js';
export type {
  /** Name of an x86 exception vector. */
  X86VectorName,
  /** `'x86'` or `'arm64'`. */
  CpuArch,
  /** Options of a CpuException. */
  CpuExceptionOptions,
} from './errors/cpu-exception.js';

// Bits, fields and bitmaps
export {
  /** Makes a `{ lsb, width }` field descriptor. */
  bitField,
  /** A one-bit field descriptor. */
  bitFlag,
  /** A field descriptor from `[msb:lsb]`. */
  bitRange,
  /** The in-place 32-bit mask of a field. */
  fieldMask,
  /** Reads a field of a number (up to bit 52). */
  getField,
  /** Writes a field of a number (up to bit 52). */
  setField,
  /** True when a field of a number is non-zero. */
  testField,
  /** Reads a field of a 64-bit bigint. */
  getField64,
  /** Writes a field of a 64-bit bigint. */
  setField64,
  /** Mask of bits `[msb:lsb]` as bigint. */
  mask64,
  /** Splits a 64-bit bigint into 32-bit halves. */
  splitU64,
  /** Joins 32-bit halves into a 64-bit bigint. */
  joinU64,
  /** Joins 32-bit halves into a number below 2^53. */
  joinU53,
  /** Low 32 bits of a number. */
  lo32,
  /** Bits 63:32 of a number below 2^53. */
  hi32,
  /** Throws a UsageError unless a value is an unsigned 64-bit bigint. */
  assertU64,
} from './bits/field.js';
export {
  /** A fixed-size bit set with fast highest/lowest set-bit search. */
  Bitmap,
} from './bits/bitmap.js';
export type {
  /** A `{ lsb, width }` bit-field descriptor. */
  BitField,
} from './bits/field.js';

// Physical memory
export {
  /** Sparse, page-backed, little-endian physical memory with regions. */
  PhysicalMemory,
  /** 4096: the backing page size. */
  PAGE_SIZE,
} from './memory/physical-memory.js';
export {
  /** A physical-memory access or region operation failed. */
  MemoryError,
} from './memory/memory-error.js';
export type {
  /** The memory contract models read and write through (host RAM or a guest-physical view). */
  Memory,
  /** A live typed view of one 4 KiB page, valid while the memory's generation is unchanged. */
  PageView,
  /** Called after a range of memory was written. */
  WriteObserver,
} from './memory/memory.js';
export {
  /** Guest-physical to host-physical memory slots with per-slot dirty logging (KVM memslots). */
  Memslots,
  /** Memslot flag 1: keep a dirty bitmap (api.rst 4.35). */
  KVM_MEM_LOG_DIRTY_PAGES,
  /** Memslot flag 2: the slot is read-only to the guest (api.rst 4.35). */
  KVM_MEM_READONLY,
} from './memory/memslots.js';
export {
  /** A Memory over guest-physical addresses: host memory seen through memslots. */
  GuestPhysicalMemory,
} from './memory/guest-physical-memory.js';
export {
  /** RAM plus MMIO devices behind one read/write that reports "nothing there" as a value. */
  PhysicalAddressSpace,
} from './memory/physical-address-space.js';
export type {
  /** Anything that maps guest-physical to host-physical addresses. */
  GuestPhysicalMap,
  /** One memory slot. */
  Memslot,
  /** What Memslots.add takes. */
  MemslotInit,
  /** Saved state of Memslots. */
  MemslotsState,
  /** Options of Memslots (manual dirty-log protection). */
  MemslotsOptions,
} from './memory/memslots.js';
export type {
  /** Where a PhysicalAddressSpace access went: ram, mmio, unclaimed, read-only. */
  PhysicalAccessResult,
  /** 1, 2, 4 or 8 bytes. */
  PhysicalAccessSize,
  /** Options of PhysicalAddressSpace. */
  PhysicalAddressSpaceOptions,
} from './memory/physical-address-space.js';
export type {
  /** A backed range of physical addresses. */
  MemoryRegion,
  /** Options of `PhysicalMemory.addRegion`. */
  RegionOptions,
  /** Saved state of PhysicalMemory. */
  PhysicalMemoryState,
  /** The halves of a 64-bit value, filled by `PhysicalMemory.read64Halves`. */
  U64Halves,
} from './memory/physical-memory.js';
export type {
  /** Kinds of MemoryError. */
  MemoryErrorKind,
} from './memory/memory-error.js';

// Devices and buses
export {
  /** Range bookkeeping and lookup shared by the buses. */
  AddressMap,
} from './bus/address-map.js';
export {
  /** MMIO address space dispatching to MmioDevices. */
  MmioBus,
  /** x86 port I/O space dispatching to PioDevices. */
  PioBus,
  /** MSR space dispatching to MsrDevices. */
  MsrBus,
} from './bus/buses.js';
export {
  /** A bus mapping or dispatch failed. */
  BusError,
} from './bus/bus-error.js';
export type {
  /** 1, 2 or 4 bytes. */
  AccessSize,
  /** A memory-mapped device. */
  MmioDevice,
  /** A port-I/O device. */
  PioDevice,
  /** A device reached through MSRs. */
  MsrDevice,
} from './bus/devices.js';
export type {
  /** One device mapped on a range. */
  BusMapping,
} from './bus/address-map.js';
export type {
  /** Kinds of BusError. */
  BusErrorKind,
} from './bus/bus-error.js';

// Interrupt wiring
export {
  /** x86 delivery-mode numbers (ICR, LVT, IOAPIC, MSI). */
  DELIVERY_MODE,
  /** What became of an interrupt: delivered, coalesced, blocked or dropped. */
  DELIVERY_STATUS,
  /** Names of the delivery statuses, indexed by value. */
  DELIVERY_STATUS_NAME,
  /** Allocates flow identifiers that follow one interrupt along its path. */
  FlowIds,
  /** An interrupt line that remembers its level. */
  LevelLine,
} from './irq/interrupts.js';
export type {
  /** A numeric delivery mode. */
  DeliveryMode,
  /** A numeric delivery status. */
  DeliveryStatus,
  /** `'edge'` or `'level'`. */
  TriggerMode,
  /** An interrupt as the interconnect carries it. */
  InterruptMessage,
  /** Anything that accepts an interrupt message. */
  InterruptTarget,
  /** Anything that accepts an MSI write. */
  MsiTarget,
  /** A level-driven interrupt wire. */
  InterruptLine,
  /** Callback a controller calls when an interrupt becomes deliverable. */
  InterruptNotifier,
} from './irq/interrupts.js';

// Time
export {
  /** Simulated cycles and a deterministic event queue. */
  Clock,
} from './clock/clock.js';
export {
  /** A cycle as a saved state holds it: relative to the clock at save time. */
  saveCycle,
  /** The absolute cycle of a saved relative one on the clock restored into. */
  restoreCycle,
} from './clock/relative-cycles.js';
export type {
  /** Anything with a current cycle (`now()`). */
  TimeSource,
} from './clock/relative-cycles.js';
export type {
  /** A scheduled callback. */
  ClockEvent,
  /** Handle of a scheduled event. */
  EventHandle,
  /** Saved state of a Clock. */
  ClockState,
} from './clock/clock.js';

// Tracing
export {
  /** A tracer that records events, optionally in a bounded ring. */
  RecordingTracer,
  /** A tracer that forwards to several tracers. */
  FanoutTracer,
} from './trace/recording-tracer.js';
export {
  /** A tracer wrapper that stamps the VM (and vCPU) on every event it forwards. */
  TaggingTracer,
} from './trace/tagging-tracer.js';
export {
  /** Exports events as Chrome Trace Event JSON (Perfetto). */
  toChromeTrace,
  /** Exports events as JSON lines. */
  toJsonLines,
} from './trace/exporters.js';
export type {
  /** Scalar trace argument. */
  TraceArg,
  /** Fields every trace event has. */
  TraceEventBase,
  /** An interrupt moved along its path. */
  InterruptTraceEvent,
  /** An IPI was sent. */
  IpiTraceEvent,
  /** An MSI was written. */
  MsiTraceEvent,
  /** A VM exit. */
  VmExitTraceEvent,
  /** A VM entry. */
  VmEntryTraceEvent,
  /** A page walk. */
  PageWalkTraceEvent,
  /** A TLB hit, miss or flush. */
  TlbTraceEvent,
  /** An architectural fault raised or recorded. */
  FaultTraceEvent,
  /** A model-defined event. */
  CustomTraceEvent,
  /** Any trace event. */
  TraceEvent,
  /** The kind of a trace event. */
  TraceEventKind,
  /** Receives trace events. */
  Tracer,
} from './trace/events.js';
export type {
  /** Options of RecordingTracer. */
  RecordingTracerOptions,
} from './trace/recording-tracer.js';
export type {
  /** Options of TaggingTracer. */
  TaggingTracerOptions,
} from './trace/tagging-tracer.js';
export type {
  /** Chrome Trace Event JSON. */
  ChromeTrace,
  /** One Chrome trace entry. */
  ChromeTraceEntry,
  /** Options of toChromeTrace. */
  ChromeTraceOptions,
} from './trace/exporters.js';

// Snapshots
export {
  /** A saved state cannot be restored. */
  SnapshotError,
} from './snapshot/snapshot-error.js';
export {
  /** Checks a saved state's type and version and returns a validating reader. */
  readState,
  /** Validating reader over a saved state. */
  StateReader,
} from './snapshot/state-reader.js';
export {
  /** bigint to `0x` hex. */
  bigintToHex,
  /** `0x` hex to bigint, validated. */
  hexToBigint,
  /** Bitmap to hex. */
  bitmapToHex,
  /** Hex to bitmap, validated. */
  bitmapFromHex,
  /** Bytes to base64. */
  bytesToBase64,
  /** Base64 to bytes, validated. */
  base64ToBytes,
} from './snapshot/encoding.js';
export type {
  /** Kinds of SnapshotError. */
  SnapshotErrorKind,
} from './snapshot/snapshot-error.js';
export type {
  /** `type` and `version` of every saved state. */
  VersionedState,
  /** A model with saveState/restoreState. */
  Snapshottable,
  /** A JSON-safe value. */
  JsonValue,
} from './snapshot/snapshot.js';

// Randomness
export {
  /** Seeded xoshiro128** generator: the only randomness models may use. */
  SeededRandom,
} from './random/seeded-random.js';
export type {
  /** Saved state of SeededRandom. */
  SeededRandomState,
} from './random/seeded-random.js';
