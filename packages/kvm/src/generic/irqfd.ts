/**
 * KVM_IRQFD (api.rst 4.75; Linux virt/kvm/eventfd.c): an eventfd bound to
 * a GSI. A write to the eventfd injects the GSI — an edge (raise, lower)
 * for a plain irqfd, a raised level for a resampling one, lowered again
 * and reported on the resamplefd when the guest EOIs the irqchip pin
 * (KVM_CAP_IRQFD_RESAMPLE). The counter is consumed at each injection
 * (several writes before the injection coalesce into one interrupt), and an
 * eventfd already signalled when bound injects at once.
 */
import { KVM_IRQFD_FLAG } from './constants.js';
import { fail, u32 } from './errors.js';
import { EventFd } from './eventfd.js';

/** `struct kvm_irqfd`, with eventfd objects for the descriptors. */
export interface KvmIrqfd {
  fd: EventFd;
  gsi: number;
  flags?: number;
  resamplefd?: EventFd;
}

/** KVM_USERSPACE_IRQ_SOURCE_ID (0) and KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID (1). */
export const IRQ_SOURCE = { USERSPACE: 0, IRQFD_RESAMPLE: 1 } as const;

/** What irqfds need of a VM. */
export interface IrqfdBackend {
  /** kvm_set_irq: drive `gsi` from `sourceId`; Linux's result. */
  setIrq(gsi: number, level: boolean, sourceId: number): number;
  /** Whether irqfds are allowed: `resample` ones need the full in-kernel irqchip, others any in-kernel irqchip. */
  irqfdAllowed(resample: boolean): boolean;
}

interface Binding {
  fd: EventFd;
  gsi: number;
  resamplefd: EventFd | undefined;
  remove: () => void;
  injections: number;
}

/** The irqfds of one VM. */
export class IrqfdTable {
  private readonly bindings: Binding[] = [];

  constructor(private readonly backend: IrqfdBackend) {}

  /** The number of bound irqfds. */
  get size(): number {
    return this.bindings.length;
  }

  /** How many times the irqfd of `fd` injected its GSI. */
  injections(fd: EventFd): number {
    return this.bindings.find((b) => b.fd === fd)?.injections ?? 0;
  }

  /** KVM_IRQFD: assign, or deassign with KVM_IRQFD_FLAG_DEASSIGN. */
  irqfd(args: KvmIrqfd): void {
    if (typeof (args as unknown) !== 'object' || (args as unknown) === null) fail('EFAULT', 'KVM_IRQFD needs a struct kvm_irqfd');
    const flags = u32(args.flags ?? 0, 'flags');
    const gsi = u32(args.gsi, 'gsi');
    if ((flags & ~(KVM_IRQFD_FLAG.DEASSIGN | KVM_IRQFD_FLAG.RESAMPLE)) !== 0) fail('EINVAL', `irqfd flags ${flags} set unknown bits`);
    if (!(args.fd instanceof EventFd)) fail('EBADF', 'irqfd fd is not an eventfd');
    if ((flags & KVM_IRQFD_FLAG.DEASSIGN) !== 0) {
      // kvm_irqfd_deassign: every binding of this eventfd and gsi goes; none is not an error.
      for (let i = this.bindings.length - 1; i >= 0; i--) {
        const b = this.bindings[i]!;
        if (b.fd === args.fd && b.gsi === gsi) {
          b.remove();
          if (b.resamplefd) this.backend.setIrq(gsi, false, IRQ_SOURCE.IRQFD_RESAMPLE);
          this.bindings.splice(i, 1);
        }
      }
      return;
    }
    const resample = (flags & KVM_IRQFD_FLAG.RESAMPLE) !== 0;
    if (!this.backend.irqfdAllowed(resample)) fail('EINVAL', resample ? 'a resampling irqfd needs the full in-kernel irqchip (KVM_CREATE_IRQCHIP)' : 'irqfd needs an in-kernel irqchip');
    if (resample && !(args.resamplefd instanceof EventFd)) fail('EBADF', 'KVM_IRQFD_FLAG_RESAMPLE needs a resamplefd eventfd');
    if (this.bindings.some((b) => b.fd === args.fd)) fail('EBUSY', `eventfd ${args.fd.fd} is already an irqfd of this VM`);
    const binding: Binding = { fd: args.fd, gsi, resamplefd: resample ? args.resamplefd : undefined, remove: () => undefined, injections: 0 };
    binding.remove = args.fd.addWaiter(() => this.inject(binding));
    this.bindings.push(binding);
    if (args.fd.readable) this.inject(binding);
  }

  /** An EOI (ack) of an interrupt on `gsi`: resampling irqfds lower their level and signal their resamplefd. */
  acked(gsi: number): void {
    for (const b of this.bindings) {
      if (b.gsi === gsi && b.resamplefd) {
        this.backend.setIrq(gsi, false, IRQ_SOURCE.IRQFD_RESAMPLE);
        b.resamplefd.write(1);
      }
    }
  }

  private inject(b: Binding): void {
    b.fd.drain();
    b.injections++;
    if (b.resamplefd) {
      this.backend.setIrq(b.gsi, true, IRQ_SOURCE.IRQFD_RESAMPLE);
    } else {
      this.backend.setIrq(b.gsi, true, IRQ_SOURCE.USERSPACE);
      this.backend.setIrq(b.gsi, false, IRQ_SOURCE.USERSPACE);
    }
  }
}
