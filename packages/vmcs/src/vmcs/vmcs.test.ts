import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysicalMemory, UsageError } from '@hvsim/core';
import { FIELD_WIDTH, encodingWidth, isReadOnlyEncoding } from '../fields/encoding.js';
import { VMCS_FIELD, VMCS_FIELD_SPECS } from '../fields/field-table.js';
import { launch, preparedFixture, rootFixture } from '../internal/test-setup.js';
import { EXIT_REASON } from '../vmx/exit-reasons.js';
import { CHECK_ALL } from './check-dependencies.js';
import { CHECK_CONTROLS, CHECK_GUEST, CHECK_HOST, Vmcs } from './vmcs.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);
const MASK = [0xffffn, 0xffff_ffff_ffff_ffffn, 0xffff_ffffn, 0xffff_ffff_ffff_ffffn];

describe('VMCS field storage (SDM 3C "VMREAD, VMWRITE, and Encodings of VMCS Fields")', () => {
  it('property: VMWRITE then VMREAD returns the value truncated to the field width, for every writable field', () => {
    const { p } = rootFixture({ vmwriteAnyField: true });
    const writable = VMCS_FIELD_SPECS.filter((f) => p.supportsField(f.encoding));
    fc.assert(
      fc.property(fc.constantFrom(...writable), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (field, value) => {
        expect(p.vmwrite(field.encoding, value).kind).toBe('succeed');
        const r = p.vmread(field.encoding);
        expect(r).toEqual({ kind: 'value', value: value & MASK[encodingWidth(field.encoding)]! });
        if (encodingWidth(field.encoding) === FIELD_WIDTH.BITS64) {
          expect(p.vmread(field.encoding | 1)).toEqual({ kind: 'value', value: (value >> 32n) & 0xffff_ffffn });
        }
      }),
      { seed, numRuns },
    );
  });

  it('property: a VMCS survives VMCLEAR + VMPTRLD through its memory region bit for bit', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...VMCS_FIELD_SPECS), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), { maxLength: 30 }), (writes) => {
        const memory = new PhysicalMemory();
        memory.addRegion(0, 0x2000);
        const a = new Vmcs(0x1000);
        a.launchState = 'launched';
        for (const [f, v] of writes) a.write(f.encoding, v);
        a.flushTo(memory);
        const b = Vmcs.loadFrom(memory, 0x1000);
        // Compared as JSON text (exact, and cheap enough for every run); a difference is shown field by field.
        const [sa, sb] = [JSON.stringify(a.saveState()), JSON.stringify(b.saveState())];
        if (sa !== sb) expect(b.saveState()).toEqual(a.saveState());
        expect(sb).toBe(sa);
      }),
      { seed, numRuns },
    );
  });

  it('the region format fits in 4 KiB and read-only fields are exactly the type-1 encodings', () => {
    expect(16 + VMCS_FIELD_SPECS.length * 8).toBeLessThanOrEqual(4096);
    const ro = VMCS_FIELD_SPECS.filter((f) => isReadOnlyEncoding(f.encoding)).map((f) => f.name);
    expect(ro).toEqual([
      'GUEST_PHYSICAL_ADDRESS',
      'VM_INSTRUCTION_ERROR',
      'VM_EXIT_REASON',
      'VM_EXIT_INTR_INFO',
      'VM_EXIT_INTR_ERROR_CODE',
      'IDT_VECTORING_INFO_FIELD',
      'IDT_VECTORING_ERROR_CODE',
      'VM_EXIT_INSTRUCTION_LEN',
      'VMX_INSTRUCTION_INFO',
      'EXIT_QUALIFICATION',
      'IO_RCX',
      'IO_RSI',
      'IO_RDI',
      'IO_RIP',
      'GUEST_LINEAR_ADDRESS',
    ]);
  });

  it('names the bad encoding in its error', () => {
    const v = new Vmcs(0);
    expect(() => v.read(0x4001)).toThrow(UsageError);
    expect(() => v.read(0x4001)).toThrow('0x4001 is not a VMCS field encoding (SDM 3C Appendix B)');
    // A non-integer is no encoding at all (it must not round onto a field).
    expect(() => v.read(0x4000 + 0.5)).toThrow('16384.5 is not a VMCS field encoding');
    expect(() => v.read32(-0x4000)).toThrow('-16384 is not a VMCS field encoding');
    v.set('GUEST_RIP', 0x1234n);
    expect(v.get('GUEST_RIP')).toBe(0x1234n);
    v.set('GUEST_INTR_STATUS', 0x3141);
    expect(v.nonZeroFields()).toEqual([['GUEST_INTR_STATUS', 0x3141n], ['GUEST_RIP', 0x1234n]]);
    expect(v.readNumber(0x681e)).toBe(0x1234);
    expect(v.read32(0x681e)).toBe(0x1234);
  });

  it('property: a number write (the no-BigInt path) stores what the same value as a bigint stores, for every field and any safe integer', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VMCS_FIELD_SPECS), fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.constantFrom(-1, 2 ** 53 - 1, -(2 ** 53) + 1, 0x1_0000_0000, 0xffff_ffff)), (f, value) => {
        const a = new Vmcs(0);
        const b = new Vmcs(0);
        a.write(f.encoding, value);
        b.write(f.encoding, BigInt(value));
        expect(a.read(f.encoding)).toBe(b.read(f.encoding));
        expect(a.read(f.encoding)).toBe(BigInt.asUintN(64, BigInt(value)) & MASK[encodingWidth(f.encoding)]!);
      }),
      { seed, numRuns },
    );
    // Not an integer: refused as before (BigInt semantics), not rounded.
    expect(() => new Vmcs(0).set('GUEST_RIP', 1.5)).toThrow(RangeError);
  });

  it('a write that leaves a field unchanged keeps the VM-entry check groups that passed; a change clears the groups that read it', () => {
    const v = new Vmcs(0);
    v.set('GUEST_CR0', 0x8000_0031);
    v.set('HOST_CR0', 0x8000_0031);
    v.checked = CHECK_ALL;
    const epoch = v.controlEpoch;
    v.set('GUEST_CR0', 0x8000_0031); // same value (as every exit's guest-state save mostly is)
    v.set('HOST_CR0', 0x8000_0031n);
    v.write(VMCS_FIELD.GUEST_CR0 | 0, 0x8000_0031);
    expect(v.checked).toBe(CHECK_ALL);
    expect(v.controlEpoch).toBe(epoch);
    // 16-bit field: bits above 15 are truncated first, so writing 0x1_0002 over 2 changes nothing.
    v.set('HOST_CS_SELECTOR', 2);
    v.checked = CHECK_ALL;
    v.set('HOST_CS_SELECTOR', 0x1_0002);
    expect(v.checked).toBe(CHECK_ALL);
    v.set('HOST_CS_SELECTOR', 8);
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_GUEST);
    // GUEST_CR0 is read by the guest-state checks (SDM 3C 27.3.1.1); the injection checks that read it (27.2.1.3) run at every injecting entry.
    v.checked = CHECK_ALL;
    v.set('GUEST_CR0', 0x8000_0033);
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_HOST);
    expect(v.controlEpoch).toBe(epoch);
    // The _HIGH alias writes bits 63:32 only; an unchanged high half is no change.
    v.set('HOST_IA32_EFER', 0x5_0000_0d01);
    v.checked = CHECK_ALL;
    v.write(VMCS_FIELD.HOST_IA32_EFER | 1, 5);
    expect(v.checked).toBe(CHECK_ALL);
    v.write(VMCS_FIELD.HOST_IA32_EFER | 1, 0);
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_GUEST);
    expect(v.get('HOST_IA32_EFER')).toBe(0xd01n);
  });

  it('the event to inject clears no check group and is not a control VM entry reloads (controlEpoch stays); a real control change moves it', () => {
    const v = new Vmcs(0);
    v.checked = CHECK_ALL;
    const epoch = v.controlEpoch;
    // Its checks (SDM 3C 27.2.1.3, 27.3.1.4-5) run at every entry that injects, outside the cached groups.
    v.set('VM_ENTRY_INTR_INFO_FIELD', 0x8000_0030);
    v.set('VM_ENTRY_EXCEPTION_ERROR_CODE', 4);
    v.set('VM_ENTRY_INSTRUCTION_LEN', 2);
    expect(v.checked).toBe(CHECK_ALL);
    expect(v.controlEpoch).toBe(epoch);
    v.set('PIN_BASED_VM_EXEC_CONTROL', 1);
    expect(v.controlEpoch).toBe(epoch + 1);
    v.set('POSTED_INTR_NV', 0xf2);
    expect(v.controlEpoch).toBe(epoch + 2);
  });

  it('after an entry that injected an event, a bad event to inject still fails the next entry, and a good one is injected (SDM 3C 27.2.1.3)', () => {
    const f = preparedFixture({});
    launch(f);
    f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
    // An external interrupt to a guest with RFLAGS.IF = 0 fails the guest-state checks (SDM 3C 27.3.1.4): exit 33 with bit 31.
    f.p.vmwrite(VMCS_FIELD.GUEST_RFLAGS, 0x2);
    expect(f.p.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0030).kind).toBe('succeed');
    const blocked = f.p.vmresume();
    expect(blocked.kind === 'exit' && blocked.exit.reason).toBe((EXIT_REASON.INVALID_GUEST_STATE | 0x8000_0000) >>> 0);
    expect(f.p.lastEntryCheck).toMatch(/RFLAGS.IF must be 1/);
    // With IF = 1 the same event is entered and injected.
    f.p.vmwrite(VMCS_FIELD.GUEST_RFLAGS, 0x202);
    expect(f.p.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0030).kind).toBe('succeed');
    const first = f.p.vmresume();
    expect(first.kind === 'entered' && first.inject?.vector).toBe(0x30);
    f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
    // Type 1 is reserved: VM-instruction error 7, exactly as on a first entry.
    expect(f.p.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0130).kind).toBe('succeed');
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 7 });
    expect(f.p.lastEntryCheck).toBe('injected event type 1 is reserved');
    expect(f.p.vmwrite(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0031).kind).toBe('succeed');
    const again = f.p.vmresume();
    expect(again.kind === 'entered' && again.inject?.vector).toBe(0x31);
  });
});
