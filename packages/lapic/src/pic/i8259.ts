/**
 * One Intel 8259A: IRR, ISR and IMR, the initialization sequence (ICW1-ICW4),
 * the operation commands (OCW1-OCW3), fully nested priority with rotation,
 * special mask mode, automatic EOI and special fully nested mode (8259A
 * datasheet, "Functional Description" and "Programming the 8259A").
 *
 * The chip knows nothing of its neighbour: `PicPair` cascades two of them and
 * owns the ports, the ELCR and the output line.
 */
import { DELIVERY_STATUS, getField, testField, type DeliveryStatus } from '@hvsim/core';
import { ICW1, ICW2_VECTOR_BASE, ICW4, OCW2, OCW2_COMMAND, OCW3, OCW_SELECT, PIC_INIT_STATE } from './regs.js';

/** The registers and modes of one 8259A, as saved (names follow KVM's `struct kvm_pic_state`). */
export interface I8259Registers {
  /** Input levels as last driven (the edge-sense latch of edge-triggered inputs). */
  lastIrr: number;
  /** Interrupt request register, bit n for IRn. */
  irr: number;
  /** Interrupt mask register (OCW1). */
  imr: number;
  /** In-service register. */
  isr: number;
  /** The level that has the highest priority (rotation), 0-7. */
  priorityAdd: number;
  /** ICW2 vector base (bits 7:3). */
  irqBase: number;
  /** OCW3 RIS: the command port reads the ISR (true) or the IRR (false). */
  readRegSelect: boolean;
  /** An OCW3 poll command is waiting for its read. */
  poll: boolean;
  /** OCW3 ESMM/SMM: special mask mode. */
  specialMask: boolean;
  /** 0 ready, 1-3 waiting for ICW2, ICW3, ICW4. */
  initState: number;
  /** ICW4 AEOI: automatic end of interrupt. */
  autoEoi: boolean;
  /** OCW2 rotate-in-automatic-EOI mode. */
  rotateOnAutoEoi: boolean;
  /** ICW4 SFNM: special fully nested mode. */
  specialFullyNestedMode: boolean;
  /** ICW1 IC4: ICW4 follows. */
  init4: boolean;
  /** ICW1 SNGL: no ICW3. */
  single: boolean;
  /** ICW1 LTIM: every input level-triggered. */
  levelTriggeredMode: boolean;
  /** ICW3 as written (master: inputs with slaves; slave: its ID). */
  icw3: number;
  /** ICW4 µPM: 8086 mode (true) or MCS-80/85 mode (false). */
  microprocessorMode: boolean;
  /** Edge/level control for this chip's inputs (a chipset register beside the 8259A). */
  elcr: number;
}

/** Reset registers of a chip: all inputs unmasked, nothing pending, IR0 highest (datasheet ICW1 effects). */
export function resetI8259Registers(): I8259Registers {
  return {
    lastIrr: 0,
    irr: 0,
    imr: 0,
    isr: 0,
    priorityAdd: 0,
    irqBase: 0,
    readRegSelect: false,
    poll: false,
    specialMask: false,
    initState: PIC_INIT_STATE.READY,
    autoEoi: false,
    rotateOnAutoEoi: false,
    specialFullyNestedMode: false,
    init4: false,
    single: false,
    levelTriggeredMode: false,
    icw3: 0,
    microprocessorMode: true,
    elcr: 0,
  };
}

const NO_LEVEL = 8;

/** One 8259A chip (see the file comment). `isMaster` decides special fully nested mode's cascade input. */
export class I8259 {
  readonly r: I8259Registers = resetI8259Registers();

  /** @param cascadeInput the input a slave is cascaded into, or -1 (a slave or a single chip). */
  constructor(private readonly cascadeInput: number) {}

  /** True when input `irq` is level-triggered (ELCR bit or ICW1 LTIM). */
  isLevel(irq: number): boolean {
    return this.r.levelTriggeredMode || (this.r.elcr & (1 << irq)) !== 0;
  }

  /**
   * Drives input `irq` to `level`. Edge-triggered inputs request on a rising
   * edge; level-triggered ones request while high and withdraw when low.
   * Returns what became of the request (KVM's rule for KVM_IRQ_LINE_STATUS:
   * masked → blocked, already requested → coalesced).
   */
  setLine(irq: number, level: boolean): DeliveryStatus {
    const bit = 1 << irq;
    const r = this.r;
    let status: DeliveryStatus = DELIVERY_STATUS.DELIVERED;
    if (this.isLevel(irq)) {
      if (level) {
        if ((r.irr & bit) !== 0) status = DELIVERY_STATUS.COALESCED;
        r.irr |= bit;
        r.lastIrr |= bit;
      } else {
        r.irr &= ~bit;
        r.lastIrr &= ~bit;
      }
    } else if (level) {
      if ((r.lastIrr & bit) === 0) {
        if ((r.irr & bit) !== 0) status = DELIVERY_STATUS.COALESCED;
        r.irr |= bit;
      }
      r.lastIrr |= bit;
    } else {
      // The request an edge latched stays in the IRR until acknowledged (as
      // KVM and QEMU model it; on the 8259A a request withdrawn before INTA
      // becomes a spurious IR7).
      r.lastIrr &= ~bit;
    }
    return (r.imr & bit) !== 0 ? DELIVERY_STATUS.BLOCKED : status;
  }

  /** The priority rank (0 highest) of the best bit in `mask`, or 8 for none. */
  private rank(mask: number): number {
    if (mask === 0) return NO_LEVEL;
    const add = this.r.priorityAdd;
    let p = 0;
    while ((mask & (1 << ((p + add) & 7))) === 0) p++;
    return p;
  }

  /**
   * The input this chip would raise INT for, or -1: the highest-priority
   * unmasked request above every in-service level (fully nested mode). In
   * special mask mode a masked in-service level does not block lower ones;
   * in special fully nested mode the cascade input's in-service bit does not
   * block the slave (datasheet "Special Mask Mode", "Special Fully Nest Mode").
   */
  pendingInput(): number {
    const r = this.r;
    const request = this.rank(r.irr & ~r.imr);
    if (request === NO_LEVEL) return -1;
    let inService = r.isr;
    if (r.specialMask) inService &= ~r.imr;
    if (r.specialFullyNestedMode && this.cascadeInput >= 0) inService &= ~(1 << this.cascadeInput);
    return request < this.rank(inService) ? (request + r.priorityAdd) & 7 : -1;
  }

  /** The INTA cycle for input `irq`: ISR set (unless AEOI), an edge request cleared. */
  acknowledge(irq: number): void {
    const r = this.r;
    const bit = 1 << irq;
    r.isr |= bit;
    // A level request stays while its line is high: the ISR bit holds it off.
    if (!this.isLevel(irq)) r.irr &= ~bit;
    if (r.autoEoi) {
      if (r.rotateOnAutoEoi) r.priorityAdd = (irq + 1) & 7;
      r.isr &= ~bit;
    }
  }

  /** The vector of input `irq` in 8086 mode: ICW2's T7-T3 with the level in bits 2:0. */
  vectorOf(irq: number): number {
    return (this.r.irqBase | irq) & 0xff;
  }

  /**
   * A command-port write (A0 = 0): ICW1, OCW2 or OCW3. Returns the EOI'd
   * level for EOI commands (so the pair can tell its EOI listeners), else -1.
   */
  writeCommand(value: number): number {
    const r = this.r;
    if (testField(value, ICW1.INIT)) {
      this.initialize(value);
      return -1;
    }
    if (testField(value, OCW_SELECT.OCW3)) {
      if (testField(value, OCW3.P)) r.poll = true;
      if (testField(value, OCW3.RR)) r.readRegSelect = testField(value, OCW3.RIS);
      if (testField(value, OCW3.ESMM)) r.specialMask = testField(value, OCW3.SMM);
      return -1;
    }
    const level = getField(value, OCW2.LEVEL);
    switch (getField(value, OCW2.COMMAND)) {
      case OCW2_COMMAND.ROTATE_AEOI_CLEAR:
        r.rotateOnAutoEoi = false;
        return -1;
      case OCW2_COMMAND.ROTATE_AEOI_SET:
        r.rotateOnAutoEoi = true;
        return -1;
      case OCW2_COMMAND.NON_SPECIFIC_EOI:
      case OCW2_COMMAND.ROTATE_NON_SPECIFIC_EOI: {
        const rank = this.rank(r.isr);
        if (rank === NO_LEVEL) return -1;
        const irq = (rank + r.priorityAdd) & 7;
        r.isr &= ~(1 << irq);
        if (getField(value, OCW2.COMMAND) === OCW2_COMMAND.ROTATE_NON_SPECIFIC_EOI) r.priorityAdd = (irq + 1) & 7;
        return irq;
      }
      case OCW2_COMMAND.SPECIFIC_EOI:
        r.isr &= ~(1 << level);
        return level;
      case OCW2_COMMAND.ROTATE_SPECIFIC_EOI:
        r.isr &= ~(1 << level);
        r.priorityAdd = (level + 1) & 7;
        return level;
      case OCW2_COMMAND.SET_PRIORITY:
        r.priorityAdd = (level + 1) & 7;
        return -1;
      default: // NOP
        return -1;
    }
  }

  /** A data-port write (A0 = 1): the next ICW of the initialization sequence, or OCW1 (the IMR). */
  writeData(value: number): void {
    const r = this.r;
    switch (r.initState) {
      case PIC_INIT_STATE.ICW2:
        r.irqBase = getField(value, ICW2_VECTOR_BASE) << 3;
        r.initState = !r.single ? PIC_INIT_STATE.ICW3 : r.init4 ? PIC_INIT_STATE.ICW4 : PIC_INIT_STATE.READY;
        return;
      case PIC_INIT_STATE.ICW3:
        r.icw3 = value & 0xff;
        r.initState = r.init4 ? PIC_INIT_STATE.ICW4 : PIC_INIT_STATE.READY;
        return;
      case PIC_INIT_STATE.ICW4:
        r.microprocessorMode = testField(value, ICW4.UPM);
        r.autoEoi = testField(value, ICW4.AEOI);
        r.specialFullyNestedMode = testField(value, ICW4.SFNM);
        r.initState = PIC_INIT_STATE.READY;
        return;
      default:
        r.imr = value & 0xff;
    }
  }

  /** A command-port read without a pending poll: the IRR or the ISR, as OCW3 last selected. */
  readStatus(): number {
    return this.r.readRegSelect ? this.r.isr : this.r.irr;
  }

  /**
   * ICW1 (datasheet "Initialization Command Words"): the edge-sense latches
   * are reset (an input that is high must go low and high again), the IMR is
   * cleared, IR7 gets the lowest priority, special mask mode is cleared and
   * status reads return the IRR; without IC4 every ICW4 function is zero.
   * In-service levels are dropped too (the datasheet is silent; KVM and QEMU
   * clear them), and edge requests with them.
   */
  private initialize(icw1: number): void {
    const r = this.r;
    const edgeInputs = r.levelTriggeredMode ? 0 : ~r.elcr & 0xff;
    r.init4 = testField(icw1, ICW1.IC4);
    r.single = testField(icw1, ICW1.SNGL);
    r.levelTriggeredMode = testField(icw1, ICW1.LTIM);
    r.irr &= ~edgeInputs & 0xff;
    r.isr = 0;
    r.imr = 0;
    r.priorityAdd = 0;
    r.specialMask = false;
    r.readRegSelect = false;
    r.poll = false;
    if (!r.init4) {
      r.autoEoi = false;
      r.specialFullyNestedMode = false;
      r.microprocessorMode = false;
    }
    r.initState = PIC_INIT_STATE.ICW2;
  }
}
