/**
 * One VMCS's data as the processor holds it while the VMCS is active (SDM 3C
 * "Virtual-Machine Control Structures", "Software Use of the VMCS and
 * Related Structures"). Fields live in two Uint32Arrays (bits 31:0, 63:32)
 * indexed by slot; the VMCS region in memory receives them on VMCLEAR and
 * provides them on VMPTRLD, in this model's implementation-specific format.
 */
import { bigintToHex, hexToBigint, SnapshotError, type Memory, type StateReader } from '@hvsim/core';
import { FIELD_COUNT, SLOT_SPEC, SLOT_WIDTH, lookupEncoding, slotOf } from '../fields/slots.js';
import { readMemory32, writeMemory32 } from '../internal/memory-access.js';
import { CHECK_ALL, CHECK_CONTROLS, CHECK_GUEST, CHECK_HOST, CONTROL_CHECK_FIELDS, GUEST_CHECK_FIELDS, HOST_CHECK_FIELDS } from './check-dependencies.js';
import { FIELD_WIDTH } from '../fields/encoding.js';
import { VMCS_FIELD, type VmcsFieldName } from '../fields/field-table.js';
import { vmxUsageError } from '../errors.js';

/**
 * Launch state of a VMCS (SDM 3C "VMCS Status"). `undefined` = never
 * VMCLEARed: neither VMLAUNCH nor VMRESUME accepts it. `launched-before-vmxoff`
 * = launched, then written back by VMXOFF without VMCLEAR: VMRESUME fails with
 * VM-instruction error 6 ("VMRESUME after VMXOFF").
 */
export type LaunchState = 'clear' | 'launched' | 'launched-before-vmxoff' | 'undefined';

/** Byte offsets inside a VMCS region (SDM 3C Table "Format of the VMCS Region"; bytes 8+ are this model's own format). */
export const VMCS_REGION = {
  /** Bytes 0-3: VMCS revision identifier (bits 30:0) and shadow-VMCS indicator (bit 31). */
  REVISION_ID: 0,
  /** Bytes 4-7: VMX-abort indicator. */
  ABORT_INDICATOR: 4,
  /** Model-specific: launch state (1 clear, 2 launched, 3 launched then written back by VMXOFF). */
  LAUNCH_STATE: 8,
  /** Model-specific: field data, 8 bytes per slot. */
  DATA: 16,
} as const;

// Per slot, precomputed for writeCode: the mask of bits 31:0 a write keeps (16-bit
// fields keep 15:0), and whether bits 63:32 exist (64-bit and natural-width fields).
const LO_MASK = Uint32Array.from(SLOT_WIDTH, (w) => (w === FIELD_WIDTH.BITS16 ? 0xffff : 0xffff_ffff));
const WIDE = Uint8Array.from(SLOT_WIDTH, (w) => (w === FIELD_WIDTH.BITS64 || w === FIELD_WIDTH.NATURAL ? 1 : 0));
/** Per slot: the VM-entry check groups that read the field (check-dependencies.ts), plus RELOAD_CONTROLS. */
const SLOT_CHECKS = new Uint8Array(FIELD_COUNT);
/** Flag in SLOT_CHECKS: a write moves `controlEpoch` (a control-check field). */
const RELOAD_CONTROLS = 8;
for (const [group, names] of [
  [CHECK_CONTROLS, CONTROL_CHECK_FIELDS],
  [CHECK_HOST, HOST_CHECK_FIELDS],
  [CHECK_GUEST, GUEST_CHECK_FIELDS],
] as const) {
  for (const name of names) {
    const slot = slotOf(VMCS_FIELD[name]);
    SLOT_CHECKS[slot] = SLOT_CHECKS[slot]! | group | (group === CHECK_CONTROLS ? RELOAD_CONTROLS : 0);
  }
}
export { CHECK_CONTROLS, CHECK_GUEST, CHECK_HOST };
// A module-local copy: an imported binding is a getter call under Node's ESM loader, and every field access looks up.
const lookup = lookupEncoding;
const LAUNCH_CODE = { clear: 1, launched: 2, 'launched-before-vmxoff': 3 } as const;
const LAUNCH_STATES = ['clear', 'launched', 'launched-before-vmxoff', 'undefined'] as const;

/** Saved form of a VMCS. */
export interface VmcsState {
  /** Physical address of the VMCS region. */
  address: number;
  /** Launch state of the VMCS. */
  launchState: LaunchState;
  /** Non-zero fields by name, as hex. */
  fields: Record<string, string>;
}

/** The data of one VMCS (fields by slot as 32-bit halves) and its launch state. */
export class Vmcs {
  /**
   * Bits 31:0 of each field by slot. Writing `lo`/`hi` directly bypasses
   * the VM-entry check cache: call {@link invalidateChecks} afterwards (or
   * write through `set`, `write` or VMWRITE, which do it).
   */
  readonly lo = new Uint32Array(FIELD_COUNT);
  /** Bits 63:32 of each field by slot (zero for 16- and 32-bit fields); see {@link lo}. */
  readonly hi = new Uint32Array(FIELD_COUNT);
  /** Launch state: clear after VMCLEAR, launched after VMLAUNCH. */
  launchState: LaunchState = 'undefined';
  /**
   * @internal VM-entry check groups (CHECK_CONTROLS, CHECK_HOST, CHECK_GUEST)
   * that passed and whose fields have not been written since.
   */
  checked = 0;
  /** @internal IA32_EFER.LMA of the processor when the host-state checks passed. */
  checkedLongMode = false;
  /** @internal Counts changes of fields the control checks read other than the event to inject (what VM entry derives its non-root controls from). */
  controlEpoch = 0;

  constructor(
    /** Physical address of the VMCS region. */
    readonly address: number,
  ) {}

  /** Reads a field by encoding as a bigint (the `_HIGH` alias reads bits 63:32). Throws for a non-field. */
  read(encoding: number): bigint {
    const code = this.code(encoding);
    const slot = code >> 1;
    if ((code & 1) !== 0) return BigInt(this.hi[slot]!);
    return (BigInt(this.hi[slot]!) << 32n) | BigInt(this.lo[slot]!);
  }

  /** Writes a field by encoding without any instruction checks (hardware-internal access). Truncates to the field width. */
  write(encoding: number, value: bigint | number): void {
    const code = this.code(encoding);
    // Number fast path: a safe integer's bits 31:0 and 63:32 (two's complement, as BigInt.asUintN) without a BigInt.
    if (typeof value === 'number' && Number.isSafeInteger(value)) {
      this.writeCode(code, value >>> 0, Math.floor(value / 0x1_0000_0000) >>> 0);
      return;
    }
    const v = BigInt.asUintN(64, BigInt(value));
    const lo = Number(v & 0xffff_ffffn);
    const hi = Number(v >> 32n);
    this.writeCode(code, lo, hi);
  }

  /** Writes a field by slot code from 32-bit halves (the VMWRITE fast path). */
  writeCode(code: number, lo: number, hi: number): void {
    const slot = code >> 1;
    const oldLo = this.lo[slot]!;
    const newLo = (code & 1) !== 0 ? oldLo : (lo & LO_MASK[slot]!) >>> 0;
    const newHi = (code & 1) !== 0 ? lo >>> 0 : WIDE[slot] === 1 ? hi >>> 0 : 0;
    // An unchanged value keeps the check groups that passed (every exit rewrites the guest state it saves).
    if (newLo === oldLo && newHi === this.hi[slot]) return;
    const groups = SLOT_CHECKS[slot]!;
    if (groups !== 0) {
      this.checked &= ~(groups & CHECK_ALL);
      if ((groups & RELOAD_CONTROLS) !== 0) this.controlEpoch++;
    }
    this.lo[slot] = newLo;
    this.hi[slot] = newHi;
  }

  /** Makes the next VM entry run every VM-entry check again (after writing {@link lo}/{@link hi} directly). */
  invalidateChecks(): void {
    this.checked = 0;
    this.controlEpoch++;
  }

  /** Reads a field by name as a bigint. */
  get(name: VmcsFieldName): bigint {
    return this.read(VMCS_FIELD[name]);
  }

  /** Writes a field by name (no instruction checks). */
  set(name: VmcsFieldName, value: bigint | number): void {
    this.write(VMCS_FIELD[name], value);
  }

  /** The non-zero fields by name, in Appendix B order (for inspection, like KVM's dump_vmcs; allocates). */
  nonZeroFields(): [VmcsFieldName, bigint][] {
    const out: [VmcsFieldName, bigint][] = [];
    for (let s = 0; s < FIELD_COUNT; s++) {
      if (this.lo[s] !== 0 || this.hi[s] !== 0) out.push([SLOT_SPEC[s]!.name as VmcsFieldName, (BigInt(this.hi[s]!) << 32n) | BigInt(this.lo[s]!)]);
    }
    return out;
  }

  /** Bits 31:0 of a field by encoding, as a number. */
  read32(encoding: number): number {
    const code = this.code(encoding);
    return (code & 1) !== 0 ? this.hi[code >> 1]! : this.lo[code >> 1]!;
  }

  /** A field below 2^53 as a number (addresses, natural-width values). */
  readNumber(encoding: number): number {
    const code = this.code(encoding);
    const slot = code >> 1;
    if ((code & 1) !== 0) return this.hi[slot]!;
    return this.slotNumber(slot);
  }

  /** The field in `slot` as a number (bits 63:32 times 2^32 plus bits 31:0; exact below 2^53, as every physical address is). */
  slotNumber(slot: number): number {
    return this.hi[slot]! * 0x1_0000_0000 + this.lo[slot]!;
  }

  private code(encoding: number): number {
    const code = lookup(encoding);
    if (code >= 0) return code;
    const shown = Number.isSafeInteger(encoding) && encoding >= 0 ? `0x${encoding.toString(16)}` : String(encoding);
    throw vmxUsageError('unknown-name', `${shown} is not a VMCS field encoding (SDM 3C Appendix B)`);
  }

  /** Writes the data and launch state into the VMCS region (the VMCLEAR flush; where nothing is behind the region the writes are dropped). */
  flushTo(memory: Memory): void {
    writeMemory32(memory, this.address + VMCS_REGION.LAUNCH_STATE, this.launchState === 'undefined' ? 0 : LAUNCH_CODE[this.launchState]);
    for (let s = 0; s < FIELD_COUNT; s++) {
      writeMemory32(memory, this.address + VMCS_REGION.DATA + s * 8, this.lo[s]!);
      writeMemory32(memory, this.address + VMCS_REGION.DATA + s * 8 + 4, this.hi[s]!);
    }
  }

  /** Loads data and launch state from the VMCS region (VMPTRLD of a VMCS that is not active; all ones where nothing is behind it). */
  static loadFrom(memory: Memory, address: number): Vmcs {
    const v = new Vmcs(address);
    const code = readMemory32(memory, address + VMCS_REGION.LAUNCH_STATE);
    v.launchState = LAUNCH_STATES.find((st) => st !== 'undefined' && LAUNCH_CODE[st] === code) ?? 'undefined';
    for (let s = 0; s < FIELD_COUNT; s++) {
      v.lo[s] = readMemory32(memory, address + VMCS_REGION.DATA + s * 8);
      v.hi[s] = readMemory32(memory, address + VMCS_REGION.DATA + s * 8 + 4);
    }
    // Re-apply width truncation so a corrupted region cannot hold impossible values.
    for (let s = 0; s < FIELD_COUNT; s++) v.writeCode(s * 2, v.lo[s]!, v.hi[s]!);
    v.checked = 0;
    return v;
  }

  /** JSON-safe copy (non-zero fields only). */
  saveState(): VmcsState {
    const fields: Record<string, string> = {};
    for (let s = 0; s < FIELD_COUNT; s++) {
      if (this.lo[s] !== 0 || this.hi[s] !== 0) fields[SLOT_SPEC[s]!.name] = bigintToHex((BigInt(this.hi[s]!) << 32n) | BigInt(this.lo[s]!));
    }
    return { address: this.address, launchState: this.launchState, fields };
  }

  /** Rebuilds a VMCS from {@link saveState}'s output, read through `r`. */
  static fromState(r: StateReader): Vmcs {
    const v = new Vmcs(r.address('address'));
    v.launchState = r.oneOf('launchState', LAUNCH_STATES);
    for (const [name, hex] of Object.entries(r.record('fields'))) {
      if (!(name in VMCS_FIELD)) throw new SnapshotError('shape', `${r.path}.fields.${name} is not a VMCS field`);
      const value = hexToBigint(hex, `${r.path}.fields.${name}`);
      const before = value;
      v.write(VMCS_FIELD[name as VmcsFieldName], value);
      if (v.read(VMCS_FIELD[name as VmcsFieldName]) !== before) throw new SnapshotError('shape', `${r.path}.fields.${name} = ${String(hex)} does not fit the field`);
    }
    return v;
  }
}
