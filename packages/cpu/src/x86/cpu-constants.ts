/**
 * Constants shared by the modules of the x86 CPU (each module copies them
 * into locals once: see the note on imported bindings in x86-cpu-state.ts).
 */
import { CR4, EFER } from './regs.js';

/** Internal constants of the x86 CPU model. */
export const CPU_CONSTANTS = Object.freeze({
  /** How an event arrived: an external interrupt, an NMI, an exception, a software interrupt. */
  KIND: Object.freeze({ EXTERNAL: 0, NMI: 1, EXCEPTION: 2, SOFTWARE: 3 } as const),
  SHADOW_NONE: 0,
  SHADOW_STI: 1,
  SHADOW_MOV_SS: 2,
  /** `0x100000000` */
  TWO_32: 0x1_0000_0000,
  EFER_WRITABLE: EFER.SCE | EFER.LME | EFER.NXE,
  /** CR4 bits the MMU implements. */
  CR4_MODELLED: CR4.PAE | CR4.PGE | CR4.PCIDE | CR4.SMEP | CR4.SMAP | CR4.PKE,
  /** The x2APIC MSR range (SDM 3A 11.12.1, Table 11-6). Value `0x800`. */
  X2APIC_MSR_FIRST: 0x800,
  /** `0x8ff` */
  X2APIC_MSR_LAST: 0x8ff,
  /** `pendingSignals` bits of a local APIC. */
  PENDING_NMI: 1,
  PENDING_EXTINT: 16,
  OPTION_NAMES: new Set(['memory', 'program', 'mmio', 'pio', 'msrs', 'apic', 'extInt', 'mmu', 'clock', 'costs', 'cpuid', 'apicId', 'cpu', 'tracer', 'snapshots']),
});
