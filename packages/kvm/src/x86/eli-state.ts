/**
 * A vCPU's ELI state and set-up (eli.ts has the run-loop side): the shadow
 * IDT page and MSR bitmap KVM allocates, the mode the vCPU runs in, the
 * guest's own IDTR, the counters, and the guest CPU's pass-through of the
 * x2APIC EOI to the physical local APIC.
 */
import { CpuException, type Memory } from '@hvsim/core';
import { CPU_BASED, SECONDARY, VMCS_FIELD, type VmxProcessor } from '@hvsim/vmcs';

/** The x2APIC EOI MSR. */
export const MSR_EOI = 0x80b;
/** The xAPIC EOI register offset (the host's APICs are in xAPIC mode). */
export const APIC_EOI = 0xb0;

/** One vCPU's ELI state (direct and injection modes: see eli.ts). */
export class EliState {
  /** Whether the vCPU is in direct mode (shadow IDT, no external-interrupt exiting, EOI passed through). */
  direct = false;
  /** The guest's own IDTR (the VMCS holds the shadow's in direct mode). */
  guestIdtBase = 0;
  /** Its limit. */
  guestIdtLimit = 0;
  /** Guest-physical pages of the guest's IDT, write-protected in EPT. */
  idtPages: number[] = [];
  /** The shadow must be rebuilt before the next direct-mode entry. */
  dirty = true;
  /** The assigned-vector generation the shadow was built for. */
  generation = -1;
  /** #NP exits: non-assigned interrupts that arrived in direct mode. */
  npExits = 0;
  /** Guest writes to its IDT that KVM emulated. */
  idtWrites = 0;
  /** Entries in injection mode after direct mode (switches). */
  injectionSwitches = 0;

  constructor(
    /** Host-physical page of the shadow IDT. */
    readonly shadowPage: number,
    /** The guest address (linear = guest-physical) where it is mapped. */
    readonly shadowAddress: number,
    /** Host-physical MSR bitmap. */
    readonly msrBitmap: number,
  ) {}
}

/** What the VM tells every vCPU about ELI: the assigned vectors. */
export interface EliVectors {
  /** 1 for each vector an assigned device delivers directly. */
  readonly eliVectors: Uint8Array;
  /** Bumped when they change. */
  readonly eliGeneration: number;
  /** How many are set. */
  readonly eliAssigned: number;
}

/** What ELI's set-up needs of the VM. */
export interface EliHost {
  readonly memory: Memory;
  readonly ept: { map(gpa: number, hpa: number, options: { permissions: number }): void };
  allocKernelPages(pages: number): number;
}

/**
 * Sets a vCPU up for ELI (vCPU creation, emulated controls already in its
 * VMCS, current on `vmx`): the shadow IDT page mapped read-only at
 * `shadowAddress`, an MSR bitmap intercepting everything (the EOI is passed
 * in direct mode only), and descriptor-table exiting (LIDT).
 */
export function eliSetup(host: EliHost, vmx: VmxProcessor, shadowAddress: number): EliState {
  const pages = host.allocKernelPages(2);
  const e = new EliState(pages, shadowAddress, pages + 0x1000);
  const memory = host.memory;
  for (let i = 0; i < 4096; i += 4) memory.write32(e.msrBitmap + i, 0xffff_ffff);
  vmx.vmwrite(VMCS_FIELD.MSR_BITMAP, e.msrBitmap);
  const proc = vmx.vmreadNumber(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
  vmx.vmwrite32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, (proc | CPU_BASED.USE_MSR_BITMAPS) >>> 0);
  const proc2 = vmx.vmreadNumber(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL);
  vmx.vmwrite32(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, (proc2 | SECONDARY.DESCRIPTOR_TABLE_EXITING) >>> 0);
  host.ept.map(shadowAddress, e.shadowPage, { permissions: 1 }); // read-only: the guest cannot write the shadow
  return e;
}

/**
 * The guest CPU's view of "its" local APIC for MSR accesses the bitmap
 * passes through: in ELI only the x2APIC EOI, which reaches the physical
 * APIC of the CPU the vCPU runs on. Nothing is ever pending here (the
 * physical APIC's interrupts reach the guest through VMX).
 */
export function passthroughApic(pcpu: () => { hostApic: { mmioWrite(offset: number, size: 4, value: number): void } }) {
  return {
    hasPendingInterrupt: (): boolean => false,
    acknowledge: (): number => 0,
    pendingSignals: 0,
    takeNmi: (): boolean => false,
    takeExtInt: (): boolean => false,
    readCr8: (): number => 0,
    writeCr8: (): void => undefined,
    writeMsr(index: number, value: bigint | number): void {
      if (index !== MSR_EOI || (value !== 0 && value !== 0n)) throw CpuException.gp(`x2APIC MSR 0x${index.toString(16)} reached the physical APIC`);
      pcpu().hostApic.mmioWrite(APIC_EOI, 4, 0);
    },
  };
}
