/**
 * The invalidation operations (VT-d 6.5 "Invalidation of Translation
 * Caches"), shared by the register-based interface (CCMD_REG, IOTLB_REG;
 * VT-d 6.5.1) and queued invalidation descriptors (VT-d 6.5.2), so each
 * granularity is implemented once.
 */
import { CAP_MAMV_VALUE, ECAP_MHMV_VALUE } from './capabilities.js';
import type { DmaRemapper } from './dma/dma-remapper.js';
import type { InterruptRemapper } from './interrupts/interrupt-remapper.js';

/** Granularity encodings of context-cache invalidations (CCMD.CIRG, descriptor G). */
export const CONTEXT_GRANULARITY = { GLOBAL: 1, DOMAIN: 2, DEVICE: 3 } as const;
/** Granularity encodings of IOTLB invalidations (IOTLB.IIRG, descriptor G). */
export const IOTLB_GRANULARITY = { GLOBAL: 1, DOMAIN: 2, PAGE: 3 } as const;

/** Performs invalidations on the caches of one unit. */
export class Invalidations {
  /** Invalidations performed, by cache. */
  readonly counts = { contextCache: 0, iotlb: 0, interruptEntryCache: 0 };

  constructor(
    private readonly dma: DmaRemapper,
    private readonly interrupts: InterruptRemapper,
  ) {}

  /** Context-cache invalidation; returns the granularity performed, or 0 for an invalid request. */
  contextCache(granularity: number, did: number, sid: number, functionMask: number): number {
    const cache = this.dma.contextCache;
    switch (granularity) {
      case CONTEXT_GRANULARITY.GLOBAL:
        cache.invalidateAll();
        break;
      case CONTEXT_GRANULARITY.DOMAIN:
        cache.invalidateDomain(did);
        break;
      case CONTEXT_GRANULARITY.DEVICE:
        cache.invalidateDevice(sid, functionMask);
        break;
      default:
        return 0;
    }
    this.counts.contextCache++;
    return granularity;
  }

  /** IOTLB invalidation; returns the granularity performed, or 0 for an invalid request (reserved G, AM > MAMV). */
  iotlb(granularity: number, did: number, address: number, addressMask: number): number {
    const tlb = this.dma.iotlb;
    switch (granularity) {
      case IOTLB_GRANULARITY.GLOBAL:
        tlb.invalidateAll();
        break;
      case IOTLB_GRANULARITY.DOMAIN:
        tlb.invalidateDomain(did);
        break;
      case IOTLB_GRANULARITY.PAGE:
        if (addressMask > CAP_MAMV_VALUE) return 0;
        tlb.invalidatePages(did, address, addressMask);
        break;
      default:
        return 0;
    }
    this.counts.iotlb++;
    return granularity;
  }

  /** Interrupt-entry-cache invalidation; false for an invalid request (IM > MHMV). */
  interruptEntryCache(global: boolean, index: number, indexMask: number): boolean {
    if (global) {
      this.interrupts.cache.invalidateAll();
    } else {
      if (indexMask > ECAP_MHMV_VALUE) return false;
      this.interrupts.cache.invalidateIndexes(index, indexMask);
    }
    this.counts.interruptEntryCache++;
    return true;
  }
}
