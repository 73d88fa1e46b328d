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

/** Flag of {@link VirtualApic.virtualizeEoi}'s answer: the EOI-exit bitmap has the retired vector (an EOI-induced VM exit follows). */
export const EOI_EXITS = 0x100;

// Word offsets in VirtualApic's `regs`.
const PIR = 0;
const VIRR = 8;
const VISR = 16;

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
  /**
   * The bound VMCS's guest interrupt status (RVI 7:0, SVI 15:8), read at
   * {@link attach} and written through to the VMCS on every change: the hot
   * paths read a number field, not the VMCS's array.
   */
  private status = 0;
  /** Live view of the page, or null while bound to no page / a page with nothing behind it. */
  private view: PageView | null = null;
  /** The page's 32-bit words: the view's, or {@link scratch} (all ones) when nothing is behind the page. */
  private words: Uint32Array;
  private bytes: Uint8Array;
  /** Stands in for a page with nothing behind it: reads all ones, writes are undone. */
  private readonly scratch = new Uint32Array(1024).fill(0xffff_ffff);
  private readonly scratchBytes = new Uint8Array(this.scratch.buffer);
  /**
   * Words 0-7: scratch for the PIR words of {@link mergePir};
   * words 8-15 (VIRR) and 16-23 (VISR): the registers as loaded at VM entry
   * and kept in step with memory. One array, so the hot paths touch one
   * array object and one stretch of memory.
   */
  private readonly regs = new Uint32Array(24);
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
    this.status = this.lo[S_INTR_STATUS]!;
  }

  /** Binds to the VMCS being entered (or synchronised in root operation); `page` is null without "use TPR shadow". */
  attach(vmcs: Vmcs, page: number | null, intrWindowExiting: boolean): void {
    this.vmcs = vmcs;
    this.lo = vmcs.lo;
    this.hi = vmcs.hi;
    this.status = vmcs.lo[S_INTR_STATUS]!;
    this.intrWindowExiting = intrWindowExiting;
    if (page === null) {
      this.page = 0;
      if (this.view !== null) this.bind(NO_PAGE);
      if ((this.virrWords | this.visrWords) !== 0) {
        this.regs.fill(0, VIRR);
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
      this.regs[VIRR + i] = irr;
      this.regs[VISR + i] = isr;
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
    return this.status & 0xff;
  }
  /** Writes RVI, GUEST_INTR_STATUS[7:0]. */
  set rvi(v: number) {
    this.setStatus((this.status & 0xff00) | v);
  }
  /** Servicing virtual interrupt, GUEST_INTR_STATUS[15:8]. */
  get svi(): number {
    return this.status >>> 8;
  }
  /** Writes SVI, GUEST_INTR_STATUS[15:8]. */
  set svi(v: number) {
    this.setStatus((this.status & 0xff) | (v << 8));
  }

  /** Writes the guest interrupt status: the number and the VMCS field. */
  private setStatus(value: number): void {
    this.status = value;
    this.lo[S_INTR_STATUS] = value;
  }

  /** Clears VEOI, the 32-bit word at 0B0H (APIC-write emulation of an EOI write). */
  clearVeoi(): void {
    this.put(W_EOI, 0);
  }

  /** VTPR, the 32-bit word at 080H. */
  get vtpr(): number {
    return this.vtprWord;
  }
  /** Writes VTPR, the 32-bit word at 080H. */
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
    return ((this.regs[VIRR + (vector >>> 5)]! >>> (vector & 31)) & 1) === 1;
  }
  /** VISR bit `vector`. */
  testVisr(vector: number): boolean {
    return ((this.regs[VISR + (vector >>> 5)]! >>> (vector & 31)) & 1) === 1;
  }
  /** Sets or clears VIRR bit `vector`. */
  setVirr(vector: number, value: boolean): void {
    this.virrWords = this.setBit(VIRR, this.virrWords, W_IRR0, vector, value);
  }
  /** Sets or clears VISR bit `vector`. */
  setVisr(vector: number, value: boolean): void {
    this.visrWords = this.setBit(VISR, this.visrWords, W_ISR0, vector, value);
  }

  /** Updates one bit in a summary and in memory; returns the new non-zero-word mask. */
  private setBit(at: number, nonZero: number, reg: number, vector: number, value: boolean): number {
    const words = this.regs;
    const i = vector >>> 5;
    const m = 1 << (vector & 31);
    const w = (value ? words[at + i]! | m : words[at + i]! & ~m) >>> 0;
    words[at + i] = w;
    this.put(reg + (i << 2), w);
    return w !== 0 ? nonZero | (1 << i) : nonZero & ~(1 << i);
  }

  /** Highest set bit of the 256-bit summary at word `at` of `words` whose non-zero words are `nonZero`, or -1. */
  private static highest(words: Uint32Array, at: number, nonZero: number): number {
    if (nonZero === 0) return -1;
    const i = 31 - Math.clz32(nonZero);
    return (i << 5) + 31 - Math.clz32(words[at + i]!);
  }

  /** The vectors set in VIRR, lowest first (for inspection; allocates). */
  virrVectors(): number[] {
    return VirtualApic.vectors(this.regs.subarray(VIRR, VIRR + 8));
  }
  /** The vectors set in VISR, lowest first (for inspection; allocates). */
  visrVectors(): number[] {
    return VirtualApic.vectors(this.regs.subarray(VISR, VISR + 8));
  }
  private static vectors(words: Uint32Array): number[] {
    const out: number[] = [];
    for (let v = 0; v < 256; v++) if (((words[v >>> 5]! >>> (v & 31)) & 1) === 1) out.push(v);
    return out;
  }

  /** Highest VIRR bit, or -1. */
  highestVirr(): number {
    return VirtualApic.highest(this.regs, VIRR, this.virrWords);
  }
  /** Highest VISR bit, or -1. */
  highestVisr(): number {
    return VirtualApic.highest(this.regs, VISR, this.visrWords);
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
    this.recognized = !this.intrWindowExiting && (this.status & 0xff) >>> 4 > (this.vpprWord & 0xff) >>> 4;
  }

  /** Virtual-interrupt delivery (SDM 3C "Virtual-Interrupt Delivery"); returns the vector to deliver through the guest IDT. */
  deliver(): number {
    // Written out flat, helpers included: the processor's boundary runs this on every delivery and V8's
    // inlining budget is spent before it reaches them.
    const v = this.status & 0xff;
    const i = v >>> 5;
    const m = 1 << (v & 31);
    const r = this.regs;
    // VISR[v] = 1; SVI = v; VPPR = v & F0H; VIRR[v] = 0; RVI = highest VIRR bit (0 when none).
    const isrWord = r[VISR + i]! | m;
    r[VISR + i] = isrWord;
    this.visrWords |= 1 << i;
    const irrWord = r[VIRR + i]! & ~m;
    r[VIRR + i] = irrWord;
    let nonZero = this.virrWords;
    if (irrWord === 0) this.virrWords = nonZero &= ~(1 << i);
    let next = 0;
    if (nonZero !== 0) {
      const j = 31 - Math.clz32(nonZero);
      next = (j << 5) + 31 - Math.clz32(r[VIRR + j]!);
    }
    this.setStatus((v << 8) | next);
    this.recognized = false;
    const ppr = v & 0xf0;
    const oldPpr = this.vpprWord;
    this.vpprWord = ppr;
    // The page: one view check for the three words.
    const w = this.pageWords();
    if (w === null) return v;
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

  /** The bound page's words (the view re-taken if the memory's backing changed), or null when nothing is behind the page. */
  private pageWords(): Uint32Array | null {
    const v = this.view;
    if (v !== null && v.generation !== this.memory.generation) this.bind(this.page);
    return this.view === null ? null : this.words;
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
   * so, else evaluates pending virtual interrupts. See {@link virtualizeEoi}
   * for all of it in one step.
   */
  eoi(): number {
    const status = this.status;
    const v = status >>> 8;
    const i = v >>> 5;
    const r = this.regs;
    // VISR[SVI] = 0; SVI = highest VISR bit (0 when none); PPR virtualization with the new SVI.
    const isrWord = r[VISR + i]! & ~(1 << (v & 31));
    r[VISR + i] = isrWord;
    let nonZero = this.visrWords;
    if (isrWord === 0) this.visrWords = nonZero &= ~(1 << i);
    let svi = 0;
    if (nonZero !== 0) {
      const j = 31 - Math.clz32(nonZero);
      svi = (j << 5) + 31 - Math.clz32(r[VISR + j]!);
    }
    this.setStatus((status & 0xff) | (svi << 8));
    const vtpr = this.vtprWord & 0xff;
    const ppr = vtpr >>> 4 >= svi >>> 4 ? vtpr : svi & 0xf0;
    const oldPpr = this.vpprWord;
    this.vpprWord = ppr;
    const w = this.pageWords();
    if (w === null) return v;
    const isrIndex = W_ISR0 + (i << 2);
    const pprWrite = ppr !== oldPpr || w[W_PPR] !== ppr;
    w[isrIndex] = isrWord;
    if (pprWrite) w[W_PPR] = ppr;
    if (this.memory.observed) this.noteWords(isrIndex, pprWrite, -1);
    return v;
  }

  /**
   * EOI virtualization in one step (SDM 3C "EOI Virtualization"): {@link eoi},
   * then, when the EOI-exit bitmap has the retired vector, nothing more and
   * the answer is the vector plus {@link EOI_EXITS} (the caller makes the
   * EOI-induced VM exit); otherwise pending virtual interrupts are evaluated
   * and the answer is the vector.
   */
  virtualizeEoi(): number {
    const vector = this.eoi();
    if (this.eoiExits(vector)) return vector | EOI_EXITS;
    // evaluate(), written out (the EOI path's inlining budget).
    this.recognized = !this.intrWindowExiting && (this.status & 0xff) >>> 4 > (this.vpprWord & 0xff) >>> 4;
    return vector;
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
    const mask = pid.swapPir(this.regs);
    if (mask === 0) return -1;
    const top = this.mergeWords(mask);
    if (top > this.rvi) this.rvi = top;
    return top;
  }

  /** ORs the PIR words `mask` (not 0) names, moved into the PIR words of {@link regs}, into VIRR; returns the highest vector moved (RVI is the caller's). */
  private mergeWords(mask: number): number {
    const r = this.regs;
    const hi = 31 - Math.clz32(mask);
    const top = (hi << 5) + 31 - Math.clz32(r[PIR + hi]!);
    for (let m = mask; m !== 0; m &= m - 1) {
      const i = 31 - Math.clz32(m & -m);
      r[VIRR + i] = r[VIRR + i]! | r[PIR + i]!;
    }
    this.storeIrrWords(mask);
    return top;
  }

  /** After the VIRR words `mask` (not 0) names received PIR bits: the summary and the page's IRR words follow. */
  private storeIrrWords(mask: number): void {
    const r = this.regs;
    this.virrWords |= mask;
    // Only the words that held PIR bits change; the summary equals the page's VIRR while bound (see the file
    // comment), so only the write reaches memory.
    const w = this.w();
    for (let m = mask; m !== 0; m &= m - 1) {
      const i = 31 - Math.clz32(m & -m);
      w[W_IRR0 + (i << 2)] = r[VIRR + i]!;
    }
    if (this.view === null || this.memory.observed) this.wroteIrrWords(mask);
  }

  /** After IRR words `mask` were stored: undone on the all-ones scratch, else told to write observers, in order (out of line). */
  private wroteIrrWords(mask: number): void {
    for (let m = mask; m !== 0; m &= m - 1) {
      const index = W_IRR0 + ((31 - Math.clz32(m & -m)) << 2);
      if (this.view === null) this.words[index] = 0xffff_ffff;
      else this.noteWord(index);
    }
  }

  /**
   * Posted-interrupt processing steps 3-7 (SDM 3C "Posted-Interrupt
   * Processing"): clear ON, (EOI is the caller's), VIRR |= PIR with PIR
   * cleared, RVI = max(RVI, highest PIR bit), evaluate.
   */
  processPosted(pid: PostedInterruptDescriptor): void {
    // Clearing ON and ORing the PIR into VIRR are one descriptor access (nothing else touches it in between);
    // the answer is the VIRR words that changed (bits 7:0) and the highest vector moved (bits 15:8).
    const moved = pid.clearOnAndMergePir(this.regs, VIRR);
    let status = this.status;
    if (moved !== 0) {
      this.storeIrrWords(moved & 0xff);
      const top = moved >>> 8;
      if (top > (status & 0xff)) this.setStatus((status = (status & 0xff00) | top));
    }
    // evaluate(), written out (the notification path's inlining budget).
    this.recognized = !this.intrWindowExiting && (status & 0xff) >>> 4 > (this.vpprWord & 0xff) >>> 4;
  }
}
