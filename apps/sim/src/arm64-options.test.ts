import { describe, expect, it } from 'vitest';
import { SimUsageError } from './errors.js';
import { helpText, parseOptions } from './options.js';

describe('options for --arch arm64', () => {
  it('defaults to the arm64 modes and profile; x86 stays the default architecture', () => {
    expect(parseOptions([])).toMatchObject({ arch: 'x86', profile: 'x86-sandybridge', defaultRun: true, bothArches: true });
    const o = parseOptions(['--arch', 'arm64']);
    expect(o).toMatchObject({ arch: 'arm64', modes: ['native', 'gicv3', 'gicv4'], workload: 'netperf-rr', vcpus: 1, profile: 'arm64-xgene', defaultRun: true, bothArches: false });
    // Naming an architecture, a mode, a profile or a workload runs that one architecture.
    for (const argv of [['--arch', 'x86'], ['--mode', 'posted'], ['--profile', 'x86-sandybridge'], ['--workload', 'storm']]) expect(parseOptions(argv).bothArches, argv.join(' ')).toBe(false);
    expect(parseOptions(['--arch=arm64', '--mode', 'gicv3', '--workload', 'ipi', '--profile', 'arm64-vhe'])).toMatchObject({ modes: ['gicv3'], vcpus: 2, profile: 'arm64-vhe' });
  });

  it.each([
    [['--arch', 'arm64', '--mode', 'apicv'], /--mode: unknown mode 'apicv' \(arm64 modes: native, gicv3, gicv4\)/],
    [['--mode', 'gicv3'], /--mode: unknown mode 'gicv3' \(x86 modes: /],
    [['--arch', 'arm64', '--vcpus', '9'], /--vcpus must be an integer in \[1, 8\], got '9'/],
    [['--arch', 'arm64', '--workload', 'ipi', '--vcpus', '1'], /--workload ipi needs --vcpus 2 or more, got 1/],
  ])('rejects %j naming it', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(SimUsageError);
    expect(() => parseOptions(argv)).toThrow(message);
  });

  it('documents the arm64 modes and default profile in --help', () => {
    const text = helpText();
    expect(text).toMatch(/gicv3 +KVM with the in-kernel vGICv3/);
    expect(text).toMatch(/gicv4 +gicv3 on a GICv4.1 host/);
    expect(text).toContain('arm64 native,gicv3,gicv4');
    expect(text).toContain('arm64 arm64-xgene');
  });
});
