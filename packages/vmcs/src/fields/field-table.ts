/**
 * Every VMCS field of SDM 3C Appendix B "Field Encoding in VMCS" (edition
 * 083, March 2024), with its SDM name and, where the appendix says the field
 * "exists only on processors that support the 1-setting of" a control, that
 * control. Names are the SDM's, in UPPER_SNAKE as Linux's vmx.h spells them.
 * The `_HIGH` aliases of 64-bit fields are derived (encoding | 1), not listed.
 */

/** A VM-execution, VM-exit or VM-entry control word a field's existence can depend on. */
export type ControlWord = 'pin' | 'proc' | 'proc2' | 'proc3' | 'exit' | 'entry';

/** One row of Appendix B. */
export interface VmcsFieldSpec {
  /** The field's name in {@link VMCS_FIELD}. */
  readonly name: string;
  /** The field's 32-bit encoding (SDM 3C Appendix B). */
  readonly encoding: number;
  /** The field's name in the SDM. */
  readonly sdmName: string;
  /** The field exists only when this control may be 1 (its allowed-1 bit). */
  readonly requires?: readonly [ControlWord, number];
}

type Row = readonly [name: string, encoding: number, sdmName: string, requires?: readonly [ControlWord, number]];

const ROWS = [
  // B.1.1 16-bit control fields
  ['VIRTUAL_PROCESSOR_ID', 0x0000, 'Virtual-processor identifier (VPID)', ['proc2', 5]],
  ['POSTED_INTR_NV', 0x0002, 'Posted-interrupt notification vector', ['pin', 7]],
  ['EPTP_INDEX', 0x0004, 'EPTP index', ['proc2', 18]],
  ['HLAT_PREFIX_SIZE', 0x0006, 'HLAT prefix size', ['proc3', 1]],
  ['LAST_PID_POINTER_INDEX', 0x0008, 'Last PID-pointer index', ['proc3', 4]],
  // B.1.2 16-bit guest-state fields
  ['GUEST_ES_SELECTOR', 0x0800, 'Guest ES selector'],
  ['GUEST_CS_SELECTOR', 0x0802, 'Guest CS selector'],
  ['GUEST_SS_SELECTOR', 0x0804, 'Guest SS selector'],
  ['GUEST_DS_SELECTOR', 0x0806, 'Guest DS selector'],
  ['GUEST_FS_SELECTOR', 0x0808, 'Guest FS selector'],
  ['GUEST_GS_SELECTOR', 0x080a, 'Guest GS selector'],
  ['GUEST_LDTR_SELECTOR', 0x080c, 'Guest LDTR selector'],
  ['GUEST_TR_SELECTOR', 0x080e, 'Guest TR selector'],
  ['GUEST_INTR_STATUS', 0x0810, 'Guest interrupt status', ['proc2', 9]],
  ['GUEST_PML_INDEX', 0x0812, 'PML index', ['proc2', 17]],
  // B.1.3 16-bit host-state fields
  ['HOST_ES_SELECTOR', 0x0c00, 'Host ES selector'],
  ['HOST_CS_SELECTOR', 0x0c02, 'Host CS selector'],
  ['HOST_SS_SELECTOR', 0x0c04, 'Host SS selector'],
  ['HOST_DS_SELECTOR', 0x0c06, 'Host DS selector'],
  ['HOST_FS_SELECTOR', 0x0c08, 'Host FS selector'],
  ['HOST_GS_SELECTOR', 0x0c0a, 'Host GS selector'],
  ['HOST_TR_SELECTOR', 0x0c0c, 'Host TR selector'],
  // B.2.1 64-bit control fields
  ['IO_BITMAP_A', 0x2000, 'Address of I/O bitmap A'],
  ['IO_BITMAP_B', 0x2002, 'Address of I/O bitmap B'],
  ['MSR_BITMAP', 0x2004, 'Address of MSR bitmaps', ['proc', 28]],
  ['VM_EXIT_MSR_STORE_ADDR', 0x2006, 'VM-exit MSR-store address'],
  ['VM_EXIT_MSR_LOAD_ADDR', 0x2008, 'VM-exit MSR-load address'],
  ['VM_ENTRY_MSR_LOAD_ADDR', 0x200a, 'VM-entry MSR-load address'],
  ['EXECUTIVE_VMCS_POINTER', 0x200c, 'Executive-VMCS pointer'],
  ['PML_ADDRESS', 0x200e, 'PML address', ['proc2', 17]],
  ['TSC_OFFSET', 0x2010, 'TSC offset'],
  ['VIRTUAL_APIC_PAGE_ADDR', 0x2012, 'Virtual-APIC address', ['proc', 21]],
  ['APIC_ACCESS_ADDR', 0x2014, 'APIC-access address', ['proc2', 0]],
  ['POSTED_INTR_DESC_ADDR', 0x2016, 'Posted-interrupt descriptor address', ['pin', 7]],
  ['VM_FUNCTION_CONTROL', 0x2018, 'VM-function controls', ['proc2', 13]],
  ['EPT_POINTER', 0x201a, 'EPT pointer (EPTP)', ['proc2', 1]],
  ['EOI_EXIT_BITMAP0', 0x201c, 'EOI-exit bitmap 0 (EOI_EXIT0)', ['proc2', 9]],
  ['EOI_EXIT_BITMAP1', 0x201e, 'EOI-exit bitmap 1 (EOI_EXIT1)', ['proc2', 9]],
  ['EOI_EXIT_BITMAP2', 0x2020, 'EOI-exit bitmap 2 (EOI_EXIT2)', ['proc2', 9]],
  ['EOI_EXIT_BITMAP3', 0x2022, 'EOI-exit bitmap 3 (EOI_EXIT3)', ['proc2', 9]],
  ['EPTP_LIST_ADDRESS', 0x2024, 'EPTP-list address', ['proc2', 13]],
  ['VMREAD_BITMAP', 0x2026, 'VMREAD-bitmap address', ['proc2', 14]],
  ['VMWRITE_BITMAP', 0x2028, 'VMWRITE-bitmap address', ['proc2', 14]],
  ['VE_INFORMATION_ADDRESS', 0x202a, 'Virtualization-exception information address', ['proc2', 18]],
  ['XSS_EXIT_BITMAP', 0x202c, 'XSS-exiting bitmap', ['proc2', 20]],
  ['ENCLS_EXITING_BITMAP', 0x202e, 'ENCLS-exiting bitmap', ['proc2', 15]],
  ['SPP_TABLE_POINTER', 0x2030, 'Sub-page-permission-table pointer', ['proc2', 23]],
  ['TSC_MULTIPLIER', 0x2032, 'TSC multiplier', ['proc2', 25]],
  ['TERTIARY_VM_EXEC_CONTROL', 0x2034, 'Tertiary processor-based VM-execution controls', ['proc', 17]],
  ['ENCLV_EXITING_BITMAP', 0x2036, 'ENCLV-exiting bitmap', ['proc2', 28]],
  ['LOW_PASID_DIRECTORY_ADDRESS', 0x2038, 'Low PASID directory address'],
  ['HIGH_PASID_DIRECTORY_ADDRESS', 0x203a, 'High PASID directory address'],
  ['SHARED_EPT_POINTER', 0x203c, 'Shared EPT pointer'],
  ['PCONFIG_EXITING_BITMAP', 0x203e, 'PCONFIG-exiting bitmap'],
  ['HLATP', 0x2040, 'Hypervisor-managed linear-address translation pointer', ['proc3', 1]],
  ['PID_POINTER_TABLE', 0x2042, 'PID-pointer table address', ['proc3', 4]],
  ['SECONDARY_VM_EXIT_CONTROLS', 0x2044, 'Secondary VM-exit controls', ['exit', 31]],
  ['IA32_SPEC_CTRL_MASK', 0x204a, 'IA32_SPEC_CTRL mask', ['proc3', 7]],
  ['IA32_SPEC_CTRL_SHADOW', 0x204c, 'IA32_SPEC_CTRL shadow', ['proc3', 7]],
  // B.2.2 64-bit read-only data field
  ['GUEST_PHYSICAL_ADDRESS', 0x2400, 'Guest-physical address', ['proc2', 1]],
  // B.2.3 64-bit guest-state fields
  ['VMCS_LINK_POINTER', 0x2800, 'VMCS link pointer'],
  ['GUEST_IA32_DEBUGCTL', 0x2802, 'Guest IA32_DEBUGCTL'],
  ['GUEST_IA32_PAT', 0x2804, 'Guest IA32_PAT', ['entry', 14]],
  ['GUEST_IA32_EFER', 0x2806, 'Guest IA32_EFER', ['entry', 15]],
  ['GUEST_IA32_PERF_GLOBAL_CTRL', 0x2808, 'Guest IA32_PERF_GLOBAL_CTRL', ['entry', 13]],
  ['GUEST_PDPTR0', 0x280a, 'Guest PDPTE0', ['proc2', 1]],
  ['GUEST_PDPTR1', 0x280c, 'Guest PDPTE1', ['proc2', 1]],
  ['GUEST_PDPTR2', 0x280e, 'Guest PDPTE2', ['proc2', 1]],
  ['GUEST_PDPTR3', 0x2810, 'Guest PDPTE3', ['proc2', 1]],
  ['GUEST_BNDCFGS', 0x2812, 'Guest IA32_BNDCFGS', ['entry', 16]],
  ['GUEST_IA32_RTIT_CTL', 0x2814, 'Guest IA32_RTIT_CTL', ['entry', 18]],
  ['GUEST_IA32_LBR_CTL', 0x2816, 'Guest IA32_LBR_CTL', ['entry', 21]],
  ['GUEST_IA32_PKRS', 0x2818, 'Guest IA32_PKRS', ['entry', 22]],
  // B.2.4 64-bit host-state fields
  ['HOST_IA32_PAT', 0x2c00, 'Host IA32_PAT', ['exit', 19]],
  ['HOST_IA32_EFER', 0x2c02, 'Host IA32_EFER', ['exit', 21]],
  ['HOST_IA32_PERF_GLOBAL_CTRL', 0x2c04, 'Host IA32_PERF_GLOBAL_CTRL', ['exit', 12]],
  ['HOST_IA32_PKRS', 0x2c06, 'Host IA32_PKRS', ['exit', 29]],
  // B.3.1 32-bit control fields
  ['PIN_BASED_VM_EXEC_CONTROL', 0x4000, 'Pin-based VM-execution controls'],
  ['CPU_BASED_VM_EXEC_CONTROL', 0x4002, 'Primary processor-based VM-execution controls'],
  ['EXCEPTION_BITMAP', 0x4004, 'Exception bitmap'],
  ['PAGE_FAULT_ERROR_CODE_MASK', 0x4006, 'Page-fault error-code mask'],
  ['PAGE_FAULT_ERROR_CODE_MATCH', 0x4008, 'Page-fault error-code match'],
  ['CR3_TARGET_COUNT', 0x400a, 'CR3-target count'],
  ['VM_EXIT_CONTROLS', 0x400c, 'Primary VM-exit controls'],
  ['VM_EXIT_MSR_STORE_COUNT', 0x400e, 'VM-exit MSR-store count'],
  ['VM_EXIT_MSR_LOAD_COUNT', 0x4010, 'VM-exit MSR-load count'],
  ['VM_ENTRY_CONTROLS', 0x4012, 'VM-entry controls'],
  ['VM_ENTRY_MSR_LOAD_COUNT', 0x4014, 'VM-entry MSR-load count'],
  ['VM_ENTRY_INTR_INFO_FIELD', 0x4016, 'VM-entry interruption-information field'],
  ['VM_ENTRY_EXCEPTION_ERROR_CODE', 0x4018, 'VM-entry exception error code'],
  ['VM_ENTRY_INSTRUCTION_LEN', 0x401a, 'VM-entry instruction length'],
  ['TPR_THRESHOLD', 0x401c, 'TPR threshold', ['proc', 21]],
  ['SECONDARY_VM_EXEC_CONTROL', 0x401e, 'Secondary processor-based VM-execution controls', ['proc', 31]],
  ['PLE_GAP', 0x4020, 'PLE_Gap', ['proc2', 10]],
  ['PLE_WINDOW', 0x4022, 'PLE_Window', ['proc2', 10]],
  ['INSTRUCTION_TIMEOUT_CONTROL', 0x4024, 'Instruction-timeout control'],
  // B.3.2 32-bit read-only data fields
  ['VM_INSTRUCTION_ERROR', 0x4400, 'VM-instruction error'],
  ['VM_EXIT_REASON', 0x4402, 'Exit reason'],
  ['VM_EXIT_INTR_INFO', 0x4404, 'VM-exit interruption information'],
  ['VM_EXIT_INTR_ERROR_CODE', 0x4406, 'VM-exit interruption error code'],
  ['IDT_VECTORING_INFO_FIELD', 0x4408, 'IDT-vectoring information field'],
  ['IDT_VECTORING_ERROR_CODE', 0x440a, 'IDT-vectoring error code'],
  ['VM_EXIT_INSTRUCTION_LEN', 0x440c, 'VM-exit instruction length'],
  ['VMX_INSTRUCTION_INFO', 0x440e, 'VM-exit instruction information'],
  // B.3.3 32-bit guest-state fields
  ['GUEST_ES_LIMIT', 0x4800, 'Guest ES limit'],
  ['GUEST_CS_LIMIT', 0x4802, 'Guest CS limit'],
  ['GUEST_SS_LIMIT', 0x4804, 'Guest SS limit'],
  ['GUEST_DS_LIMIT', 0x4806, 'Guest DS limit'],
  ['GUEST_FS_LIMIT', 0x4808, 'Guest FS limit'],
  ['GUEST_GS_LIMIT', 0x480a, 'Guest GS limit'],
  ['GUEST_LDTR_LIMIT', 0x480c, 'Guest LDTR limit'],
  ['GUEST_TR_LIMIT', 0x480e, 'Guest TR limit'],
  ['GUEST_GDTR_LIMIT', 0x4810, 'Guest GDTR limit'],
  ['GUEST_IDTR_LIMIT', 0x4812, 'Guest IDTR limit'],
  ['GUEST_ES_AR_BYTES', 0x4814, 'Guest ES access rights'],
  ['GUEST_CS_AR_BYTES', 0x4816, 'Guest CS access rights'],
  ['GUEST_SS_AR_BYTES', 0x4818, 'Guest SS access rights'],
  ['GUEST_DS_AR_BYTES', 0x481a, 'Guest DS access rights'],
  ['GUEST_FS_AR_BYTES', 0x481c, 'Guest FS access rights'],
  ['GUEST_GS_AR_BYTES', 0x481e, 'Guest GS access rights'],
  ['GUEST_LDTR_AR_BYTES', 0x4820, 'Guest LDTR access rights'],
  ['GUEST_TR_AR_BYTES', 0x4822, 'Guest TR access rights'],
  ['GUEST_INTERRUPTIBILITY_INFO', 0x4824, 'Guest interruptibility state'],
  ['GUEST_ACTIVITY_STATE', 0x4826, 'Guest activity state'],
  ['GUEST_SMBASE', 0x4828, 'Guest SMBASE'],
  ['GUEST_SYSENTER_CS', 0x482a, 'Guest IA32_SYSENTER_CS'],
  ['VMX_PREEMPTION_TIMER_VALUE', 0x482e, 'VMX-preemption timer value', ['pin', 6]],
  // B.3.4 32-bit host-state field
  ['HOST_IA32_SYSENTER_CS', 0x4c00, 'Host IA32_SYSENTER_CS'],
  // B.4.1 natural-width control fields
  ['CR0_GUEST_HOST_MASK', 0x6000, 'CR0 guest/host mask'],
  ['CR4_GUEST_HOST_MASK', 0x6002, 'CR4 guest/host mask'],
  ['CR0_READ_SHADOW', 0x6004, 'CR0 read shadow'],
  ['CR4_READ_SHADOW', 0x6006, 'CR4 read shadow'],
  ['CR3_TARGET_VALUE0', 0x6008, 'CR3-target value 0'],
  ['CR3_TARGET_VALUE1', 0x600a, 'CR3-target value 1'],
  ['CR3_TARGET_VALUE2', 0x600c, 'CR3-target value 2'],
  ['CR3_TARGET_VALUE3', 0x600e, 'CR3-target value 3'],
  // B.4.2 natural-width read-only data fields
  ['EXIT_QUALIFICATION', 0x6400, 'Exit qualification'],
  ['IO_RCX', 0x6402, 'I/O RCX'],
  ['IO_RSI', 0x6404, 'I/O RSI'],
  ['IO_RDI', 0x6406, 'I/O RDI'],
  ['IO_RIP', 0x6408, 'I/O RIP'],
  ['GUEST_LINEAR_ADDRESS', 0x640a, 'Guest-linear address'],
  // B.4.3 natural-width guest-state fields
  ['GUEST_CR0', 0x6800, 'Guest CR0'],
  ['GUEST_CR3', 0x6802, 'Guest CR3'],
  ['GUEST_CR4', 0x6804, 'Guest CR4'],
  ['GUEST_ES_BASE', 0x6806, 'Guest ES base'],
  ['GUEST_CS_BASE', 0x6808, 'Guest CS base'],
  ['GUEST_SS_BASE', 0x680a, 'Guest SS base'],
  ['GUEST_DS_BASE', 0x680c, 'Guest DS base'],
  ['GUEST_FS_BASE', 0x680e, 'Guest FS base'],
  ['GUEST_GS_BASE', 0x6810, 'Guest GS base'],
  ['GUEST_LDTR_BASE', 0x6812, 'Guest LDTR base'],
  ['GUEST_TR_BASE', 0x6814, 'Guest TR base'],
  ['GUEST_GDTR_BASE', 0x6816, 'Guest GDTR base'],
  ['GUEST_IDTR_BASE', 0x6818, 'Guest IDTR base'],
  ['GUEST_DR7', 0x681a, 'Guest DR7'],
  ['GUEST_RSP', 0x681c, 'Guest RSP'],
  ['GUEST_RIP', 0x681e, 'Guest RIP'],
  ['GUEST_RFLAGS', 0x6820, 'Guest RFLAGS'],
  ['GUEST_PENDING_DBG_EXCEPTIONS', 0x6822, 'Guest pending debug exceptions'],
  ['GUEST_SYSENTER_ESP', 0x6824, 'Guest IA32_SYSENTER_ESP'],
  ['GUEST_SYSENTER_EIP', 0x6826, 'Guest IA32_SYSENTER_EIP'],
  ['GUEST_S_CET', 0x6828, 'Guest IA32_S_CET'],
  ['GUEST_SSP', 0x682a, 'Guest SSP'],
  ['GUEST_INTR_SSP_TABLE', 0x682c, 'Guest IA32_INTERRUPT_SSP_TABLE_ADDR'],
  // B.4.4 natural-width host-state fields
  ['HOST_CR0', 0x6c00, 'Host CR0'],
  ['HOST_CR3', 0x6c02, 'Host CR3'],
  ['HOST_CR4', 0x6c04, 'Host CR4'],
  ['HOST_FS_BASE', 0x6c06, 'Host FS base'],
  ['HOST_GS_BASE', 0x6c08, 'Host GS base'],
  ['HOST_TR_BASE', 0x6c0a, 'Host TR base'],
  ['HOST_GDTR_BASE', 0x6c0c, 'Host GDTR base'],
  ['HOST_IDTR_BASE', 0x6c0e, 'Host IDTR base'],
  ['HOST_IA32_SYSENTER_ESP', 0x6c10, 'Host IA32_SYSENTER_ESP'],
  ['HOST_IA32_SYSENTER_EIP', 0x6c12, 'Host IA32_SYSENTER_EIP'],
  ['HOST_RSP', 0x6c14, 'Host RSP'],
  ['HOST_RIP', 0x6c16, 'Host RIP'],
  ['HOST_S_CET', 0x6c18, 'Host IA32_S_CET'],
  ['HOST_SSP', 0x6c1a, 'Host SSP'],
  ['HOST_INTR_SSP_TABLE', 0x6c1c, 'Host IA32_INTERRUPT_SSP_TABLE_ADDR'],
] as const satisfies readonly Row[];

/** Name of a VMCS field (full encoding). */
export type VmcsFieldName = (typeof ROWS)[number][0];

/** Every field of Appendix B, in appendix order. */
export const VMCS_FIELD_SPECS: readonly VmcsFieldSpec[] = ROWS.map((r: Row) =>
  Object.freeze(r[3] === undefined ? { name: r[0], encoding: r[1], sdmName: r[2] } : { name: r[0], encoding: r[1], sdmName: r[2], requires: r[3] }),
);

/** Field encodings by name (SDM 3C Appendix B), e.g. `VMCS_FIELD.GUEST_RIP === 0x681e`. */
export const VMCS_FIELD: Readonly<Record<VmcsFieldName, number>> = Object.freeze(
  Object.fromEntries(ROWS.map((r) => [r[0], r[1]])) as Record<VmcsFieldName, number>,
);
