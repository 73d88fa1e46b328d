/**
 * The virtual-APIC page and the virtual-interrupt state of a guest (SDM 3C
 * "APIC Virtualization and Virtual Interrupts": "Virtual-APIC State", "TPR
 * Virtualization", "PPR Virtualization", "EOI Virtualization", "Self-IPI
 * Virtualization", "Evaluation and Delivery of Virtual Interrupts",
 * "Posted-Interrupt Processing"). The page lives in physical memory at the
 * VMCS's virtual-APIC address, laid out like the xAPIC page (lapic's
 * `APIC`); RVI and SVI live in the VMCS's guest interrupt status.
 * Every change is written to memory at once, through a live page view of the
 * virtual-APIC page (numbers only, no page lookup, no allocation); a page
 * with nothing behind it reads as all ones and ignores writes.
 * VIRR, VISR, VTPR and VPPR are also kept in step from VM entry on (VIRR and
 * VISR as 8-word summaries for the highest-bit searches): while the guest
 * runs only the processor changes them (SDM 3C "Software Access to Related
 * Structures"; other agents post through the posted-interrupt descriptor).
 */
import type { Memory, PageView } from '@hvsim/core';
import { APIC, type PostedInterruptDescriptor } from '@hvsim/lapic';
import { Vmcs } from '../vmcs/vmcs.js';
import { slotOf } from '../fields/slots.js';
import { VMCS_FIELD } from '../fields/field-table.js';

// Slots of the VMCS fields this file reads, looked up once.
const S_INTR_STATUS = slotOf(VMCS_FIELD.GUEST_INTR_STATUS);
const S_TPR_THRESHOLD = slotOf(VMCS_FIELD.TPR_THRESHOLD);
const S_EOI_EXIT0 = slotOf(VMCS_FIELD.EOI_EXIT_BITMAP0);

// Word indices (byte offset / 4) of the registers this file keeps in step.
const W_TPR = APIC.TPR >>> 2;
const W_PPR = APIC.PPR >>> 2;
const W_EOI = APIC.EOI >>> 2;
const W_ISR0 = APIC.ISR0 >>> 2;
const W_IRR0 = APIC.IRR0 >>> 2;

/** Offset of the 32-bit word holding bit `vector` of a 256-bit register (ISR, TMR, IRR) starting at `base` (SDM 3C "Virtual-APIC State"). */
export function vectorWordOffset(base: number, vector: number): number {
  return base + ((vector >>> 5) << 4);
}

/** A virtual-APIC page is bound to a VMCS without it: an empty binding. */
const NO_PAGE = -1;

/** The virtual-APIC state of the running guest: RVI, SVI, VIRR, VISR, VTPR and VPPR, and the operations on them. */
export class VirtualApic {
  /** Physical address of the virtual-APIC page (set at VM entry; 0 without "use TPR shadow"). */
  page = 0;
  /** A virtual interrupt is recognized and waits for delivery (SDM 3C "Evaluation of Pending Virtual Interrupts"). */
  recognized = false;
  /** Cached "interrupt-window exiting" of the running VMCS. */
  intrWindowExiting = false;
  /** The bound VMCS (a detached empty one until the first attach). */
  private vmcs: Vmcs;
  /** The bound VMCS's low words (RVI/SVI, the TPR threshold), read without going through {@link vmcs}. */
  private lo: Uint32Array;
  /** The bound VMCS's high words (the EOI-exit bitmap's odd halves). */
  private hi: Uint32Array;
  /** Live view of the page, or null while bound to no page / a page with nothing behind it. */
  private view: PageView | null = null;
  /** The page's 32-bit words: the view's, or {@link scratch} (all ones) when nothing is behind the page. */
  private words: Uint32Array;
  private bytes: Uint8Array;
  /** Stands in for a page with nothing behind it: reads all ones, writes are undone. */
  private readonly scratch = new Uint32Array(1024).fill(0xffff_ffff);
  private readonly scratchBytes = new Uint8Array(this.scratch.buffer);
  /** Scratch for the PIR words of posted-interrupt processing. */
  private readonly pir = new Uint32Array(8);
  /** VIRR and VISR as loaded at VM entry and kept in step with memory. */
  private readonly virr = new Uint32Array(8);
  private readonly visr = new Uint32Array(8);
  /** Bit i set when word i of VIRR / VISR is non-zero (for the highest-bit search). */
  private virrWords = 0;
  private visrWords = 0;
  /** VTPR and VPPR as last written (loaded at VM entry). */
  private vtprWord = 0;
  private vpprWord = 0;

  /** A binding over `memory`; `vmcs` (optional) is the VMCS whose guest interrupt status RVI/SVI live in until {@link attach}. */
  constructor(
    private readonly memory: Memory,
    vmcs?: Vmcs,
  ) {
    this.words = this.scratch;
    this.bytes = this.scratchBytes;
    this.vmcs = vmcs ?? new Vmcs(0);
    this.lo = this.vmcs.lo;
    this.hi = this.vmcs.hi;
  }

  /** Binds to the VMCS being entered (or synchronised in root operation); `page` is null without "use TPR shadow". */
  attach(vmcs: Vmcs, page: number | null, intrWindowExiting: boolean): void {
    this.vmcs = vmcs;
    this.lo = vmcs.lo;
    this.hi = vmcs.hi;
    this.intrWindowExiting = intrWindowExiting;
    if (page === null) {
      this.page = 0;
      if (this.view !== null) this.bind(NO_PAGE);
      if ((this.virrWords | this.visrWords) !== 0) {
        this.virr.fill(0);
        this.visr.fill(0);
        this.virrWords = 0;
        this.visrWords = 0;
      }
      this.vtprWord = 0;
      this.vpprWord = 0;
      return;
    }
    // Re-take the view only when the page or the memory's backing changed.
    if (page !== this.page || this.view === null || this.view.generation !== this.memory.generation) {
      this.page = page;
      this.bind(page);
    }
    const w = this.words;
    this.vtprWord = w[W_TPR]!;
    this.vpprWord = w[W_PPR]!;
    let irrWords = 0;
    let isrWords = 0;
    for (let i = 0; i < 8; i++) {
      const irr = w[W_IRR0 + (i << 2)]!;
      const isr = w[W_ISR0 + (i << 2)]!;
      this.virr[i] = irr;
      this.visr[i] = isr;
      if (irr !== 0) irrWords |= 1 << i;
      if (isr !== 0) isrWords |= 1 << i;
    }
    this.virrWords = irrWords;
    this.visrWords = isrWords;
  }

  /** Takes the page view of `page` (or the all-ones scratch). */
  private bind(page: number): void {
    const view = page < 0 ? undefined : this.memory.pageView(page);
    if (view === undefined) {
      // The scratch stays all ones: put() undoes its writes and writeSized() skips it.
      this.view = null;
      this.words = this.scratch;
      this.bytes = this.scratchBytes;
    } else {
      this.view = view;
      this.words = view.words;
      this.bytes = view.bytes;
    }
  }

  /** The page's words, re-taking the view if the memory's backing changed since. */
  private w(): Uint32Array {
    const v = this.view;
    if (v !== null && v.generation !== this.memory.generation) this.bind(this.page);
    return this.words;
  }

  /** Stores word `index` of the page (tells write observers; undone on the all-ones scratch). */
  private put(index: number, value: number): void {
    const w = this.w();
    w[index] = value;
    if (this.view === null) w[index] = 0xffff_ffff;
    else if (this.memory.observed) this.memory.noteWritten(this.page + (index << 2), 4);
  }

  /** Requesting virtual interrupt, GUEST_INTR_STATUS[7:0]. */
  get rvi(): number {
    return this.lo[S_INTR_STATUS]! & 0xff;
  }
  set rvi(v: number) {
    const s = this.lo;
    s[S_INTR_STATUS] = (s[S_INTR_STATUS]! & 0xff00) | v;
  }
  /** Servicing virtual interrupt, GUEST_INTR_STATUS[15:8]. */
  get svi(): number {
    return this.lo[S_INTR_STATUS]! >>> 8;
  }
  set svi(v: number) {
    const s = this.lo;
    s[S_INTR_STATUS] = (s[S_INTR_STATUS]! & 0xff) | (v << 8);
  }

  /** Clears VEOI, the 32-bit word at 0B0H (APIC-write emulation of an EOI write). */
  clearVeoi(): void {
    this.put(W_EOI, 0);
  }

  /** VTPR, the 32-bit word at 080H. */
  get vtpr(): number {
    return this.vtprWord;
  }
  set vtpr(v: number) {
    this.vtprWord = v >>> 0;
    this.put(W_TPR, v >>> 0);
  }
  /** VPPR, the 32-bit word at 0A0H. */
  get vppr(): number {
    return this.vpprWord;
  }
  private set vpprValue(v: number) {
    // Writing the value the page already holds is unobservable: skip it (VM entry virtualizes the PPR every time).
    if (v === this.vpprWord && this.w()[W_PPR] === v) return;
    this.vpprWord = v;
    this.put(W_PPR, v);
  }

  /** Reads the 32-bit word at `offset` (a multiple of 4) of the virtual-APIC page. */
  read32(offset: number): number {
    return this.w()[offset >>> 2]!;
  }
  /** Writes the 32-bit word at `offset` (a multiple of 4) of the virtual-APIC page. */
  write32(offset: number, value: number): void {
    this.put(offset >>> 2, value >>> 0);
  }
  /** Reads `size` (1, 2 or 4) bytes at any `offset` of the page (little-endian; the access stays inside one 16-byte register). */
  readSized(offset: number, size: number): number {
    this.w();
    const b = this.bytes;
    if (size === 1) return b[offset]!;
    if (size === 2) return b[offset]! | (b[offset + 1]! << 8);
    return (b[offset]! | (b[offset + 1]! << 8) | (b[offset + 2]! << 16) | (b[offset + 3]! << 24)) >>> 0;
  }
  /** Writes `size` (1, 2 or 4) bytes at any `offset` of the page. */
  writeSized(offset: number, size: number, value: number): void {
    this.w();
    if (this.view === null) return;
    const b = this.bytes;
    for (let i = 0; i < size; i++) b[offset + i] = (value >>> (i << 3)) & 0xff;
    if (this.memory.observed) this.memory.noteWritten(this.page + offset, size);
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
    this.virrWords = this.setBit(this.virr, this.virrWords, W_IRR0, vector, value);
  }
  /** Sets or clears VISR bit `vector`. */
  setVisr(vector: number, value: boolean): void {
    this.visrWords = this.setBit(this.visr, this.visrWords, W_ISR0, vector, value);
  }

  /** Updates one bit in a summary and in memory; returns the new non-zero-word mask. */
  private setBit(words: Uint32Array, nonZero: number, reg: number, vector: number, value: boolean): number {
    const i = vector >>> 5;
    const m = 1 << (vector & 31);
    const w = (value ? words[i]! | m : words[i]! & ~m) >>> 0;
    words[i] = w;
    this.put(reg + (i << 2), w);
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
    this.recognized = !this.intrWindowExiting && (this.lo[S_INTR_STATUS]! & 0xff) >>> 4 > (this.vpprWord & 0xff) >>> 4;
  }

  /** Virtual-interrupt delivery (SDM 3C "Virtual-Interrupt Delivery"); returns the vector to deliver through the guest IDT. */
  deliver(): number {
    const s = this.lo;
    const v = s[S_INTR_STATUS]! & 0xff;
    const i = v >>> 5;
    const m = 1 << (v & 31);
    const visr = this.visr;
    const virr = this.virr;
    // VISR[v] = 1; SVI = v; VPPR = v & F0H; VIRR[v] = 0; RVI = highest VIRR bit (0 when none).
    const isrWord = (visr[i]! | m) >>> 0;
    visr[i] = isrWord;
    this.visrWords |= 1 << i;
    const irrWord = (virr[i]! & ~m) >>> 0;
    virr[i] = irrWord;
    if (irrWord === 0) this.virrWords &= ~(1 << i);
    const next = VirtualApic.highest(virr, this.virrWords);
    s[S_INTR_STATUS] = (v << 8) | (next < 0 ? 0 : next);
    this.recognized = false;
    const ppr = v & 0xf0;
    const oldPpr = this.vpprWord;
    this.vpprWord = ppr;
    // The page: one view check for the three words.
    const w = this.w();
    if (this.view === null) return v;
    const isrIndex = W_ISR0 + (i << 2);
    const irrIndex = W_IRR0 + (i << 2);
    // Writing the PPR value the page already holds is unobservable: skipped (as vpprValue does).
    const pprWrite = ppr !== oldPpr || w[W_PPR] !== ppr;
    w[isrIndex] = isrWord;
    if (pprWrite) w[W_PPR] = ppr;
    w[irrIndex] = irrWord;
    if (this.memory.observed) this.noteWords(isrIndex, pprWrite, irrIndex);
    return v;
  }

  /** Tells write observers about word `index` of the page. */
  private noteWord(index: number): void {
    this.memory.noteWritten(this.page + (index << 2), 4);
  }

  /** Tells write observers about an ISR word, the PPR when written, and an IRR word when `irrIndex` >= 0, in that order (out of line: the delivery and EOI paths stay small). */
  private noteWords(isrIndex: number, pprWrite: boolean, irrIndex: number): void {
    this.noteWord(isrIndex);
    if (pprWrite) this.noteWord(W_PPR);
    if (irrIndex >= 0) this.noteWord(irrIndex);
  }

  /**
   * EOI virtualization (SDM 3C "EOI Virtualization"): retires SVI and
   * returns it; the caller exits (EOI-induced) when {@link eoiExits} says
   * so, else evaluates pending virtual interrupts.
   */
  eoi(): number {
    const s = this.lo;
    const status = s[S_INTR_STATUS]!;
    const v = status >>> 8;
    const i = v >>> 5;
    const visr = this.visr;
    // VISR[SVI] = 0; SVI = highest VISR bit (0 when none); PPR virtualization with the new SVI.
    const isrWord = (visr[i]! & ~(1 << (v & 31))) >>> 0;
    visr[i] = isrWord;
    if (isrWord === 0) this.visrWords &= ~(1 << i);
    const next = VirtualApic.highest(visr, this.visrWords);
    const svi = next < 0 ? 0 : next;
    s[S_INTR_STATUS] = (status & 0xff) | (svi << 8);
    const vtpr = this.vtprWord & 0xff;
    const ppr = vtpr >>> 4 >= svi >>> 4 ? vtpr : svi & 0xf0;
    const oldPpr = this.vpprWord;
    this.vpprWord = ppr;
    const w = this.w();
    if (this.view === null) return v;
    const isrIndex = W_ISR0 + (i << 2);
    const pprWrite = ppr !== oldPpr || w[W_PPR] !== ppr;
    w[isrIndex] = isrWord;
    if (pprWrite) w[W_PPR] = ppr;
    if (this.memory.observed) this.noteWords(isrIndex, pprWrite, -1);
    return v;
  }

  /** EOI_EXIT_BITMAP bit `vector` of the running VMCS (EOI_EXIT0 covers 0-63 ... EOI_EXIT3 192-255). */
  eoiExits(vector: number): boolean {
    const slot = S_EOI_EXIT0 + (vector >>> 6);
    const word = (vector & 32) === 0 ? this.lo[slot]! : this.hi[slot]!;
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
   * Moves the descriptor's PIR into VIRR (PIR cleared, read and cleared 64
   * bits at a time by lapic's `swapPir`) and raises RVI to the
   * highest vector moved; returns that vector, or -1 when the PIR was empty.
   * ON is the caller's.
   */
  mergePir(pid: PostedInterruptDescriptor): number {
    return this.mergeWords(pid.swapPir(this.pir));
  }

  /** ORs the PIR words `mask` names (moved into {@link pir}) into VIRR and raises RVI; returns the highest vector moved, or -1. */
  private mergeWords(mask: number): number {
    const pir = this.pir;
    if (mask === 0) return -1;
    const virr = this.virr;
    const hi = 31 - Math.clz32(mask);
    const top = (hi << 5) + 31 - Math.clz32(pir[hi]!);
    this.virrWords |= mask;
    // Only the words that held PIR bits change; the summary equals the page's VIRR while bound (see the file
    // comment), so only the write reaches memory.
    const w = this.w();
    const bound = this.view !== null;
    const observed = bound && this.memory.observed;
    for (let m = mask; m !== 0; m &= m - 1) {
      const i = 31 - Math.clz32(m & -m);
      const merged = (virr[i]! | pir[i]!) >>> 0;
      virr[i] = merged;
      if (!bound) continue;
      w[W_IRR0 + (i << 2)] = merged;
      if (observed) this.noteWord(W_IRR0 + (i << 2));
    }
    const s = this.lo;
    const status = s[S_INTR_STATUS]!;
    if (top > (status & 0xff)) s[S_INTR_STATUS] = (status & 0xff00) | top;
    return top;
  }

  /**
   * Posted-interrupt processing steps 3-7 (SDM 3C "Posted-Interrupt
   * Processing"): clear ON, (EOI is the caller's), VIRR |= PIR with PIR
   * cleared, RVI = max(RVI, highest PIR bit), evaluate.
   */
  processPosted(pid: PostedInterruptDescriptor): void {
    // Clearing ON and taking the PIR are one descriptor access (nothing else touches it in between).
    this.mergeWords(pid.clearOnAndSwapPir(this.pir));
    this.evaluate();
  }
}
