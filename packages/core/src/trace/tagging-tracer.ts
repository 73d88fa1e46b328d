/**
 * A tracer wrapper that says which VM (and vCPU) the events passing through
 * it belong to. A VMM gives each VM's models (guest LAPIC, vITS, the VMX
 * processor running a vCPU) a `TaggingTracer` in front of the one recording
 * tracer; the host's models get the recording tracer itself. Then `source:
 * 'lapic', cpu: 0` from the host and from a guest no longer collide, and
 * `toChromeTrace` puts each VM in its own process.
 */
import { UsageError } from '../errors/hvsim-error.js';
import { assertInteger, assertOptions, describeValue } from '../errors/validate.js';
import type { TraceEvent, Tracer } from './events.js';

/** Options of {@link TaggingTracer}. */
export interface TaggingTracerOptions {
  /** VM id stamped on every event that has none. */
  vm: number;
  /** vCPU index stamped on every event that has none (for a per-vCPU emitter). */
  vcpu?: number;
  /** Prefix put before every event's `source` with a dot (`'l2'` turns `lapic` into `l2.lapic`). */
  sourcePrefix?: string;
}

/**
 * Stamps `vm` (and `vcpu`, and a `source` prefix) on each event and forwards
 * it to `target`. The event object itself is stamped (emitters build a fresh
 * one per emit), so forwarding allocates nothing; prefixed source names are
 * made once per distinct source and reused. An event that already has a `vm`
 * or `vcpu` keeps it: the innermost wrapper (the nested guest's) wins.
 */
export class TaggingTracer implements Tracer {
  /** The VM id stamped. */
  readonly vm: number;
  /** The vCPU index stamped, if any. */
  readonly vcpu: number | undefined;
  private readonly prefix: string | undefined;
  private readonly renamed = new Map<string, string>();

  constructor(
    /** Where the stamped events go. */
    readonly target: Tracer,
    options: TaggingTracerOptions,
  ) {
    if (typeof target !== 'object' || (target as unknown) === null || typeof target.emit !== 'function') {
      throw new UsageError('bad-argument', `TaggingTracer needs a target tracer with emit(), got ${describeValue(target)}`);
    }
    assertOptions(options, ['vm', 'vcpu', 'sourcePrefix'], 'TaggingTracer');
    assertInteger(options.vm, 'vm', 0, 0x7fff_ffff);
    if (options.vcpu !== undefined) assertInteger(options.vcpu, 'vcpu', 0, 0x7fff_ffff);
    if (options.sourcePrefix !== undefined && (typeof options.sourcePrefix !== 'string' || options.sourcePrefix === '')) {
      throw new UsageError('bad-argument', `sourcePrefix must be a non-empty string, got ${describeValue(options.sourcePrefix)}`);
    }
    this.vm = options.vm;
    this.vcpu = options.vcpu;
    this.prefix = options.sourcePrefix;
  }

  /** Passes `event` on with this tracer's tags and source renames applied. */
  emit(event: TraceEvent): void {
    event.vm ??= this.vm;
    if (this.vcpu !== undefined) event.vcpu ??= this.vcpu;
    if (this.prefix !== undefined) event.source = this.rename(event.source);
    this.target.emit(event);
  }

  private rename(source: string): string {
    let name = this.renamed.get(source);
    if (name === undefined) {
      name = `${this.prefix ?? ''}.${source}`;
      this.renamed.set(source, name);
    }
    return name;
  }
}
