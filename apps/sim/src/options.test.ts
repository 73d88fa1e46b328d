import { describe, expect, it } from 'vitest';
import { SimUsageError } from './errors.js';
import { helpText, parseDuration, parseOptions } from './options.js';

describe('options', () => {
  it('has a default for every option', () => {
    const o = parseOptions([]);
    expect(o).toMatchObject({ arch: 'x86', modes: ['native', 'emulated', 'x2apic', 'apicv'], workload: 'storm', vcpus: 1, profile: 'x86-sandybridge', seed: 1, rateHz: 100_000, guest: 'busy', json: false, help: false });
    expect(o.duration).toEqual({ value: 0.01, unit: 's' });
  });

  it('takes values as --name value and --name=value, modes as a comma list, the rate per workload', () => {
    const o = parseOptions(['--mode', 'emulated,apicv', '--workload=timer', '--vcpus', '2', '--seed=7', '--duration', '500000', '--json']);
    expect(o).toMatchObject({ modes: ['emulated', 'apicv'], workload: 'timer', vcpus: 2, seed: 7, rateHz: 10_000, json: true });
    expect(o.duration).toEqual({ value: 500_000, unit: 'cycles' });
    expect(parseOptions(['--rate', '2500']).rateHz).toBe(2500);
    expect(parseOptions(['--workload', 'ipi'])).toMatchObject({ vcpus: 2, rateHz: 20_000 }); // ipi needs two CPUs
  });

  it('reads durations in time units or cycles', () => {
    expect(parseDuration('250us')).toEqual({ value: 250e-6, unit: 's' });
    expect(parseDuration('1e6')).toEqual({ value: 1e6, unit: 'cycles' });
    expect(parseDuration('2000cycles')).toEqual({ value: 2000, unit: 'cycles' });
  });

  it.each([
    [['--bogus'], /unknown option --bogus/],
    [['--mode', 'posted'], /--mode: unknown mode 'posted'/],
    [['--mode', 'native,native'], /names a mode twice/],
    [['--arch', 'arm64'], /--arch arm64: not yet/],
    [['--arch', 'riscv'], /--arch must be x86 or arm64, got 'riscv'/],
    [['--workload', 'netperf-rr'], /--workload must be one of timer, storm, ipi, got 'netperf-rr'/],
    [['--vcpus', '0'], /--vcpus must be an integer in \[1, 16\], got '0'/],
    [['--vcpus', '1.5'], /--vcpus must be an integer/],
    [['--duration', '10 parsecs'], /--duration must be a positive time/],
    [['--duration', '0ms'], /--duration/],
    [['--rate', '-3'], /--rate must be a positive number, got '-3'/],
    [['--guest', 'sleepy'], /--guest must be busy or idle, got 'sleepy'/],
    [['--workload', 'ipi', '--vcpus', '1'], /--workload ipi needs --vcpus 2 or more, got 1/],
    [['--workload', 'ipi', '--guest', 'idle'], /--workload ipi needs --guest busy/],
    [['--seed'], /--seed needs a value/],
    [['--json=yes'], /--json takes no value/],
    [['storm'], /unexpected argument 'storm'/],
  ])('rejects %j naming it', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(SimUsageError);
    expect(() => parseOptions(argv)).toThrow(message);
  });

  it('documents every option with its default in --help', () => {
    const text = helpText();
    for (const name of ['--arch', '--mode', '--workload', '--rate', '--vcpus', '--guest', '--profile', '--seed', '--duration', '--json', '--help']) expect(text).toContain(name);
    expect(text).toContain('default native,emulated,x2apic,apicv');
    expect(text).toContain('default x86-sandybridge');
    expect(text).toContain('default 10ms');
  });
});
