import { describe, expect, it } from 'vitest';
import { SimUsageError } from './errors.js';
import { helpText, parseDuration, parseOptions } from './options.js';

describe('options', () => {
  it('has a default for every option', () => {
    const o = parseOptions([]);
    expect(o).toMatchObject({ arch: 'x86', modes: ['native', 'emulated', 'x2apic', 'apicv', 'eli', 'posted'], workload: 'netperf-rr', vcpus: 1, profile: 'x86-sandybridge', seed: 1, rateHz: 0, guest: 'busy', json: false, help: false, defaultRun: true });
    expect(parseOptions(['--workload', 'storm'])).toMatchObject({ rateHz: 100_000, defaultRun: false });
    expect(o.duration).toEqual({ value: 0.01, unit: 's' });
  });

  it('takes values as --name value and --name=value, modes as a comma list, the rate per workload', () => {
    const o = parseOptions(['--mode', 'emulated,apicv', '--workload=timer', '--vcpus', '2', '--seed=7', '--duration', '500000', '--json']);
    expect(o).toMatchObject({ modes: ['emulated', 'apicv'], workload: 'timer', vcpus: 2, seed: 7, rateHz: 10_000, json: true });
    expect(o.duration).toEqual({ value: 500_000, unit: 'cycles' });
    expect(parseOptions(['--rate', '2500']).rateHz).toBe(2500);
    expect(parseOptions(['--workload', 'ipi'])).toMatchObject({ vcpus: 2, rateHz: 20_000 }); // ipi needs two CPUs
    expect(parseOptions(['--vcpus', '256']).vcpus).toBe(256); // x86: 8-bit APIC IDs, the layout's room
    expect(() => parseOptions(['--vcpus', '257'])).toThrow(/--vcpus must be an integer in \[1, 256\], got '257'/);
  });

  it('--mmu: ept by default; shadow for the VM modes, which are the default modes with --mmu (native has no MMU to choose)', () => {
    expect(parseOptions([]).mmu).toBe('ept');
    expect(parseOptions(['--mmu', 'shadow', '--mode', 'emulated,posted'])).toMatchObject({ mmu: 'shadow', modes: ['emulated', 'posted'] });
    expect(parseOptions(['--mmu=shadow', '--workload', 'memory']).modes).toEqual(['emulated', 'x2apic', 'apicv', 'eli', 'posted']);
    expect(parseOptions(['--workload', 'memory'])).toMatchObject({ mmu: 'ept', modes: ['native', 'emulated', 'x2apic', 'apicv', 'eli', 'posted'], rateHz: 0 });
  });

  it('reads durations in time units or cycles', () => {
    expect(parseDuration('250us')).toEqual({ value: 250e-6, unit: 's' });
    expect(parseDuration('1e6')).toEqual({ value: 1e6, unit: 'cycles' });
    expect(parseDuration('2000cycles')).toEqual({ value: 2000, unit: 'cycles' });
  });

  it.each([
    [['--bogus'], /unknown option --bogus/],
    [['--mode', 'vapic'], /--mode: unknown mode 'vapic'/],
    [['--mode', 'native,native'], /names a mode twice/],
    [['--arch', 'riscv'], /--arch must be x86 or arm64, got 'riscv'/],
    [['--workload', 'netperf-stream'], /--workload must be one of timer, storm, ipi, netperf-rr, micro, memory, got 'netperf-stream'/],
    [['--vcpus', '0'], /--vcpus must be an integer in \[1, 256\], got '0'/],
    [['--vcpus', '1.5'], /--vcpus must be an integer/],
    [['--duration', '10 parsecs'], /--duration must be a positive time/],
    [['--duration', '0ms'], /--duration/],
    [['--rate', '-3'], /--rate must be a positive number, got '-3'/],
    [['--guest', 'sleepy'], /--guest must be busy or idle, got 'sleepy'/],
    [['--workload', 'ipi', '--vcpus', '1'], /--workload ipi needs --vcpus 2 or more, got 1/],
    [['--workload', 'ipi', '--guest', 'idle'], /--workload ipi needs --guest busy/],
    [['--seed'], /--seed needs a value/],
    [['--mmu', 'npt'], /--mmu must be ept or shadow, got 'npt'/],
    [['--arch', 'arm64', '--mmu', 'shadow'], /--mmu is for --arch x86/],
    [['--mode', 'native,posted', '--mmu', 'shadow'], /--mmu shadow with --mode native: native runs without a VM/],
    [['--mode', 'native', '--mmu', 'ept'], /--mmu ept with --mode native/],
    [['--workload', 'memory', '--vcpus', '2'], /--workload memory runs on one CPU .* got --vcpus 2/],
    [['--workload', 'memory', '--guest', 'idle'], /--workload memory needs --guest busy/],
    [['--arch', 'arm64', '--workload', 'memory'], /--workload memory does not run on arm64 yet/],
    [['--json=yes'], /--json takes no value/],
    [['storm'], /unexpected argument 'storm'/],
  ])('rejects %j naming it', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(SimUsageError);
    expect(() => parseOptions(argv)).toThrow(message);
  });

  it('documents every option with its default in --help', () => {
    const text = helpText();
    for (const name of ['--arch', '--mode', '--workload', '--rate', '--vcpus', '--guest', '--profile', '--seed', '--duration', '--json', '--help', '--irqchip', '--mmu']) expect(text).toContain(name);
    expect(text).toContain('shadow paging (KVM with ept=0); not with mode native (default ept)');
    expect(text).toContain('memory     a page-table-heavy guest');
    expect(text).toContain('default native,emulated,x2apic,apicv,eli,posted');
    expect(text).toContain('default x86-sandybridge');
    expect(text).toContain('default 10ms');
  });
});
