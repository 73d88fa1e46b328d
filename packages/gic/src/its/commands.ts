/**
 * ITS command encodings (IHI0069 5.3 "ITS commands", 5.3.1 command
 * formats): 32-byte commands, four little-endian 64-bit doublewords,
 * opcode in DW0[7:0]. A command is handled here as eight 32-bit words
 * (DWn low = word 2n, high = word 2n+1). One table describes where each
 * command keeps each field; {@link decodeItsCommand} and
 * {@link encodeItsCommand} both read it, so a driver written against the
 * encoder and the ITS agree by construction, and a test checks the table
 * against the spec's bit positions.
 */
import { UsageError, describeValue } from '@hvsim/core';

/** Command opcodes (IHI0069 Table 5-x, "ITS command summary"). */
export const ITS_CMD = {
  /** `0x01` */
  MOVI: 0x01,
  /** `0x03` */
  INT: 0x03,
  /** `0x04` */
  CLEAR: 0x04,
  /** `0x05` */
  SYNC: 0x05,
  /** `0x08` */
  MAPD: 0x08,
  /** `0x09` */
  MAPC: 0x09,
  /** `0x0a` */
  MAPTI: 0x0a,
  /** `0x0b` */
  MAPI: 0x0b,
  /** `0x0c` */
  INV: 0x0c,
  /** `0x0d` */
  INVALL: 0x0d,
  /** `0x0e` */
  MOVALL: 0x0e,
  /** `0x0f` */
  DISCARD: 0x0f,
  /** `0x21` */
  VMOVI: 0x21,
  /** `0x22` */
  VMOVP: 0x22,
  /** `0x23` */
  VSGI: 0x23,
  /** `0x25` */
  VSYNC: 0x25,
  /** `0x29` */
  VMAPP: 0x29,
  /** `0x2a` */
  VMAPTI: 0x2a,
  /** `0x2b` */
  VMAPI: 0x2b,
  /** `0x2d` */
  VINVALL: 0x2d,
  /** `0x2e` */
  INVDB: 0x2e,
} as const;

/** Name of an ITS command. */
export type ItsCommandName = keyof typeof ITS_CMD;

/** Every field any command carries; a decoded command has all of them, zero where the command has none. */
export interface ItsCommandFields {
  /** DeviceID (DW0[63:32]). */
  deviceId: number;
  /** EventID (DW1[31:0]). */
  eventId: number;
  /** Physical INTID (MAPTI pINTID). */
  intid: number;
  /** Collection ID (ICID). */
  icid: number;
  /** Target redistributor: its processor number (GITS_TYPER.PTA = 0). */
  rdbase: number;
  /** MOVALL destination. */
  rdbase2: number;
  /** V (MAPD, MAPC, VMAPP); DB (VMOVP, GICv4.1). */
  valid: number;
  /** MAPD Size: EventID bits - 1. */
  size: number;
  /** ITT_addr: the device's interrupt translation table (MAPD, 256-byte aligned). */
  ittAddress: number;
  /** vPEID. */
  vpeId: number;
  /** Virtual INTID (VMAPTI, VSGI). */
  vintid: number;
  /** Dbell_pINTID (VMAPTI, VMAPI, VMOVI) or Default_Doorbell (VMAPP, VMOVP). */
  doorbell: number;
  /** VMOVI D: the doorbell field is valid. */
  doorbellValid: number;
  /** VMOVP sequence number. */
  sequenceNumber: number;
  /** VMOVP ITSList: the ITSs that must execute it. */
  itsList: number;
  /** VPT_addr: the vPE's virtual LPI pending table (VMAPP, 64 KiB aligned). */
  vptAddress: number;
  /** VMAPP VPT_size: vINTID bits - 1. */
  vptSize: number;
  /** GICv4.1 VMAPP. */
  alloc: number;
  /** VMAPP PTZ: the pending table is known to be zero. */
  ptz: number;
  /** VMAPP VConf_addr: the virtual LPI configuration table (GICv4.1). */
  vconfAddress: number;
  /** VSGI: priority[7:4] as a 4-bit value. */
  priority: number;
  /** VSGI G: the vSGI's group. */
  group: number;
  /** VSGI C: clears the vSGI's pending state. */
  clear: number;
  /** VSGI E: enables the vSGI. */
  enable: number;
}

/** A decoded command. */
export interface ItsCommand extends ItsCommandFields {
  /** DW0[7:0] ({@link ITS_CMD}). */
  opcode: number;
  /** The command's name, or undefined for an opcode the ITS does not know. */
  name: ItsCommandName | undefined;
}

type FieldName = keyof ItsCommandFields;

/** How a field sits in the eight words: a bit range of one word, or an address split over two words. */
export interface ItsCommandFieldCodec {
  /** The field's value read from the command's eight words. */
  get(w: ArrayLike<number>): number;
  /** Writes `v` into the field's bits of the eight words. */
  set(w: Uint32Array, v: number): void;
  /** Largest encodable value. */
  max: number;
  /** Alignment the value needs (addresses). */
  align: number;
}

function bits(word: number, lsb: number, width: number): ItsCommandFieldCodec {
  const m = width === 32 ? 0xffff_ffff : 2 ** width - 1;
  return {
    get: (w) => (width === 32 ? w[word]! >>> 0 : (w[word]! >>> lsb) & m),
    set: (w, v) => {
      w[word] = ((w[word]! & ~((m << lsb) >>> 0)) | ((v & m) << lsb)) >>> 0;
    },
    max: m,
    align: 1,
  };
}

/** An address field [51:lsb] held in word `lo` (bits 31:lsb) and word `lo + 1` (bits 19:0). */
function address(lo: number, lsb: number): ItsCommandFieldCodec {
  const loMask = (0xffff_ffff << lsb) >>> 0;
  return {
    get: (w) => (w[lo + 1]! & 0xf_ffff) * 0x1_0000_0000 + ((w[lo]! & loMask) >>> 0),
    set: (w, v) => {
      w[lo] = ((w[lo]! & ~loMask) | (v % 0x1_0000_0000 & loMask)) >>> 0;
      w[lo + 1] = ((w[lo + 1]! & ~0xf_ffff) | Math.floor(v / 0x1_0000_0000)) >>> 0;
    },
    max: 2 ** 52 - 1,
    align: 2 ** lsb,
  };
}

/** RDbase DW[51:16] as a processor number (PTA = 0): word `lo` bits 31:16 and word `lo + 1` bits 19:0. */
function rdbase(lo: number): ItsCommandFieldCodec {
  return {
    get: (w) => (w[lo + 1]! & 0xf_ffff) * 0x1_0000 + (w[lo]! >>> 16),
    set: (w, v) => {
      w[lo] = ((w[lo]! & 0xffff) | ((v & 0xffff) << 16)) >>> 0;
      w[lo + 1] = ((w[lo + 1]! & ~0xf_ffff) | Math.floor(v / 0x1_0000)) >>> 0;
    },
    max: 2 ** 36 - 1,
    align: 1,
  };
}

const DEVICE_ID = bits(1, 0, 32);
const EVENT_ID = bits(2, 0, 32);
const ICID = bits(4, 0, 16);
const RDBASE = rdbase(4);
const VALID = bits(5, 31, 1);
const VPE_ID = bits(3, 0, 16);

/** Field positions per command (IHI0069 5.3, each command's "Figure: ... command format"). */
export const ITS_COMMAND_LAYOUT: Readonly<Record<ItsCommandName, Readonly<Partial<Record<keyof ItsCommandFields, ItsCommandFieldCodec>>>>> = {
  MOVI: { deviceId: DEVICE_ID, eventId: EVENT_ID, icid: ICID },
  INT: { deviceId: DEVICE_ID, eventId: EVENT_ID },
  CLEAR: { deviceId: DEVICE_ID, eventId: EVENT_ID },
  SYNC: { rdbase: RDBASE },
  MAPD: { deviceId: DEVICE_ID, size: bits(2, 0, 5), ittAddress: address(4, 8), valid: VALID },
  MAPC: { icid: ICID, rdbase: RDBASE, valid: VALID },
  MAPTI: { deviceId: DEVICE_ID, eventId: EVENT_ID, intid: bits(3, 0, 32), icid: ICID },
  MAPI: { deviceId: DEVICE_ID, eventId: EVENT_ID, icid: ICID },
  INV: { deviceId: DEVICE_ID, eventId: EVENT_ID },
  INVALL: { icid: ICID },
  MOVALL: { rdbase: RDBASE, rdbase2: rdbase(6) },
  DISCARD: { deviceId: DEVICE_ID, eventId: EVENT_ID },
  VMOVI: { deviceId: DEVICE_ID, eventId: EVENT_ID, vpeId: VPE_ID, doorbellValid: bits(4, 0, 1), doorbell: bits(5, 0, 32) },
  VMOVP: { sequenceNumber: bits(1, 0, 16), itsList: bits(2, 0, 16), vpeId: VPE_ID, rdbase: RDBASE, valid: VALID, doorbell: bits(6, 0, 32) },
  VSGI: { vpeId: VPE_ID, vintid: bits(1, 0, 4), priority: bits(0, 20, 4), group: bits(0, 10, 1), clear: bits(0, 9, 1), enable: bits(0, 8, 1) },
  VSYNC: { vpeId: VPE_ID },
  VMAPP: {
    vpeId: VPE_ID,
    valid: VALID,
    rdbase: RDBASE,
    vptAddress: address(6, 16),
    vptSize: bits(6, 0, 8),
    alloc: bits(0, 8, 1),
    ptz: bits(0, 9, 1),
    vconfAddress: address(0, 16),
    doorbell: bits(2, 0, 32),
  },
  VMAPTI: { deviceId: DEVICE_ID, eventId: EVENT_ID, vpeId: VPE_ID, vintid: bits(4, 0, 32), doorbell: bits(5, 0, 32) },
  VMAPI: { deviceId: DEVICE_ID, eventId: EVENT_ID, vpeId: VPE_ID, doorbell: bits(5, 0, 32) },
  VINVALL: { vpeId: VPE_ID },
  INVDB: { vpeId: VPE_ID },
};

const NAME_BY_OPCODE = new Map<number, ItsCommandName>(Object.entries(ITS_CMD).map(([n, op]) => [op, n as ItsCommandName]));

function emptyFields(): ItsCommandFields {
  return {
    deviceId: 0,
    eventId: 0,
    intid: 0,
    icid: 0,
    rdbase: 0,
    rdbase2: 0,
    valid: 0,
    size: 0,
    ittAddress: 0,
    vpeId: 0,
    vintid: 0,
    doorbell: 0,
    doorbellValid: 0,
    sequenceNumber: 0,
    itsList: 0,
    vptAddress: 0,
    vptSize: 0,
    alloc: 0,
    ptz: 0,
    vconfAddress: 0,
    priority: 0,
    group: 0,
    clear: 0,
    enable: 0,
  };
}

/** Decodes a command from its eight 32-bit words (DW0 low first). */
export function decodeItsCommand(words: ArrayLike<number>): ItsCommand {
  const opcode = words[0]! & 0xff;
  const name = NAME_BY_OPCODE.get(opcode);
  const cmd: ItsCommand = { opcode, name, ...emptyFields() };
  if (name === undefined) return cmd;
  const layout = ITS_COMMAND_LAYOUT[name];
  for (const key of Object.keys(layout) as FieldName[]) cmd[key] = layout[key]!.get(words);
  return cmd;
}

/**
 * Encodes `name` with `fields` into eight 32-bit words (as a driver writes
 * it into the command queue). Fields the command does not have, values that
 * do not fit and misaligned addresses are usage errors.
 */
export function encodeItsCommand(name: ItsCommandName, fields: Partial<ItsCommandFields> = {}): Uint32Array {
  const layout = ITS_COMMAND_LAYOUT[name] as Partial<Record<FieldName, ItsCommandFieldCodec>> | undefined;
  if (layout === undefined) throw new UsageError('unknown-name', `unknown ITS command ${describeValue(name)}`);
  const w = new Uint32Array(8);
  w[0] = ITS_CMD[name];
  for (const [key, value] of Object.entries(fields) as [FieldName, number | undefined][]) {
    if (value === undefined) continue;
    const codec = layout[key];
    if (codec === undefined) throw new UsageError('bad-argument', `ITS command ${name} has no field ${key}`);
    if (!Number.isInteger(value) || value < 0 || value > codec.max || value % codec.align !== 0) {
      throw new UsageError('bad-argument', `ITS command ${name} field ${key} must be an integer in [0, ${codec.max}] aligned to ${codec.align}, got ${describeValue(value)}`);
    }
    codec.set(w, value);
  }
  return w;
}
