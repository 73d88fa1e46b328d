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
  type: 'hvsim.lapic';
  version: 1;
  id: number;
  mode: ApicMode;
  base: number;
  bsp: boolean;
  xapicId: number;
  tpr: number;
  ldr: number;
  dfr: number;
  svr: number;
  esr: number;
  esrPending: number;
  icrLow: number;
  icrHigh: number;
  lvt: number[];
  irr: string;
  isr: string;
  tmr: string;
  timer: ApicTimerState;
  signals: number;
  sipiVector: number;
  waitForSipi: boolean;
  lint: boolean[];
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
  };
}

/** Validates and loads a saved state; SnapshotError for foreign or malformed ones (LocalApic.restoreState). */
export function restoreApicState(c: ApicCore, state: unknown): void {
  const r = readState(state, 'hvsim.lapic', 1);
  const id = r.u32('id');
  if (id !== c.config.x2apicId) throw new SnapshotError('shape', `hvsim.lapic.id is ${id} but this APIC's id is ${c.config.x2apicId}`);
  const mode = r.oneOf('mode', ['disabled', 'xapic', 'x2apic'] as const);
  if (mode === 'x2apic' && !c.config.x2apicSupported) throw new SnapshotError('shape', 'hvsim.lapic.mode is x2apic but this APIC has no x2APIC support');
  const base = r.address('base');
  if (base % 4096 !== 0 || base >= 2 ** c.config.maxPhysAddrBits) throw new SnapshotError('shape', `hvsim.lapic.base ${describeValue(base)} is not a page address below MAXPHYADDR`);
  const lvt = r.intArray('lvt', 0, 0xffff_ffff, 7);
  const timerReader = r.object('timer');
  const timerMode = timerReader.int('mode', 0, 2);
  if (timerMode !== ((lvt[LVT_INDEX.TIMER]! >>> 17) & 3)) throw new SnapshotError('shape', 'hvsim.lapic.timer.mode does not match the LVT timer entry');
  c.mode = mode;
  c.baseAddress = base;
  c.bsp = r.bool('bsp');
  c.xapicId = r.int('xapicId', 0, 0xff);
  c.tpr = r.int('tpr', 0, 0xff);
  c.ldr = r.u32('ldr');
  c.dfr = r.u32('dfr');
  c.svr = r.int('svr', 0, 0x1fff) & c.svrWritable;
  c.esr = r.int('esr', 0, 0xff);
  c.esrPending = r.int('esrPending', 0, 0xff);
  c.icrLow = r.u32('icrLow');
  c.icrHigh = r.u32('icrHigh');
  for (let i = 0; i < 7; i++) c.lvt[i] = lvt[i]!;
  readVectors(r, 'irr', c.irr);
  readVectors(r, 'isr', c.isr);
  readVectors(r, 'tmr', c.tmr);
  c.signals = r.int('signals', 0, 31);
  c.sipiVector = r.int('sipiVector', 0, 0xff);
  c.waitForSipi = r.bool('waitForSipi');
  const lint = r.raw('lint');
  if (!Array.isArray(lint) || lint.length !== 2 || typeof lint[0] !== 'boolean' || typeof lint[1] !== 'boolean') {
    throw new SnapshotError('shape', 'hvsim.lapic.lint must be an array of 2 booleans');
  }
  c.lintLevel[0] = lint[0];
  c.lintLevel[1] = lint[1];
  c.timer.restoreState(timerReader);
  c.updatePpr();
  c.port?.apicChanged(c.owner);
}

/** A 256-bit vector set in core's bitmap hex encoding. */
function vectorsToHex(set: VectorSet): string {
  const map = new Bitmap(256);
  for (let i = 0; i < 8; i++) map.setWord(i, set.words[i]!);
  return bitmapToHex(map);
}

/** Loads a vector set saved by {@link vectorsToHex}; vectors 0-15 can never be set (SDM 3A 11.8.3). */
function readVectors(r: StateReader, key: string, into: VectorSet): void {
  const map = r.bitmap(key, new Bitmap(256));
  if ((map.words[0]! & 0xffff) !== 0) throw new SnapshotError('shape', `${r.path}.${key} has vectors 0-15 set`);
  for (let i = 0; i < 8; i++) into.setWord(i, map.words[i]!);
}
