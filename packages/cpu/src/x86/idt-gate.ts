/**
 * Encoding of a 64-bit IDT gate descriptor (SDM 3A 6.14.1, Figure 6-8), for
 * guest kernels that build their IDT with stores and for tests.
 */
import { UsageError, describeValue } from '@hvsim/core';
import { GATE_TYPE, KERNEL_SELECTOR } from './regs.js';

/** Fields of a 64-bit interrupt or trap gate. */
export interface IdtGateFields {
  /** Handler entry (offset), a linear address. */
  target: number;
  /** Interrupt gate (clears IF, the default) or trap gate. */
  type?: 'interrupt' | 'trap';
  /** P flag (default true). */
  present?: boolean;
  /** Descriptor privilege level (default 0). */
  dpl?: number;
  /** Interrupt stack table index (default 0; not used by this CPU model). */
  ist?: number;
  /** Code-segment selector (default the kernel's). */
  selector?: number;
}

/** The gate as four little-endian 32-bit words (bytes 0-3, 4-7, 8-11, 12-15). */
export function encodeIdtGate(fields: IdtGateFields): [number, number, number, number] {
  const { target, type = 'interrupt', present = true, dpl = 0, ist = 0, selector = KERNEL_SELECTOR.CS } = fields;
  if (!Number.isSafeInteger(target) || target < 0) throw new UsageError('bad-argument', `gate target must be a non-negative safe integer, got ${describeValue(target)}`);
  if ((type as string) !== 'interrupt' && (type as string) !== 'trap') throw new UsageError('bad-argument', `gate type must be 'interrupt' or 'trap', got ${describeValue(type)}`);
  if (!Number.isInteger(dpl) || dpl < 0 || dpl > 3) throw new UsageError('bad-argument', `gate DPL must be 0-3, got ${describeValue(dpl)}`);
  if (!Number.isInteger(ist) || ist < 0 || ist > 7) throw new UsageError('bad-argument', `gate IST must be 0-7, got ${describeValue(ist)}`);
  const low = target % 0x1_0000_0000;
  const high = Math.floor(target / 0x1_0000_0000);
  const typeBits = type === 'interrupt' ? GATE_TYPE.INTERRUPT : GATE_TYPE.TRAP;
  return [
    ((selector & 0xffff) << 16 | (low & 0xffff)) >>> 0,
    ((low & 0xffff_0000) | (present ? 1 << 15 : 0) | (dpl << 13) | (typeBits << 8) | ist) >>> 0,
    high >>> 0,
    0,
  ];
}
