/**
 * The MSRs of an x86 vCPU that userspace reads and writes (api.rst 4.3
 * KVM_GET_MSR_INDEX_LIST, 4.18 KVM_GET_MSRS, 4.19 KVM_SET_MSRS; Linux
 * arch/x86/kvm/x86.c `msr_io`, `__msr_io`, `kvm_get/set_msr_common`,
 * `msrs_to_save_base`, `emulated_msrs_all`).
 *
 * KVM_GET/SET_MSRS process the entries in order and stop at the first MSR
 * they cannot read or write, returning how many they processed (a
 * "host-initiated" access: `msr_io`); 256 entries or more (MAX_IO_MSRS) is
 * E2BIG. The index list holds the MSRs a VMM saves for migration that this
 * model has: the SYSCALL/SYSENTER MSRs, KERNEL_GS_BASE, TSC_AUX and PAT
 * (stored; this CPU model's guest code does not consume them) and the
 * emulated MISC_ENABLE and TSC_DEADLINE (the LAPIC's), and IA32_TSC: the
 * guest TSC, whose writes set the vCPU's TSC offset (tsc.ts). IA32_APIC_BASE and
 * the x2APIC MSRs are reachable too, as in Linux, but not listed (KVM_SET_SREGS
 * and KVM_SET_LAPIC carry them). The guest's RDMSR/WRMSR of the stored MSRs
 * reach the same values (an invalid value is #GP).
 */
import { CpuException, UsageError } from '@hvsim/core';
import type { LocalApic } from '@hvsim/lapic';
import { KVM_MAX_IO_MSRS } from '../generic/constants.js';
import { fail, u32 } from '../generic/errors.js';

/** What the store needs of the vCPU's TSC (tsc.ts VcpuTsc). */
export interface TscPort {
  read(): number;
  write(value: number, hostInitiated: boolean): void;
}

/** MSR numbers (SDM 4 "Model-Specific Registers"), as Linux's msr-index.h names them. */
export const MSR = {
  /** `0x10` */
  IA32_TSC: 0x10,
  /** `0x1b` */
  IA32_APIC_BASE: 0x1b,
  /** `0x174` */
  IA32_SYSENTER_CS: 0x174,
  /** `0x175` */
  IA32_SYSENTER_ESP: 0x175,
  /** `0x176` */
  IA32_SYSENTER_EIP: 0x176,
  /** `0x1a0` */
  IA32_MISC_ENABLE: 0x1a0,
  /** `0x277` */
  IA32_CR_PAT: 0x277,
  /** `0x6e0` */
  IA32_TSC_DEADLINE: 0x6e0,
  /** `0xc0000081` */
  STAR: 0xc000_0081,
  /** `0xc0000082` */
  LSTAR: 0xc000_0082,
  /** `0xc0000083` */
  CSTAR: 0xc000_0083,
  /** `0xc0000084` */
  SYSCALL_MASK: 0xc000_0084,
  /** `0xc0000102` */
  KERNEL_GS_BASE: 0xc000_0102,
  /** `0xc0000103` */
  TSC_AUX: 0xc000_0103,
} as const;

/** `struct kvm_msr_entry` (api.rst 4.18): `data` is 64 bits, a bigint. */
export interface KvmMsrEntry {
  index: number;
  data: bigint;
}

/** Reset value of IA32_CR_PAT (SDM 3A 12.12.4: WB, WT, UC-, UC twice). */
const PAT_RESET = 0x0007_0406_0007_0406n;
/** kvm_vcpu_reset: MISC_ENABLE reads PEBS and BTS unavailable (bits 12 and 11). */
const MISC_ENABLE_RESET = (1n << 12n) | (1n << 11n);

/** The stored MSRs in KVM_GET_MSR_INDEX_LIST order (msrs_to_save, then emulated_msrs). */
const STORED: readonly number[] = [MSR.IA32_SYSENTER_CS, MSR.IA32_SYSENTER_ESP, MSR.IA32_SYSENTER_EIP, MSR.STAR, MSR.CSTAR, MSR.KERNEL_GS_BASE, MSR.SYSCALL_MASK, MSR.LSTAR, MSR.IA32_CR_PAT, MSR.TSC_AUX];

/** KVM_GET_MSR_INDEX_LIST's answer (msrs_to_save_base and emulated_msrs_all that this model has). */
export const KVM_MSR_INDEX_LIST: readonly number[] = Object.freeze([...STORED.slice(0, 8), MSR.IA32_TSC, ...STORED.slice(8), MSR.IA32_TSC_DEADLINE, MSR.IA32_MISC_ENABLE]);

const CANONICAL: ReadonlySet<number> = new Set([MSR.IA32_SYSENTER_ESP, MSR.IA32_SYSENTER_EIP, MSR.LSTAR, MSR.CSTAR, MSR.KERNEL_GS_BASE]);

/** A 48-bit canonical address: bits 63:47 all equal (is_noncanonical_address). */
function canonical(v: bigint): boolean {
  const top = v >> 47n;
  return top === 0n || top === 0x1_ffffn;
}

/** kvm_pat_valid: each byte a memory type UC 0, WC 1, WT 4, WP 5, WB 6 or UC- 7. */
function patValid(v: bigint): boolean {
  for (let i = 0n; i < 64n; i += 8n) {
    const t = Number((v >> i) & 0xffn);
    if (t !== 0 && t !== 1 && (t < 4 || t > 7)) return false;
  }
  return true;
}

/** The stored MSRs of one vCPU and the host-initiated accesses of KVM_GET/SET_MSRS. */
export class X86MsrStore {
  private readonly values = new Map<number, bigint>();

  constructor(
    private readonly apic: LocalApic | undefined,
    /** The vCPU's TSC (IA32_TSC reads and writes), when it has one. */
    private readonly tsc?: TscPort,
  ) {
    this.reset();
  }

  /** Power-on values (kvm_vcpu_reset without init_event). */
  reset(): void {
    for (const i of STORED) this.values.set(i, 0n);
    this.values.set(MSR.IA32_CR_PAT, PAT_RESET);
    this.values.set(MSR.IA32_MISC_ENABLE, MISC_ENABLE_RESET);
  }

  /** Whether `index` is one of the MSRs this store keeps (not the LAPIC's). */
  isStored(index: number): boolean {
    return this.values.has(index) || (index === MSR.IA32_TSC && this.tsc !== undefined);
  }

  /** kvm_get_msr_common for a host-initiated read: the value, or undefined when the MSR cannot be read. */
  read(index: number): bigint | undefined {
    const stored = this.values.get(index);
    if (stored !== undefined) return stored;
    if (index === MSR.IA32_TSC && this.tsc) return BigInt.asUintN(64, BigInt(this.tsc.read()));
    const apic = this.apic;
    if (index === MSR.IA32_TSC_DEADLINE) return apic ? apic.readMsr(index) : 0n;
    if (apic && (index === MSR.IA32_APIC_BASE || (index >= 0x800 && index <= 0x8ff))) {
      try {
        return apic.readMsr(index);
      } catch (e) {
        if (e instanceof CpuException || e instanceof UsageError) return undefined;
        throw e;
      }
    }
    return undefined;
  }

  /**
   * kvm_set_msr_common: false when the MSR or the value is refused.
   * `hostInitiated` (KVM_SET_MSRS, the default) or the guest's WRMSR: they
   * differ for IA32_TSC (kvm_synchronize_tsc vs adjust_tsc_offset_guest).
   */
  write(index: number, value: bigint, hostInitiated = true): boolean {
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) return false;
    if (index === MSR.IA32_TSC && this.tsc) {
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) return false; // this model's TSC is a number of cycles
      this.tsc.write(Number(value), hostInitiated);
      return true;
    }
    if (this.values.has(index)) {
      if (CANONICAL.has(index) && !canonical(value)) return false;
      if (index === MSR.IA32_CR_PAT && !patValid(value)) return false;
      if (index === MSR.TSC_AUX && value >> 32n !== 0n) return false;
      this.values.set(index, value);
      return true;
    }
    const apic = this.apic;
    if (index === MSR.IA32_TSC_DEADLINE && !apic) return true; // kvm_set_lapic_tscdeadline_msr: ignored without the in-kernel LAPIC
    if (apic && (index === MSR.IA32_TSC_DEADLINE || index === MSR.IA32_APIC_BASE || (index >= 0x800 && index <= 0x8ff))) {
      try {
        if (index === MSR.IA32_APIC_BASE) apic.setApicBase(value, true);
        else apic.writeMsr(index, value);
        return true;
      } catch (e) {
        if (e instanceof CpuException || e instanceof UsageError) return false;
        throw e;
      }
    }
    return false;
  }

  /** The stored MSRs' values (for a saved vCPU state: the index list's MSRs other than the LAPIC's). */
  stored(): KvmMsrEntry[] {
    return [...this.values.entries()].map(([index, data]) => ({ index, data }));
  }
}

function checkEntries(entries: readonly KvmMsrEntry[], what: string): void {
  const raw: unknown = entries;
  if (!Array.isArray(raw)) fail('EFAULT', `${what} needs an array of struct kvm_msr_entry`);
  if (entries.length >= KVM_MAX_IO_MSRS) fail('E2BIG', `${entries.length} MSR entries: ${what} takes fewer than MAX_IO_MSRS (${KVM_MAX_IO_MSRS})`);
  entries.forEach((e, i) => {
    if (typeof (e as unknown) !== 'object' || (e as unknown) === null) fail('EFAULT', `entry ${i} is not a struct kvm_msr_entry`);
    u32(e.index, `entry ${i} index`);
  });
}

/**
 * KVM_GET_MSRS: reads the entries in order into their `data`, stopping at
 * the first MSR that cannot be read; returns the number read.
 */
export function getMsrs(store: X86MsrStore, entries: KvmMsrEntry[]): number {
  checkEntries(entries, 'KVM_GET_MSRS');
  for (let i = 0; i < entries.length; i++) {
    const v = store.read(entries[i]!.index);
    if (v === undefined) return i;
    entries[i]!.data = v;
  }
  return entries.length;
}

/**
 * KVM_SET_MSRS: writes the entries in order, stopping at the first MSR (or
 * value) that is refused; returns the number written. A `data` that is not
 * a bigint is EINVAL (nothing written).
 */
export function setMsrs(store: X86MsrStore, entries: readonly KvmMsrEntry[]): number {
  checkEntries(entries, 'KVM_SET_MSRS');
  entries.forEach((e, i) => {
    if (typeof (e.data as unknown) !== 'bigint') fail('EINVAL', `entry ${i} (MSR 0x${e.index.toString(16)}) data must be a bigint, got ${String(e.data)}`);
  });
  for (let i = 0; i < entries.length; i++) {
    if (!store.write(entries[i]!.index, entries[i]!.data)) return i;
  }
  return entries.length;
}
