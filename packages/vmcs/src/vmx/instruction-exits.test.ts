// Decision helpers for instructions that cause VM exits conditionally
// (SDM 3C "Instructions That Cause VM Exits Conditionally"; "Changes to
// Instruction Behavior in VMX Non-Root Operation": MOV from CR0/CR4), and the
// exit qualifications of SDM 3C "Exit Qualification for Control-Register
// Accesses" and "Exit Qualification for I/O Instructions".
import { describe, expect, it } from 'vitest';
import { ADDR, launch, preparedFixture, type Fixture } from '../internal/test-setup.js';
import { CPU_BASED } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import { EXITING_INSTRUCTIONS, crExitQualification, ioExitQualification, type ExitingInstruction } from './instruction-exits.js';
import type { PrepareVmcsOptions } from './prepare-vmcs.js';

function run(options: PrepareVmcsOptions = {}): Fixture {
  const f = preparedFixture(options);
  launch(f);
  return f;
}

const IO_A = 0x9000;
const IO_B = 0xa000;

describe('HLT, INVLPG, INVPCID, RDTSC, RDTSCP, RDPMC, MWAIT, MONITOR, PAUSE, WBINVD, RDRAND, RDSEED, descriptor tables', () => {
  for (const name of Object.keys(EXITING_INSTRUCTIONS) as ExitingInstruction[]) {
    const row = EXITING_INSTRUCTIONS[name];
    it(`${name}: exits with its control (exit reason ${row.reason}), not without`, () => {
      const on = row.word === 'proc' ? run({ proc: row.bit }) : run({ proc2: row.bit });
      expect(on.p.instructionExits(name)).toBe(true);
      const off = run(row.word === 'proc2' ? { proc2: 1 << 5, fields: { VIRTUAL_PROCESSOR_ID: 1 } } : {});
      expect(off.p.instructionExits(name)).toBe(false);
    });
  }
  it('the reasons are those of SDM 3C Appendix C', () => {
    expect(EXITING_INSTRUCTIONS.invlpg.reason).toBe(EXIT_REASON.INVLPG);
    expect(EXITING_INSTRUCTIONS.rdtscp.reason).toBe(51);
    expect(EXITING_INSTRUCTIONS.pause.reason).toBe(40);
  });
  it('unknown names and root operation are misuse', () => {
    const f = run();
    expect(() => f.p.instructionExits('cpuid' as ExitingInstruction)).toThrow(/unknown instruction "cpuid"/);
    f.p.reportExit(EXIT_REASON.CPUID);
    expect(() => f.p.instructionExits('hlt')).toThrow(/VMX root operation/);
  });
});

describe('I/O instructions (SDM 3C "I/O-Bitmap Addresses")', () => {
  it('no I/O control: no exit; unconditional I/O exiting: every port exits', () => {
    expect(run().p.ioAccessExits(0x60, 1)).toBe(false);
    expect(run({ proc: CPU_BASED.UNCOND_IO_EXITING }).p.ioAccessExits(0x60, 1)).toBe(true);
  });

  it('I/O bitmaps override unconditional I/O exiting: bitmap A for 0-7FFFH, B for 8000H-FFFFH, any byte of a wider access', () => {
    const f = preparedFixture({ proc: CPU_BASED.USE_IO_BITMAPS | CPU_BASED.UNCOND_IO_EXITING, fields: { IO_BITMAP_A: IO_A, IO_BITMAP_B: IO_B } });
    f.memory.write8(IO_A + (0x64 >>> 3), 1 << (0x64 & 7));
    f.memory.write8(IO_B + (0x0cf9 >>> 3), 0); // B covers 8000H+
    f.memory.write8(IO_B + ((0xc003 & 0x7fff) >>> 3), 1 << (0xc003 & 7));
    launch(f);
    expect(f.p.ioAccessExits(0x60, 1)).toBe(false); // unconditional exiting is ignored with bitmaps
    expect(f.p.ioAccessExits(0x64, 1)).toBe(true);
    expect(f.p.ioAccessExits(0x62, 4)).toBe(true); // 62H-65H covers 64H
    expect(f.p.ioAccessExits(0x65, 2)).toBe(false);
    expect(f.p.ioAccessExits(0xc000, 4)).toBe(true);
    expect(f.p.ioAccessExits(0xc004, 4)).toBe(false);
    expect(f.p.ioAccessExits(0xffff, 2)).toBe(true); // wraps past FFFFH
  });

  it('the exit qualification (reason 30): size, direction, string, REP, immediate, port', () => {
    expect(ioExitQualification({ port: 0x3f8, size: 1, direction: 'out' })).toBe(0x03f8_0000);
    expect(ioExitQualification({ port: 0x60, size: 4, direction: 'in', immediate: true })).toBe(0x0060_0000 | 3 | 8 | 0x40);
    expect(ioExitQualification({ port: 0x1f0, size: 2, direction: 'in', string: true, rep: true })).toBe(0x01f0_0000 | 1 | 8 | 0x10 | 0x20);
    expect(() => ioExitQualification({ port: 0x10000, size: 1, direction: 'in' })).toThrow(/I\/O port/);
    expect(() => ioExitQualification({ port: 1, size: 3 as 1, direction: 'in' })).toThrow(/size must be 1, 2 or 4 bytes, got 3/);
  });
});

describe('control registers', () => {
  it('MOV to CR0/CR4 exits when a bit owned by the host (mask 1) would differ from the read shadow', () => {
    const f = run({ fields: { CR0_GUEST_HOST_MASK: 0x8000_0021, CR0_READ_SHADOW: 0x8000_0031, CR4_GUEST_HOST_MASK: 0x2000, CR4_READ_SHADOW: 0 } });
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 0, value: 0x8000_0031 })).toBe(false);
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 0, value: 0x8000_0011 })).toBe(true); // NE (bit 5) differs
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 0, value: 0x8000_003b })).toBe(false); // TS, MP guest-owned
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 4, value: 0x20 })).toBe(false);
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 4, value: 0x2020 })).toBe(true); // VMXE owned by the host
    expect(f.p.crAccessExits({ type: 'mov-from', cr: 0 })).toBe(false);
  });

  it('MOV from CR0/CR4 reads host-owned bits from the read shadow', () => {
    const f = run({ fields: { CR4_GUEST_HOST_MASK: 0x2000, CR4_READ_SHADOW: 0 } });
    expect(f.p.crReadValue(4, 0x2020)).toBe(0x20);
    expect(f.p.crReadValue(0, 0x8000_0031)).toBe(0x8000_0031); // mask 0: the real value
  });

  it('CLTS exits when TS is host-owned and set in the shadow; LMSW by its own rule', () => {
    const f = run({ fields: { CR0_GUEST_HOST_MASK: 0xf, CR0_READ_SHADOW: 0x8 } });
    expect(f.p.crAccessExits({ type: 'clts', cr: 0 })).toBe(true);
    expect(f.p.crAccessExits({ type: 'lmsw', cr: 0, value: 0x8 })).toBe(false);
    expect(f.p.crAccessExits({ type: 'lmsw', cr: 0, value: 0x9 })).toBe(true); // sets PE while the shadow's is 0
    expect(f.p.crAccessExits({ type: 'lmsw', cr: 0, value: 0xa })).toBe(true); // MP differs
    const g = run({ fields: { CR0_GUEST_HOST_MASK: 0x1, CR0_READ_SHADOW: 0x1 } });
    expect(g.p.crAccessExits({ type: 'lmsw', cr: 0, value: 0 })).toBe(false); // LMSW cannot clear PE
    expect(g.p.crAccessExits({ type: 'clts', cr: 0 })).toBe(false);
  });

  it('MOV to CR3 with CR3-load exiting: no exit for one of the first CR3-target-count target values', () => {
    const f = run({ proc: CPU_BASED.CR3_LOAD_EXITING | CPU_BASED.CR3_STORE_EXITING, fields: { CR3_TARGET_COUNT: 2, CR3_TARGET_VALUE0: 0x1000, CR3_TARGET_VALUE1: 0x8_0000_2000n, CR3_TARGET_VALUE2: 0x3000 } });
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 3, value: 0x1000 })).toBe(false);
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 3, value: 0x8_0000_2000n })).toBe(false);
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 3, value: 0x3000 })).toBe(true); // beyond the count
    expect(f.p.crAccessExits({ type: 'mov-from', cr: 3 })).toBe(true);
    const g = run();
    expect(g.p.crAccessExits({ type: 'mov-to', cr: 3, value: 0x3000 })).toBe(false);
    expect(g.p.crAccessExits({ type: 'mov-from', cr: 3 })).toBe(false);
  });

  it('CR8 load/store exiting (the TPR shadow path is movToCr8/movFromCr8)', () => {
    const f = run({ proc: CPU_BASED.CR8_LOAD_EXITING });
    expect(f.p.crAccessExits({ type: 'mov-to', cr: 8, value: 3 })).toBe(true);
    expect(f.p.crAccessExits({ type: 'mov-from', cr: 8 })).toBe(false);
    const g = run({ proc: CPU_BASED.CR8_STORE_EXITING, virtualApicPage: ADDR.VAPIC });
    expect(g.p.crAccessExits({ type: 'mov-from', cr: 8 })).toBe(true);
    expect(g.p.movFromCr8(3).kind).toBe('exit');
  });

  it('the exit qualification (reason 28)', () => {
    expect(crExitQualification({ type: 'mov-to', cr: 3, gpr: 2 })).toBe(0x203);
    expect(crExitQualification({ type: 'mov-from', cr: 8, gpr: 15 })).toBe(0xf18);
    expect(crExitQualification({ type: 'clts', cr: 0 })).toBe(0x20);
    expect(crExitQualification({ type: 'lmsw', cr: 0, value: 0xf, lmswMemory: true })).toBe(0x000f_0070);
    expect(() => crExitQualification({ type: 'lmsw', cr: 4 })).toThrow(/lmsw accesses CR0, got cr 4/);
    expect(() => crExitQualification({ type: 'mov-to', cr: 2 as 0 })).toThrow(/must be 0, 3, 4 or 8, got 2/);
  });
});
