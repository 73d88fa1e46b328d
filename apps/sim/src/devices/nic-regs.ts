/**
 * The assigned NIC's programming interface: the virtual function's BAR
 * (registers in page 0, the MSI-X table in page 1) and the descriptor
 * formats in guest memory. The layout follows the shape of an Intel 82599
 * virtual function (ring base/length/head/tail registers, 16-byte legacy
 * descriptors with a DD write-back bit, an interrupt throttle register,
 * MSI-X per PCI 3.0 6.8.2) without its exact offsets: it is this model's
 * device, and its guest driver uses these names.
 */

/** Register offsets in BAR page 0 (32-bit registers). */
export const NIC_REG = {
  /** CTRL: enables (NIC_CTRL bits). */
  CTRL: 0x00,
  /** Receive ring: base address (low, high), length in bytes, head (the device's), tail (the driver's). */
  RDBAL: 0x10,
  RDBAH: 0x14,
  RDLEN: 0x18,
  RDH: 0x1c,
  RDT: 0x20,
  /** Transmit ring, the same way. */
  TDBAL: 0x30,
  TDBAH: 0x34,
  TDLEN: 0x38,
  TDH: 0x3c,
  TDT: 0x40,
  /** Interrupt throttle: the least interval between two interrupts, in cycles of the device clock (0: off). */
  ITR: 0x50,
} as const;

/** CTRL bits. */
export const NIC_CTRL = {
  RX_ENABLE: 1,
  TX_ENABLE: 2,
} as const;

/** The MSI-X table (PCI 3.0 6.8.2): page 1 of the BAR, 16 bytes per vector. */
export const NIC_MSIX = {
  /** Offset of the table in the BAR. */
  TABLE: 0x1000,
  /** Bytes per entry. */
  ENTRY: 16,
  /** Fields of an entry: message address (low, high), message data, vector control (bit 0: masked). */
  ADDR_LO: 0x0,
  ADDR_HI: 0x4,
  DATA: 0x8,
  CTRL: 0xc,
  /** Vector control's mask bit. */
  MASKED: 1,
  /** The pending-bit array, after the table in the same page. */
  PBA: 0x1800,
} as const;

/** Bytes of the BAR: the register page and the MSI-X page. */
export const NIC_BAR_SIZE = 0x2000;
/** MSI-X vectors the function has: vector 0 for receive (transmit completions are reclaimed by polling the DD bit). */
export const NIC_VECTORS = 1;

/** Descriptor layout (16 bytes, the 82599's legacy format in shape). */
export const NIC_DESC = {
  SIZE: 16,
  /** 64-bit buffer address (an I/O virtual address: a guest-physical address behind the IOMMU). */
  ADDR: 0x0,
  /** 16-bit length: written back by receive, given by the driver for transmit. */
  LENGTH: 0x8,
  /** Transmit command byte (EOP, RS). */
  CMD: 0xb,
  /** Status byte, written back by the device (DD). */
  STATUS: 0xc,
} as const;

/** Descriptor status and command bits. */
export const NIC_DESC_BITS = {
  /** Status: descriptor done. */
  DD: 1,
  /** Status / command: end of packet. */
  EOP: 2,
  /** Command: report status (write DD back). */
  RS: 8,
} as const;

/** A packet buffer's contents as the model carries them: the transaction id, then the payload length. */
export const NIC_PACKET = {
  ID: 0x0,
  LENGTH: 0x4,
} as const;
