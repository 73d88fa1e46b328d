/**
 * The ITS's decoded copies of its tables (IHI0069 5.2: an ITS may cache
 * table entries; software must not change the tables behind it). Entries are
 * read from memory on first use and kept current by the commands, which
 * write through to memory and update the copies; a cached translation then
 * reads no memory. {@link ItsTableCache.flush} drops everything (a
 * GITS_BASER write, a restore).
 */
import type { Memory } from '@hvsim/core';
import { ITS_ENTRY_BYTES, ITS_ICID_BITS } from './regs.js';
import {
  ITE_INVALID,
  ITE_PHYSICAL,
  ITE_VIRTUAL,
  readCollectionEntry,
  readDeviceEntry,
  readIte,
  readVpeEntry,
  tableEntryAddress,
  writeIte,
  type TableGeometry,
  type VpeEntry,
} from './tables.js';

/** Decoded copy of one device's table entry and the ITT entries read so far. */
export class DeviceCache {
  readonly events: number;
  /** Per EventID: {@link KIND_UNREAD} or ITE_* + 1. */
  readonly kind: Uint8Array;
  readonly intid: Int32Array;
  readonly target: Int32Array;
  readonly doorbell: Int32Array;
  constructor(
    readonly size: number,
    readonly ittAddress: number,
  ) {
    this.events = 2 ** (size + 1);
    this.kind = new Uint8Array(this.events);
    this.intid = new Int32Array(this.events);
    this.target = new Int32Array(this.events);
    this.doorbell = new Int32Array(this.events);
  }
}

/** {@link DeviceCache.kind} values. */
export const KIND_UNREAD = 0;
export const KIND_INVALID = ITE_INVALID + 1;
export const KIND_PHYSICAL = ITE_PHYSICAL + 1;
export const KIND_VIRTUAL = ITE_VIRTUAL + 1;
/** {@link ItsTableCache.collections} value of an entry not read yet. */
export const COLLECTION_UNREAD = -2;

/** Decoded device, ITT, collection and vPE entries. */
export class ItsTableCache {
  /** Table geometry per GITS_BASER<n>. */
  geometry: TableGeometry[] = [];
  readonly devices = new Map<number, DeviceCache | null>();
  /** Per ICID: the target processor number, -1 unmapped, {@link COLLECTION_UNREAD}. */
  readonly collections: Int32Array;
  readonly vpes = new Map<number, VpeEntry>();

  constructor(
    private readonly memory: Memory,
    /** Number of redistributors: a target beyond them counts as unmapped. */
    private readonly redistributors: number,
    private readonly virtual: boolean,
  ) {
    this.collections = new Int32Array(2 ** ITS_ICID_BITS).fill(COLLECTION_UNREAD);
  }

  flush(): void {
    this.devices.clear();
    this.collections.fill(COLLECTION_UNREAD);
    this.vpes.clear();
  }

  /** The device's decoded entry, reading the device table on a miss; null when unmapped. */
  deviceOrNull(deviceId: number): DeviceCache | null {
    const cached = this.devices.get(deviceId);
    if (cached !== undefined) return cached;
    const a = tableEntryAddress(this.memory, this.geometry[0]!, deviceId);
    let dev: DeviceCache | null = null;
    if (a >= 0) {
      const e = readDeviceEntry(this.memory, a);
      if (e.valid) dev = new DeviceCache(e.size, e.ittAddress);
    }
    this.devices.set(deviceId, dev);
    return dev;
  }

  /** KIND_* of an event, reading its ITT entry on a miss. */
  eventKind(dev: DeviceCache, event: number): number {
    const k = dev.kind[event]!;
    if (k !== KIND_UNREAD) return k;
    const e = readIte(this.memory, dev.ittAddress + event * ITS_ENTRY_BYTES.ite);
    dev.kind[event] = e.kind + 1;
    dev.intid[event] = e.intid;
    dev.target[event] = e.target;
    dev.doorbell[event] = e.doorbell;
    return e.kind + 1;
  }

  collectionTarget(icid: number): number {
    let rd = this.collections[icid]!;
    if (rd === COLLECTION_UNREAD) {
      const a = tableEntryAddress(this.memory, this.geometry[1]!, icid);
      rd = a >= 0 ? readCollectionEntry(this.memory, a) : -1;
      if (rd >= this.redistributors) rd = -1;
      this.collections[icid] = rd;
    }
    return rd;
  }

  vpeEntryOrNull(vpeId: number): VpeEntry | null {
    const cached = this.vpes.get(vpeId);
    if (cached !== undefined) return cached;
    if (!this.virtual) return null;
    const a = tableEntryAddress(this.memory, this.geometry[2]!, vpeId);
    if (a < 0) return null;
    const e = readVpeEntry(this.memory, a, vpeId);
    if (!e.valid || e.rd >= this.redistributors) return null;
    this.vpes.set(vpeId, e);
    return e;
  }

  writeEvent(dev: DeviceCache, event: number, kind: number, intid: number, target: number, doorbell: number): void {
    writeIte(this.memory, dev.ittAddress + event * ITS_ENTRY_BYTES.ite, { kind, intid, target, doorbell });
    dev.kind[event] = kind + 1;
    dev.intid[event] = intid;
    dev.target[event] = target;
    dev.doorbell[event] = doorbell;
  }
}
