/**
 * The system object (`/dev/kvm`; api.rst 4.1-4.4): the API version, the
 * capabilities, VM creation and the vCPU mmap size, over one host: host
 * memory (the VMM's userspace, identity-mapped, and KVM's kernel region),
 * a clock, and one physical CPU per vCPU.
 */
import { Clock, PhysicalMemory } from '@hvsim/core';
import type { Arm64CostProfile, X86CostProfile } from '@hvsim/cpu';
import { KVM_API_VERSION, KVM_VCPU_MMAP_SIZE, KVM_X86_DEFAULT_VM } from './generic/constants.js';
import { fail, hex } from './generic/errors.js';
import type { KvmHost } from './generic/vm.js';
import { x86CheckExtension } from './x86/caps.js';
import { KVM_MSR_INDEX_LIST } from './x86/msrs.js';
import { x86KvmCosts, type X86KvmCosts } from './x86/kvm-costs.js';
import { ARM64_HALT_POLL_DEFAULTS, HALT_POLL_DEFAULTS, haltPollParams, type HaltPollParams } from './generic/halt-poll.js';
import { X86Vm } from './x86/vm.js';
import { ARM64_IPA_BITS, arm64CheckExtension } from './arm64/caps.js';
import { Arm64Vm } from './arm64/vm.js';
import type { Arm64WorldSwitchCosts } from './arm64/world-switch-costs.js';

/** The architecture of a {@link Kvm}'s host and VMs. */
export type KvmArch = 'x86' | 'arm64';
/** The VM class of an architecture. */
export type KvmVmOf<A extends KvmArch> = A extends 'arm64' ? Arm64Vm : X86Vm;

/** Options of a {@link Kvm}. */
export interface KvmOptions<A extends KvmArch = KvmArch> {
  /** The host's architecture: 'x86' (default) or 'arm64'. */
  arch?: A;
  /** arm64: the world-switch costs (ARM64_VHE_COSTS by default, or ARM64_NVHE_COSTS). */
  arm64Costs?: Arm64WorldSwitchCosts;
  /**
   * arm64: the host's GIC, 'v3' (default: list registers, no host ITS) or a
   * GICv4 with an ITS, 'v4.0' or 'v4.1' (direct vLPI injection; vSGIs on
   * v4.1). EINVAL otherwise.
   */
  arm64HostGic?: 'v3' | 'v4.0' | 'v4.1';
  /**
   * arm64: the cycle costs of the guest CPUs (`@hvsim/cpu`'s
   * `Arm64CostProfile`: operations, traps to EL2, ERET...). Default
   * `ARM64_DEFAULT_COSTS`.
   */
  arm64CpuCosts?: Arm64CostProfile;
  /** Host memory (default: a new one). KVM's kernel region is added to it. */
  memory?: PhysicalMemory;
  /**
   * Guest CPUs record what their code's operations returned, so that a vCPU
   * can be saved in the middle of guest code (x86 `saveVcpu`, migration;
   * `@hvsim/cpu`'s `snapshots` option). Default false (a little faster).
   */
  snapshots?: boolean;
  /**
   * x86: the cycle costs of the guest CPUs (`@hvsim/cpu`'s `X86CostProfile`:
   * operations, exception delivery, VM exit and entry...). Default
   * `X86_DEFAULT_COSTS`.
   */
  x86CpuCosts?: X86CostProfile;
  /**
   * x86: the cycles of KVM's own work (`X86KvmCosts`: in-kernel exit
   * handling, a return to userspace, event injection), charged to the vCPU's
   * time by the run loop. Missing fields are 0; default all 0.
   */
  x86KvmCosts?: Partial<X86KvmCosts>;
  /**
   * The kvm module's halt-polling parameters (`halt_poll_ns`,
   * `halt_poll_ns_grow`, `halt_poll_ns_grow_start`, `halt_poll_ns_shrink`):
   * missing fields take Linux's defaults (200000, 2, 10000, 2 on x86;
   * halt_poll_ns 500000 on arm64);
   * `{ haltPollNs: 0 }` turns polling off.
   */
  haltPoll?: Partial<HaltPollParams>;
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
export class Kvm<A extends KvmArch = 'x86'> {
  /** The host's architecture. */
  readonly arch: A;
  private readonly arm64Costs: Arm64WorldSwitchCosts | undefined;
  private readonly arm64HostGic: 'v3' | 'v4.0' | 'v4.1' | undefined;
  readonly memory: PhysicalMemory;
  readonly clock: Clock;
  private readonly kernel: { base: number; size: number };
  private kernelNext: number;
  private userNext = USER_MMAP_BASE;
  private readonly host: KvmHost;

  constructor(options: KvmOptions<A> = {}) {
    const arch: unknown = options.arch ?? 'x86';
    if (arch !== 'x86' && arch !== 'arm64') fail('EINVAL', `arch ${String(arch)} is not 'x86' or 'arm64'`);
    this.arch = arch as A;
    this.arm64Costs = options.arm64Costs;
    const hostGic: unknown = options.arm64HostGic;
    if (hostGic !== undefined && hostGic !== 'v3' && hostGic !== 'v4.0' && hostGic !== 'v4.1') fail('EINVAL', `arm64HostGic ${typeof hostGic === 'string' ? hostGic : typeof hostGic} is not 'v3', 'v4.0' or 'v4.1'`);
    this.arm64HostGic = options.arm64HostGic;
    const kvmCosts = x86KvmCosts(options.x86KvmCosts); // EINVAL before anything is built
    const haltPoll = haltPollParams(options.haltPoll, arch === 'arm64' ? ARM64_HALT_POLL_DEFAULTS : HALT_POLL_DEFAULTS);
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
      snapshots: options.snapshots ?? false,
      x86CpuCosts: options.x86CpuCosts,
      arm64CpuCosts: options.arm64CpuCosts,
      x86KvmCosts: kvmCosts,
      haltPoll,
    };
  }

  /**
   * KVM_GET_MSR_INDEX_LIST (api.rst 4.3): the MSRs a VMM saves and restores
   * with KVM_GET/SET_MSRS (x86; E2BIG in the real ioctl when the buffer is
   * too small, which an array here never is). ENOTTY on arm64.
   */
  getMsrIndexList(): number[] {
    if (this.arch !== 'x86') fail('ENOTTY', 'KVM_GET_MSR_INDEX_LIST is an x86 ioctl');
    return [...KVM_MSR_INDEX_LIST];
  }

  /** KVM_GET_API_VERSION: 12. */
  getApiVersion(): number {
    return KVM_API_VERSION;
  }

  /** KVM_CHECK_EXTENSION: 0 when unsupported, else 1 or the capability's limit. */
  checkExtension(cap: number): number {
    return this.arch === 'arm64' ? arm64CheckExtension(cap) : x86CheckExtension(cap);
  }

  /** KVM_GET_VCPU_MMAP_SIZE: kvm_run, the PIO page and the coalesced-MMIO page. */
  getVcpuMmapSize(): number {
    return KVM_VCPU_MMAP_SIZE;
  }

  /**
   * KVM_CREATE_VM (api.rst 4.2): x86 type 0 (KVM_X86_DEFAULT_VM) only; arm64
   * type 0 or KVM_VM_TYPE_ARM_IPA_SIZE(40) (a 40-bit IPA space); EINVAL otherwise.
   */
  createVm(type: number = KVM_X86_DEFAULT_VM): KvmVmOf<A> {
    if (this.arch === 'arm64') {
      if (type !== 0 && type !== ARM64_IPA_BITS) fail('EINVAL', `VM type ${String(type)} is not supported (0 or an IPA size of ${ARM64_IPA_BITS} bits)`);
      return new Arm64Vm(this.host, this.arm64Costs, this.arm64HostGic === undefined ? {} : { hostGic: this.arm64HostGic }) as KvmVmOf<A>;
    }
    if (type !== KVM_X86_DEFAULT_VM) fail('EINVAL', `VM type ${String(type)} is not supported (only KVM_X86_DEFAULT_VM, 0)`);
    return new X86Vm(this.host) as KvmVmOf<A>;
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
