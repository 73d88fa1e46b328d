/**
 * KVM_IOEVENTFD (api.rst 4.59; Linux virt/kvm/eventfd.c): a guest write to
 * a PIO or MMIO address (of a length, optionally with a value) signals an
 * eventfd in the kernel instead of exiting to userspace. Length 0 on MMIO
 * matches a write of any length (KVM_FAST_MMIO_BUS). Registrations that
 * could match the same write are refused (EEXIST); removing one that does
 * not exist is ENOENT.
 */
import { KVM_IOEVENTFD_FLAG } from './constants.js';
import { fail, hex, u32, u64 } from './errors.js';
import { EventFd } from './eventfd.js';

/** `struct kvm_ioeventfd`, with an eventfd object for `fd`. */
export interface KvmIoeventfd {
  addr: number | bigint;
  /** 0 (MMIO: any length; needs no DATAMATCH), 1, 2, 4 or 8. */
  len: number;
  datamatch?: number | bigint;
  fd: EventFd;
  flags?: number;
}

interface Registration {
  pio: boolean;
  addr: number;
  len: number;
  wildcard: boolean;
  lo: number;
  hi: number;
  fd: EventFd;
}

/** The ioeventfds of one VM. */
export class IoeventfdTable {
  private readonly regs: Registration[] = [];

  /** The number of registrations. */
  get size(): number {
    return this.regs.length;
  }

  /** KVM_IOEVENTFD: assign, or deassign with KVM_IOEVENTFD_FLAG_DEASSIGN. */
  ioeventfd(args: KvmIoeventfd): void {
    if (typeof (args as unknown) !== 'object' || (args as unknown) === null) fail('EFAULT', 'KVM_IOEVENTFD needs a struct kvm_ioeventfd');
    const flags = u32(args.flags ?? 0, 'flags');
    const valid = KVM_IOEVENTFD_FLAG.DATAMATCH | KVM_IOEVENTFD_FLAG.PIO | KVM_IOEVENTFD_FLAG.DEASSIGN;
    if ((flags & ~valid) !== 0) fail('EINVAL', `ioeventfd flags ${hex(flags)} are not valid on x86`);
    const addr = u64(args.addr, 'addr');
    const len = args.len;
    if (![0, 1, 2, 4, 8].includes(len)) fail('EINVAL', `ioeventfd len must be 0, 1, 2, 4 or 8, got ${String(len)}`);
    const pio = (flags & KVM_IOEVENTFD_FLAG.PIO) !== 0;
    const wildcard = (flags & KVM_IOEVENTFD_FLAG.DATAMATCH) === 0;
    if (len === 0 && !wildcard) fail('EINVAL', 'a zero-length ioeventfd cannot match data');
    if (addr + len > (pio ? 0x10000 : Number.MAX_SAFE_INTEGER)) fail('EINVAL', `ioeventfd [${hex(addr)}, +${len}) wraps its address space`);
    if (!(args.fd instanceof EventFd)) fail('EBADF', 'ioeventfd fd is not an eventfd');
    let lo = 0;
    let hi = 0;
    if (!wildcard) {
      const d = BigInt(args.datamatch ?? 0);
      if (d < 0n || d > 0xffff_ffff_ffff_ffffn) fail('EINVAL', `datamatch ${String(args.datamatch)} is not a 64-bit value`);
      lo = Number(d & 0xffff_ffffn);
      hi = Number(d >> 32n);
    }
    const reg: Registration = { pio, addr, len, wildcard, lo, hi, fd: args.fd };
    if ((flags & KVM_IOEVENTFD_FLAG.DEASSIGN) !== 0) {
      const i = this.regs.findIndex((r) => r.fd === reg.fd && r.pio === pio && r.addr === addr && r.len === len && r.wildcard === wildcard && (wildcard || (r.lo === lo && r.hi === hi)));
      if (i < 0) fail('ENOENT', `no ioeventfd of eventfd ${reg.fd.fd} at ${pio ? 'port' : 'address'} ${hex(addr)} len ${len}`);
      this.regs.splice(i, 1);
      return;
    }
    // ioeventfd_check_collision: same bus, address and length, and either one matches any value or both the same one.
    if (this.regs.some((r) => r.pio === pio && r.addr === addr && r.len === len && (r.wildcard || wildcard || (r.lo === lo && r.hi === hi)))) {
      fail('EEXIST', `an ioeventfd at ${pio ? 'port' : 'address'} ${hex(addr)} len ${len} would match the same writes`);
    }
    this.regs.push(reg);
  }

  /**
   * A guest write of `len` bytes (value `lo`, bits 63:32 `hi`): signals the
   * eventfd of the first matching registration and returns true (the write
   * is then complete), or false.
   */
  write(pio: boolean, addr: number, len: number, lo: number, hi = 0): boolean {
    for (const r of this.regs) {
      if (r.pio !== pio || r.addr !== addr || (r.len !== 0 && r.len !== len)) continue;
      if (!r.wildcard) {
        const bits = len * 8;
        const mlo = bits >= 32 ? 0xffff_ffff : (1 << bits) - 1;
        if (((lo ^ r.lo) & mlo) >>> 0 !== 0 || (bits === 64 && hi >>> 0 !== r.hi)) continue;
      }
      r.fd.write(1);
      return true;
    }
    return false;
  }
}
