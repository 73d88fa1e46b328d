/**
 * PCI source IDs (requester IDs, VT-d 3.4.1): bus 15:8, device 7:3,
 * function 2:0, and the function-number masking used by device-selective
 * context-cache invalidation (FM, VT-d 6.5.1.1) and IRTE source validation
 * (SQ, VT-d 9.10).
 */

const IGNORED_FUNCTION_BITS = [0b000, 0b100, 0b110, 0b111] as const;

/** Source-ID bits ignored for a 2-bit function mask: 0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0. */
export function ignoredFunctionBits(mask: number): number {
  return IGNORED_FUNCTION_BITS[mask & 3]!;
}

/** Builds a source ID from bus, device and function. */
export function sourceId(bus: number, device: number, fn: number): number {
  return ((bus & 0xff) << 8) | ((device & 0x1f) << 3) | (fn & 7);
}

/** Formats a source ID as `bb:dd.f` (hex bus and device). */
export function formatSourceId(sid: number): string {
  const bus = (sid >>> 8).toString(16).padStart(2, '0');
  const dev = ((sid >>> 3) & 0x1f).toString(16).padStart(2, '0');
  return `${bus}:${dev}.${sid & 7}`;
}
