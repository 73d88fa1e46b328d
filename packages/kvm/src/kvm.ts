/**
 * The system object (`/dev/kvm`; api.rst 4.1-4.4): the API version, the
 * capabilities, VM creation and the vCPU mmap size, over one host: host
 * memory (the VMM's userspace, identity-mapped, and KVM's kernel region),
 * a clock, and one physical CPU per vCPU.
 */
import { Clock, PhysicalMemory } from '@hvsim/core';
import { KVM_API_VERSION, KVM_VCPU_MMAP_SIZE, KVM_X86_DEFAULT_VM } from './generic/constants.js';
import { fail, hex } from './generic/errors.js';
import type { KvmHost } from './generic/vm.js';
import { x86CheckExtension } from './x86/caps.js';
import { X86Vm } from './x86/vm.js';

/** Options of a {@link Kvm}. */
export interface KvmOptions {
  /** Host memory (default: a new one). KVM's kernel region is added to it. */
  memory?: PhysicalMemory;
  /** Simulated time (default: a new clock). */
  clock?: Clock;
  /** Host-physical base of KVM's kernel region (default 0x1000_0000). */
  kernelBase?: number;
  /** Its size in bytes (default 64 MiB). */
  kernelSize?: number;
}

/** Where `Kvm.mmap` places the VMM's anonymous memory. */
const USER_MMAP_BASE = 0x1_0000_0000;



/** `/dev/kvm` (see the file comment). */
export class Kvm {
  readonly memory: PhysicalMemory;
  readonly clock: Clock;
  private readonly kernel: { base: number; size: number };
  private kernelNext: number;
  private userNext = USER_MMAP_BASE;
  private readonly host: KvmHost;

  constructor(options: KvmOptions = {}) {
    this.memory = options.memory ?? new PhysicalMemory();
    this.clock = options.clock ?? new Clock();
    const base = options.kernelBase ?? 0x1000_0000;
    const size = options.kernelSize ?? 64 << 20;
    if (base % 4096 !== 0 || size % 4096 !== 0 || size <= 0) fail('EINVAL', `kernel region ${hex(base)} +${hex(size)} must be page-aligned and non-empty`);
    this.memory.addRegion(base, size, { name: 'kvm kernel' });
    this.kernel = { base, size };
    this.kernelNext = base;
    this.host = {
      memory: this.memory,
      clock: this.clock,
      kernel: this.kernel,
      allocKernelPages: (pages) => this.allocKernelPages(pages),
    };
  }

  /** KVM_GET_API_VERSION: 12. */
  getApiVersion(): number {
    return KVM_API_VERSION;
  }

  /** KVM_CHECK_EXTENSION: 0 when unsupported, else 1 or the capability's limit. */
  checkExtension(cap: number): number {
    return x86CheckExtension(cap);
  }

  /** KVM_GET_VCPU_MMAP_SIZE: kvm_run, the PIO page and the coalesced-MMIO page. */
  getVcpuMmapSize(): number {
    return KVM_VCPU_MMAP_SIZE;
  }

  /** KVM_CREATE_VM (api.rst 4.2): type 0 (KVM_X86_DEFAULT_VM) only; EINVAL otherwise. */
  createVm(type: number = KVM_X86_DEFAULT_VM): X86Vm {
    if (type !== KVM_X86_DEFAULT_VM) fail('EINVAL', `VM type ${String(type)} is not supported (only KVM_X86_DEFAULT_VM, 0)`);
    return new X86Vm(this.host);
  }

  /**
   * The VMM's mmap(MAP_ANONYMOUS): adds `size` bytes of host memory and
   * returns its userspace address (identity-mapped: the host address).
   */
  mmap(size: number): number {
    if (!Number.isSafeInteger(size) || size <= 0) fail('EINVAL', `mmap size must be a positive integer, got ${String(size)}`);
    const len = Math.ceil(size / 4096) * 4096;
    const addr = this.userNext;
    this.memory.addRegion(addr, len, { name: `vmm mmap ${hex(addr)}` });
    this.userNext += len + 0x20_0000 - (len % 0x20_0000 || 0x20_0000);
    return addr;
  }

  private allocKernelPages(pages: number): number {
    const bytes = pages * 4096;
    if (this.kernelNext + bytes > this.kernel.base + this.kernel.size) fail('ENOMEM', `the KVM kernel region (${hex(this.kernel.size)} bytes) is full`);
    const addr = this.kernelNext;
    this.kernelNext += bytes;
    return addr;
  }
}
