/**
 * @hvsim/lapic: x86 local APIC (xAPIC and x2APIC), IOAPIC, APIC bus and MSI formats.
 *
 * @packageDocumentation
 */

// Register layout
export {
  /** The local APIC registers' offsets in the xAPIC page, by SDM mnemonic without `APIC_` (SDM 3A Table 11-1). */
  APIC,
  /** @deprecated Use APIC: the same offsets with the `APIC_` prefix (`APIC_REG.APIC_EOI` is `APIC.EOI`). */
  APIC_REG,
  /** Size of the xAPIC register page (4 KiB). */
  APIC_PAGE_SIZE,
  /** Default xAPIC base address, 0xFEE00000. */
  APIC_DEFAULT_BASE,
  /** First x2APIC MSR, 0x800. */
  X2APIC_MSR_BASE,
  /** Last x2APIC MSR, 0x8FF. */
  X2APIC_MSR_LAST,
  /** The x2APIC MSR of each register, named as in APIC (0x800 + offset >> 4; SDM 3A Table 11-6). */
  X2APIC,
  /** @deprecated Use X2APIC (`X2APIC_MSR.APIC_EOI` is `X2APIC.EOI`). */
  X2APIC_MSR,
  /** IA32_APIC_BASE, MSR 0x1B. */
  IA32_APIC_BASE_MSR,
  /** IA32_TSC_DEADLINE, MSR 0x6E0. */
  IA32_TSC_DEADLINE_MSR,
  /** x2APIC MSR of an xAPIC register offset. */
  x2apicMsrForOffset,
  /** xAPIC register offset of an x2APIC MSR. */
  offsetForX2apicMsr,
  /** Fields of IA32_APIC_BASE. */
  APIC_BASE_FIELD,
  /** Fields of the version register. */
  VERSION_FIELD,
  /** Fields of the spurious-interrupt vector register. */
  SVR_FIELD,
  /** Fields of an LVT entry. */
  LVT_FIELD,
  /** LVT timer modes. */
  TIMER_MODE,
  /** Fields of the interrupt command register. */
  ICR_FIELD,
  /** ICR destination shorthands. */
  ICR_SHORTHAND,
  /** Error status register bits. */
  ESR_BIT,
  /** Fields of the xAPIC logical destination register. */
  LDR_FIELD,
  /** Fields of the x2APIC logical destination register. */
  X2APIC_LDR_FIELD,
  /** Fields of the destination format register. */
  DFR_FIELD,
  /** Destination format models (flat, cluster). */
  DFR_MODEL,
  /** Bits of the timer divide configuration register that exist. */
  DIVIDE_CONFIG_MASK,
  /** Power-up reset values of the local APIC registers. */
  APIC_RESET,
  /** Index of each LVT entry. */
  LVT_INDEX,
  /** Offsets of the LVT entries by index. */
  LVT_OFFSETS,
} from './apic/regs.js';
export type {
  /** Name of a local APIC register in APIC. */
  ApicRegisterName,
  /** Name of a register that is an x2APIC MSR (all but APR, RRD, DFR, ICR_HIGH). */
  X2apicRegisterName,
  /** @deprecated Use ApicRegisterName. */
  ApicRegName,
  /** @deprecated Use X2apicRegisterName. */
  X2apicRegName,
} from './apic/regs.js';
export {
  /** Every local APIC register as the one description both views use: offset, access per view, reset value. */
  APIC_REGISTER_INFO,
  /** Access kinds of a register in one view (absent, RO, RW, WO). */
  ACCESS as APIC_ACCESS,
} from './apic/register-file.js';
export type {
  /** What software sees of one local APIC register. */
  ApicRegisterInfo,
  /** One of APIC_ACCESS. */
  AccessKind as ApicAccessKind,
} from './apic/register-file.js';

// MSI formats
export {
  /** Fields of the compatibility-format MSI address. */
  MSI_ADDRESS_FIELD,
  /** Fields of the remappable-format MSI address. */
  REMAPPABLE_MSI_ADDRESS_FIELD,
  /** Fields of the MSI data register. */
  MSI_DATA_FIELD,
  /** 0xFEE00000. */
  MSI_ADDRESS_BASE,
  /** 0xFEEFFFFF. */
  MSI_ADDRESS_LAST,
  /** True for an address in the MSI window. */
  isMsiAddress,
  /** True for a remappable-format MSI address (bit 4 set). */
  isRemappableMsi,
  /** Decodes a compatibility-format MSI. */
  decodeMsi,
  /** Encodes a compatibility-format MSI. */
  encodeMsi,
  /** Decodes a remappable-format MSI. */
  decodeRemappableMsi,
  /** Encodes a remappable-format MSI. */
  encodeRemappableMsi,
  /** Interrupt-remapping table index of a remappable MSI. */
  remappableMsiIndex,
  /** Interrupt handle of a remappable MSI address, without allocating. */
  remappableMsiHandle,
} from './msi/msi.js';
export type {
  /** A decoded compatibility-format MSI. */
  MsiMessage,
  /** Options of the MSI encoders and decoders. */
  MsiFormatOptions,
  /** A decoded remappable-format MSI. */
  RemappableMsi,
} from './msi/msi.js';

// Posted interrupts
export {
  /** View over a posted-interrupt descriptor in memory. */
  PostedInterruptDescriptor,
  /** Byte offsets of the descriptor's words. */
  PID_OFFSET,
  /** Size and alignment of a descriptor (64). */
  PID_SIZE,
  /** Fields of the descriptor's control word (ON, SN, NV, reserved bits). */
  PID_CONTROL,
  /** Linux's posted-interrupt notification vector, 0xF2. */
  POSTED_INTR_VECTOR,
  /** Linux's posted-interrupt wakeup vector, 0xF1. */
  POSTED_INTR_WAKEUP_VECTOR,
  /** Bits of PostedInterruptDescriptor.checkAndPost's answer (POSTED, NOTIFY, COALESCED, RESERVED, INACCESSIBLE). */
  POST_RESULT,
} from './posted/posted-interrupt-descriptor.js';
export type {
  /** Fields PostedInterruptDescriptor.updateControl changes. */
  PidControlUpdate,
  /** An answer of checkAndPost: a combination of POST_RESULT's bits. */
  PostResult,
} from './posted/posted-interrupt-descriptor.js';

// Local APIC
export {
  /** One processor's local APIC: xAPIC page, x2APIC MSRs, timer, IPIs. */
  LocalApic,
} from './apic/local-apic.js';
export type {
  /** Options of a LocalApic. */
  LocalApicOptions,
  /** Thermal, performance-counter or CMCI source. */
  LocalInterruptSource,
} from './apic/local-apic.js';
export type {
  /** Takes a fixed interrupt instead of the IRR (APICv posting); LocalApicOptions.deliverFixed. */
  FixedInterruptSink,
} from './apic/apic-core.js';
export type {
  /** Saved state of a LocalApic. */
  LocalApicState,
} from './apic/apic-state.js';
export type {
  /** Saved state of the APIC timer (LocalApicState.timer): mode, counts, TSC deadline and the cycle it was saved at. */
  ApicTimerState,
} from './apic/timer.js';
export {
  /** Bits of LocalApic.pendingSignals: NMI, SMI, INIT, SIPI, ExtINT. */
  PENDING_SIGNAL,
} from './apic/signals.js';
export type {
  /** `'disabled'`, `'xapic'` or `'x2apic'`. */
  ApicMode,
} from './apic/apic-base.js';
export {
  /** PPR from TPR and the highest in-service vector (SDM 3A 11.8.3.1). */
  computePpr,
  /** APR from TPR, ISRV and IRRV (SDM 3A 11.6.2.4). */
  computeApr,
  /** Priority class of a vector: bits 7:4. */
  priorityClass,
} from './apic/priority.js';
export {
  /** Timer divisor of a divide-configuration value. */
  timerDivisor,
} from './apic/timer.js';
export {
  /** Size of the KVM_GET_LAPIC register image (1 KiB). */
  KVM_LAPIC_STATE_SIZE,
} from './apic/kvm-lapic-page.js';

// IOAPIC
export {
  /** The I/O APIC: 24 redirection entries, IOREGSEL/IOWIN, EOI register. */
  IoApic,
} from './ioapic/io-apic.js';
export type {
  /** Options of an IoApic. */
  IoApicOptions,
  /** Saved state of an IoApic. */
  IoApicState,
  /** Where an IoApic sends its interrupts as MSI writes (IoApic.connectMsi). */
  IoApicMsiTarget,
} from './ioapic/io-apic.js';
export {
  /** Encodes a compatibility-format redirection entry as [low, high]. */
  encodeRte,
  /** Encodes a remappable-format redirection entry (VT-d 5.1.5.1) as [low, high]. */
  encodeRemappableRte,
  /** The MSI address a redirection entry sends. */
  rteMsiAddress,
  /** The MSI data a redirection entry sends. */
  rteMsiData,
  /** Bit 48 of an entry (bit 16 of the high dword): remappable format. */
  RTE_HIGH_REMAPPABLE,
} from './ioapic/rte.js';
export type {
  /** Fields of a compatibility-format redirection entry. */
  RteFields,
  /** Fields of a remappable-format redirection entry. */
  RemappableRteFields,
} from './ioapic/rte.js';
export {
  /** IOAPIC MMIO offsets: IOREGSEL, IOWIN, EOI. */
  IOAPIC,
  /** IOAPIC indirect register indexes: ID, VER, ARB, IOREDTBL0. */
  IOAPIC_INDIRECT,
  /** @deprecated Use IOAPIC. */
  IOAPIC_MMIO,
  /** @deprecated Use IOAPIC_INDIRECT (`IOAPIC_REG.IOAPICVER` is `IOAPIC_INDIRECT.VER`). */
  IOAPIC_REG,
  /** Default IOAPIC base, 0xFEC00000. */
  IOAPIC_DEFAULT_BASE,
  /** Size of the IOAPIC MMIO window. */
  IOAPIC_MMIO_SIZE,
  /** Number of redirection entries (24). */
  IOAPIC_PINS,
  /** IOAPICID field. */
  IOAPIC_ID_FIELD,
  /** IOAPICVER fields. */
  IOAPIC_VERSION_FIELD,
  /** Fields of a redirection entry's low dword. */
  RTE_FIELD,
  /** Destination field of a redirection entry's high dword. */
  RTE_DESTINATION_FIELD,
} from './ioapic/regs.js';

// APIC bus
export {
  /** Connects local APICs and IOAPICs; routes IPIs, MSIs and EOIs. */
  ApicBus,
} from './bus/apic-bus.js';
export type {
  /** Options of an ApicBus. */
  ApicBusOptions,
  /** Saved state of an ApicBus. */
  ApicBusState,
} from './bus/apic-bus.js';
export type {
  /** A message on the APIC bus. */
  ApicBusMessage,
  /** The interconnect a LocalApic sends on. */
  ApicBusPort,
  /** What an interconnect sees of a local APIC (a LocalApic). */
  ApicBusEndpoint,
} from './bus/apic-message.js';
export {
  /** Does an APIC accept a destination (physical or logical)? */
  matchesDestination,
  /** Physical destination match. */
  matchesPhysical,
  /** Logical destination match (flat, cluster, x2APIC cluster). */
  matchesLogical,
  /** Broadcast address for 8-bit or x2APIC destinations. */
  broadcastAddress,
} from './bus/destination.js';
export type {
  /** What a receiver contributes to destination matching. */
  DestinationIdentity,
} from './bus/destination.js';

// i8259A PIC pair (master + slave, ELCR)
export {
  /** The PC's cascaded master/slave i8259A pair with ELCR, as KVM's in-kernel irqchip has it. */
  PicPair,
} from './pic/pic-pair.js';
export {
  /** Standard I/O ports of the PIC pair and the ELCR. */
  PIC_PORT,
  /** IRQ inputs of the pair (16). */
  PIC_IRQS,
  /** The master input the slave cascades into (2). */
  PIC_CASCADE_IRQ,
  /** ICW1 fields. */
  ICW1,
  /** ICW4 fields. */
  ICW4,
  /** OCW2 fields. */
  OCW2,
  /** OCW2 commands (EOI, rotation, set priority). */
  OCW2_COMMAND,
  /** OCW3 fields (read register, poll, special mask mode). */
  OCW3,
  /** Writable ELCR bits of the master and slave. */
  ELCR_WRITABLE,
} from './pic/regs.js';
export type {
  /** Options of a PicPair. */
  PicPairOptions,
  /** Saved state of a PicPair. */
  PicPairState,
} from './pic/pic-pair.js';
export type {
  /** The registers and modes of one 8259A, named as KVM's `struct kvm_pic_state`. */
  I8259Registers,
} from './pic/i8259.js';
