/**
 * The guest half of the `memory` workload: a page-table-heavy kernel. CPU 0
 * builds one 4-level address space per "process" (SDM 3A 4.5: a PML4 whose
 * entry 0 is the kernel's shared mapping, copied from the boot tables, and
 * whose entry 1 maps the process's user pages through its own PDPT, PD and
 * PT), then runs the processes round-robin: each time slice is a MOV to CR3
 * (a process switch, SDM 3A 4.10.4.1: the TLB's non-global entries go), a
 * store to each of its pages (the memory operations counted as work), and
 * the unmap of one page (its PTE cleared, then INVLPG, SDM 3A 4.10.4.1). The
 * next slice of that process touches the page again: a guest #PF, whose
 * handler maps the page back (the same frame) and returns to the store.
 */
import type { GuestProgram, Op, X86Guest } from '@hvsim/cpu';
import * as layout from './layout.js';

// Module-local copies: under Node's ESM loader an imported binding is a getter on every use.
const { BOOT, GUEST, PERCPU, MEM_TABLES_SIZE, MEM_USER_BASE } = layout;
const percpuBase = layout.percpuBase;

type Routine = Generator<Op, void, number>;

/** Present, writable (SDM 3A 4.5, Tables 4-15 to 4-20). */
const P_RW = 0x3;
const PAGE = 0x1000;
/** A table's offset in a process's MEM_TABLES_SIZE bytes. */
const PDPT = 0x1000;
const PD = 0x2000;
const PT = 0x3000;

/** The root (PML4) of process `p`. */
export function processRoot(p: number): number {
  return GUEST.MEM_TABLES + p * MEM_TABLES_SIZE;
}

/** The data frame of process `p`'s page `k`. */
export function processFrame(p: number, k: number): number {
  return GUEST.MEM_DATA + (p * layout.MEM_MAX_PAGES + k) * PAGE;
}

/** Builds the address spaces and runs the processes forever (CPU 0, after bring-up; `base`: its per-CPU data). */
export function* memoryWorkload(g: X86Guest, base: number): Routine {
  const procs = yield g.ld32(GUEST.BOOT + BOOT.MEM_PROCS);
  const pages = yield g.ld32(GUEST.BOOT + BOOT.MEM_PAGES);
  const kernelRoot = yield g.movFromCr(3);
  const kernelPml4e = yield g.ld64(kernelRoot); // entry 0: the first 512 GiB, the kernel's identity mapping
  for (let p = 0; p < procs; p++) {
    const root = processRoot(p);
    yield g.st64(root, kernelPml4e);
    yield g.st64(root + 8, (root + PDPT) | P_RW); // PML4[1]: MEM_USER_BASE
    yield g.st64(root + PDPT, (root + PD) | P_RW);
    yield g.st64(root + PD, (root + PT) | P_RW);
    for (let k = 0; k < pages; k++) yield g.st64(root + PT + k * 8, processFrame(p, k) | P_RW);
  }
  let done = 0;
  for (let slice = 0; ; slice++) {
    const p = slice % procs;
    const root = processRoot(p);
    yield g.st32(base + PERCPU.CURRENT, p);
    yield g.movToCr(3, root); // the process switch
    for (let k = 0; k < pages; k++) yield g.st32(MEM_USER_BASE + k * PAGE, slice);
    done += pages;
    yield g.st32(base + PERCPU.WORK, done);
    // munmap of one page: the PTE cleared, then its TLB entry invalidated (SDM 3A 4.10.4.1).
    const k = Math.floor(slice / procs) % pages;
    yield g.st64(root + PT + k * 8, 0);
    yield g.invlpg(MEM_USER_BASE + k * PAGE);
  }
}

/** Defines the #PF handler: maps the faulting user page back into the current process (demand paging). */
export function definePageFaultHandler(program: GuestProgram<X86Guest>): void {
  program.define(GUEST.PF_HANDLER, function* pageFault(g: X86Guest): Routine {
    const cr2 = yield g.movFromCr(2); // the faulting linear address (SDM 3A 4.7)
    const base = percpuBase(0); // the workload runs on CPU 0
    const p = yield g.ld32(base + PERCPU.CURRENT);
    const k = Math.floor((cr2 - MEM_USER_BASE) / PAGE);
    // A kernel's oops: a fault the workload did not cause is a bug in this guest.
    if (k < 0 || k >= layout.MEM_MAX_PAGES) throw new Error(`guest #PF at 0x${cr2.toString(16)} in process ${p}: not one of its user pages`);
    yield g.st64(processRoot(p) + PT + k * 8, processFrame(p, k) | P_RW);
    const pf = base + PERCPU.PAGE_FAULTS;
    yield g.st32(pf, (yield g.ld32(pf)) + 1);
    yield g.addRsp(8); // the error code (SDM 3A 6.14.2)
    yield g.iret();
  });
}
