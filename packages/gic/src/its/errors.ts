/**
 * ITS command errors and dropped translations (IHI0069 5.3 "ITS commands":
 * each command lists the errors it can report; "Command errors" in 5.3). An
 * error code is 0x01 << 16 | opcode << 8 | reason, the encoding the
 * architecture gives (e.g. 0x010801 MAPD DeviceID out of range, 0x010A06
 * MAPTI pINTID out of range). Reasons above 0x09 are this model's for cases
 * the spec leaves to the implementation (GICv4 commands, memory faults,
 * malformed commands, a CWRITER outside the queue).
 */

/** Why a command failed. */
export type ItsErrorKind =
  | 'device-out-of-range'
  | 'itt-size-out-of-range'
  | 'processor-out-of-range'
  | 'collection-out-of-range'
  | 'unmapped-device'
  | 'event-out-of-range'
  | 'intid-out-of-range'
  | 'unmapped-interrupt'
  | 'unmapped-collection'
  | 'vpe-out-of-range'
  | 'unmapped-vpe'
  | 'vpt-size-out-of-range'
  | 'memory-fault'
  | 'cwriter-out-of-range'
  | 'unknown-command';

/** Reason byte of each error kind. */
export const ITS_ERROR_REASON: Readonly<Record<ItsErrorKind, number>> = {
  /** `0x01` */
  'device-out-of-range': 0x01,
  /** `0x02` */
  'itt-size-out-of-range': 0x02,
  'processor-out-of-range': 0x02,
  /** `0x03` */
  'collection-out-of-range': 0x03,
  /** `0x04` */
  'unmapped-device': 0x04,
  /** `0x05` */
  'event-out-of-range': 0x05,
  /** `0x06` */
  'intid-out-of-range': 0x06,
  /** `0x07` */
  'unmapped-interrupt': 0x07,
  /** `0x09` */
  'unmapped-collection': 0x09,
  /** `0x0a` */
  'vpe-out-of-range': 0x0a,
  /** `0x0b` */
  'unmapped-vpe': 0x0b,
  /** `0x0c` */
  'vpt-size-out-of-range': 0x0c,
  /** `0xfd` */
  'memory-fault': 0xfd,
  /** `0xfe` */
  'cwriter-out-of-range': 0xfe,
  /** `0xff` */
  'unknown-command': 0xff,
};

/**
 * The error code of `kind` for command `opcode`. Two published codes do not
 * follow the pattern and are kept as published (Linux's E_ITS_* list):
 * MOVALL reports a bad processor as reason 0x01 (0x010E01), and CLEAR an
 * unmapped interrupt as 0x010507, with 0x05 in the command byte although
 * CLEAR's opcode is 0x04.
 */
export function itsErrorCode(opcode: number, kind: ItsErrorKind): number {
  const reason = opcode === 0x0e && kind === 'processor-out-of-range' ? 0x01 : ITS_ERROR_REASON[kind];
  const command = opcode === 0x04 && kind === 'unmapped-interrupt' ? 0x05 : opcode & 0xff;
  return (0x01_0000 | (command << 8) | reason) >>> 0;
}

/** A command error as the ITS reports it. */
export interface ItsCommandError {
  /** The error code, 0x01CCRR: command byte CC, reason RR (see {@link itsErrorCode}). */
  code: number;
  /** What went wrong. */
  kind: ItsErrorKind;
  /** Opcode of the failing command (0 for a CWRITER outside the queue). */
  opcode: number;
  /** Queue offset of the failing command (GITS_CREADR.Offset). */
  offset: number;
}

/** Outcome of a translation request (IHI0069 5.2 "Interrupt translation"). */
export type ItsTranslationResult =
  | 'lpi'
  | 'vlpi'
  | 'disabled'
  | 'device-out-of-range'
  | 'unmapped-device'
  | 'event-out-of-range'
  | 'unmapped-interrupt'
  | 'unmapped-collection'
  | 'unmapped-vpe'
  | 'lpi-rejected'
  | 'memory-fault';

/** Every reason a translation request is dropped. */
export const ITS_DROP_REASONS = [
  'disabled',
  'device-out-of-range',
  'unmapped-device',
  'event-out-of-range',
  'unmapped-interrupt',
  'unmapped-collection',
  'unmapped-vpe',
  'lpi-rejected',
  'memory-fault',
] as const;

/** A reason a translation was dropped. */
export type ItsDropReason = (typeof ITS_DROP_REASONS)[number];
