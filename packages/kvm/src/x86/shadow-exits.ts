/**
 * The exits of a vCPU under shadow paging (vmx.c with !enable_ept:
 * handle_exception_nmi's #PF, handle_cr, handle_invlpg; mmu.c
 * kvm_mmu_page_fault, kvm_mmu_invlpg, kvm_mmu_new_pgd) and what runs before
 * each VM entry (kvm_mmu_reload). The state is in `shadow-state.ts`.
 */
import { ACCESS as IMPORTED_ACCESS } from '@hvsim/mmu';
import { OP as IMPORTED_OP } from '@hvsim/cpu';
import { VMCS_FIELD as IMPORTED_VMCS_FIELD, type VmExitInfo } from '@hvsim/vmcs';
import { KVM_INTERNAL_ERROR as IMPORTED_KVM_INTERNAL_ERROR } from '../generic/constants.js';
import { emulateMmio } from './mmio.js';
import { eliIdtWrite, eliTracksPage } from './eli.js';
import { CR0_PE, CR0_PG, CR4_GUEST_WRITABLE, CR4_PAE, EFER_LMA, GP_VECTOR, PF_VECTOR, TWO_32, setGuestCr3, writeGuestCr0, writeGuestCr4, type ShadowPaging } from './shadow-state.js';
import type { X86VcpuState } from './vcpu-state.js';

// Module-local copies: under Node's ESM loader each use of an imported binding is a getter call (every #PF exit reads these).
const ACCESS = IMPORTED_ACCESS;
const OP = IMPORTED_OP;
const VMCS_FIELD = IMPORTED_VMCS_FIELD;
const KVM_INTERNAL_ERROR = IMPORTED_KVM_INTERNAL_ERROR;

/** PFEC bits (SDM 3A 4.7): W, U, I/D. */
const PFEC_W = 1 << 1;
const PFEC_U = 1 << 2;
const PFEC_ID = 1 << 4;

/**
 * Before VM entry (kvm_mmu_reload, vmx_load_mmu_pgd, KVM_REQ_TLB_FLUSH):
 * GUEST_CR3 is the current shadow root (a zap may have freed the old one),
 * and the hardware TLB of this VPID is flushed when shadow entries changed.
 * False (KVM_EXIT_INTERNAL_ERROR set) for a guest with CR0.PG = 0.
 */
export function shadowBeforeEntry(v: X86VcpuState, shadow: ShadowPaging): boolean {
  const vmx = v.vmx;
  if ((vmx.vmreadNumber(VMCS_FIELD.CR0_READ_SHADOW) & CR0_PG) === 0) {
    // A guest without paging (after INIT, real mode) needs KVM's nonpaging MMU and real-mode emulation: not modelled.
    v.internalError(KVM_INTERNAL_ERROR.EMULATION, 0);
    return false;
  }
  const root = shadow.mmu.shadowRoot;
  if (vmx.vmreadNumber(VMCS_FIELD.GUEST_CR3) !== root) vmx.vmwrite(VMCS_FIELD.GUEST_CR3, root);
  if (shadow.epochMoved()) v.flushTlb();
  return true;
}

/** The mmu ACCESS mask of a #PF error code (W, U, I/D). */
function accessOf(errorCode: number): number {
  return ((errorCode & PFEC_W) !== 0 ? ACCESS.WRITE : 0) | ((errorCode & PFEC_U) !== 0 ? ACCESS.USER : 0) | ((errorCode & PFEC_ID) !== 0 ? ACCESS.FETCH : 0);
}

/**
 * handle_exception_nmi's #PF with !enable_ept → kvm_mmu_page_fault(cr2 =
 * exit qualification, error code): 'fixed' re-enters (the access retries);
 * 'guest-fault' injects #PF with the guest's error code and CR2
 * (kvm_inject_page_fault); 'write-protected' emulates the store to a
 * shadowed guest table (the emulator's write, then the shadow entries
 * follow); 'mmio' emulates the access as the EPT misconfiguration does.
 * Returns >0 to re-enter, 0 for userspace; -1 when the exit is not a #PF.
 */
export function handleShadowPageFault(v: X86VcpuState, shadow: ShadowPaging, exit: VmExitInfo): number {
  if ((exit.interruptionInfo & 0xff) !== PF_VECTOR) return -1;
  const cr2 = exit.qualification;
  const code = exit.interruptionErrorCode >>> 0;
  // This model's CPU writes CR2 before the exit; the hardware does not (SDM 3C 27.1): the guest's CR2 is KVM's.
  v.cpu.setRegisters({ cr2: shadow.guestCr2 });
  const r = shadow.mmu.pageFault(cr2, accessOf(code), code);
  switch (r.event) {
    case 'guest-fault':
      shadow.faults.injected++;
      shadow.guestCr2 = r.linearAddress;
      v.cpu.setRegisters({ cr2: r.linearAddress });
      v.pendingException = PF_VECTOR;
      v.pendingErrorCode = r.errorCode >>> 0;
      v.requestEvent = true;
      return 1;
    case 'write-protected': {
      const op = v.cpu.pendingOperation;
      if (op?.code !== OP.STORE) {
        // An implicit write (event delivery onto a guest table page): the emulator cannot complete it.
        v.internalError(KVM_INTERNAL_ERROR.EMULATION, exit.reason >>> 0);
        return 0;
      }
      shadow.faults.emulated++;
      shadow.mmu.emulateWrite(r.guestPhysicalAddress, op.size, op.b >>> 0, op.c >>> 0);
      v.skip();
      return 1;
    }
    case 'mmio': {
      const gpa = r.guestPhysicalAddress;
      if ((code & PFEC_W) !== 0 && eliTracksPage(v, gpa - (gpa % 4096))) {
        // A store to ELI's write-tracked guest IDT (kvm_page_track_write): emulated, the shadow IDT follows.
        const op = v.cpu.pendingOperation;
        if (op?.code === OP.STORE && eliIdtWrite(v, gpa, op.size, op.b, op.c)) {
          shadow.faults.emulated++;
          return 1;
        }
      }
      shadow.faults.mmio++;
      return emulateMmio(v, gpa, exit.reason);
    }
    default:
      shadow.faults.fixed++;
      return 1;
  }
}

/** handle_invlpg → kvm_mmu_invlpg: the shadow leaf and this VPID's hardware TLB entry go; the instruction is skipped. */
export function handleShadowInvlpg(v: X86VcpuState, shadow: ShadowPaging): number {
  const op = v.cpu.pendingOperation!;
  shadow.intercepts.invlpgs++;
  shadow.mmu.invlpg(op.a);
  v.mmu.invlpg(op.a);
  v.skip();
  return 1;
}

/**
 * handle_cr for CR0, CR3 and CR4 under shadow paging (kvm_set_cr0/3/4,
 * kvm_read_cr3): checked as the CPU would (#GP), then the MMU follows.
 * >0 re-enter; -1 for another control register.
 */
export function handleShadowCr(v: X86VcpuState, shadow: ShadowPaging): number {
  const op = v.cpu.pendingOperation!;
  const vmx = v.vmx;
  if (op.code === OP.MOV_FROM_CR) {
    if (op.a !== 3) return -1;
    shadow.intercepts.cr3Stores++;
    const cr3 = shadow.guestCr3;
    v.skip(cr3 >>> 0, Math.floor(cr3 / TWO_32));
    return 1;
  }
  const value = (op.b >>> 0) + (op.c >>> 0) * TWO_32;
  if (op.a === 3) {
    shadow.intercepts.cr3Loads++;
    // kvm_set_cr3: bits above MAXPHYADDR are #GP (bit 63, the PCID no-flush bit, is not modelled: 2^52 and up).
    if (value >= 2 ** shadow.mmu.context.maxPhyAddr) return guestGp(v);
    setGuestCr3(vmx, shadow, value);
    v.skip();
    return 1;
  }
  if (op.a !== 0 && op.a !== 4) return -1;
  shadow.intercepts.crWrites++;
  if (op.c !== 0) return guestGp(v);
  const efer = vmx.vmreadNumber(VMCS_FIELD.GUEST_IA32_EFER);
  if (op.a === 0) {
    // kvm_set_cr0: PG without PE is #GP; this model's CPU keeps IA-32e mode, so clearing PG with EFER.LMA is #GP too.
    if ((value & CR0_PG) !== 0 && (value & CR0_PE) === 0) return guestGp(v);
    if ((value & CR0_PG) === 0 && (efer & EFER_LMA) !== 0) return guestGp(v);
    writeGuestCr0(vmx, shadow, value);
  } else {
    // kvm_set_cr4: bits the CPU lacks or VMXE (no nested VMX) are #GP, and so is clearing PAE in IA-32e mode.
    if ((value & ~CR4_GUEST_WRITABLE) !== 0 || ((efer & EFER_LMA) !== 0 && (value & CR4_PAE) === 0)) return guestGp(v);
    writeGuestCr4(vmx, shadow, value);
  }
  v.skip();
  return 1;
}

function guestGp(v: X86VcpuState): number {
  v.pendingException = GP_VECTOR;
  v.pendingErrorCode = 0;
  v.requestEvent = true;
  return 1;
}

