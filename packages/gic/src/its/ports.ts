/**
 * The seams between the ITS and the redistributors (IHI0069 5.2 "The ITS":
 * the ITS forwards translated interrupts and invalidations to the
 * redistributor a collection or vPE is mapped to). The GIC gives the ITS one
 * port per redistributor, indexed by processor number (GITS_TYPER.PTA = 0);
 * tests give it fakes.
 */
import type { VpeEntry } from './tables.js';

/** What the ITS asks of a redistributor for physical LPIs ({@link LpiRedistributor} implements it). */
export interface LpiRedistributorPort {
  /** Makes LPI `intid` pending; false when the redistributor does not accept it (LPIs disabled, INTID beyond IDbits). */
  setPending(intid: number): boolean;
  /** Clears the pending state of `intid`; returns whether it was pending. */
  clearPending(intid: number): boolean;
  /** Whether LPI `intid` is pending here. */
  isPending(intid: number): boolean;
  /** Reloads the cached configuration of `intid` (INV). */
  invalidate(intid: number): void;
  /** Reloads every cached configuration (INVALL). */
  invalidateAll(): void;
  /** INTIDs pending here (MOVALL). */
  pendingIntids(): number[];
}

/** vSGI configuration carried by the GICv4.1 VSGI command. */
export interface VsgiConfig {
  /** 8-bit priority (the command carries bits [7:4]). */
  priority: number;
  /** Group, 0 or 1 (the command's G bit). */
  group: number;
  /** The command's E bit. */
  enable: boolean;
}

/** What the ITS asks of a redistributor for a vPE mapped to it (GICv4, IHI0069 5.3 and chapter 7 in v4.1 terms). */
export interface VlpiRedistributorPort {
  /**
   * A vLPI for `vpe` (IHI0069 "Virtual LPIs"): delivered to the vPE if it is
   * resident here, else recorded in its virtual pending table and, with a
   * doorbell (`doorbell` != 1023, or the GICv4.1 default doorbell), a
   * physical doorbell LPI is made pending. Returns false when the vLPI was
   * already pending (coalesced) or is beyond the vPE's tables, true otherwise.
   */
  setVlpiPending(vpe: VpeEntry, vintid: number, doorbell: number): boolean;
  /** Clears a pending vLPI; returns whether it was pending. */
  clearVlpiPending(vpe: VpeEntry, vintid: number): boolean;
  /** Reloads the cached configuration of one vLPI of a resident vPE. */
  invalidateVlpi(vpe: VpeEntry, vintid: number): void;
  /** Reloads all cached vLPI configuration of a resident vPE (VINVALL). */
  invalidateAllVlpis(vpe: VpeEntry): void;
  /** GICv4.1 VSGI: update the configuration of vSGI `vintid`, or clear its pending state. */
  configureVsgi(vpe: VpeEntry, vintid: number, config: VsgiConfig | 'clear-pending'): void;
  /** GICv4.1 GITS_SGIR: make vSGI `vintid` pending. */
  setVsgiPending(vpe: VpeEntry, vintid: number): void;
  /** GICv4.1 INVDB: reload the doorbell's configuration. */
  invalidateDoorbell(vpe: VpeEntry): void;
}
