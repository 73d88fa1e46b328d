/**
 * The i8259A programmable interrupt controller's ports and command words
 * (Intel 8259A datasheet, "Programming the 8259A": ICW1-ICW4, OCW1-OCW3),
 * and the edge/level control registers a PC chipset adds beside it (Intel
 * PIIX/ICH "ELCR1/ELCR2").
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** Standard I/O ports of the PC's PIC pair. */
export const PIC_PORT = {
  /** Master command (A0 = 0) and data (A0 = 1) ports. Value `0x20`. */
  MASTER_COMMAND: 0x20,
  /** `0x21` */
  MASTER_DATA: 0x21,
  /** Slave command and data ports. Value `0xa0`. */
  SLAVE_COMMAND: 0xa0,
  /** `0xa1` */
  SLAVE_DATA: 0xa1,
  /** Edge/level control for IRQ 0-7 (ELCR1) and IRQ 8-15 (ELCR2). Value `0x4d0`. */
  ELCR1: 0x4d0,
  /** `0x4d1` */
  ELCR2: 0x4d1,
} as const;

/** Number of IRQ inputs of one 8259A. */
export const PIC_IRQS_PER_CHIP = 8;
/** IRQs of the master/slave pair (the slave's output cascades into master IR2). */
export const PIC_IRQS = 16;
/** The master input the slave's INT output drives on a PC. */
export const PIC_CASCADE_IRQ = 2;

/**
 * A write to the command port with bit 4 set is ICW1 (8259A datasheet,
 * "Initialization Command Words").
 */
export const ICW1 = {
  /** ICW4 will follow. */
  IC4: bitFlag(0),
  /** Single 8259A: no ICW3. */
  SNGL: bitFlag(1),
  /** Call address interval (MCS-80/85 only). */
  ADI: bitFlag(2),
  /** Level-triggered mode for every input. */
  LTIM: bitFlag(3),
  /** Marks the write as ICW1. */
  INIT: bitFlag(4),
} as const;

/** ICW2: the vector base; T7-T3 in bits 7:3 (8086 mode). */
export const ICW2_VECTOR_BASE = bitRange(7, 3);

/** ICW4 (datasheet "ICW4"). */
export const ICW4 = {
  /** 8086/8088 mode (1) or MCS-80/85 mode (0). */
  UPM: bitFlag(0),
  /** Automatic end of interrupt. */
  AEOI: bitFlag(1),
  /** Buffered mode: master (1) or slave (0). */
  MS: bitFlag(2),
  /** Buffered mode. */
  BUF: bitFlag(3),
  /** Special fully nested mode. */
  SFNM: bitFlag(4),
} as const;

/**
 * A command-port write with bit 4 clear is OCW2 (bit 3 clear) or OCW3
 * (bit 3 set) (datasheet "Operation Command Words").
 */
export const OCW_SELECT = {
  /** Set for OCW3, clear for OCW2. */
  OCW3: bitFlag(3),
} as const;

/** OCW2: the R, SL and EOI bits in 7:5 select the command; L2-L0 in 2:0 name the level. */
export const OCW2 = {
  /** Bits 2:0, L2-L0: the IR level a specific EOI or set-priority command acts on. */
  LEVEL: bitRange(2, 0),
  /** Bits 7:5, R SL EOI: the command, one of {@link OCW2_COMMAND}. */
  COMMAND: bitRange(7, 5),
} as const;

/** OCW2 commands (R SL EOI in bits 7:5). */
export const OCW2_COMMAND = {
  /** Rotate in automatic EOI mode: clear. */
  ROTATE_AEOI_CLEAR: 0b000,
  /** Non-specific EOI. */
  NON_SPECIFIC_EOI: 0b001,
  /** No operation. */
  NOP: 0b010,
  /** Specific EOI for level L. */
  SPECIFIC_EOI: 0b011,
  /** Rotate in automatic EOI mode: set. */
  ROTATE_AEOI_SET: 0b100,
  /** Rotate on non-specific EOI. */
  ROTATE_NON_SPECIFIC_EOI: 0b101,
  /** Set priority: level L becomes the lowest. */
  SET_PRIORITY: 0b110,
  /** Rotate on specific EOI for level L. */
  ROTATE_SPECIFIC_EOI: 0b111,
} as const;

/** OCW3 (datasheet "OCW3"). */
export const OCW3 = {
  /** Read ISR (1) or IRR (0) on the next command-port read, when RR is set. */
  RIS: bitFlag(0),
  /** Read register command. */
  RR: bitFlag(1),
  /** Poll command: the next read is an acknowledge returning the level. */
  P: bitFlag(2),
  /** Special mask mode: set (1) or reset (0), when ESMM is set. */
  SMM: bitFlag(5),
  /** Enable special mask mode change. */
  ESMM: bitFlag(6),
} as const;

/** Bit 7 of the poll word: an interrupt was pending (datasheet "The Poll Command"). */
export const POLL_INTERRUPT = 0x80;

/**
 * ELCR bits that are writable. IRQ 0, 1 and 2 (timer, keyboard, cascade)
 * and IRQ 8 and 13 (RTC, FPU error) are edge-triggered only: their bits are
 * reserved and read 0 (PIIX4 datasheet, ELCR1/ELCR2; the same masks as
 * Linux's KVM PIC).
 */
export const ELCR_WRITABLE = {
  /** ELCR1 (port 0x4D0): IRQ 3-7. */
  MASTER: 0xf8,
  /** ELCR2 (port 0x4D1): IRQ 9-12, 14 and 15. */
  SLAVE: 0xde,
} as const;

/** ICW initialization states of one chip: which word the data port expects next. */
export const PIC_INIT_STATE = { READY: 0, ICW2: 1, ICW3: 2, ICW4: 3 } as const;
