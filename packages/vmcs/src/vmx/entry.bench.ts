/**
 * The exit + VMRESUME round trip (issue 11, G6a): a VM exit the CPU reports
 * (CPUID, reason 10) followed by VMRESUME of the same VMCS, as KVM's run loop
 * does for every exit it handles in the kernel. Two configurations: KVM's
 * APICv controls (TPR shadow, virtual-interrupt delivery, posted interrupts,
 * MSR bitmaps) and a plain VMCS. Variants that VMWRITE a guest register
 * (RIP, as KVM's skip_emulated_instruction does) or a control (the
 * interrupt-window bit, as KVM's enable_irq_window does) between exit and
 * entry show what re-checking costs; one injects an external interrupt at
 * every entry, as KVM's emulated interrupt-delivery mode does.
 *
 * `[ops=N]` in a bench's name tells scripts/bench.mjs to report operations
 * per second (hz x N).
 */
import { bench, describe } from 'vitest';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { VMCS_FIELD } from '../fields/field-table.js';
import { ADDR, apicvOptions, launch, preparedFixture } from '../internal/test-setup.js';
import { CPU_BASED } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';

const BATCH = 1000;
const sink = { value: 0 };
const CPUID_EXIT = { instructionLength: 2 };

describe('exit + VMRESUME round trip (target: a tenth of the issue-11 baseline)', () => {
  const apicv = preparedFixture(apicvOptions());
  launch(apicv);
  const plain = preparedFixture();
  launch(plain);
  bench(`APICv VMCS: reportExit(CPUID) + vmresume() [ops=${BATCH}]`, () => {
    const p = apicv.p;
    for (let i = 0; i < BATCH; i++) {
      p.reportExit(EXIT_REASON.CPUID, CPUID_EXIT);
      if (p.vmresume().kind !== 'entered') sink.value++;
    }
  });
  bench(`plain VMCS: reportExit(CPUID) + vmresume() [ops=${BATCH}]`, () => {
    const p = plain.p;
    for (let i = 0; i < BATCH; i++) {
      p.reportExit(EXIT_REASON.CPUID, CPUID_EXIT);
      if (p.vmresume().kind !== 'entered') sink.value++;
    }
  });
  bench(`APICv VMCS: reportExit(CPUID) + vmwrite(GUEST_RIP) + vmresume() [ops=${BATCH}]`, () => {
    const p = apicv.p;
    for (let i = 0; i < BATCH; i++) {
      p.reportExit(EXIT_REASON.CPUID, CPUID_EXIT);
      p.vmwrite32(VMCS_FIELD.GUEST_RIP, 0x10_0000 + (i & 0xff));
      if (p.vmresume().kind !== 'entered') sink.value++;
    }
  });
  // KVM's emulated mode: every interrupt is an event injected by VM entry (the exit clears the valid bit).
  const injecting = preparedFixture();
  injecting.p.vmwrite32(VMCS_FIELD.GUEST_RFLAGS, 0x202);
  launch(injecting);
  bench(`plain VMCS: reportExit(CPUID) + vmwrite(VM_ENTRY_INTR_INFO_FIELD, external interrupt) + vmresume() [ops=${BATCH}]`, () => {
    const p = injecting.p;
    for (let i = 0; i < BATCH; i++) {
      p.reportExit(EXIT_REASON.CPUID, CPUID_EXIT);
      p.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, (0x8000_0030 | (i & 0x3f)) >>> 0);
      if (p.vmresume().kind !== 'entered') sink.value++;
    }
  });
  bench(`APICv VMCS: reportExit(CPUID) + vmwrite(CPU_BASED controls) + vmresume() [ops=${BATCH}]`, () => {
    const p = apicv.p;
    const proc = p.currentVmcs!.read32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
    for (let i = 0; i < BATCH; i++) {
      p.reportExit(EXIT_REASON.CPUID, CPUID_EXIT);
      p.vmwrite32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, (i & 1) === 0 ? proc : (proc | CPU_BASED.INTR_WINDOW_EXITING) >>> 0);
      if (p.vmresume().kind !== 'entered') sink.value++;
    }
    p.reportExit(EXIT_REASON.CPUID, CPUID_EXIT);
    p.vmwrite32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, proc);
    p.vmresume();
  });
});

describe('instruction boundary with nothing pending (G6e)', () => {
  const f = preparedFixture(apicvOptions());
  launch(f);
  bench(`instructionBoundary(true) [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) if (f.p.instructionBoundary(true).kind !== 'continue') sink.value++;
  });
  bench(`boundaryPending (the cheap predicate) [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) if (f.p.boundaryPending) sink.value++;
  });
});

describe('root-operation PIR sync (G6d; KVM vmx_sync_pir_to_irr)', () => {
  const f = preparedFixture(apicvOptions());
  launch(f);
  f.p.reportExit(EXIT_REASON.HLT);
  const pid = new PostedInterruptDescriptor(f.memory, ADDR.PID);
  let v = 0x30;
  bench(`post one vector + syncPirToVirr() [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) {
      v = v === 0xef ? 0x30 : v + 1;
      pid.postFromSoftware(v);
      sink.value ^= f.p.syncPirToVirr();
    }
  });
});
