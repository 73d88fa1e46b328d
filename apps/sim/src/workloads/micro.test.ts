import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../options.js';
import { PROFILES_DIR, loadProfile } from '../profiles.js';
import { simulate, type RunResult } from '../simulate.js';
import { MICRO_PAPER_KVM_X86, MICRO_ROWS } from './micro-samples.js';

const profile = loadProfile('x86-sandybridge');
const micro = (modes: string, p = profile): RunResult[] => simulate(parseOptions(['--workload', 'micro', '--duration', '120000', '--mode', modes]), p).runs;

describe('micro: ISCA 2016 Table II rows measured through the models', () => {
  it('emulated: every row an exit costs at least a world switch; the paper\'s KVM x86 column beside it', () => {
    const [native, emulated] = micro('native,emulated');
    const m = emulated!.micro!;
    const worldSwitch = profile.cpu.vmExit + profile.cpu.vmEntry;
    expect(Object.keys(m)).toEqual([...MICRO_ROWS]);
    // CPUID: exit, KVM's handling, entry (SDM 3C 25.1.2: CPUID exits unconditionally).
    expect(m.hypercall).toBeGreaterThanOrEqual(worldSwitch + profile.host.exitHandler);
    expect(m.interruptControllerTrap).toBeGreaterThanOrEqual(worldSwitch); // the LVT store: EPT misconfiguration
    expect(m.virtualIrqCompletion).toBeGreaterThanOrEqual(worldSwitch); // the EOI store exits
    // The ioeventfd is signalled inside the exit's handling, before the entry back: more than an exit, less than the round trip.
    expect(m.ioLatencyOut).toBeGreaterThanOrEqual(profile.cpu.vmExit);
    expect(m.ioLatencyOut!).toBeLessThan(m.hypercall!);
    expect(m.virtualIpi).toBeGreaterThan(native!.micro!.virtualIpi!);
    expect(m.vmSwitch).toBeNull(); // two VMs on one CPU: not run yet
    expect(emulated!.microPaper).toEqual(MICRO_PAPER_KVM_X86);
    expect(native!.micro!.hypercall).toBeNull();
    expect(native!.microPaper).toBeNull();
    expect(native!.micro!.interruptControllerTrap).toBe(profile.cpu.mmio + 3); // the MMIO store between two RDTSCs
  });

  it('apicv: the EOI is virtualized (SDM 3C 30.1.3): completion costs no exit; the LVT write still traps (APIC-write exit, 30.4.3.3)', () => {
    const m = micro('apicv')[0]!.micro!;
    expect(m.virtualIrqCompletion!).toBeLessThan(profile.cpu.vmExit);
    expect(m.interruptControllerTrap!).toBeGreaterThanOrEqual(profile.cpu.vmExit + profile.cpu.vmEntry);
  });

  it('comes out of the profile\'s primitives: 500 more cycles of VM exit make the null exit 500 cycles costlier', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hvsim-micro-')), 'slow-exit.json');
    const json = JSON.parse(readFileSync(join(PROFILES_DIR, 'x86-sandybridge.json'), 'utf8')) as { name: string; cpu: Record<string, number> };
    writeFileSync(file, JSON.stringify({ ...json, name: 'slow-exit', cpu: { ...json.cpu, vmExit: json.cpu.vmExit! + 500 } }));
    const base = micro('emulated')[0]!.micro!;
    const slow = micro('emulated', loadProfile(file))[0]!.micro!;
    expect(slow.hypercall! - base.hypercall!).toBe(500);
    expect(slow.ioLatencyOut! - base.ioLatencyOut!).toBe(500);
  });
});
