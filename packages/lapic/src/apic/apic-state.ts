/**
 * Saving and restoring a local APIC (the snapshot contract of @hvsim/core):
 * every register, the 256-bit sets, the timer's counting state, pending
 * processor signals and the LINT pin levels. The configuration (ID, version,
 * frequencies) belongs to the constructor; a state saved from an APIC with
 * another ID is refused.
 */
import { Bitmap, SnapshotError, bitmapToHex, describeValue, readState, type StateReader } from '@hvsim/core';
import type { VectorSet } from '../internal/vector-set.js';
import type { ApicCore } from './apic-core.js';
import type { ApicMode } from './apic-base.js';
import { LVT_INDEX } from './regs.js';
import type { ApicTimerState } from './timer.js';

/** Saved state of a {@link LocalApic}. */
export interface LocalApicState {
  /** Format tag. */
  type: 'hvsim.lapic';
  /** Format version. */
  version: 1;
  /** x2APIC ID of the APIC the state was saved from; restoring into another ID is refused. */
  id: number;
  /** Mode per IA32_APIC_BASE EN and EXTD. */
  mode: ApicMode;
  /** APIC base address (IA32_APIC_BASE bits 51:12, as a byte address). */
  base: number;
  /** IA32_APIC_BASE BSP (bit 8). */
  bsp: boolean;
  /** xAPIC ID register value (bits 31:24 hold the ID; writable in xAPIC mode). */
  xapicId: number;
  /** Task-priority register (TPR). */
  tpr: number;
  /** Logical destination register (LDR). */
  ldr: number;
  /** Destination format register (DFR). */
  dfr: number;
  /** Spurious-interrupt vector register (SVR). */
  svr: number;
  /** Error status register as last latched by a write to ESR. */
  esr: number;
  /** Errors recorded since the last ESR write (latched into ESR by the next write, SDM 3A 11.5.3). */
  esrPending: number;
  /** ICR bits 31:0. */
  icrLow: number;
  /** ICR bits 63:32. */
  icrHigh: number;
  /** The seven LVT entries, in {@link LVT_INDEX} order. */
  lvt: number[];
  /** IRR, 256 bits as hex. */
  irr: string;
  /** ISR, 256 bits as hex. */
  isr: string;
  /** TMR, 256 bits as hex. */
  tmr: string;
  /** The APIC timer. */
  timer: ApicTimerState;
  /** Pending NMI/SMI/INIT/SIPI/ExtINT, bits of {@link PENDING_SIGNAL}. */
  signals: number;
  /** Vector of the pending start-up IPI. */
  sipiVector: number;
  /** The processor is in wait-for-SIPI after INIT. */
  waitForSipi: boolean;
  /** Input levels of LINT0 and LINT1. */
  lint: boolean[];
  /** CR8 written while the APIC was globally disabled (SDM 3A 11.8.6; kvm-unit-tests apic.c test_apic_disable); absent in older states. */
  cr8?: number;
}

/** The JSON-safe state of one local APIC (LocalApic.saveState). */
export function saveApicState(c: ApicCore): LocalApicState {
  return {
    type: 'hvsim.lapic',
    version: 1,
    id: c.config.x2apicId,
    mode: c.mode,
    base: c.baseAddress,
    bsp: c.bsp,
    xapicId: c.xapicId,
    tpr: c.tpr,
    ldr: c.ldr,
    dfr: c.dfr,
    svr: c.svr,
    esr: c.esr,
    esrPending: c.esrPending,
    icrLow: c.icrLow,
    icrHigh: c.icrHigh,
    lvt: Array.from(c.lvt),
    irr: vectorsToHex(c.irr),
    isr: vectorsToHex(c.isr),
    tmr: vectorsToHex(c.tmr),
    timer: c.timer.saveState(),
    signals: c.signals,
    sipiVector: c.sipiVector,
    waitForSipi: c.waitForSipi,
    lint: [c.lintLevel[0]!, c.lintLevel[1]!],
    cr8: c.cr8WhileDisabled,
  };
}

/**
 * Validates and loads a saved state; SnapshotError for foreign or malformed
 * ones (LocalApic.restoreState). Everything is validated before anything
 * changes: a refused state leaves the APIC as it was.
 */
export function restoreApicState(c: ApicCore, state: unknown): void {
  const r = readState(state, 'hvsim.lapic', 1);
  const id = r.u32('id');
  if (id !== c.config.x2apicId) throw new SnapshotError('shape', `hvsim.lapic.id is ${id} but this APIC's id is ${c.config.x2apicId}`);
  // The table's own literal, not the state's string: the hot paths compare the mode with literals (a pointer test for internalized strings).
  const modes = ['disabled', 'xapic', 'x2apic'] as const;
  const parsedMode = r.oneOf('mode', modes);
  const mode = modes[modes.indexOf(parsedMode)]!;
  if (mode === 'x2apic' && !c.config.x2apicSupported) throw new SnapshotError('shape', 'hvsim.lapic.mode is x2apic but this APIC has no x2APIC support');
  const base = r.address('base');
  if (base % 4096 !== 0 || base >= 2 ** c.config.maxPhysAddrBits) throw new SnapshotError('shape', `hvsim.lapic.base ${describeValue(base)} is not a page address below MAXPHYADDR`);
  const lvt = r.intArray('lvt', 0, 0xffff_ffff, 7);
  const timerReader = r.object('timer');
  const timerMode = timerReader.int('mode', 0, 2);
  if (timerMode !== ((lvt[LVT_INDEX.TIMER]! >>> 17) & 3)) throw new SnapshotError('shape', 'hvsim.lapic.timer.mode does not match the LVT timer entry');
  const bsp = r.bool('bsp');
  const xapicId = r.int('xapicId', 0, 0xff);
  const tpr = r.int('tpr', 0, 0xff);
  const ldr = r.u32('ldr');
  const dfr = r.u32('dfr');
  const svr = r.int('svr', 0, 0x1fff) & c.svrWritable;
  const esr = r.int('esr', 0, 0xff);
  const esrPending = r.int('esrPending', 0, 0xff);
  const icrLow = r.u32('icrLow');
  const icrHigh = r.u32('icrHigh');
  const irr = readVectors(r, 'irr');
  const isr = readVectors(r, 'isr');
  const tmr = readVectors(r, 'tmr');
  const signals = r.int('signals', 0, 31);
  const sipiVector = r.int('sipiVector', 0, 0xff);
  const waitForSipi = r.bool('waitForSipi');
  const lint = r.raw('lint');
  if (!Array.isArray(lint) || lint.length !== 2 || typeof lint[0] !== 'boolean' || typeof lint[1] !== 'boolean') {
    throw new SnapshotError('shape', 'hvsim.lapic.lint must be an array of 2 booleans');
  }
  // CR8 as written while the APIC was globally disabled (absent in older states).
  const cr8 = r.has('cr8') ? r.int('cr8', 0, 15) : 0;
  const timer = c.timer.parseState(timerReader);
  // ---- commit: nothing below throws ----
  c.mode = mode;
  c.baseAddress = base;
  c.bsp = bsp;
  c.xapicId = xapicId;
  c.tpr = tpr;
  c.ldr = ldr;
  c.dfr = dfr;
  c.svr = svr;
  c.esr = esr;
  c.esrPending = esrPending;
  c.icrLow = icrLow;
  c.icrHigh = icrHigh;
  for (let i = 0; i < 7; i++) c.lvt[i] = lvt[i]!;
  for (let i = 0; i < 8; i++) {
    c.irr.setWord(i, irr[i]!);
    c.isr.setWord(i, isr[i]!);
    c.tmr.setWord(i, tmr[i]!);
  }
  c.irrFlows.fill(0);
  c.isrFlows.fill(0);
  c.signals = signals;
  c.sipiVector = sipiVector;
  c.waitForSipi = waitForSipi;
  c.lintLevel[0] = lint[0];
  c.lintLevel[1] = lint[1];
  c.cr8WhileDisabled = cr8;
  c.timer.commitState(timer);
  c.updatePpr();
  c.port?.apicChanged(c.owner);
}

/** A 256-bit vector set in core's bitmap hex encoding. */
function vectorsToHex(set: VectorSet): string {
  const map = new Bitmap(256);
  for (let i = 0; i < 8; i++) map.setWord(i, set.words[i]!);
  return bitmapToHex(map);
}

/** Reads a vector set saved by {@link vectorsToHex} as eight words; vectors 0-15 can never be set (SDM 3A 11.8.3). */
function readVectors(r: StateReader, key: string): Uint32Array {
  const map = r.bitmap(key, new Bitmap(256));
  if ((map.words[0]! & 0xffff) !== 0) throw new SnapshotError('shape', `${r.path}.${key} has vectors 0-15 set`);
  return Uint32Array.from(map.words.subarray(0, 8));
}
