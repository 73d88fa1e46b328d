/**
 * The host's physical CPUs as KVM sees them: each has its local APIC (the
 * host kernel's), its VMX (`VmxProcessor`, one VMXON region), the vCPU
 * loaded on it (vcpu_load: its VMCS current there) and the per-CPU list of
 * vCPUs blocked with posted interrupts pointed at it (Linux
 * vmx/posted_intr.c `wakeup_vcpus_on_cpu`). The host's interrupt handlers
 * run here: the posted-interrupt wake-up vector 0xF1 walks the blocked list
 * and wakes each vCPU whose descriptor has ON (pi_wakeup_handler); the
 * notification vector 0xF2 taken in root operation does nothing (its PIR
 * is synced at the next VM entry: kvm_posted_intr_ipi); the reschedule IPI
 * only interrupts the CPU.
 */
import type { Clock, PhysicalMemory } from '@hvsim/core';
import { ApicBus, LocalApic, POSTED_INTR_WAKEUP_VECTOR } from '@hvsim/lapic';
import { VmxProcessor } from '@hvsim/vmcs';

const WAKEUP_VECTOR = POSTED_INTR_WAKEUP_VECTOR;
const APIC_EOI = 0xb0;

/** What a physical CPU may hold: a vCPU (its VMCS) and its posted-interrupt wake-up. */
export interface PcpuVcpu {
  /** kvm_vcpu_wake_up: the wake-up handler found ON set in this vCPU's descriptor. */
  wakeUp(): void;
  /** pi_test_on on this vCPU's descriptor. */
  postedPending(): boolean;
}

/** What physical CPUs need of the host. */
export interface PcpuHost {
  readonly memory: PhysicalMemory;
  readonly clock: Clock;
  allocKernelPages(pages: number): number;
}

/** One physical CPU (see the file comment). */
export class PhysicalCpu {
  /** The host kernel's local APIC of this CPU (APIC ID = `index`). */
  readonly hostApic: LocalApic;
  /** This CPU's VMX, in VMX root operation. */
  readonly vmx: VmxProcessor;
  /** The vCPU loaded here (vcpu_load), or null. */
  loaded: PcpuVcpu | null = null;
  /** A guest runs here in VMX non-root operation now: host interrupts wait for its next instruction boundary. */
  guestActive = false;
  /** wakeup_vcpus_on_cpu: vCPUs that blocked on this CPU with the wake-up vector in their descriptor. */
  readonly blocked = new Set<PcpuVcpu>();
  /** Cycles this CPU spent in halt polling (a halted vCPU spinning on it before blocking: kvm_vcpu_halt). */
  haltPollCycles = 0;
  /** Host interrupts handled here, by vector (the host's /proc/interrupts). */
  readonly interrupts = new Uint32Array(256);
  /** The host's handlers of device interrupts by vector (request_irq), shared by every CPU. */
  private readonly handlers: Map<number, () => void>;
  private handling = false;

  constructor(
    host: PcpuHost,
    /** The CPU number, also its APIC ID. */
    readonly index: number,
    handlers: Map<number, () => void> = new Map(),
  ) {
    this.handlers = handlers;
    const { memory, clock } = host;
    this.hostApic = new LocalApic({ id: index, clock, onInterrupt: () => this.interruptArrived() });
    this.hostApic.mmioWrite(0xf0, 4, 0x1ff); // the host kernel's APIC is software-enabled
    this.vmx = new VmxProcessor({ memory, clock, cpu: index });
    const vmxon = host.allocKernelPages(1);
    memory.write32(vmxon, this.vmx.capabilities.revisionId);
    this.vmx.vmxon(vmxon);
  }

  /** Sends this CPU an IPI of `vector` (fixed, edge), as another CPU's APIC would. */
  sendIpi(vector: number): void {
    this.hostApic.acceptInterrupt({ vector, trigger: 'edge' });
  }

  /**
   * The host takes its pending interrupts with interrupts enabled (after a
   * VM exit, or at once while no guest runs here), each one acknowledged,
   * handled and ended with its EOI.
   */
  handleInterrupts(): void {
    if (this.handling) return; // a handler's own IPI is taken by this loop
    this.handling = true;
    const host = this.hostApic;
    while (host.highestDeliverableVector() >= 0) {
      this.runHandler(host.acknowledge());
      host.mmioWrite(APIC_EOI, 4, 0);
    }
    this.handling = false;
  }

  /**
   * The host's handler of `vector`, acknowledged already (by the loop above,
   * or by the CPU on a VM exit with "acknowledge interrupt on exit":
   * handle_exit_irqoff calls it): counted, then the wake-up handler or the
   * device handler registered for it. The caller sends the EOI.
   */
  runHandler(vector: number): void {
    this.interrupts[vector]!++;
    if (vector === WAKEUP_VECTOR) this.wakeupHandler();
    else this.handlers.get(vector)?.();
  }

  /** pi_wakeup_handler: wake every vCPU on this CPU's blocked list whose descriptor has ON. */
  private wakeupHandler(): void {
    for (const v of this.blocked) if (v.postedPending()) v.wakeUp();
  }

  private interruptArrived(): void {
    // In non-root operation the CPU sees the vector at its next instruction boundary (an exit, or
    // posted-interrupt processing for the notification vector); in root operation the host takes it now.
    if (!this.guestActive) this.handleInterrupts();
  }
}

/** The host's physical CPUs, made on first use, on one host APIC bus. */
export class PhysicalCpus {
  private readonly cpus: PhysicalCpu[] = [];
  /** The host's APIC bus (IPIs between CPUs; an IOMMU's remapped interrupts and notification events go here). */
  readonly hostBus = new ApicBus();
  private readonly handlers = new Map<number, () => void>();

  constructor(private readonly host: PcpuHost) {}

  /** Physical CPU `index`, made if missing. */
  cpu(index: number): PhysicalCpu {
    let p = this.cpus[index];
    if (p === undefined) {
      p = new PhysicalCpu(this.host, index, this.handlers);
      this.cpus[index] = p;
      this.hostBus.attach(p.hostApic);
    }
    return p;
  }

  /** request_irq: `handler` runs when a CPU takes host `vector` (a device interrupt remapped to the host). */
  setHandler(vector: number, handler: (() => void) | undefined): void {
    if (handler === undefined) this.handlers.delete(vector);
    else this.handlers.set(vector, handler);
  }

  /** The physical CPU whose APIC ID is `apicId`, or undefined. */
  byApicId(apicId: number): PhysicalCpu | undefined {
    return this.cpus[apicId];
  }

  /** How many have been made. */
  get count(): number {
    return this.cpus.length;
  }
}
