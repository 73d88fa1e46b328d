/**
 * Fills the current VMCS with a minimal valid configuration through VMWRITE,
 * as a VMM's setup code does (compare kvm-unit-tests' init_vmcs): controls
 * at their allowed-0 settings plus what the caller asks for, a 64-bit host
 * and a 64-bit guest that pass the VM-entry checks (SDM 3C "VM Entries").
 */
import { vmxUsageError } from '../errors.js';
import { VMCS_FIELD, type VmcsFieldName } from '../fields/field-table.js';
import { CPU_BASED, VM_ENTRY, VM_EXIT } from './controls.js';
import type { VmxProcessor } from './processor.js';

/** What {@link prepareVmcs} writes beyond the minimum. */
export interface PrepareVmcsOptions {
  /** Pin-based controls ORed onto the allowed-0 bits. */
  pin?: number;
  /** Primary processor-based controls ORed onto the allowed-0 bits ("activate secondary controls" is added when `proc2` is non-zero). */
  proc?: number;
  /** Secondary controls. */
  proc2?: number;
  /** VM-exit controls ORed onto the allowed-0 bits and "host address-space size". */
  exit?: number;
  /** VM-entry controls ORed onto the allowed-0 bits and "IA-32e mode guest". */
  entry?: number;
  /** Virtual-APIC page address (adds "use TPR shadow"). */
  virtualApicPage?: number;
  /** APIC-access page address. */
  apicAccessPage?: number;
  /** MSR-bitmap address (adds "use MSR bitmaps"). */
  msrBitmap?: number;
  /** Posted-interrupt descriptor address. */
  postedInterruptDescriptor?: number;
  /** Posted-interrupt notification vector. */
  notificationVector?: number;
  /** Any other fields to write last. */
  fields?: Partial<Record<VmcsFieldName, number | bigint>>;
}

/** Writes a minimal valid VMCS into the current VMCS of `p` (which must be in VMX root operation with a current VMCS). */
export function prepareVmcs(p: VmxProcessor, options: PrepareVmcsOptions = {}): void {
  const caps = p.capabilities;
  const w = (name: VmcsFieldName, value: number | bigint): void => {
    const r = p.vmwrite(VMCS_FIELD[name], value);
    if (r.kind !== 'succeed') throw vmxUsageError('bad-state', `prepareVmcs: VMWRITE of ${name} failed (${r.kind === 'fail-valid' ? `VM-instruction error ${r.error}` : r.kind})`);
  };
  let proc = caps.proc.allowed0 | (options.proc ?? 0);
  const proc2 = options.proc2 ?? 0;
  if (proc2 !== 0) proc |= CPU_BASED.ACTIVATE_SECONDARY_CONTROLS;
  if (options.virtualApicPage !== undefined) proc |= CPU_BASED.USE_TPR_SHADOW;
  if (options.msrBitmap !== undefined) proc |= CPU_BASED.USE_MSR_BITMAPS;
  w('PIN_BASED_VM_EXEC_CONTROL', (caps.pin.allowed0 | (options.pin ?? 0)) >>> 0);
  w('CPU_BASED_VM_EXEC_CONTROL', proc >>> 0);
  if (proc2 !== 0) w('SECONDARY_VM_EXEC_CONTROL', proc2 >>> 0);
  w('VM_EXIT_CONTROLS', (caps.exit.allowed0 | VM_EXIT.HOST_ADDRESS_SPACE_SIZE | (options.exit ?? 0)) >>> 0);
  w('VM_ENTRY_CONTROLS', (caps.entry.allowed0 | VM_ENTRY.IA32E_MODE_GUEST | (options.entry ?? 0)) >>> 0);
  if (options.virtualApicPage !== undefined) w('VIRTUAL_APIC_PAGE_ADDR', options.virtualApicPage);
  if (options.apicAccessPage !== undefined) w('APIC_ACCESS_ADDR', options.apicAccessPage);
  if (options.msrBitmap !== undefined) w('MSR_BITMAP', options.msrBitmap);
  if (options.postedInterruptDescriptor !== undefined) w('POSTED_INTR_DESC_ADDR', options.postedInterruptDescriptor);
  if (options.notificationVector !== undefined) w('POSTED_INTR_NV', options.notificationVector);
  // Host state: 64-bit, paging on, flat selectors.
  w('HOST_CR0', 0x8000_0031);
  w('HOST_CR3', 0x1000);
  w('HOST_CR4', 0x2020);
  w('HOST_CS_SELECTOR', 0x08);
  w('HOST_SS_SELECTOR', 0x10);
  w('HOST_DS_SELECTOR', 0x10);
  w('HOST_ES_SELECTOR', 0x10);
  w('HOST_TR_SELECTOR', 0x18);
  w('HOST_RIP', 0x40_0000);
  w('HOST_RSP', 0x50_0000);
  // Guest state: 64-bit, paging on.
  w('GUEST_CR0', 0x8000_0031);
  w('GUEST_CR3', 0x2000);
  w('GUEST_CR4', 0x2020);
  w('GUEST_RFLAGS', 0x2);
  w('GUEST_RIP', 0x10_0000);
  w('GUEST_RSP', 0x20_0000);
  w('GUEST_CS_SELECTOR', 0x08);
  w('GUEST_CS_AR_BYTES', 0xa09b);
  w('GUEST_SS_AR_BYTES', 0xc093);
  w('VMCS_LINK_POINTER', 0xffff_ffff_ffff_ffffn);
  for (const [name, value] of Object.entries(options.fields ?? {})) w(name as VmcsFieldName, value);
}
