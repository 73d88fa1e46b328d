/**
 * Which exceptions combine into a double fault (SDM 3A 6.15, "Interrupt 8 —
 * Double Fault Exception", Tables 6-4 and 6-5).
 */
import { VECTOR } from './regs.js';

/** The classes of SDM 3A Table 6-4. */
export const EXCEPTION_CLASS = {
  /** #DB, NMI, #BP, #UD, #MC... and every interrupt: never combines into #DF. */
  BENIGN: 0,
  /** #DE, #TS, #NP, #SS, #GP. */
  CONTRIBUTORY: 1,
  /** #PF and #VE. */
  PAGE_FAULT: 2,
  /** #DF itself (a fault while delivering it is a triple fault). */
  DOUBLE_FAULT: 3,
} as const;

/** Class of an exception vector, or BENIGN for interrupts and every other event. */
export function exceptionClass(vector: number, isException: boolean): number {
  if (!isException) return EXCEPTION_CLASS.BENIGN;
  switch (vector) {
    case VECTOR.DE:
    case VECTOR.TS:
    case VECTOR.NP:
    case VECTOR.SS:
    case VECTOR.GP:
      return EXCEPTION_CLASS.CONTRIBUTORY;
    case VECTOR.PF:
    case VECTOR.VE:
      return EXCEPTION_CLASS.PAGE_FAULT;
    case VECTOR.DF:
      return EXCEPTION_CLASS.DOUBLE_FAULT;
    default:
      return EXCEPTION_CLASS.BENIGN;
  }
}

/** What a second exception during delivery of a first one becomes (SDM 3A Table 6-5). */
export const SECOND_FAULT = {
  /** Handle the exceptions serially: the second is delivered. */
  SERIAL: 0,
  /** Generate a #DF instead. */
  DOUBLE_FAULT: 1,
  /** A triple fault: the processor enters shutdown (SDM 3A 6.15 "Interrupt 8"). */
  SHUTDOWN: 2,
} as const;

/** Table 6-5: `first` is the class of the event being delivered, `second` of the exception it raised. */
export function combineFaults(first: number, second: number): number {
  if (first === EXCEPTION_CLASS.DOUBLE_FAULT) {
    return second === EXCEPTION_CLASS.CONTRIBUTORY || second === EXCEPTION_CLASS.PAGE_FAULT ? SECOND_FAULT.SHUTDOWN : SECOND_FAULT.SERIAL;
  }
  if (first === EXCEPTION_CLASS.CONTRIBUTORY && second === EXCEPTION_CLASS.CONTRIBUTORY) return SECOND_FAULT.DOUBLE_FAULT;
  if (first === EXCEPTION_CLASS.PAGE_FAULT && (second === EXCEPTION_CLASS.CONTRIBUTORY || second === EXCEPTION_CLASS.PAGE_FAULT)) return SECOND_FAULT.DOUBLE_FAULT;
  return SECOND_FAULT.SERIAL;
}

/** Exceptions that push an error code (SDM 3A 6.3.1, Table 6-1 "Error Code" column). */
export function hasErrorCode(vector: number): boolean {
  return vector === VECTOR.DF || vector === VECTOR.TS || vector === VECTOR.NP || vector === VECTOR.SS || vector === VECTOR.GP || vector === VECTOR.PF || vector === VECTOR.AC || vector === VECTOR.CP;
}
