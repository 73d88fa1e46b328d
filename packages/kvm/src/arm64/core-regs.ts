/**
 * KVM_REG_ARM_CORE: `struct kvm_regs` (asm/kvm.h) addressed by register id,
 * offset / 4 in the id's low bits and the size in its size field (api.rst
 * 4.68 "arm64 core/FP-SIMD registers"). An id whose offset is not a
 * register's start or whose size is not that register's is EINVAL; an
 * offset past the structure is ENOENT (Linux's get_core_reg/set_core_reg
 * with validate_core_offset).
 *
 * PC, PSTATE, ELR_EL1 and SPSR_EL1 are the CPU's; the rest is kept here:
 * `@hvsim/cpu` runs guest code without general-purpose or FP registers, so
 * X0-X30, SP_EL0, SP_EL1, the AArch32 SPSRs and the FP/SIMD registers are
 * stored and read back but no guest instruction sees them.
 */
import { fail, hex } from '../generic/errors.js';
import { KVM_REG, KVM_REG_ARM_CORE_INDEX as IDX } from './constants.js';

/** Where a core register lives and its size in bytes. */
export interface CoreRegSlot {
  /** 'x' (X0-X30 at n), 'sp', 'pc', 'pstate', 'sp_el1', 'elr_el1', 'spsr' (n = 0..4), 'v' (n = 0..31), 'fpsr', 'fpcr'. */
  kind: 'x' | 'sp' | 'pc' | 'pstate' | 'sp_el1' | 'elr_el1' | 'spsr' | 'v' | 'fpsr' | 'fpcr';
  n: number;
  bytes: 4 | 8 | 16;
}

/** `struct kvm_regs` ends at offset 856 (index 0xd6). */
const CORE_END = 0xd6;

/** The slot of core register `index` (offset / 4) accessed with `bytes`, or the errno Linux returns. */
export function coreRegSlot(index: number, bytes: number, id: bigint): CoreRegSlot {
  if (index + bytes / 4 > CORE_END) fail('ENOENT', `core register id ${hex(id)}: offset ${hex(index * 4)} is past struct kvm_regs`);
  let slot: CoreRegSlot | undefined;
  if (index < IDX.SP && index % 2 === 0) slot = { kind: 'x', n: index / 2, bytes: 8 };
  else if (index === IDX.SP) slot = { kind: 'sp', n: 0, bytes: 8 };
  else if (index === IDX.PC) slot = { kind: 'pc', n: 0, bytes: 8 };
  else if (index === IDX.PSTATE) slot = { kind: 'pstate', n: 0, bytes: 8 };
  else if (index === IDX.SP_EL1) slot = { kind: 'sp_el1', n: 0, bytes: 8 };
  else if (index === IDX.ELR_EL1) slot = { kind: 'elr_el1', n: 0, bytes: 8 };
  else if (index >= IDX.SPSR && index < IDX.SPSR + 10 && (index - IDX.SPSR) % 2 === 0) slot = { kind: 'spsr', n: (index - IDX.SPSR) / 2, bytes: 8 };
  else if (index >= IDX.V0 && index < IDX.FPSR && (index - IDX.V0) % 4 === 0) slot = { kind: 'v', n: (index - IDX.V0) / 4, bytes: 16 };
  else if (index === IDX.FPSR) slot = { kind: 'fpsr', n: 0, bytes: 4 };
  else if (index === IDX.FPCR) slot = { kind: 'fpcr', n: 0, bytes: 4 };
  if (slot?.bytes !== bytes) fail('EINVAL', `core register id ${hex(id)}: offset ${hex(index * 4)} with ${bytes} bytes is not a register of struct kvm_regs`);
  return slot;
}

/** The bytes of an id's size field (KVM_REG_SIZE): 1 << ((id >> 52) & 0xf). */
export function regBytes(id: bigint): number {
  return 2 ** Number((id >> KVM_REG.SIZE_SHIFT) & 0xfn);
}

/** The core registers this file stores (see the file comment), as 64-bit values (a V register: two). */
export class CoreRegisterFile {
  /** X0-X30, SP_EL0, SP_EL1, SPSR[1..4] (index 0 unused: SPSR_EL1 is the CPU's), FPSR, FPCR. */
  readonly x = new BigUint64Array(31);
  sp = 0n;
  spEl1 = 0n;
  readonly spsr = new BigUint64Array(5);
  /** V0-V31 as [bits 63:0, bits 127:64]. */
  readonly v = new BigUint64Array(64);
  fpsr = 0n;
  fpcr = 0n;

  /** Every stored register to 0 (a vCPU reset). */
  reset(): void {
    this.x.fill(0n);
    this.sp = 0n;
    this.spEl1 = 0n;
    this.spsr.fill(0n);
    this.v.fill(0n);
    this.fpsr = 0n;
    this.fpcr = 0n;
  }
}

/** All core register ids KVM_GET_REG_LIST lists (walk_core_regs order). */
export function coreRegIds(): bigint[] {
  const ids: bigint[] = [];
  const core = KVM_REG.ARM64 | (KVM_REG.ARM_CORE << KVM_REG.COPROC_SHIFT);
  for (let i = 0; i < CORE_END; ) {
    if (i === IDX.SPSR + 10) {
      i = IDX.V0; // padding: fp_regs is 16-byte aligned
      continue;
    }
    if (i >= IDX.V0 && i < IDX.FPSR) {
      ids.push(core | KVM_REG.SIZE_U128 | BigInt(i));
      i += 4;
    } else if (i >= IDX.FPSR) {
      ids.push(core | KVM_REG.SIZE_U32 | BigInt(i));
      i += 1;
    } else {
      ids.push(core | KVM_REG.SIZE_U64 | BigInt(i));
      i += 2;
    }
  }
  return ids;
}
