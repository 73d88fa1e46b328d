/**
 * Typed trace events. Models emit them to an optional {@link Tracer}; with no
 * tracer attached the emitting code is `this.tracer?.emit({...})`, which
 * builds nothing, so tracing costs nothing when it is off.
 *
 * Emitters build a fresh event object per `emit` and do not touch it
 * afterwards: a tracer may keep it, and a wrapper may stamp fields on it.
 */

/** Scalar values an event may carry in `args`. */
export type TraceArg = number | string | boolean;

/** Fields every event has. */
export interface TraceEventBase {
  /** Simulated cycle at which the event happened (its start, if it spans time). */
  cycle: number;
  /**
   * The CPU the event concerns, numbered as the emitting model numbers its
   * CPUs: the APIC ID (lapic, ioapic and apic-bus destinations), the PE index
   * (gic, its, timer), the `cpu` option (vmx, mmu, tlb). Whether that CPU is
   * physical or virtual is said by `vm`: absent, a host CPU; present, a CPU
   * of that VM. `cpu` alone never tells host from guest.
   */
  cpu?: number;
  /**
   * The VM the event belongs to (the id a hypervisor gives it); absent for
   * the host. Stamped by a `TaggingTracer` that a VMM
   * puts between each VM's models and the recording tracer, so a guest
   * LAPIC's events never collide with the host LAPIC's.
   */
  vm?: number;
  /** Index of the vCPU within its `vm` that the event concerns, when the emitter is per-vCPU (a VMX processor running it, a KVM vCPU). */
  vcpu?: number;
  /**
   * The model that emitted it. Names used across the packages: `lapic`,
   * `ioapic`, `pic`, `apic-bus` (lapic); `vmx` (vmcs); `iommu`; `gic`, `its`
   * (gic); `timer` (the Arm generic timer); `mmu`, `mmu.shadow`,
   * `mmu.nested`, `mmu.stage1`, `mmu.stage2`, `ept`, `tlb`, `arm-tlb` (mmu);
   * `kvm`; `cpu`. A wrapper
   * may prefix them (`guest.lapic`).
   */
  source: string;
  /** Cycles the event spans (e.g. a VM exit's handling), for timeline views. */
  duration?: number;
  /** Same number on every event of one interrupt's path, so a viewer can link them. */
  flow?: number;
  /** Extra facts, shown as-is by viewers. */
  args?: Record<string, TraceArg>;
}

/** An interrupt moved along its path: raised at a source, posted, delivered to a CPU, acknowledged, completed (EOI), or merged into one already pending. */
export interface InterruptTraceEvent extends TraceEventBase {
  /** The step of the interrupt's path. */
  kind: 'interrupt.raised' | 'interrupt.posted' | 'interrupt.delivered' | 'interrupt.acknowledged' | 'interrupt.eoi' | 'interrupt.coalesced' | 'interrupt.dropped';
  /** x86 vector or Arm INTID. */
  vector: number;
}

/** An inter-processor interrupt was sent. */
export interface IpiTraceEvent extends TraceEventBase {
  /** Always `ipi.sent`. */
  kind: 'ipi.sent';
  /** The vector (x86) or SGI number (Arm) sent. */
  vector: number;
  /** Destination as written (APIC ID, logical mask, affinity, or -1 for a shorthand). */
  destination: number;
}

/** A message-signalled interrupt was written. */
export interface MsiTraceEvent extends TraceEventBase {
  /** Always `msi`. */
  kind: 'msi';
  /** The MSI address written. */
  address: number;
  /** The MSI data written. */
  data: number;
}

/** A VM exit, with its basic exit reason (x86) or exception class (Arm). */
export interface VmExitTraceEvent extends TraceEventBase {
  /** Always `vm.exit`. */
  kind: 'vm.exit';
  /** The basic exit reason (x86) or ESR_EL2.EC (Arm). */
  reason: number;
  /** Its name, e.g. `EXTERNAL_INTERRUPT` or `WFx`. */
  reasonName: string;
}

/** A VM entry. */
export interface VmEntryTraceEvent extends TraceEventBase {
  /** Always `vm.entry`. */
  kind: 'vm.entry';
}

/** A page walk, with the memory references it made and how it ended. */
export interface PageWalkTraceEvent extends TraceEventBase {
  /** Always `mmu.walk`. */
  kind: 'mmu.walk';
  /** The address translated. */
  address: number;
  /** How many memory references the walk made. */
  references: number;
  /** Absent when the walk succeeded; else what stopped it (`'#PF'`, `'ept-violation'`, ...). */
  fault?: string;
}

/** A TLB lookup that hit or missed. */
export interface TlbTraceEvent extends TraceEventBase {
  /** Hit, miss, or a flush of the entries. */
  kind: 'tlb.hit' | 'tlb.miss' | 'tlb.flush';
  /** The address looked up or flushed. */
  address: number;
}

/** An architectural fault raised or recorded by a model (a #GP, a VT-d fault record, an ITS command error). */
export interface FaultTraceEvent extends TraceEventBase {
  /** Always `fault`. */
  kind: 'fault';
  /** Which fault, e.g. `#GP` or a VT-d fault reason's name. */
  what: string;
  /** Its architectural code (error code, fault reason, command error), when it has one. */
  code?: number;
}

/** Anything a model or workload wants to mark that no other kind describes. */
export interface CustomTraceEvent extends TraceEventBase {
  /** Always `custom`. */
  kind: 'custom';
  /** What is marked. */
  name: string;
}

/** Every event a tracer receives. */
export type TraceEvent =
  | InterruptTraceEvent
  | IpiTraceEvent
  | MsiTraceEvent
  | VmExitTraceEvent
  | VmEntryTraceEvent
  | PageWalkTraceEvent
  | TlbTraceEvent
  | FaultTraceEvent
  | CustomTraceEvent;

/** The `kind` of every trace event. */
export type TraceEventKind = TraceEvent['kind'];

/** Receives events from models. */
export interface Tracer {
  /** Receives one event; the emitter does not touch it afterwards. */
  emit(event: TraceEvent): void;
}
