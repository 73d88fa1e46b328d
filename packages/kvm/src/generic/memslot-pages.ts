/**
 * A memslot's RAM in a snapshot (QEMU's `ram_save_*` without compression):
 * the 4 KiB pages that are not all zeros, as [page index, base64], read
 * from and written back to the slot's userspace memory. Shared by the
 * architectures' whole-VM snapshots.
 */
import { SnapshotError, base64ToBytes, bytesToBase64, type PhysicalMemory } from '@hvsim/core';

const PAGE = 4096;

/** The non-zero, backed pages of `size` bytes at host address `hostPhysical`. */
export function saveMemslotPages(memory: PhysicalMemory, hostPhysical: number, size: number): [number, string][] {
  const out: [number, string][] = [];
  const buf = new Uint8Array(PAGE);
  const words = new Uint32Array(buf.buffer);
  for (let off = 0; off < size; off += PAGE) {
    if (!memory.isBacked(hostPhysical + off, PAGE)) continue;
    memory.readBytes(hostPhysical + off, PAGE, buf);
    if (words.some((w) => w !== 0)) out.push([off / PAGE, bytesToBase64(buf)]);
  }
  return out;
}

/** Checks saved pages of a slot of `size` bytes (SnapshotError naming `where`): [page index, 4 KiB]. */
export function parseMemslotPages(raw: unknown, size: number, where: string): [number, Uint8Array][] {
  if (!Array.isArray(raw)) throw new SnapshotError('shape', `${where} must be an array`);
  return raw.map((p: unknown, j) => {
    if (!Array.isArray(p) || typeof p[0] !== 'number' || !Number.isInteger(p[0]) || p[0] < 0 || p[0] * PAGE >= size) throw new SnapshotError('shape', `${where}[${j}] must be [page index, base64]`);
    const bytes = base64ToBytes(p[1], `${where}[${j}]`);
    if (bytes.length !== PAGE) throw new SnapshotError('shape', `${where}[${j}] is not 4 KiB`);
    return [p[0], bytes] as [number, Uint8Array];
  });
}

/** Writes checked pages back; a page absent from them is cleared where the target holds something. */
export function restoreMemslotPages(memory: PhysicalMemory, hostPhysical: number, size: number, pages: readonly [number, Uint8Array][]): void {
  const zero = new Uint8Array(PAGE);
  const buf = new Uint8Array(PAGE);
  const words = new Uint32Array(buf.buffer);
  const byPage = new Map(pages);
  for (let page = 0; page * PAGE < size; page++) {
    const bytes = byPage.get(page);
    const addr = hostPhysical + page * PAGE;
    if (bytes) memory.writeBytes(addr, bytes);
    else if (memory.isBacked(addr, PAGE)) {
      memory.readBytes(addr, PAGE, buf);
      if (words.some((w) => w !== 0)) memory.writeBytes(addr, zero);
    }
  }
}
