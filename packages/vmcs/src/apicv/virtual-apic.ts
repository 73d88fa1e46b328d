/**
 * The virtual-APIC page and the virtual-interrupt state of a guest (SDM 3C
 * "APIC Virtualization and Virtual Interrupts": "Virtual-APIC State", "TPR
 * Virtualization", "PPR Virtualization", "EOI Virtualization", "Self-IPI
 * Virtualization", "Evaluation and Delivery of Virtual Interrupts",
 * "Posted-Interrupt Processing"). The page lives in physical memory at the
 * VMCS's virtual-APIC address, laid out like the xAPIC page (lapic's
 * `APIC_REG`); RVI and SVI live in the VMCS's guest interrupt status.
 * Every change is written to memory at once (numbers only, no allocation).
 * VIRR, VISR, VTPR and VPPR are also kept in step from VM entry on (VIRR and
 * VISR as 8-word summaries for the highest-bit searches): while the guest
 * runs only the processor changes them (SDM 3C "Software Access to Related
 * Structures"; other agents post through the posted-interrupt descriptor).
 */
import type { PhysicalMemory, U64Halves } from '@hvsim/core';
import { APIC_REG, type PostedInterruptDescriptor } from '@hvsim/lapic';
import type { Vmcs } from '../vmcs/vmcs.js';
import { slotOf } from '../fields/slots.js';
import { VMCS_FIELD } from '../fields/field-table.js';

// Slots of the VMCS fields this file reads, looked up once.
const S_INTR_STATUS = slotOf(VMCS_FIELD.GUEST_INTR_STATUS);
const S_TPR_THRESHOLD = slotOf(VMCS_FIELD.TPR_THRESHOLD);
const S_EOI_EXIT0 = slotOf(VMCS_FIELD.EOI_EXIT_BITMAP0);

/** Offset of the 32-bit word holding bit `vector` of a 256-bit register (ISR, TMR, IRR) starting at `base` (SDM 3C "Virtual-APIC State"). */
export function vectorWordOffset(base: number, vector: number): number {
  return base + ((vector >>> 5) << 4);
}

/** The virtual-APIC state of the running guest: RVI, SVI, VIRR, VISR, VTPR and VPPR, and the operations on them. */
export class VirtualApic {
  /** Physical address of the virtual-APIC page (set at VM entry). */
  page = 0;
  /** A virtual interrupt is recognized and waits for delivery (SDM 3C "Evaluation of Pending Virtual Interrupts"). */
  recognized = false;
  /** Cached "interrupt-window exiting" of the running VMCS. */
  intrWindowExiting = false;
  /** Scratch for reading the PIR 64 bits at a time. */
  private readonly pirHalves: U64Halves = { lo: 0, hi: 0 };
  /** VIRR and VISR as loaded at VM entry and kept in step with memory. */
  private readonly virr = new Uint32Array(8);
  private readonly visr = new Uint32Array(8);
  /** Bit i set when word i of VIRR / VISR is non-zero (for the highest-bit search). */
  private virrWords = 0;
  private visrWords = 0;
  /** VTPR and VPPR as last written (loaded at VM entry). */
  private vtprWord = 0;
  private vpprWord = 0;

  constructor(
    private readonly memory: PhysicalMemory,
    private vmcs: Vmcs,
  ) {}

  /** Binds to the VMCS being entered; `page` is null without "use TPR shadow". */
  attach(vmcs: Vmcs, page: number | null, intrWindowExiting: boolean): void {
    this.vmcs = vmcs;
    this.page = page ?? 0;
    this.intrWindowExiting = intrWindowExiting;
    this.virr.fill(0);
    this.visr.fill(0);
    this.virrWords = 0;
    this.visrWords = 0;
    this.vtprWord = 0;
    this.vpprWord = 0;
    if (page === null) return;
    this.vtprWord = this.memory.read32(this.page + APIC_REG.APIC_TPR);
    this.vpprWord = this.memory.read32(this.page + APIC_REG.APIC_PPR);
    for (let i = 0; i < 8; i++) {
      const irr = this.memory.read32(page + APIC_REG.APIC_IRR0 + (i << 4));
      const isr = this.memory.read32(page + APIC_REG.APIC_ISR0 + (i << 4));
      this.virr[i] = irr;
      this.visr[i] = isr;
      if (irr !== 0) this.virrWords |= 1 << i;
      if (isr !== 0) this.visrWords |= 1 << i;
    }
  }

  /** Requesting virtual interrupt, GUEST_INTR_STATUS[7:0]. */
  get rvi(): number {
    return this.vmcs.lo[S_INTR_STATUS]! & 0xff;
  }
  set rvi(v: number) {
    const s = this.vmcs.lo;
    s[S_INTR_STATUS] = (s[S_INTR_STATUS]! & 0xff00) | v;
  }
  /** Servicing virtual interrupt, GUEST_INTR_STATUS[15:8]. */
  get svi(): number {
    return this.vmcs.lo[S_INTR_STATUS]! >>> 8;
  }
  set svi(v: number) {
    const s = this.vmcs.lo;
    s[S_INTR_STATUS] = (s[S_INTR_STATUS]! & 0xff) | (v << 8);
  }

  /** Clears VEOI, the 32-bit word at 0B0H (APIC-write emulation of an EOI write). */
  clearVeoi(): void {
    this.memory.write32(this.page + APIC_REG.APIC_EOI, 0);
  }

  /** VTPR, the 32-bit word at 080H. */
  get vtpr(): number {
    return this.vtprWord;
  }
  set vtpr(v: number) {
    this.vtprWord = v >>> 0;
    this.memory.write32(this.page + APIC_REG.APIC_TPR, v >>> 0);
  }
  /** VPPR, the 32-bit word at 0A0H. */
  get vppr(): number {
    return this.vpprWord;
  }
  private set vpprValue(v: number) {
    this.vpprWord = v;
    this.memory.write32(this.page + APIC_REG.APIC_PPR, v);
  }

  /** Reads the 32-bit word at `offset` of the virtual-APIC page. */
  read32(offset: number): number {
    return this.memory.read32(this.page + offset);
  }
  /** Writes the 32-bit word at `offset` of the virtual-APIC page. */
  write32(offset: number, value: number): void {
    this.memory.write32(this.page + offset, value >>> 0);
  }

  /** VIRR bit `vector`. */
  testVirr(vector: number): boolean {
    return ((this.virr[vector >>> 5]! >>> (vector & 31)) & 1) === 1;
  }
  /** VISR bit `vector`. */
  testVisr(vector: number): boolean {
    return ((this.visr[vector >>> 5]! >>> (vector & 31)) & 1) === 1;
  }
  /** Sets or clears VIRR bit `vector`. */
  setVirr(vector: number, value: boolean): void {
    this.virrWords = this.setBit(this.virr, this.virrWords, APIC_REG.APIC_IRR0, vector, value);
  }
  /** Sets or clears VISR bit `vector`. */
  setVisr(vector: number, value: boolean): void {
    this.visrWords = this.setBit(this.visr, this.visrWords, APIC_REG.APIC_ISR0, vector, value);
  }

  /** Updates one bit in a summary and in memory; returns the new non-zero-word mask. */
  private setBit(words: Uint32Array, nonZero: number, reg: number, vector: number, value: boolean): number {
    const i = vector >>> 5;
    const m = 1 << (vector & 31);
    const w = (value ? words[i]! | m : words[i]! & ~m) >>> 0;
    words[i] = w;
    this.memory.write32(this.page + reg + (i << 4), w);
    return w !== 0 ? nonZero | (1 << i) : nonZero & ~(1 << i);
  }

  /** Highest set bit of a 256-bit summary whose non-zero words are `nonZero`, or -1. */
  private static highest(words: Uint32Array, nonZero: number): number {
    if (nonZero === 0) return -1;
    const i = 31 - Math.clz32(nonZero);
    return (i << 5) + 31 - Math.clz32(words[i]!);
  }

  /** The vectors set in VIRR, lowest first (for inspection; allocates). */
  virrVectors(): number[] {
    return VirtualApic.vectors(this.virr);
  }
  /** The vectors set in VISR, lowest first (for inspection; allocates). */
  visrVectors(): number[] {
    return VirtualApic.vectors(this.visr);
  }
  private static vectors(words: Uint32Array): number[] {
    const out: number[] = [];
    for (let v = 0; v < 256; v++) if (((words[v >>> 5]! >>> (v & 31)) & 1) === 1) out.push(v);
    return out;
  }

  /** Highest VIRR bit, or -1. */
  highestVirr(): number {
    return VirtualApic.highest(this.virr, this.virrWords);
  }
  /** Highest VISR bit, or -1. */
  highestVisr(): number {
    return VirtualApic.highest(this.visr, this.visrWords);
  }

  /** PPR virtualization (SDM 3C "PPR Virtualization"). */
  pprVirtualization(): void {
    const vtpr = this.vtpr & 0xff;
    const svi = this.svi;
    this.vpprValue = vtpr >>> 4 >= svi >>> 4 ? vtpr : svi & 0xf0;
  }

  /**
   * Evaluation of pending virtual interrupts (SDM 3C): a virtual interrupt
   * is recognized when interrupt-window exiting is 0 and RVI[7:4] >
   * VPPR[7:4]; otherwise none is.
   */
  evaluate(): void {
    this.recognized = !this.intrWindowExiting && this.rvi >>> 4 > (this.vppr & 0xff) >>> 4;
  }

  /** Virtual-interrupt delivery (SDM 3C "Virtual-Interrupt Delivery"); returns the vector to deliver through the guest IDT. */
  deliver(): number {
    const v = this.rvi;
    this.setVisr(v, true);
    this.svi = v;
    this.vpprValue = v & 0xf0;
    this.setVirr(v, false);
    const next = this.highestVirr();
    this.rvi = next < 0 ? 0 : next;
    this.recognized = false;
    return v;
  }

  /**
   * EOI virtualization (SDM 3C "EOI Virtualization"): retires SVI and
   * returns it; the caller exits (EOI-induced) when {@link eoiExits} says
   * so, else evaluates pending virtual interrupts.
   */
  eoi(): number {
    const v = this.svi;
    this.setVisr(v, false);
    const next = this.highestVisr();
    this.svi = next < 0 ? 0 : next;
    this.pprVirtualization();
    return v;
  }

  /** EOI_EXIT_BITMAP bit `vector` of the running VMCS (EOI_EXIT0 covers 0-63 ... EOI_EXIT3 192-255). */
  eoiExits(vector: number): boolean {
    const slot = S_EOI_EXIT0 + (vector >>> 6);
    const word = (vector & 32) === 0 ? this.vmcs.lo[slot]! : this.vmcs.hi[slot]!;
    return ((word >>> (vector & 31)) & 1) === 1;
  }

  /** Self-IPI virtualization (SDM 3C "Self-IPI Virtualization"). */
  selfIpi(vector: number): void {
    this.setVirr(vector, true);
    if (vector > this.rvi) this.rvi = vector;
    this.evaluate();
  }

  /** TPR threshold bits 3:0. */
  get tprThreshold(): number {
    return this.vmcs.lo[S_TPR_THRESHOLD]! & 0xf;
  }

  /**
   * Posted-interrupt processing steps 3-7 (SDM 3C "Posted-Interrupt
   * Processing"): clear ON, (EOI is the caller's), VIRR |= PIR with PIR
   * cleared, RVI = max(RVI, highest PIR bit), evaluate. The PIR is read 64
   * bits at a time, and each non-zero 32-bit word is cleared and ORed into
   * VIRR.
   */
  processPosted(pid: PostedInterruptDescriptor): void {
    pid.clearOn();
    const halves = this.pirHalves;
    let top = -1;
    for (let q = 0; q < 4; q++) {
      const a = pid.address + (q << 3);
      this.memory.read64Halves(a, halves);
      const lo = halves.lo;
      const hi = halves.hi;
      if (lo !== 0) {
        this.takePirWord(a, q << 1, lo);
        top = (q << 6) + 31 - Math.clz32(lo);
      }
      if (hi !== 0) {
        this.takePirWord(a + 4, (q << 1) + 1, hi);
        top = (q << 6) + 63 - Math.clz32(hi);
      }
    }
    if (top > this.rvi) this.rvi = top;
    this.evaluate();
  }

  /** Clears the PIR word at `address` and ORs its bits `w` into VIRR word `i`. */
  private takePirWord(address: number, i: number, w: number): void {
    this.memory.write32(address, 0);
    // The summary equals the page's VIRR while the guest runs (see the file
    // comment), so only the write reaches memory.
    const merged = (this.virr[i]! | w) >>> 0;
    this.virr[i] = merged;
    this.virrWords |= 1 << i;
    this.memory.write32(this.page + APIC_REG.APIC_IRR0 + (i << 4), merged);
  }
}
