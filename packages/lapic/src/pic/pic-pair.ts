/**
 * The PC's two cascaded 8259As: IRQ 0-7 on the master, IRQ 8-15 on the slave
 * whose INT output drives master IR2; the ELCR pair that makes inputs
 * level-triggered; the INT output to the CPU (on an APIC system, the BSP's
 * LINT0 in ExtINT mode); and the INTA cycle that returns the vector.
 * KVM's in-kernel irqchip includes this pair, and its default GSI routes send
 * GSI 0-15 to it as well as to the IOAPIC (kvm.md, KVM_CREATE_IRQCHIP).
 */
import {
  DELIVERY_STATUS,
  SnapshotError,
  UsageError,
  assertInteger,
  describeValue,
  readState,
  type AccessSize,
  type Clock,
  type DeliveryStatus,
  type InterruptLine,
  type PioBus,
  type PioDevice,
  type Snapshottable,
  type StateReader,
  type Tracer,
} from '@hvsim/core';
import { I8259, type I8259Registers } from './i8259.js';
import { ELCR_WRITABLE, PIC_CASCADE_IRQ, PIC_INIT_STATE, PIC_IRQS, PIC_IRQS_PER_CHIP, PIC_PORT, POLL_INTERRUPT } from './regs.js';

/** Options of a {@link PicPair}. */
export interface PicPairOptions {
  /** The INT output (the CPU's INTR, or the BSP LAPIC's LINT0 line); driven on every level change. */
  output?: InterruptLine;
  /** Called with the IRQ (0-15) whose in-service bit an EOI command cleared (KVM's ack notifiers: irqfd resample, PIT reinjection). */
  onEoi?: (irq: number) => void;
  /** Time-stamps trace events. */
  clock?: Clock;
  /** Receives trace events (`source: 'pic'`). */
  tracer?: Tracer;
}

/** Saved state of a {@link PicPair}. */
export interface PicPairState {
  /** Format tag. */
  type: 'hvsim.pic';
  /** Format version. */
  version: 1;
  /** The master 8259A (IRQ 0-7, ports 0x20/0x21). */
  master: I8259Registers;
  /** The slave 8259A (IRQ 8-15, ports 0xA0/0xA1) on the master's IR2. */
  slave: I8259Registers;
  /** Input levels of IRQ 0-15 as last driven. */
  lines: number;
  /** Level of the master's INT output. */
  output: boolean;
}

const KEYS: readonly (keyof I8259Registers)[] = [
  'lastIrr', 'irr', 'imr', 'isr', 'priorityAdd', 'irqBase', 'readRegSelect', 'poll', 'specialMask', 'initState',
  'autoEoi', 'rotateOnAutoEoi', 'specialFullyNestedMode', 'init4', 'single', 'levelTriggeredMode', 'icw3',
  'microprocessorMode', 'elcr',
];

/**
 * A master/slave i8259A pair (see the file comment). Map it on a port bus with
 * {@link PicPair.attach}, drive IRQs with {@link PicPair.setIrq}, and take the
 * vector with {@link PicPair.acknowledge} when the CPU runs its INTA cycle.
 */
export class PicPair implements Snapshottable {
  /** The master chip's ports (0x20-0x21). */
  readonly masterPorts: PioDevice;
  /** The slave chip's ports (0xA0-0xA1). */
  readonly slavePorts: PioDevice;
  /** ELCR1/ELCR2 (0x4D0-0x4D1). */
  readonly elcrPorts: PioDevice;

  private readonly master = new I8259(PIC_CASCADE_IRQ);
  private readonly slave = new I8259(-1);
  private lines = 0;
  private outputLevel = false;
  /** Flow identifier of each IRQ's latest request, for traces (0 = none). */
  private readonly flows = new Int32Array(PIC_IRQS);
  private lastFlow = 0;
  private readonly output: InterruptLine | undefined;
  private readonly onEoi: ((irq: number) => void) | undefined;
  private readonly clock: Clock | undefined;
  private readonly tracer: Tracer | undefined;

  constructor(options: PicPairOptions = {}) {
    if (typeof (options as unknown) !== 'object' || (options as unknown) === null) throw new UsageError('bad-argument', `PicPair options must be an object, got ${describeValue(options)}`);
    for (const key of Object.keys(options)) {
      if (!['output', 'onEoi', 'clock', 'tracer'].includes(key)) throw new UsageError('unknown-name', `unknown PicPair option ${describeValue(key)}`);
    }
    this.output = options.output;
    this.onEoi = options.onEoi;
    this.clock = options.clock;
    this.tracer = options.tracer;
    this.masterPorts = this.chipPorts(this.master, false);
    this.slavePorts = this.chipPorts(this.slave, true);
    this.elcrPorts = {
      pioRead: (offset, size) => this.byteWise(offset, size, (o) => (o === 0 ? this.master.r.elcr : this.slave.r.elcr)),
      pioWrite: (offset, size, value) => {
        this.byteWiseWrite(offset, size, value, (o, v) => {
          if (o === 0) this.master.r.elcr = v & ELCR_WRITABLE.MASTER;
          else this.slave.r.elcr = v & ELCR_WRITABLE.SLAVE;
        });
        this.update();
      },
    };
  }

  /** Maps the master, slave and ELCR ports at their PC addresses on `bus`. */
  attach(bus: PioBus): void {
    bus.map(PIC_PORT.MASTER_COMMAND, 2, this.masterPorts, 'pic-master');
    bus.map(PIC_PORT.SLAVE_COMMAND, 2, this.slavePorts, 'pic-slave');
    bus.map(PIC_PORT.ELCR1, 2, this.elcrPorts, 'elcr');
  }

  /** Level of the INT output. */
  get interruptRequested(): boolean {
    return this.outputLevel;
  }

  /** The flow identifier of the interrupt the last {@link PicPair.acknowledge} returned (0 if untracked or spurious). */
  get acknowledgedFlow(): number {
    return this.lastFlow;
  }

  /**
   * Drives IRQ `irq` (0-15) to `level`; `flow` tags the request in traces.
   * Returns KVM's KVM_IRQ_LINE_STATUS meaning: BLOCKED when the input is
   * masked, COALESCED when the request was already pending, else DELIVERED.
   */
  setIrq(irq: number, level: boolean, flow = 0): DeliveryStatus {
    if (!Number.isInteger(irq) || irq < 0 || irq >= PIC_IRQS) throw new UsageError('bad-argument', `PIC IRQ must be an integer in [0, 15], got ${describeValue(irq)}`);
    if (typeof level !== 'boolean') throw new UsageError('bad-argument', `PIC IRQ level must be a boolean, got ${describeValue(level)}`);
    if (level) this.lines |= 1 << irq;
    else this.lines &= ~(1 << irq);
    const chip = irq < PIC_IRQS_PER_CHIP ? this.master : this.slave;
    const input = irq & 7;
    const status = chip.setLine(input, level);
    if (level && status === DELIVERY_STATUS.DELIVERED) this.flows[irq] = flow;
    if (level) this.trace(status === DELIVERY_STATUS.DELIVERED ? 'interrupt.raised' : status === DELIVERY_STATUS.COALESCED ? 'interrupt.coalesced' : 'interrupt.dropped', irq, flow);
    this.update();
    return status;
  }

  /** Current level of input `irq` as last driven. */
  lineLevel(irq: number): boolean {
    assertInteger(irq, 'PIC IRQ', 0, PIC_IRQS - 1);
    return (this.lines & (1 << irq)) !== 0;
  }

  /**
   * The CPU's INTA cycle: the vector of the highest-priority request, whose
   * in-service bit is set (unless automatic EOI); a request for master IR2
   * is answered by the slave. With nothing to acknowledge (the request went
   * away) it is a spurious IR7 of the chip asked: vector base + 7 with no
   * in-service bit set (8259A datasheet, "Interrupt Sequence").
   */
  acknowledge(): number {
    let vector: number;
    let irq = this.master.pendingInput();
    if (irq < 0) {
      vector = this.master.vectorOf(7);
      irq = -1;
    } else {
      this.master.acknowledge(irq);
      if (irq === PIC_CASCADE_IRQ) {
        const slaveIrq = this.slave.pendingInput();
        if (slaveIrq < 0) {
          vector = this.slave.vectorOf(7);
          irq = -1;
        } else {
          this.slave.acknowledge(slaveIrq);
          vector = this.slave.vectorOf(slaveIrq);
          irq = PIC_IRQS_PER_CHIP + slaveIrq;
        }
        // INT of the slave falls during INTA: the cascade input sees a new edge if it stays requested.
        this.master.setLine(PIC_CASCADE_IRQ, false);
      } else {
        vector = this.master.vectorOf(irq);
      }
    }
    this.lastFlow = irq >= 0 ? this.flows[irq]! : 0;
    this.trace('interrupt.acknowledged', irq >= 0 ? irq : 7, this.lastFlow, vector);
    this.update();
    return vector;
  }

  /** Returns both chips to their power-on state (ELCR cleared, output low). */
  reset(): void {
    this.commit(emptyRegisters(), emptyRegisters(), 0);
    this.update();
  }

  /** The registers of the master (`'master'`) or slave chip, as KVM_GET_IRQCHIP reports them (a copy). */
  registers(chip: 'master' | 'slave'): I8259Registers {
    if ((chip as string) !== 'master' && (chip as string) !== 'slave') throw new UsageError('bad-argument', `PIC chip must be 'master' or 'slave', got ${describeValue(chip)}`);
    return { ...(chip === 'master' ? this.master : this.slave).r };
  }

  saveState(): PicPairState {
    return { type: 'hvsim.pic', version: 1, master: { ...this.master.r }, slave: { ...this.slave.r }, lines: this.lines, output: this.outputLevel };
  }

  /** Restores a saved state (validated whole before anything changes); the output line is driven to the restored level. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.pic', 1);
    const master = readRegisters(s.object('master'), 'master', ELCR_WRITABLE.MASTER);
    const slave = readRegisters(s.object('slave'), 'slave', ELCR_WRITABLE.SLAVE);
    const lines = s.int('lines', 0, 0xffff);
    s.bool('output');
    this.commit(master, slave, lines);
    this.update();
  }

  private commit(master: I8259Registers, slave: I8259Registers, lines: number): void {
    Object.assign(this.master.r, master);
    Object.assign(this.slave.r, slave);
    this.lines = lines;
    this.flows.fill(0);
    this.lastFlow = 0;
  }

  /** Cascade the slave into master IR2, then drive INT from the master. */
  private update(): void {
    this.master.setLine(PIC_CASCADE_IRQ, this.slave.pendingInput() >= 0);
    const level = this.master.pendingInput() >= 0;
    if (level !== this.outputLevel) {
      this.outputLevel = level;
      this.output?.setLevel(level);
    }
  }

  private chipPorts(chip: I8259, isSlave: boolean): PioDevice {
    return {
      pioRead: (offset, size) => this.byteWise(offset, size, (o) => this.readPort(chip, isSlave, o)),
      pioWrite: (offset, size, value) => {
        this.byteWiseWrite(offset, size, value, (o, v) => {
          this.writePort(chip, isSlave, o, v);
        });
      },
    };
  }

  private readPort(chip: I8259, isSlave: boolean, offset: number): number {
    if (chip.r.poll) return this.pollRead(chip, isSlave);
    return offset === 0 ? chip.readStatus() : chip.r.imr;
  }

  private writePort(chip: I8259, isSlave: boolean, offset: number, value: number): void {
    if (offset === 0) {
      const eoiLevel = chip.writeCommand(value);
      if (eoiLevel >= 0) {
        const irq = isSlave ? PIC_IRQS_PER_CHIP + eoiLevel : eoiLevel;
        this.trace('interrupt.eoi', irq, this.flows[irq]!);
        this.onEoi?.(irq);
      }
      if (chip.r.initState === PIC_INIT_STATE.ICW2) this.traceCustom('pic.init', isSlave);
    } else {
      chip.writeData(value);
      if (chip.r.initState === PIC_INIT_STATE.READY && !chip.r.microprocessorMode) this.traceCustom('pic.mcs80-mode', isSlave);
    }
    this.update();
  }

  /**
   * The read after an OCW3 poll command is an acknowledge: bit 7 says whether
   * a request was pending, bits 2:0 give its level, and its in-service bit is
   * set (8259A datasheet, "The Poll Command"). A poll of the slave that finds
   * a request also completes the master's cascade request.
   */
  private pollRead(chip: I8259, isSlave: boolean): number {
    chip.r.poll = false;
    const irq = chip.pendingInput();
    if (irq < 0) {
      this.update();
      return 0;
    }
    chip.acknowledge(irq);
    if (isSlave) this.master.setLine(PIC_CASCADE_IRQ, false);
    this.trace('interrupt.acknowledged', isSlave ? PIC_IRQS_PER_CHIP + irq : irq, 0, chip.vectorOf(irq));
    this.update();
    return POLL_INTERRUPT | irq;
  }

  /** Ports are 8 bits wide; a wider access is split into byte cycles at consecutive ports, as the ISA bus does. */
  private byteWise(offset: number, size: AccessSize, read: (offset: number) => number): number {
    let value = 0;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      value |= (o < 2 ? read(o) & 0xff : 0xff) << (8 * i);
    }
    return value >>> 0;
  }

  private byteWiseWrite(offset: number, size: AccessSize, value: number, write: (offset: number, value: number) => void): void {
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      if (o < 2) write(o, (value >>> (8 * i)) & 0xff);
    }
  }

  private trace(kind: 'interrupt.raised' | 'interrupt.coalesced' | 'interrupt.dropped' | 'interrupt.acknowledged' | 'interrupt.eoi', irq: number, flow: number, vector = -1): void {
    if (!this.tracer) return;
    this.tracer.emit({
      kind,
      cycle: this.clock?.now() ?? 0,
      source: 'pic',
      vector: vector >= 0 ? vector : irq,
      ...(flow ? { flow } : {}),
      args: { irq },
    });
  }

  private traceCustom(what: string, isSlave: boolean): void {
    this.tracer?.emit({ kind: 'custom', cycle: this.clock?.now() ?? 0, source: 'pic', name: what, args: { chip: isSlave ? 'slave' : 'master' } });
  }
}

function emptyRegisters(): I8259Registers {
  return new I8259(-1).r;
}

function readRegisters(r: StateReader, name: string, elcrWritable: number): I8259Registers {
  const out = emptyRegisters();
  for (const key of KEYS) {
    const current = out[key];
    if (typeof current === 'boolean') (out as unknown as Record<string, boolean>)[key] = r.bool(key);
    else (out as unknown as Record<string, number>)[key] = r.int(key, 0, key === 'priorityAdd' ? 7 : key === 'initState' ? 3 : 0xff);
  }
  if ((out.irqBase & 7) !== 0) throw new SnapshotError('shape', `hvsim.pic.${name}.irqBase must be a multiple of 8, got ${out.irqBase}`);
  if ((out.elcr & ~elcrWritable) !== 0) throw new SnapshotError('shape', `hvsim.pic.${name}.elcr has reserved bits set: 0x${out.elcr.toString(16)}`);
  return out;
}
