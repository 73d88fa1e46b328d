// One place that produces every basic exit reason and every VM-instruction
// error this package can produce by itself (SDM 3C Appendix C "VMX Basic Exit
// Reasons"; "VM Instruction Error Numbers"), and checks the trace events.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RecordingTracer, PhysicalMemory, Clock } from '@hvsim/core';
import { VMCS_FIELD } from '../fields/field-table.js';
import { ADDR, apicvOptions, launch, preparedFixture, rootFixture, type Fixture } from '../internal/test-setup.js';
import { CPU_BASED, PIN_BASED, SECONDARY, VM_EXIT } from './controls.js';
import { EXIT_REASON as R } from './exit-reasons.js';
import { VM_INSTRUCTION_ERROR as E } from './instruction-errors.js';
import type { PrepareVmcsOptions } from './prepare-vmcs.js';
import { prepareVmcs } from './prepare-vmcs.js';
import { EXITING_INSTRUCTIONS, type ExitingInstruction } from './instruction-exits.js';
import { VmxProcessor } from './processor.js';

const F = VMCS_FIELD;

function run(options: PrepareVmcsOptions = {}): Fixture {
  const f = preparedFixture(options);
  launch(f);
  return f;
}

/** An instruction the CPU model asks `instructionExits` about, then reports (SDM 3C "Instructions That Cause VM Exits Conditionally"). */
function instructionExit(instruction: ExitingInstruction): [number, () => Fixture] {
  const row = EXITING_INSTRUCTIONS[instruction];
  return [
    row.reason,
    () => {
      const f = row.word === 'proc' ? run({ proc: row.bit }) : run({ proc2: row.bit });
      if (f.p.instructionExits(instruction)) f.p.reportExit(row.reason, { instructionLength: 2 });
      return f;
    },
  ];
}

const EXITS: [number, () => Fixture][] = [
  ...(['invlpg', 'invpcid', 'mwait', 'rdpmc', 'rdtsc', 'rdtscp', 'monitor', 'pause', 'wbinvd', 'rdrand', 'rdseed', 'descriptor-table'] as const).map(instructionExit),
  [R.EXCEPTION_NMI, () => { const f = run({ fields: { EXCEPTION_BITMAP: 1 << 13 } }); f.p.exception(13, { errorCode: 0 }); return f; }],
  [R.EXTERNAL_INTERRUPT, () => { const f = run({ pin: PIN_BASED.EXT_INTR_EXITING }); f.p.externalInterrupt(0x20, true); return f; }],
  [R.TRIPLE_FAULT, () => { const f = run({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0b08, VM_ENTRY_EXCEPTION_ERROR_CODE: 0 } }); f.p.exception(13, { errorCode: 0 }); return f; }],
  [R.MONITOR_TRAP_FLAG, () => { const f = run({ proc: CPU_BASED.MONITOR_TRAP_FLAG }); f.p.instructionBoundary(true); f.p.instructionBoundary(true); return f; }],
  [R.INIT_SIGNAL, () => { const f = run(); f.p.init(); return f; }],
  [R.SIPI, () => { const f = run({ fields: { GUEST_ACTIVITY_STATE: 3 } }); f.p.sipi(0x10); return f; }],
  [R.INTERRUPT_WINDOW, () => { const f = run({ proc: CPU_BASED.INTR_WINDOW_EXITING }); f.p.instructionBoundary(true); return f; }],
  [R.NMI_WINDOW, () => { const f = run({ pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS, proc: CPU_BASED.NMI_WINDOW_EXITING }); f.p.instructionBoundary(true); return f; }],
  [R.HLT, () => { const f = run({ proc: CPU_BASED.HLT_EXITING }); f.p.hlt(); return f; }],
  [R.VMCLEAR, () => { const f = run(); f.p.vmclear(ADDR.VMCS); return f; }],
  [R.VMLAUNCH, () => { const f = run(); f.p.vmlaunch(); return f; }],
  [R.VMPTRLD, () => { const f = run(); f.p.vmptrld(ADDR.VMCS); return f; }],
  [R.VMPTRST, () => { const f = run(); f.p.vmptrst(ADDR.SCRATCH); return f; }],
  [R.VMREAD, () => { const f = run(); f.p.vmread(F.GUEST_RIP); return f; }],
  [R.VMRESUME, () => { const f = run(); f.p.vmresume(); return f; }],
  [R.VMWRITE, () => { const f = run(); f.p.vmwrite(F.GUEST_RIP, 0); return f; }],
  [R.VMXOFF, () => { const f = run(); f.p.vmxoff(); return f; }],
  [R.VMXON, () => { const f = run(); f.p.vmxon(ADDR.VMXON); return f; }],
  [R.CR_ACCESS, () => { const f = run({ proc: CPU_BASED.CR8_LOAD_EXITING }); f.p.movToCr8(0); return f; }],
  [R.MSR_READ, () => { const f = run(); f.p.rdmsr(0x10); return f; }],
  [R.MSR_WRITE, () => { const f = run(); f.p.wrmsr(0x10, 0); return f; }],
  [R.INVALID_GUEST_STATE, () => { const f = preparedFixture({ fields: { GUEST_RFLAGS: 0 } }); f.p.vmlaunch(); return f; }],
  [R.MSR_LOADING, () => { const f = preparedFixture({ fields: { VM_ENTRY_MSR_LOAD_COUNT: 1, VM_ENTRY_MSR_LOAD_ADDR: ADDR.SCRATCH } }); f.p.vmlaunch(); return f; }],
  [R.TPR_BELOW_THRESHOLD, () => { const f = preparedFixture({ virtualApicPage: ADDR.VAPIC, fields: { TPR_THRESHOLD: 2 } }); f.memory.write32(ADDR.VAPIC + 0x80, 0x20); launch(f); f.p.movToCr8(1); return f; }],
  [R.APIC_ACCESS, () => { const f = run({ proc2: SECONDARY.VIRTUALIZE_APIC_ACCESSES, apicAccessPage: ADDR.APIC_ACCESS }); f.p.apicAccess(0x20, 4, 'read'); return f; }],
  [R.EOI_INDUCED, () => { const f = run({ ...apicvOptions(), fields: { EOI_EXIT_BITMAP0: 1n } }); f.p.wrmsr(0x80b, 0); return f; }],
  [R.PREEMPTION_TIMER, () => { const f = run({ pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER }); f.p.instructionBoundary(true); return f; }],
  [R.APIC_WRITE, () => { const f = run({ ...apicvOptions() }); f.p.wrmsr(0x83f, 3); return f; }],
];

/** The names after `prefix.` that the package's non-test sources use (what it can produce by itself). */
function namesUsedInSources(prefix: string): Set<string> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.bench.ts') && entry.name !== 'test-setup.ts') {
        for (const m of readFileSync(path, 'utf8').matchAll(new RegExp(`\\b${prefix}\\.([A-Z0-9_]+)`, 'g'))) names.add(m[1]!);
      }
    }
  };
  walk(root);
  return names;
}

describe('every exit reason this package produces (SDM 3C Appendix C)', () => {
  it('the scenarios below cover every exit reason the sources name', () => {
    const produced = [...namesUsedInSources('EXIT_REASON')].map((n) => R[n as keyof typeof R]).sort((a, b) => a - b);
    expect(produced.length).toBeGreaterThan(20);
    expect(EXITS.map(([r]) => r).sort((a, b) => a - b)).toEqual(produced);
  });

  for (const [reason, scenario] of EXITS) {
    it(`produces exit reason ${reason}`, () => {
      const f = scenario();
      expect(f.p.vmxOperation).toBe('root');
      expect(f.p.vmread32(F.VM_EXIT_REASON) & 0xffff).toBe(reason);
    });
  }

  it('TPR below threshold needs VTPR[7:4] < threshold', () => {
    const f = run({ virtualApicPage: ADDR.VAPIC, fields: { TPR_THRESHOLD: 0 } });
    expect(f.p.movToCr8(0).kind).toBe('continue'); // 0 < 0 is false
  });
});

const ERRORS: [number, (f: Fixture) => unknown][] = [
  [E.VMCLEAR_INVALID_ADDRESS, (f) => f.p.vmclear(1)],
  [E.VMCLEAR_VMXON_POINTER, (f) => f.p.vmclear(ADDR.VMXON)],
  [E.VMLAUNCH_NONCLEAR_VMCS, (f) => { launch(f); f.p.reportExit(R.CPUID); return f.p.vmlaunch(); }],
  [E.VMRESUME_NONLAUNCHED_VMCS, (f) => f.p.vmresume()],
  [E.VMRESUME_AFTER_VMXOFF, (f) => { launch(f); f.p.reportExit(R.CPUID); f.p.vmxoff(); f.p.vmxon(ADDR.VMXON); f.p.vmptrld(ADDR.VMCS); return f.p.vmresume(); }],
  [E.ENTRY_INVALID_CONTROL_FIELD, (f) => { f.p.vmwrite(F.PIN_BASED_VM_EXEC_CONTROL, 0); return f.p.vmlaunch(); }],
  [E.ENTRY_INVALID_HOST_STATE_FIELD, (f) => { f.p.vmwrite(F.HOST_CR0, 0); return f.p.vmlaunch(); }],
  [E.VMPTRLD_INVALID_ADDRESS, (f) => f.p.vmptrld(2 ** 50)],
  [E.VMPTRLD_VMXON_POINTER, (f) => f.p.vmptrld(ADDR.VMXON)],
  [E.VMPTRLD_INCORRECT_REVISION_ID, (f) => { f.memory.write32(ADDR.VMCS2, 99); return f.p.vmptrld(ADDR.VMCS2); }],
  [E.UNSUPPORTED_VMCS_COMPONENT, (f) => f.p.vmread(0x7fff)],
  [E.VMWRITE_READ_ONLY_COMPONENT, (f) => f.p.vmwrite(F.EXIT_QUALIFICATION, 0)],
  [E.VMXON_IN_VMX_ROOT, (f) => f.p.vmxon(ADDR.VMXON)],
  [E.ENTRY_EVENTS_BLOCKED_BY_MOV_SS, (f) => { f.p.rootMovSsBlocking = true; return f.p.vmlaunch(); }],
];

describe('every VM-instruction error this package produces (SDM 3C "VM Instruction Error Numbers")', () => {
  it('the scenarios below cover every VM-instruction error the sources name', () => {
    const produced = [...namesUsedInSources('VM_INSTRUCTION_ERROR')].map((n) => E[n as keyof typeof E]).sort((a, b) => a - b);
    expect(produced.length).toBeGreaterThan(10);
    expect(ERRORS.map(([e]) => e).sort((a, b) => a - b)).toEqual(produced);
  });

  for (const [error, scenario] of ERRORS) {
    it(`produces VMfailValid(${error})`, () => {
      const f = preparedFixture();
      expect(scenario(f)).toEqual({ kind: 'fail-valid', error });
      expect(f.p.vmread32(F.VM_INSTRUCTION_ERROR)).toBe(error);
    });
  }
});

describe('trace events (core Tracer)', () => {
  it('emits vm.entry, vm.exit with the reason name, posted and delivered interrupts and virtual EOIs', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_0000);
    const tracer = new RecordingTracer();
    const clock = new Clock();
    const p = new VmxProcessor({ memory, clock, tracer, cpu: 2 });
    memory.write32(ADDR.VMXON, 1);
    memory.write32(ADDR.VMCS, 1);
    p.vmxon(ADDR.VMXON);
    p.vmclear(ADDR.VMCS);
    p.vmptrld(ADDR.VMCS);
    prepareVmcs(p, apicvOptions({ exit: VM_EXIT.ACK_INTR_ON_EXIT }));
    p.vmlaunch();
    memory.write32(ADDR.PID + 4, 1 << (0x30 - 32)); // PIR bit 0x30
    memory.write32(ADDR.PID + 0x20, 1); // ON
    p.externalInterrupt(0xf2, true);
    p.instructionBoundary(true);
    p.wrmsr(0x80b, 0);
    p.externalInterrupt(0x21, true);
    const kinds = tracer.events().map((e) => `${e.kind}${'vector' in e ? ` ${e.vector}` : ''}${'reasonName' in e ? ` ${e.reasonName}` : ''}`);
    expect(kinds).toEqual(['vm.entry', 'interrupt.posted 242', 'interrupt.delivered 48', 'interrupt.eoi 48', 'vm.exit EXTERNAL_INTERRUPT']);
    expect(tracer.events().every((e) => e.cpu === 2 && e.source === 'vmx')).toBe(true);
  });
});

describe('a processor without APICv', () => {
  it('has no APICv fields and rejects the controls', () => {
    const f = rootFixture({ apicv: false });
    expect(f.p.supportsField(F.VIRTUAL_APIC_PAGE_ADDR)).toBe(false);
    expect(f.p.supportsField(F.GUEST_INTR_STATUS)).toBe(false);
    expect(f.p.supportsField(F.POSTED_INTR_NV)).toBe(false);
    prepareVmcs(f.p, { pin: PIN_BASED.EXT_INTR_EXITING });
    f.p.vmwrite(F.CPU_BASED_VM_EXEC_CONTROL, (f.p.capabilities.proc.allowed0 | CPU_BASED.USE_TPR_SHADOW) >>> 0);
    expect(f.p.vmlaunch()).toEqual({ kind: 'fail-valid', error: 7 });
  });
});
