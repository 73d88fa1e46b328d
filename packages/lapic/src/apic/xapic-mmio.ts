/**
 * The xAPIC view: the 4 KiB register page (SDM 3A 11.4.1). Registers sit on
 * 16-byte boundaries and are meant to be accessed with aligned 32-bit loads
 * and stores. What this view does with anything else:
 * - a read of 1 or 2 bytes inside bytes 0-3 of a register returns those bytes
 *   (model-specific on hardware; KVM and QEMU do the same);
 * - a write narrower than 32 bits or not at the register's start is ignored
 *   (KVM drops them);
 * - bytes 4-15 of a register are undefined by the SDM: reads return 0, writes
 *   are ignored;
 * - an offset with no register sets ESR bit 7 "illegal register address" and
 *   signals the error LVT (SDM 3A 11.5.3), reads return 0;
 * - reads of write-only registers (EOI) return 0; writes to read-only
 *   registers are ignored.
 * When the page is not decoded (APIC disabled, or in x2APIC mode, SDM 3A
 * 11.12.2) reads return all ones and writes are dropped.
 */
import { UsageError, describeValue } from '@hvsim/core';
import type { ApicCore } from './apic-core.js';
import { ACCESS as IMPORTED_ACCESS, readRegister as importedReadRegister, writeRegister as importedWriteRegister } from './register-file.js';
import { APIC, ESR_BIT as IMPORTED_ESR_BIT } from './regs.js';

// Module-local copies (an imported binding is a getter call under Node's ESM loader): every MMIO access reads them.
const EOI = APIC.EOI;
const ACCESS = IMPORTED_ACCESS;
const ESR_BIT = IMPORTED_ESR_BIT;
const readRegister = importedReadRegister;
const writeRegister = importedWriteRegister;

function checkAccess(offset: number, size: number): void {
  if (!(offset >= 0 && offset < 0x1000) || (offset | 0) !== offset) {
    throw new UsageError('bad-argument', `xAPIC page offset must be an integer in [0, 0xfff], got ${describeValue(offset)}`);
  }
  if (size !== 4 && size !== 1 && size !== 2) throw new UsageError('bad-argument', `xAPIC access size must be 1, 2 or 4 bytes, got ${describeValue(size)}`);
}

/** A read of the xAPIC page at `offset` (see the rules above). */
export function xapicRead(core: ApicCore, table: Uint8Array, offset: number, size: number): number {
  checkAccess(offset, size);
  if (core.mode !== 'xapic') return size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff;
  const reg = offset & 0xff0;
  const kind = offset < 0x400 ? table[reg >>> 4]! : ACCESS.NONE;
  if (kind === ACCESS.NONE) {
    core.signalError(ESR_BIT.ILLEGAL_REGISTER_ADDRESS);
    return 0;
  }
  const byte = offset & 0xf;
  if (byte + size > 4 || kind === ACCESS.WO) return 0;
  const value = readRegister(core, reg);
  if (size === 4) return value;
  return (value >>> (byte * 8)) & (size === 1 ? 0xff : 0xffff);
}

/** A write to the xAPIC page at `offset` (see the rules above). */
export function xapicWrite(core: ApicCore, table: Uint8Array, offset: number, size: number, value: number): void {
  // The EOI register (the write of every interrupt handler): a 32-bit aligned write in xAPIC mode is an EOI whatever the value.
  if (offset === EOI && size === 4 && core.mode === 'xapic') {
    core.eoi();
    return;
  }
  checkAccess(offset, size);
  if (core.mode !== 'xapic') return;
  const reg = offset & 0xff0;
  const kind = offset < 0x400 ? table[reg >>> 4]! : ACCESS.NONE;
  if (kind === ACCESS.NONE) {
    core.signalError(ESR_BIT.ILLEGAL_REGISTER_ADDRESS);
    return;
  }
  if (size !== 4 || (offset & 0xf) !== 0 || kind === ACCESS.RO) return;
  writeRegister(core, reg, value >>> 0);
}
