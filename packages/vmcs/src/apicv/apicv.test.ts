import { describe, expect, it } from 'vitest';
import { APIC, X2APIC } from '@hvsim/lapic';
import { VMCS_FIELD } from '../fields/field-table.js';
import { ADDR, apicvOptions, launch, preparedFixture, type Fixture } from '../internal/test-setup.js';
import { CPU_BASED, PIN_BASED, SECONDARY } from '../vmx/controls.js';
import { EXIT_REASON } from '../vmx/exit-reasons.js';
import type { NonRootOutcome } from '../vmx/outcomes.js';
import type { PrepareVmcsOptions } from '../vmx/prepare-vmcs.js';
import { setMsrIntercept, msrBitmapExits } from './msr-bitmap.js';
import { isVirtualizableSelfIpi } from './apic-access.js';

const F = VMCS_FIELD;
const ed = 'SDM 3C (083) "APIC Virtualization and Virtual Interrupts"';

function running(options: PrepareVmcsOptions, setup?: (f: Fixture) => void): Fixture {
  const f = preparedFixture(options);
  setup?.(f);
  launch(f);
  return f;
}
function exitOf(o: NonRootOutcome): { reason: number; qualification: number } {
  if (o.kind !== 'exit') throw new Error(`expected an exit, got ${o.kind}`);
  return { reason: o.exit.reason, qualification: o.exit.qualification };
}
const vtpr = (f: Fixture): number => f.memory.read32(ADDR.VAPIC + APIC.TPR);
const vppr = (f: Fixture): number => f.memory.read32(ADDR.VAPIC + APIC.PPR);
const VID = { pin: PIN_BASED.EXT_INTR_EXITING, proc2: SECONDARY.VIRTUAL_INTERRUPT_DELIVERY, virtualApicPage: ADDR.VAPIC };

describe(`${ed}: "TPR Virtualization" and MOV CR8`, () => {
  it('MOV to CR8 writes VTPR[7:4] and exits "TPR below threshold" (43, trap-like) when VTPR[7:4] < threshold (VID = 0)', () => {
    const f = running({ virtualApicPage: ADDR.VAPIC, fields: { TPR_THRESHOLD: 3 } }, (g) => g.memory.write32(ADDR.VAPIC + 0x80, 0x50));
    expect(f.p.movToCr8(4).kind).toBe('continue');
    expect(vtpr(f)).toBe(0x40);
    expect(f.p.movFromCr8()).toMatchObject({ kind: 'read', lo: 4 });
    expect(exitOf(f.p.movToCr8(2))).toEqual({ reason: EXIT_REASON.TPR_BELOW_THRESHOLD, qualification: 0 });
    expect(vtpr(f)).toBe(0x20);
    expect(() => running({ virtualApicPage: ADDR.VAPIC }).p.movToCr8(16)).toThrow(/#GP/);
  });

  it('with VID, TPR virtualization performs PPR virtualization and evaluates pending virtual interrupts instead', () => {
    const f = running({ ...VID, fields: { TPR_THRESHOLD: 0xf } }, (g) => g.memory.write32(ADDR.VAPIC + 0x80, 0xf0));
    expect(vppr(f)).toBe(0xf0); // PPR virtualization at VM entry
    expect(f.p.movToCr8(1).kind).toBe('continue');
    expect(vppr(f)).toBe(0x10);
  });

  it('CR8-load and CR8-store exiting: CR-access exits (28) with CR number 8, access type and register', () => {
    const f = running({ virtualApicPage: ADDR.VAPIC, proc: CPU_BASED.CR8_LOAD_EXITING | CPU_BASED.CR8_STORE_EXITING });
    expect(exitOf(f.p.movToCr8(1, 3))).toEqual({ reason: EXIT_REASON.CR_ACCESS, qualification: 0x308 });
    f.p.vmresume();
    expect(exitOf(f.p.movFromCr8(5))).toEqual({ reason: 28, qualification: 0x518 });
    expect(running({}).p.movToCr8(1).kind).toBe('native');
  });
});

describe('SDM 3C (083) "VM Exits Induced by the TPR Threshold" (right after VM entry)', () => {
  const base = { proc2: SECONDARY.VIRTUALIZE_APIC_ACCESSES, apicAccessPage: ADDR.APIC_ACCESS, virtualApicPage: ADDR.VAPIC };
  const withVtpr = (value: number) => (f: Fixture): void => f.memory.write32(ADDR.VAPIC + 0x80, value);
  it('threshold[3:0] > VTPR[7:4] exits (43) before the first instruction, whatever RFLAGS.IF and the interruptibility state', () => {
    const f = running({ ...base, fields: { TPR_THRESHOLD: 5, GUEST_INTERRUPTIBILITY_INFO: 2 } }, withVtpr(0x30));
    expect(exitOf(f.p.instructionBoundary(false))).toEqual({ reason: EXIT_REASON.TPR_BELOW_THRESHOLD, qualification: 0 });
    expect(f.p.vmresume().kind).toBe('entered'); // VTPR unchanged: the entry check is not made with virtualize APIC accesses
    expect(exitOf(f.p.instructionBoundary(true)).reason).toBe(EXIT_REASON.TPR_BELOW_THRESHOLD);
  });

  it('not when threshold <= VTPR[7:4], nor with virtual-interrupt delivery, nor into the wait-for-SIPI state', () => {
    expect(running({ ...base, fields: { TPR_THRESHOLD: 3 } }, withVtpr(0x30)).p.instructionBoundary(true).kind).toBe('continue');
    const vid = { ...base, ...VID, proc2: base.proc2 | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY };
    expect(running({ ...vid, fields: { TPR_THRESHOLD: 5 } }, withVtpr(0x30)).p.instructionBoundary(true).kind).toBe('continue');
    const sipi = running({ ...base, fields: { TPR_THRESHOLD: 5, GUEST_ACTIVITY_STATE: 3 } }, withVtpr(0x30));
    expect(sipi.p.instructionBoundary(true).kind).toBe('halted');
  });

  it('follows event injection, wakes a guest entered in HLT, and ranks above a pending INIT and the interrupt window', () => {
    const f = running({ ...base, fields: { TPR_THRESHOLD: 5, VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 } }, withVtpr(0x30));
    expect(f.p.deliveringEvent).toBe(true);
    expect(exitOf(f.p.instructionBoundary(true)).reason).toBe(EXIT_REASON.TPR_BELOW_THRESHOLD);
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0); // the injected event was delivered first
    const g = running({ ...base, proc: CPU_BASED.INTR_WINDOW_EXITING, fields: { TPR_THRESHOLD: 5, GUEST_ACTIVITY_STATE: 1, GUEST_RFLAGS: 0x202 } }, (h) => {
      h.memory.write32(ADDR.VAPIC + 0x80, 0x30);
      expect(h.p.init().kind).toBe('blocked'); // INIT in VMX root operation stays pending
    });
    expect(exitOf(g.p.instructionBoundary(true)).reason).toBe(EXIT_REASON.TPR_BELOW_THRESHOLD);
    g.p.vmwrite(F.TPR_THRESHOLD, 0);
    expect(g.p.vmresume().kind).toBe('entered');
    expect(exitOf(g.p.instructionBoundary(true)).reason).toBe(EXIT_REASON.INIT_SIGNAL);
  });
});

describe(`${ed}: "Virtualizing Memory-Mapped APIC Accesses"`, () => {
  const access = { proc2: SECONDARY.VIRTUALIZE_APIC_ACCESSES, apicAccessPage: ADDR.APIC_ACCESS };
  it('without "virtualize APIC accesses" the page is ordinary memory', () => {
    expect(running({}).p.apicAccess(0x80, 4, 'read').kind).toBe('native');
    expect(running({}).p.memoryAccess(ADDR.APIC_ACCESS + 0x80, 4, 'read').kind).toBe('native');
  });

  it('memoryAccess: only physical addresses inside the APIC-access page are special', () => {
    const f = running({ ...access, virtualApicPage: ADDR.VAPIC }, (g) => g.memory.write32(ADDR.VAPIC + 0x80, 0x30));
    expect(f.p.memoryAccess(ADDR.APIC_ACCESS - 4, 4, 'read').kind).toBe('native');
    expect(f.p.memoryAccess(ADDR.APIC_ACCESS + 0x1000, 4, 'read').kind).toBe('native');
    expect(f.p.memoryAccess(ADDR.APIC_ACCESS + 0x80, 4, 'read')).toMatchObject({ kind: 'read', lo: 0x30 });
    expect(exitOf(f.p.memoryAccess(ADDR.APIC_ACCESS + 0x300, 4, 'write', 0))).toEqual({ reason: 44, qualification: 0x1300 });
  });

  it('without the TPR shadow every access exits; with it only TPR accesses are virtualized (APIC-register virtualization 0)', () => {
    const f = running(access);
    expect(exitOf(f.p.apicAccess(0x80, 4, 'read'))).toEqual({ reason: EXIT_REASON.APIC_ACCESS, qualification: 0x080 });
    const g = running({ ...access, virtualApicPage: ADDR.VAPIC }, (h) => h.memory.write32(ADDR.VAPIC + 0x80, 0x7f));
    expect(g.p.apicAccess(0x80, 4, 'read')).toMatchObject({ kind: 'read', lo: 0x7f });
    expect(g.p.apicAccess(0x80, 1, 'read')).toMatchObject({ kind: 'read', lo: 0x7f });
    // SDM 3C "Virtualizing Reads from the APIC-Access Page": without APIC-register virtualization only page offset 080H itself.
    expect(exitOf(g.p.apicAccess(0x81, 1, 'read'))).toEqual({ reason: 44, qualification: 0x081 });
    const h = running({ ...access, virtualApicPage: ADDR.VAPIC });
    // SDM 3C "Determining Whether a Write Access is Virtualized": likewise for writes.
    expect(exitOf(h.p.apicAccess(0x81, 1, 'write', 0))).toEqual({ reason: 44, qualification: 0x1081 });
    // EOI and ICR writes need virtual-interrupt delivery when APIC-register virtualization is 0.
    expect(exitOf(running({ ...access, virtualApicPage: ADDR.VAPIC }).p.apicAccess(0xb0, 4, 'write', 0))).toEqual({ reason: 44, qualification: 0x10b0 });
    expect(exitOf(running({ ...access, virtualApicPage: ADDR.VAPIC }).p.apicAccess(0x20, 4, 'read'))).toEqual({ reason: 44, qualification: 0x020 });
  });

  it('qualification: page offset in bits 11:0, access type in 15:12 (read 0, write 1, fetch 2, during event delivery 3)', () => {
    const opts = { ...access, virtualApicPage: ADDR.VAPIC };
    expect(exitOf(running(opts).p.apicAccess(0x300, 4, 'write', 0x4030)).qualification).toBe(0x1300);
    expect(exitOf(running(opts).p.apicAccess(0x80, 4, 'fetch')).qualification).toBe(0x2080);
    expect(exitOf(running(opts).p.apicAccess(0x84, 4, 'read')).qualification).toBe(0x0084); // not in the low dword
    expect(exitOf(running(opts).p.apicAccess(0x80, 8, 'read')).qualification).toBe(0x0080); // wider than 32 bits
    expect(exitOf(running(opts).p.apicAccess(0x80, 4, 'guest-physical')).qualification).toBe(0xf080); // guest-physical access: type 15
    const g = running({ ...opts, fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 } });
    expect(exitOf(g.p.apicAccess(0x80, 4, 'guest-physical')).qualification).toBe(0xa080); // during event delivery: type 10
    const f = running({ ...opts, fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 } });
    const o = f.p.apicAccess(0x100, 4, 'read');
    expect(exitOf(o).qualification).toBe(0x3100);
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0x8000_0030);
  });

  it('conformance (kvm-unit-tests apic_reg_virt_test): each access under each valid setting of TPR shadow, APIC-register virtualization and VID', () => {
    // Expected outcomes written from SDM 3C "Virtualizing Reads from the APIC-Access Page", "Determining Whether a
    // Write Access is Virtualized" and "APIC-Write Emulation"; columns: virtualize APIC accesses with
    // [nothing else, TPR shadow, + APIC-register virtualization, + VID, + both].
    type Want = 'exit44' | 'exit56' | 'read' | 'continue';
    const combos: PrepareVmcsOptions[] = [
      { ...access },
      { ...access, virtualApicPage: ADDR.VAPIC },
      { ...access, virtualApicPage: ADDR.VAPIC, proc2: access.proc2 | SECONDARY.APIC_REGISTER_VIRTUALIZATION },
      { ...access, ...VID, proc2: access.proc2 | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY },
      { ...access, ...VID, proc2: access.proc2 | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY | SECONDARY.APIC_REGISTER_VIRTUALIZATION },
    ];
    const rows: [string, number, 'read' | 'write', number, Want[]][] = [
      ['read ID', 0x020, 'read', 0, ['exit44', 'exit44', 'read', 'exit44', 'read']],
      ['read TPR', 0x080, 'read', 0, ['exit44', 'read', 'read', 'read', 'read']],
      ['read PPR', 0x0a0, 'read', 0, ['exit44', 'exit44', 'exit44', 'exit44', 'exit44']],
      ['read IRR7', 0x270, 'read', 0, ['exit44', 'exit44', 'read', 'exit44', 'read']],
      ['write TPR', 0x080, 'write', 0x20, ['exit44', 'continue', 'continue', 'continue', 'continue']],
      ['write EOI', 0x0b0, 'write', 0, ['exit44', 'exit44', 'exit56', 'continue', 'continue']],
      ['write ICR low (self IPI 0x31)', 0x300, 'write', 0x0004_0031, ['exit44', 'exit44', 'exit56', 'continue', 'continue']],
      ['write ICR high', 0x310, 'write', 0x0100_0000, ['exit44', 'exit44', 'continue', 'exit44', 'continue']],
      ['write LVT timer', 0x320, 'write', 0x0001_0030, ['exit44', 'exit44', 'exit56', 'exit44', 'exit56']],
      ['write ID', 0x020, 'write', 0, ['exit44', 'exit44', 'exit56', 'exit44', 'exit56']],
    ];
    for (const [what, offset, kind, value, wants] of rows) {
      combos.forEach((opts, i) => {
        const o = running(opts).p.apicAccess(offset, 4, kind, value);
        const got = o.kind === 'exit' ? `exit${o.exit.basicReason}` : o.kind;
        expect(got, `${what}, column ${i}`).toBe(wants[i]);
      });
    }
  });

  it('a virtualized TPR write clears VTPR bytes 3:1 and runs TPR virtualization', () => {
    const f = running({ ...access, virtualApicPage: ADDR.VAPIC, fields: { TPR_THRESHOLD: 2 } }, (g) => g.memory.write32(ADDR.VAPIC + 0x80, 0xffff_ff00));
    expect(f.p.apicAccess(0x80, 1, 'write', 0x30).kind).toBe('continue');
    expect(vtpr(f)).toBe(0x30);
    expect(exitOf(f.p.apicAccess(0x80, 4, 'write', 0x10)).reason).toBe(EXIT_REASON.TPR_BELOW_THRESHOLD);
  });

  it('conformance: APIC-register virtualization reads (SDM 3C "Virtualizing Reads from the APIC-Access Page")', () => {
    const opts = { ...access, virtualApicPage: ADDR.VAPIC, proc2: access.proc2 | SECONDARY.APIC_REGISTER_VIRTUALIZATION };
    const virtualized = [0x20, 0x30, 0x80, 0xb0, 0xd0, 0xe0, 0xf0, 0x100, 0x170, 0x180, 0x1f0, 0x200, 0x270, 0x280, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x3e0];
    const exiting = [0x00, 0x90, 0xa0, 0xc0, 0x2f0, 0x390, 0x3f0, 0x400, 0xff0];
    const f = running(opts, (g) => {
      for (const off of [...virtualized, ...exiting]) g.memory.write32(ADDR.VAPIC + off, 0xabc0_0000 + off);
    });
    for (const off of virtualized) expect(f.p.apicAccess(off, 4, 'read'), off.toString(16)).toMatchObject({ kind: 'read', lo: 0xabc0_0000 + off });
    for (const off of exiting) {
      const g = running(opts);
      expect(exitOf(g.p.apicAccess(off, 4, 'read')), off.toString(16)).toEqual({ reason: 44, qualification: off });
    }
  });

  it('conformance: APIC-register virtualization writes, APIC-write emulation and APIC-write exits (56, trap-like)', () => {
    const opts = { ...access, virtualApicPage: ADDR.VAPIC, proc2: access.proc2 | SECONDARY.APIC_REGISTER_VIRTUALIZATION };
    // register, value written, exit reason or 0, value read back from the virtual-APIC page
    const rows: [number, number, number, number][] = [
      [0x320, 0x0001_00ef, EXIT_REASON.APIC_WRITE, 0x0001_00ef],
      [0x380, 1000, 56, 1000],
      [0x0d0, 0x0100_0000, 56, 0x0100_0000],
      [0x0b0, 0, 56, 0], // EOI without VID: APIC-write exit
      [0x300, 0x0004_0031, 56, 0x0004_0031], // ICR without VID
      [0x310, 0x0312_3456, 0, 0x0300_0000], // ICR high: bytes 2:0 cleared, no exit
      [0x030, 1, 44, 0], // version: read-only, APIC-access exit
      [0x3f0, 0x31, 44, 0], // SELF IPI does not exist in xAPIC mode
    ];
    for (const [off, value, reason, readBack] of rows) {
      const f = running(opts);
      const o = f.p.apicAccess(off, 4, 'write', value);
      if (reason === 0) expect(o.kind, off.toString(16)).toBe('continue');
      else expect(exitOf(o), off.toString(16)).toEqual({ reason, qualification: reason === 44 ? 0x1000 | off : off });
      expect(f.memory.read32(ADDR.VAPIC + off), off.toString(16)).toBe(readBack);
    }
  });

  it('with VID, EOI and self-IPI writes are virtualized (also without APIC-register virtualization)', () => {
    const opts = { ...access, ...VID, proc2: access.proc2 | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY };
    const f = running(opts);
    // Self-IPI through the ICR: shorthand self, fixed, edge.
    expect(f.p.apicAccess(0x300, 4, 'write', 0x0004_0061).kind).toBe('continue');
    expect(f.p.vapic.rvi).toBe(0x61);
    expect(f.p.vapic.testVirr(0x61)).toBe(true);
    expect(f.p.instructionBoundary(true)).toMatchObject({ kind: 'deliver', event: { vector: 0x61, virtual: true } });
    expect(f.p.vapic.svi).toBe(0x61);
    expect(f.p.apicAccess(0xb0, 4, 'write', 0x55).kind).toBe('continue');
    expect(f.memory.read32(ADDR.VAPIC + 0xb0)).toBe(0); // VEOI cleared by APIC-write emulation
    expect(f.p.vapic.svi).toBe(0);
    expect(f.p.vapic.testVisr(0x61)).toBe(false);
    // A physical-destination ICR write is not a self-IPI: APIC-write exit.
    expect(exitOf(f.p.apicAccess(0x300, 4, 'write', 0x0000_4061))).toEqual({ reason: 56, qualification: 0x300 });
    expect(exitOf(running(opts).p.apicAccess(0xd0, 4, 'write', 0))).toEqual({ reason: 44, qualification: 0x10d0 });
    // Only accesses starting at 0B0H / 300H themselves (APIC-register virtualization 0).
    expect(exitOf(running(opts).p.apicAccess(0xb2, 2, 'write', 0))).toEqual({ reason: 44, qualification: 0x10b2 });
    expect(exitOf(running(opts).p.apicAccess(0x301, 1, 'write', 0x40))).toEqual({ reason: 44, qualification: 0x1301 });
  });

  it('an APIC access while delivering a virtual interrupt exits with access type 3 and the interrupt as IDT-vectoring information', () => {
    const f = running({ ...access, ...VID, proc2: access.proc2 | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY });
    f.p.apicAccess(0x300, 4, 'write', 0x0004_0061);
    expect(f.p.instructionBoundary(true).kind).toBe('deliver');
    expect(exitOf(f.p.apicAccess(0x20, 4, 'read'))).toEqual({ reason: 44, qualification: 0x3020 });
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0x8000_0061);
    expect(f.p.vmread32(F.GUEST_INTR_STATUS)).toBe(0x6100); // SVI = 0x61, RVI = 0
  });

  it('self-IPI qualification (SDM 3C "APIC-Write Emulation", offset 300H)', () => {
    expect(isVirtualizableSelfIpi(0x0004_0031)).toBe(true);
    expect(isVirtualizableSelfIpi(0x0004_0831)).toBe(true); // destination mode ignored
    expect(isVirtualizableSelfIpi(0x0004_000f)).toBe(false); // vector bits 7:4 zero
    expect(isVirtualizableSelfIpi(0x0004_8031)).toBe(false); // level
    expect(isVirtualizableSelfIpi(0x0004_0431)).toBe(false); // NMI delivery mode
    expect(isVirtualizableSelfIpi(0x000c_0031)).toBe(false); // all excluding self
    expect(isVirtualizableSelfIpi(0x0004_1031)).toBe(false); // delivery status
    expect(isVirtualizableSelfIpi(0x0014_0031)).toBe(false); // reserved bit 20
  });
});

describe(`${ed}: "EOI Virtualization" with the EOI-exit bitmap`, () => {
  it('EOI-induced exit (45) with the vector as qualification when its EOI_EXIT bit is set', () => {
    const f = running({ ...apicvOptions(), fields: { EOI_EXIT_BITMAP1: 1n << (0x79n - 64n) } }, (g) => {
      g.memory.write32(ADDR.VAPIC + 0x100 + 0x30, 1 << (0x79 & 31)); // VISR bit 0x79
      g.p.vmwrite(F.GUEST_INTR_STATUS, 0x7900);
    });
    expect(exitOf(f.p.wrmsr(0x80b, 0))).toEqual({ reason: EXIT_REASON.EOI_INDUCED, qualification: 0x79 });
    expect(f.p.vmread32(F.GUEST_INTR_STATUS)).toBe(0);
    expect(f.memory.read32(ADDR.VAPIC + 0x130)).toBe(0);
  });

  it('EOI of a vector not in the bitmap does not exit (vmx_eoi_bitmap_ioapic_scan_test: 0x79 must not exit)', () => {
    const f = running({ ...apicvOptions(), fields: { EOI_EXIT_BITMAP1: 1n << (0x78n - 64n) } }, (g) => {
      g.memory.write32(ADDR.VAPIC + 0x130, 1 << 25);
      g.p.vmwrite(F.GUEST_INTR_STATUS, 0x7900);
    });
    expect(f.p.wrmsr(0x80b, 0).kind).toBe('continue');
  });

  it('EOI_EXIT0..3 cover 64 vectors each', () => {
    for (const v of [0, 63, 64, 100, 191, 255]) {
      const f = preparedFixture(apicvOptions());
      f.p.vmwrite(F.EOI_EXIT_BITMAP0 + 2 * (v >>> 6), 1n << BigInt(v & 63));
      launch(f);
      expect(f.p.vapic.eoiExits(v)).toBe(true);
      expect(f.p.vapic.eoiExits(v ^ 1)).toBe(false);
    }
  });
});

describe(`${ed}: "Virtualizing MSR-Based APIC Accesses" and the MSR bitmaps`, () => {
  function x2apic(setup?: (f: Fixture) => void, extra: PrepareVmcsOptions = {}): Fixture {
    return running({ ...apicvOptions(extra) }, (f) => {
      // KVM-like: intercept x2APIC writes except TPR, EOI and SELF IPI; reads pass.
      for (let msr = 0x800; msr <= 0x8ff; msr++) setMsrIntercept(f.memory, ADDR.MSR_BITMAP, msr, { write: ![0x808, 0x80b, 0x83f].includes(msr) });
      setup?.(f);
    });
  }

  it('conformance (kvm-unit-tests virt_x2apic_mode_test): x2APIC MSR accesses under each setting of virtualize x2APIC mode, APIC-register virtualization and VID', () => {
    // Expected outcomes written from SDM 3C "Virtualizing MSR-Based APIC Accesses", MSR bitmaps all zero; columns:
    // [TPR shadow only, + virtualize x2APIC mode, + APIC-register virtualization, + VID, + both].
    const X2 = SECONDARY.VIRTUALIZE_X2APIC_MODE;
    const base = { virtualApicPage: ADDR.VAPIC, msrBitmap: ADDR.MSR_BITMAP };
    const combos: PrepareVmcsOptions[] = [
      { ...base },
      { ...base, proc2: X2 },
      { ...base, proc2: X2 | SECONDARY.APIC_REGISTER_VIRTUALIZATION },
      { ...base, pin: PIN_BASED.EXT_INTR_EXITING, proc2: X2 | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY },
      { ...base, pin: PIN_BASED.EXT_INTR_EXITING, proc2: X2 | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY | SECONDARY.APIC_REGISTER_VIRTUALIZATION },
    ];
    const rows: [string, number, number | null, string[]][] = [
      ['RDMSR TPR', 0x808, null, ['native', 'read', 'read', 'read', 'read']],
      ['RDMSR ID', 0x802, null, ['native', 'native', 'read', 'native', 'read']],
      ['RDMSR ICR', 0x830, null, ['native', 'native', 'read', 'native', 'read']],
      ['WRMSR TPR', 0x808, 0x20, ['native', 'continue', 'continue', 'continue', 'continue']],
      ['WRMSR EOI', 0x80b, 0, ['native', 'native', 'native', 'continue', 'continue']],
      ['WRMSR SELF IPI', 0x83f, 0x31, ['native', 'native', 'native', 'continue', 'continue']],
      ['WRMSR ICR', 0x830, 0x4_0031, ['native', 'native', 'native', 'native', 'native']],
      ['WRMSR LVT timer', 0x832, 0x30, ['native', 'native', 'native', 'native', 'native']],
    ];
    for (const [what, msr, value, wants] of rows) {
      combos.forEach((opts, i) => {
        const p = running(opts).p;
        const o = value === null ? p.rdmsr(msr) : p.wrmsr(msr, value);
        expect(o.kind, `${what}, column ${i}`).toBe(wants[i]);
      });
    }
    // With the intercept bit set every column exits, before any virtualization.
    combos.forEach((opts, i) => {
      const p = running(opts, (f) => setMsrIntercept(f.memory, ADDR.MSR_BITMAP, 0x808, { read: true, write: true })).p;
      expect(exitOf(p.rdmsr(0x808)).reason, `column ${i}`).toBe(EXIT_REASON.MSR_READ);
    });
  });

  it('the MSR bitmaps decide RDMSR (31) and WRMSR (32) exits; MSRs outside the bitmap ranges always exit', () => {
    const f = x2apic();
    expect(exitOf(f.p.wrmsr(0x830, 0x30n))).toEqual({ reason: EXIT_REASON.MSR_WRITE, qualification: 0 });
    f.p.vmresume();
    expect(exitOf(f.p.rdmsr(0x4000_0000)).reason).toBe(EXIT_REASON.MSR_READ);
    f.p.vmresume();
    expect(f.p.msrAccessExits(0xc000_0080, false)).toBe(false);
    setMsrIntercept(f.memory, ADDR.MSR_BITMAP, 0xc000_0080, { read: true });
    expect(f.p.msrAccessExits(0xc000_0080, false)).toBe(true);
    expect(f.p.msrAccessExits(0xc000_0080, true)).toBe(false);
    expect(msrBitmapExits(f.memory, ADDR.MSR_BITMAP, 0xc000_2000, false)).toBe(true);
    // without "use MSR bitmaps" every RDMSR/WRMSR exits
    expect(exitOf(running({}).p.rdmsr(0x10)).reason).toBe(31);
  });

  it('WRMSR 80BH (x2APIC EOI) exits exactly when its write bit is set, whether the x2APIC bits were copied by an earlier access or not (SDM 3C "MSR-Bitmap Address")', () => {
    // Intercepted EOI write; the copy taken by RDMSR TPR first, then by the EOI itself.
    for (const first of [true, false]) {
      const f = x2apic((g) => setMsrIntercept(g.memory, ADDR.MSR_BITMAP, 0x80b, { write: true }));
      if (first) expect(f.p.rdmsr(0x808).kind).not.toBe('exit');
      expect(exitOf(f.p.wrmsr(0x80b, 0))).toEqual({ reason: EXIT_REASON.MSR_WRITE, qualification: 0 });
    }
    // Its neighbours' write bits and its own read bit set, its write bit clear: the EOI is virtualized.
    const f = x2apic((g) => {
      setMsrIntercept(g.memory, ADDR.MSR_BITMAP, 0x80a, { write: true });
      setMsrIntercept(g.memory, ADDR.MSR_BITMAP, 0x80c, { write: true });
      setMsrIntercept(g.memory, ADDR.MSR_BITMAP, 0x80b, { read: true });
    });
    expect(f.p.rdmsr(0x808).kind).not.toBe('exit');
    expect(f.p.wrmsr(0x80b, 0).kind).toBe('continue');
    expect(exitOf(f.p.rdmsr(0x80b)).reason).toBe(EXIT_REASON.MSR_READ);
  });

  it('MSR-bitmap changes made outside VMX non-root operation take effect at the next VM entry (SDM 3C "Software Access to Related Structures")', () => {
    const f = x2apic();
    expect(f.p.msrAccessExits(0x80b, true)).toBe(false);
    f.p.reportExit(EXIT_REASON.VMCALL);
    setMsrIntercept(f.memory, ADDR.MSR_BITMAP, 0x80b, { write: true });
    setMsrIntercept(f.memory, ADDR.MSR_BITMAP, 0x8ff, { read: true });
    f.p.vmresume();
    expect(exitOf(f.p.wrmsr(0x80b, 0))).toEqual({ reason: EXIT_REASON.MSR_WRITE, qualification: 0 });
    f.p.vmresume();
    expect(f.p.msrAccessExits(0x8ff, false)).toBe(true);
    expect(f.p.msrAccessExits(0x8ff, true)).toBe(true); // intercepted in the fixture
    expect(f.p.msrAccessExits(0x808, true)).toBe(false);
  });

  it('RDMSR with APIC-register virtualization reads 8 bytes from offset (ECX & FFH) << 4 of the virtual-APIC page', () => {
    const f = x2apic((g) => {
      g.memory.write32(ADDR.VAPIC + 0x20, 0x0500_0000);
      g.memory.write32(ADDR.VAPIC + 0x300, 0x0004_0031);
      g.memory.write32(ADDR.VAPIC + 0x304, 0x1111);
      g.memory.write32(ADDR.VAPIC + 0x310, 0x0300_0000);
    });
    expect(f.p.rdmsr(0x802)).toMatchObject({ kind: 'read', lo: 0x0500_0000, hi: 0 });
    expect(f.p.rdmsr(0x830)).toMatchObject({ kind: 'read', lo: 0x0004_0031, hi: 0x1111 });
    expect(f.p.rdmsr(0x10).kind).toBe('native'); // not an x2APIC MSR: performed normally
  });

  it('without APIC-register virtualization only RDMSR 808H (TPR) is virtualized', () => {
    const f = running({ ...VID, proc2: SECONDARY.VIRTUAL_INTERRUPT_DELIVERY | SECONDARY.VIRTUALIZE_X2APIC_MODE, msrBitmap: ADDR.MSR_BITMAP }, (g) => g.memory.write32(ADDR.VAPIC + 0x80, 0x20));
    expect(f.p.rdmsr(0x808)).toMatchObject({ kind: 'read', lo: 0x20 });
    expect(f.p.rdmsr(0x802).kind).toBe('native');
  });

  it('WRMSR 808H/80BH/83FH are virtualized with their #GP rules (SDM 3C "Virtualizing MSR-Based APIC Accesses")', () => {
    const f = x2apic();
    expect(() => f.p.wrmsr(0x808, 0x100)).toThrow(/#GP/);
    expect(() => f.p.wrmsr(0x808, 1n << 32n)).toThrow(/#GP/);
    expect(() => f.p.wrmsr(0x80b, 1)).toThrow(/#GP/);
    expect(() => f.p.wrmsr(0x83f, 0x100)).toThrow(/#GP/);
    // The messages name the MSR from lapic's X2APIC table (0x800 + offset / 16), not from numbers written here.
    expect(() => f.p.wrmsr(X2APIC.TPR, 0x100)).toThrow('WRMSR 0x808 with bits 63:8 set (0x0_100)');
    expect(() => f.p.wrmsr(X2APIC.EOI, 1)).toThrow('WRMSR 0x80b with a non-zero value (0x0_1)');
    expect(() => f.p.wrmsr(X2APIC.SELF_IPI, 0x100)).toThrow('WRMSR 0x83f with bits 63:8 set (0x0_100)');
    expect(f.p.wrmsr(0x808, 0x50).kind).toBe('continue');
    expect(vtpr(f)).toBe(0x50);
    expect(vppr(f)).toBe(0x50);
    expect(f.p.wrmsr(0x83f, 0x61).kind).toBe('continue'); // self IPI above the VTPR class: recognized
    expect(f.p.vapic.rvi).toBe(0x61);
    expect(f.p.vapic.recognized).toBe(true);
    expect(f.p.wrmsr(0x83f, 0x41).kind).toBe('continue');
    expect(f.p.vapic.rvi).toBe(0x61);
    expect(f.p.vapic.testVirr(0x41)).toBe(true);
    // Raising the TPR above RVI's class: evaluation no longer recognizes it.
    f.p.wrmsr(0x808, 0x70);
    expect(f.p.vapic.recognized).toBe(false);
    expect(f.p.instructionBoundary(true).kind).toBe('continue');
    // A self IPI with a vector below 16 is an APIC-write exit for offset 3F0H.
    expect(exitOf(f.p.wrmsr(0x83f, 0x0f))).toEqual({ reason: EXIT_REASON.APIC_WRITE, qualification: 0x3f0 });
    expect(f.memory.read32(ADDR.VAPIC + 0x3f0)).toBe(0x0f);
  });

  it('without virtualize x2APIC mode, x2APIC MSR accesses that do not exit go to the real MSRs', () => {
    const f = running({ ...VID, proc2: SECONDARY.VIRTUAL_INTERRUPT_DELIVERY | SECONDARY.VIRTUALIZE_APIC_ACCESSES, apicAccessPage: ADDR.APIC_ACCESS, msrBitmap: ADDR.MSR_BITMAP });
    expect(f.p.wrmsr(0x808, 0x10).kind).toBe('native');
    expect(f.p.rdmsr(0x808).kind).toBe('native');
  });
});

describe(`${ed}: APIC passthrough (vmx_apic_passthrough_test, vmx_apic_passthrough_tpr_threshold_test)`, () => {
  it('without external-interrupt exiting and with x2APIC MSRs passed through, the guest owns the local APIC: interrupts go through its IDT and x2APIC MSR accesses are native', () => {
    const f = running({ msrBitmap: ADDR.MSR_BITMAP });
    expect(f.p.instructionBoundary(true, false, 0x31)).toMatchObject({ kind: 'deliver', event: { vector: 0x31, acknowledge: true, virtual: false } });
    f.p.instructionBoundary(true);
    expect(f.p.wrmsr(0x80b, 0).kind).toBe('native'); // the EOI reaches the real local APIC (and the IOAPIC)
    expect(f.p.wrmsr(0x808, 0).kind).toBe('native'); // lowering the TPR with IRQs off: no exit, no threshold
    expect(f.p.rdmsr(0x808).kind).toBe('native');
    expect(f.p.instructionBoundary(false, false, 0x32).kind).toBe('continue'); // IF=0: the interrupt waits
  });
});
