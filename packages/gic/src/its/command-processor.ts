/**
 * Execution of ITS commands (IHI0069 5.3 "ITS commands"): each command's
 * checks, in the order the spec lists its errors, then its effect on the
 * tables in memory (through the {@link ItsTableCache}) and on the
 * redistributors (through their ports). A failed check stops the command
 * with an {@link ItsErrorKind}; the queue decides whether to stall.
 */
import { MemoryError, type Memory } from '@hvsim/core';
import type { ItsCommand } from './commands.js';
import type { ItsDropReason, ItsErrorKind } from './errors.js';
import type { LpiRedistributorPort, VlpiRedistributorPort } from './ports.js';
import { ITS_DEVICE_ID_BITS, ITS_EVENT_ID_BITS, ITS_VPE_ID_BITS, NO_DOORBELL } from './regs.js';
import { KIND_INVALID, KIND_PHYSICAL, KIND_VIRTUAL, type DeviceCache, type ItsTableCache } from './table-cache.js';
import {
  ITE_INVALID,
  ITE_PHYSICAL,
  ITE_VIRTUAL,
  TABLE_L2_INVALID,
  tableEntryAddress,
  writeCollectionEntry,
  writeDeviceEntry,
  writeVpeEntry,
  type VpeEntry,
} from './tables.js';

/** Thrown inside command execution to stop it with an error kind (caught by {@link ItsCommandProcessor.execute}). */
class CommandFailure extends Error {
  constructor(readonly kind: ItsErrorKind) {
    super(kind);
  }
}

/** Runs decoded commands against the tables and the redistributors. */
export class ItsCommandProcessor {
  constructor(
    private readonly memory: Memory,
    private readonly cache: ItsTableCache,
    private readonly lpiPorts: readonly LpiRedistributorPort[],
    private readonly vlpiPorts: readonly VlpiRedistributorPort[],
    private readonly version: 'v3' | 'v4.0' | 'v4.1',
    private readonly idBits: number,
    /** An INT whose LPI the redistributor rejected. */
    private readonly onDrop: (reason: ItsDropReason) => void,
  ) {}

  private get virtual(): boolean {
    return this.version !== 'v3';
  }

  private run(c: ItsCommand): void {
    switch (c.name) {
      case 'MAPD':
        return this.mapd(c);
      case 'MAPC':
        return this.mapc(c);
      case 'MAPTI':
      case 'MAPI':
        return this.mapti(c, c.name === 'MAPI' ? c.eventId : c.intid);
      case 'INT':
      case 'CLEAR':
      case 'INV':
      case 'DISCARD':
        return this.eventCommand(c);
      case 'MOVI':
        return this.movi(c);
      case 'INVALL':
        this.lpiPorts[this.mappedCollection(c.icid)]!.invalidateAll();
        return;
      case 'MOVALL':
        return this.movall(c);
      case 'SYNC':
        // Every effect is complete when a command returns; SYNC only checks its target (IHI0069 5.3 "ITS commands", SYNC).
        this.checkProcessor(c.rdbase);
        return;
      default:
        if (!this.virtual || c.name === undefined) throw new CommandFailure('unknown-command');
        return this.runVirtual(c);
    }
  }

  private runVirtual(c: ItsCommand): void {
    const v41 = this.version === 'v4.1';
    switch (c.name) {
      case 'VMAPP':
        return this.vmapp(c);
      case 'VMAPTI':
      case 'VMAPI':
        return this.vmapti(c, c.name === 'VMAPI' ? c.eventId : c.vintid);
      case 'VMOVI':
        return this.vmovi(c);
      case 'VMOVP':
        return this.vmovp(c);
      case 'VSYNC':
        this.mappedVpe(c.vpeId);
        return;
      case 'VINVALL': {
        const vpe = this.mappedVpe(c.vpeId);
        this.vlpiPorts[vpe.rd]!.invalidateAllVlpis(vpe);
        return;
      }
      case 'VSGI': {
        if (!v41) throw new CommandFailure('unknown-command');
        const vpe = this.mappedVpe(c.vpeId);
        this.vlpiPorts[vpe.rd]!.configureVsgi(vpe, c.vintid, c.clear === 1 ? 'clear-pending' : { priority: c.priority << 4, group: c.group, enable: c.enable === 1 });
        return;
      }
      case 'INVDB': {
        if (!v41) throw new CommandFailure('unknown-command');
        const vpe = this.mappedVpe(c.vpeId);
        this.vlpiPorts[vpe.rd]!.invalidateDoorbell(vpe);
        return;
      }
      default:
        throw new CommandFailure('unknown-command');
    }
  }

  private checkProcessor(rd: number): void {
    if (rd >= this.lpiPorts.length) throw new CommandFailure('processor-out-of-range');
  }

  private lpiInRange(intid: number): boolean {
    return intid >= 8192 && intid < 2 ** this.idBits;
  }

  /** Address of `id`'s entry in table `n`, or a command failure (`oor` when it cannot be there). */
  private entryAddress(n: number, id: number, oor: ItsErrorKind, unmapped: ItsErrorKind): number {
    const a = tableEntryAddress(this.memory, this.cache.geometry[n]!, id);
    if (a === TABLE_L2_INVALID) throw new CommandFailure(unmapped);
    if (a < 0) throw new CommandFailure(oor);
    return a;
  }

  /** MAPD (IHI0069 5.3 "ITS commands"): map DeviceID to an ITT of 2^(Size+1) entries, or unmap it. */
  private mapd(c: ItsCommand): void {
    if (c.deviceId >= 2 ** ITS_DEVICE_ID_BITS) throw new CommandFailure('device-out-of-range');
    if (c.valid === 1 && c.size + 1 > ITS_EVENT_ID_BITS) throw new CommandFailure('itt-size-out-of-range');
    const a = this.entryAddress(0, c.deviceId, 'device-out-of-range', 'device-out-of-range');
    writeDeviceEntry(this.memory, a, { valid: c.valid === 1, size: c.size, ittAddress: c.ittAddress });
    this.cache.devices.delete(c.deviceId);
  }

  /** MAPC (IHI0069 5.3 "ITS commands"): map ICID to a redistributor, or unmap it. */
  private mapc(c: ItsCommand): void {
    if (c.valid === 1) this.checkProcessor(c.rdbase);
    const a = this.entryAddress(1, c.icid, 'collection-out-of-range', 'collection-out-of-range');
    writeCollectionEntry(this.memory, a, c.valid === 1 ? c.rdbase : -1);
    this.cache.collections[c.icid] = c.valid === 1 ? c.rdbase : -1;
  }

  /** MAPTI / MAPI (IHI0069 5.3 "ITS commands"): EventID of a mapped device -> (pINTID, ICID). */
  private mapti(c: ItsCommand, intid: number): void {
    const dev = this.mappedDevice(c.deviceId);
    if (c.eventId >= dev.events) throw new CommandFailure('event-out-of-range');
    if (!this.lpiInRange(intid)) throw new CommandFailure('intid-out-of-range');
    this.cache.writeEvent(dev, c.eventId, ITE_PHYSICAL, intid, c.icid, 0);
  }

  /** The mapped ITT entry of (deviceId, eventId), its kind in `dev.kind`. */
  private mappedEvent(deviceId: number, eventId: number): DeviceCache {
    const dev = this.mappedDevice(deviceId);
    if (eventId >= dev.events) throw new CommandFailure('event-out-of-range');
    if (this.cache.eventKind(dev, eventId) === KIND_INVALID) throw new CommandFailure('unmapped-interrupt');
    return dev;
  }

  /** INT, CLEAR, INV, DISCARD on a physical or (GICv4) virtual mapping. */
  private eventCommand(c: ItsCommand): void {
    const dev = this.mappedEvent(c.deviceId, c.eventId);
    const e = c.eventId;
    const intid = dev.intid[e]!;
    if (dev.kind[e] === KIND_PHYSICAL) {
      const port = this.lpiPorts[this.mappedCollection(dev.target[e]!)]!;
      if (c.name === 'INT') {
        if (!port.setPending(intid)) this.onDrop('lpi-rejected');
      } else if (c.name === 'INV') port.invalidate(intid);
      else port.clearPending(intid);
    } else {
      const vpe = this.mappedVpe(dev.target[e]!);
      const port = this.vlpiPorts[vpe.rd]!;
      if (c.name === 'INT') port.setVlpiPending(vpe, intid, dev.doorbell[e]!);
      else if (c.name === 'INV') port.invalidateVlpi(vpe, intid);
      else port.clearVlpiPending(vpe, intid);
    }
    if (c.name === 'DISCARD') this.cache.writeEvent(dev, e, ITE_INVALID, 0, 0, 0);
  }

  /** MOVI (IHI0069 5.3 "ITS commands"): retarget an event to another collection; a pending LPI moves with it. */
  private movi(c: ItsCommand): void {
    const dev = this.mappedEvent(c.deviceId, c.eventId);
    const e = c.eventId;
    if (dev.kind[e] !== KIND_PHYSICAL) throw new CommandFailure('unmapped-interrupt');
    const to = this.mappedCollection(c.icid);
    const from = this.mappedCollection(dev.target[e]!);
    const intid = dev.intid[e]!;
    if (from !== to && this.lpiPorts[from]!.clearPending(intid)) this.lpiPorts[to]!.setPending(intid);
    this.cache.writeEvent(dev, e, ITE_PHYSICAL, intid, c.icid, 0);
  }

  /** MOVALL (IHI0069 5.3 "ITS commands"): every pending LPI of one redistributor moves to another. */
  private movall(c: ItsCommand): void {
    this.checkProcessor(c.rdbase);
    this.checkProcessor(c.rdbase2);
    if (c.rdbase === c.rdbase2) return;
    const from = this.lpiPorts[c.rdbase]!;
    const to = this.lpiPorts[c.rdbase2]!;
    for (const intid of from.pendingIntids()) {
      from.clearPending(intid);
      to.setPending(intid);
    }
  }

  /** VMAPP (IHI0069 5.3 "ITS commands"): map vPEID to a redistributor and virtual pending table (v4.1: VCONF and default doorbell). */
  private vmapp(c: ItsCommand): void {
    if (c.vpeId >= 2 ** ITS_VPE_ID_BITS) throw new CommandFailure('vpe-out-of-range');
    const a = this.entryAddress(2, c.vpeId, 'vpe-out-of-range', 'vpe-out-of-range');
    const v41 = this.version === 'v4.1';
    if (c.valid === 1) {
      this.checkProcessor(c.rdbase);
      const size = v41 ? c.vptSize : c.vptSize & 0x1f;
      if (size + 1 < 14 || size + 1 > this.idBits) throw new CommandFailure('vpt-size-out-of-range');
      const doorbell = v41 ? c.doorbell : NO_DOORBELL;
      if (doorbell !== NO_DOORBELL && !this.lpiInRange(doorbell)) throw new CommandFailure('intid-out-of-range');
      writeVpeEntry(this.memory, a, {
        valid: true,
        vpeId: c.vpeId,
        rd: c.rdbase,
        vptAddress: c.vptAddress,
        vptSize: size,
        defaultDoorbell: doorbell,
        vconfAddress: v41 ? c.vconfAddress : 0,
      });
    } else {
      writeVpeEntry(this.memory, a, { valid: false, vpeId: c.vpeId, rd: 0, vptAddress: 0, vptSize: 0, defaultDoorbell: 0, vconfAddress: 0 });
    }
    this.cache.vpes.delete(c.vpeId);
  }

  private checkDoorbell(doorbell: number): void {
    if (doorbell !== NO_DOORBELL && !this.lpiInRange(doorbell)) throw new CommandFailure('intid-out-of-range');
  }

  /** VMAPTI / VMAPI (IHI0069 5.3 "ITS commands"): EventID -> (vINTID, vPEID, doorbell pINTID or 1023). */
  private vmapti(c: ItsCommand, vintid: number): void {
    const dev = this.mappedDevice(c.deviceId);
    if (c.eventId >= dev.events) throw new CommandFailure('event-out-of-range');
    if (c.vpeId >= 2 ** ITS_VPE_ID_BITS) throw new CommandFailure('vpe-out-of-range');
    if (!this.lpiInRange(vintid)) throw new CommandFailure('intid-out-of-range');
    this.checkDoorbell(c.doorbell);
    this.cache.writeEvent(dev, c.eventId, ITE_VIRTUAL, vintid, c.vpeId, c.doorbell);
  }

  /** VMOVI (IHI0069 5.3 "ITS commands"): retarget a virtual event to another vPE; a pending vLPI moves with it. */
  private vmovi(c: ItsCommand): void {
    const dev = this.mappedEvent(c.deviceId, c.eventId);
    const e = c.eventId;
    if (dev.kind[e] !== KIND_VIRTUAL) throw new CommandFailure('unmapped-interrupt');
    const to = this.mappedVpe(c.vpeId);
    const from = this.mappedVpe(dev.target[e]!);
    const doorbell = c.doorbellValid === 1 ? c.doorbell : dev.doorbell[e]!;
    this.checkDoorbell(doorbell);
    const vintid = dev.intid[e]!;
    if (from.vpeId !== to.vpeId && this.vlpiPorts[from.rd]!.clearVlpiPending(from, vintid)) this.vlpiPorts[to.rd]!.setVlpiPending(to, vintid, doorbell);
    this.cache.writeEvent(dev, e, ITE_VIRTUAL, vintid, c.vpeId, doorbell);
  }

  /** VMOVP (IHI0069 5.3 "ITS commands"): move a vPE to another redistributor (v4.1: and set its default doorbell). */
  private vmovp(c: ItsCommand): void {
    const vpe = this.mappedVpe(c.vpeId);
    this.checkProcessor(c.rdbase);
    const v41 = this.version === 'v4.1';
    const doorbell = v41 && c.valid === 1 ? c.doorbell : vpe.defaultDoorbell;
    if (v41) this.checkDoorbell(doorbell);
    const moved: VpeEntry = { ...vpe, rd: c.rdbase, defaultDoorbell: doorbell };
    writeVpeEntry(this.memory, this.entryAddress(2, c.vpeId, 'vpe-out-of-range', 'unmapped-vpe'), moved);
    this.cache.vpes.set(c.vpeId, moved);
  }

  private mappedDevice(deviceId: number): DeviceCache {
    if (deviceId >= 2 ** ITS_DEVICE_ID_BITS) throw new CommandFailure('device-out-of-range');
    const dev = this.cache.deviceOrNull(deviceId);
    if (dev === null) throw new CommandFailure('unmapped-device');
    return dev;
  }

  private mappedCollection(icid: number): number {
    const rd = this.cache.collectionTarget(icid);
    if (rd < 0) throw new CommandFailure('unmapped-collection');
    return rd;
  }

  private mappedVpe(vpeId: number): VpeEntry {
    if (vpeId >= 2 ** ITS_VPE_ID_BITS) throw new CommandFailure('vpe-out-of-range');
    const vpe = this.cache.vpeEntryOrNull(vpeId);
    if (vpe === null) throw new CommandFailure('unmapped-vpe');
    return vpe;
  }

  /** Runs one command; returns the error kind, or undefined when it succeeded. */
  execute(cmd: ItsCommand): ItsErrorKind | undefined {
    try {
      this.run(cmd);
      return undefined;
    } catch (e) {
      if (e instanceof CommandFailure) return e.kind;
      if (e instanceof MemoryError) return 'memory-fault';
      throw e;
    }
  }
}
