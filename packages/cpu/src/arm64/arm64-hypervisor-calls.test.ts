// What a hypervisor at EL2 exchanges with its guest: HVC carrying the SMCCC registers X0-X3 both ways (Arm DEN 0028
// 2.5 "Register usage"), and exceptions injected into EL1 as KVM's inject_fault.c does (Arm ARM D1.10 exception entry,
// D19 ESR_ELx: EC 0x00 with IL for UNDEFINED, EC 0x24/0x25 with DFSC 0b010000 for a synchronous External abort).
import { describe, expect, it } from 'vitest';
import { ARM64_EXCEPTION_CLASS as EC, UsageError } from '@hvsim/core';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { ARM_LAYOUT, SYNC_LOWER_VECTOR, SYNC_VECTOR, arm64GuestMachine, arm64Machine } from '../test-support/arm64-machine.js';
import { DAIF_MASK, HCR_EL2, PSTATE_MODE, esrValue } from './regs.js';

type Routine = Generator<Op, void, number>;
const { MAIN, DATA } = ARM_LAYOUT;
/** An emulated device's IPA: no stage 2 mapping, so an access traps to the host. */
const DEVICE = 0x0900_0000;
/** PSCI 0.2 CPU_ON, SMC64 (DEN 0022 5.1.4): target MPIDR in X1, entry in X2, context ID in X3. */
const CPU_ON = 0xc400_0003;
/** PSTATE after reset: EL1h with D, A, I, F masked (the SPSR_EL1 an exception from the reset state saves). */
const EL1H_MASKED = PSTATE_MODE.EL1h | DAIF_MASK;

function hypervisorMachine(options: { snapshots?: boolean } = {}) {
  const m = arm64GuestMachine(options);
  m.cpu.attachHypervisor({ hcr: HCR_EL2.VM | HCR_EL2.IMO | HCR_EL2.FMO | HCR_EL2.RW, stage2: m.stage2 });
  return m;
}

/** Enters the guest and runs it to its next exit (or the end). */
function runToExit(m: ReturnType<typeof hypervisorMachine>): string {
  m.cpu.enterGuest();
  return m.cpu.run(1_000_000);
}

describe('HVC carries the SMCCC registers (Arm DEN 0028 2.5)', () => {
  it('passes X0-X3 to the hypervisor and returns X0-X3, negative PSCI codes exact', () => {
    const m = hypervisorMachine();
    const seen: number[][] = [];
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      // A context ID above 2^32: X3 reaches the host whole (a PSCI CPU_ON's context ID, DEN 0022 5.6).
      const x0 = yield g.hvc(0, CPU_ON, 0x101, 0x8_0000, 0x1_2345_6789);
      seen.push([x0, g.lo, g.hi, ...g.hvcResults]);
      const again = yield g.hvc(0, 0x8400_0000);
      seen.push([again, ...g.hvcResults]);
    });
    m.cpu.start(MAIN);
    expect(runToExit(m)).toBe('exit');
    expect(m.cpu.lastExit!.ec).toBe(EC.HVC64);
    const op = m.cpu.pendingOperation!;
    expect([op.b, op.c, op.d, op.e]).toEqual([CPU_ON, 0x101, 0x8_0000, 0x1_2345_6789]);
    // PSCI_RET_INVALID_PARAMETERS (-2) in X0 (all 64 bits), X1-X3 as a call returning four values would.
    m.cpu.completePendingHvc(-2, 5, 6, 7);
    expect(runToExit(m)).toBe('exit');
    expect(m.cpu.pendingOperation!.b).toBe(0x8400_0000); // PSCI_VERSION's function ID, read as unsigned
    expect([m.cpu.pendingOperation!.d, m.cpu.pendingOperation!.e]).toEqual([0, 0]);
    // X0 given as halves: X1-X3 are 0, as KVM's smccc_set_retval(vcpu, x0, 0, 0, 0) leaves them.
    m.cpu.completePendingOperation(0x2);
    expect(runToExit(m)).toBe('finished');
    expect(seen).toEqual([
      [0xffff_fffe + 0xffff_ffff * 2 ** 32, 0xffff_fffe, 0xffff_ffff, -2, 5, 6, 7],
      [2, 2, 0, 0, 0],
    ]);
  });

  it('an HVC the host did not complete returns X0 = 0 at the next entry', () => {
    const m = hypervisorMachine();
    const seen: number[] = [];
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      seen.push(yield g.hvc(3, 1, 2, 3, 4), ...g.hvcResults);
    });
    m.cpu.start(MAIN);
    expect(runToExit(m)).toBe('exit');
    expect(runToExit(m)).toBe('finished');
    expect(seen).toEqual([0, 0, 0, 0, 0]);
  });

  it('refuses results that are no integers within ±2^53, and completePendingHvc with no HVC pending', () => {
    const m = hypervisorMachine();
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.ld32(DEVICE);
    });
    m.cpu.start(MAIN);
    expect(() => m.cpu.completePendingHvc(0)).toThrow(/completePendingHvc: no HVC is pending/);
    expect(runToExit(m)).toBe('exit');
    expect(() => m.cpu.completePendingHvc(0)).toThrow(UsageError);
    const h = hypervisorMachine();
    h.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.hvc(0);
    });
    h.cpu.start(MAIN);
    expect(runToExit(h)).toBe('exit');
    expect(() => h.cpu.completePendingHvc(0, 1.5)).toThrow(/X1 must be an integer within ±2\^53, got 1\.5/);
    expect(() => h.cpu.completePendingHvc(2 ** 60)).toThrow(/X0 must be an integer/);
  });

  it('saves and restores a pending HVC with its registers, and the results an HVC returned', () => {
    const define = (m: ReturnType<typeof hypervisorMachine>, seen: number[]) =>
      m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
        yield g.hvc(0, 1, 2, 3, 4);
        seen.push(...g.hvcResults);
        yield g.hvc(0, 5, 6, 7, 8);
        seen.push(...g.hvcResults);
      });
    const a = hypervisorMachine({ snapshots: true });
    define(a, []);
    a.cpu.start(MAIN);
    expect(runToExit(a)).toBe('exit');
    a.cpu.completePendingHvc(10, 11, 12, 13);
    expect(runToExit(a)).toBe('exit'); // stopped at the second HVC
    const state = JSON.parse(JSON.stringify(a.cpu.saveState())) as unknown;
    const seen: number[] = [];
    const b = hypervisorMachine({ snapshots: true });
    define(b, seen);
    b.cpu.restoreState(state);
    const op = b.cpu.pendingOperation!;
    expect([op.b, op.c, op.d, op.e]).toEqual([5, 6, 7, 8]);
    expect(Array.from(b.cpu.guest.hvcResults)).toEqual([10, 11, 12, 13]);
    b.cpu.completePendingHvc(20, 21, 22, 23);
    expect(runToExit(b)).toBe('finished');
    // The replayed first HVC's results came from the log; the second from the host.
    expect(seen).toEqual([10, 11, 12, 13, 20, 21, 22, 23]);
  });
});

describe('exceptions injected by the hypervisor (KVM kvm_inject_undefined / kvm_inject_dabt; Arm ARM D1.10)', () => {
  /** A guest whose EL1 sync handler records ESR_EL1, FAR_EL1, ELR_EL1, SPSR_EL1 and skips the operation at ELR_EL1 (or returns to it). */
  function recordingGuest(m: ReturnType<typeof hypervisorMachine>, vector: number, seen: number[][], skip = true) {
    m.program.define(vector, function* sync(g: Arm64Guest): Routine {
      const esr = yield g.mrs('ESR_EL1');
      const far = yield g.mrs('FAR_EL1');
      const elr = yield g.mrs('ELR_EL1');
      const spsr = yield g.mrs('SPSR_EL1');
      seen.push([esr, far, elr, spsr]);
      if (skip) yield g.msr('ELR_EL1', elr + 1);
      yield g.eret();
    });
  }

  it('UNDEFINED for a trapped system-register access: EC 0x00 with IL, ELR_EL1 at the trapped MSR, the current-EL SPx vector', () => {
    const m = hypervisorMachine();
    const seen: number[][] = [];
    const after: number[] = [];
    recordingGuest(m, SYNC_VECTOR, seen);
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.msr('ICC_SGI1R_EL1', (1 << 24) | 1); // traps to EL2 under IMO (IHI0069 12.2.23)
      after.push(yield g.ld32(DATA));
    });
    m.cpu.start(MAIN);
    expect(runToExit(m)).toBe('exit');
    expect(m.cpu.lastExit!.ec).toBe(EC.SYS64);
    m.cpu.injectUndefined();
    expect(runToExit(m)).toBe('finished');
    expect(seen).toEqual([[esrValue(EC.UNKNOWN, 0), 0, MAIN, EL1H_MASKED]]);
    expect(after).toEqual([0]);
    expect(m.cpu.stats().exits).toEqual({ SYS64: 1 });
  });

  it('UNDEFINED at an HVC returns after it (HVC completed, its registers as the guest passed them)', () => {
    const m = hypervisorMachine();
    const seen: number[][] = [];
    let x0 = -1;
    recordingGuest(m, SYNC_VECTOR, seen, false);
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.compute(1);
      x0 = yield g.hvc(0, 0x42);
    });
    m.cpu.start(MAIN);
    expect(runToExit(m)).toBe('exit');
    m.cpu.injectUndefined();
    expect(runToExit(m)).toBe('finished');
    // ELR_EL1 = the instruction after the HVC (its preferred return address, D1.10.1).
    expect(seen).toEqual([[esrValue(EC.UNKNOWN, 0), 0, MAIN + 2, EL1H_MASKED]]);
    expect(x0).toBe(0x42);
  });

  it('a synchronous External abort on a data access: EC 0x25 from EL1, 0x24 from EL0, DFSC 0b010000, FAR_EL1 = the address', () => {
    const m = hypervisorMachine();
    const seen: number[][] = [];
    recordingGuest(m, SYNC_VECTOR, seen);
    recordingGuest(m, SYNC_LOWER_VECTOR, seen);
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.ld32(DEVICE + 0x10); // an IPA the host has no device for
    });
    m.cpu.start(MAIN);
    expect(runToExit(m)).toBe('exit');
    expect(m.cpu.lastExit!.ec).toBe(EC.DATA_ABORT_LOWER);
    m.cpu.injectDataAbort(DEVICE + 0x10);
    expect(runToExit(m)).toBe('finished');
    // From EL0: the lower-EL vector and EC 0x24 (the instruction-abort form: EC 0x20).
    const el0 = hypervisorMachine();
    recordingGuest(el0, SYNC_LOWER_VECTOR, seen);
    el0.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.ld32(DEVICE);
      yield g.ld32(DEVICE + 4);
    });
    el0.cpu.setRegisters({ pstate: PSTATE_MODE.EL0t });
    el0.cpu.start(MAIN);
    expect(runToExit(el0)).toBe('exit');
    el0.cpu.injectDataAbort(0x1234);
    expect(runToExit(el0)).toBe('exit');
    el0.cpu.injectInstructionAbort(0x5678);
    expect(runToExit(el0)).toBe('finished');
    expect(seen).toEqual([
      [esrValue(EC.DATA_ABORT_SAME, 0x10), DEVICE + 0x10, MAIN, EL1H_MASKED],
      [esrValue(EC.DATA_ABORT_LOWER, 0x10), 0x1234, MAIN, PSTATE_MODE.EL0t],
      [esrValue(EC.INSTRUCTION_ABORT_LOWER, 0x10), 0x5678, MAIN + 1, PSTATE_MODE.EL0t],
    ]);
  });

  it('host misuse is a UsageError naming it', () => {
    const native = arm64Machine();
    native.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.compute(1);
    });
    native.cpu.start(MAIN);
    expect(() => native.cpu.injectUndefined()).toThrow(/injectUndefined: no hypervisor is attached/);
    const m = hypervisorMachine();
    expect(() => m.cpu.injectDataAbort(0)).toThrow(/injectDataAbort: no guest code is running/);
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.compute(1);
    });
    m.cpu.start(MAIN);
    expect(() => m.cpu.injectDataAbort(-1)).toThrow(/injectDataAbort: the faulting address must be a non-negative safe integer, got -1/);
  });
});
