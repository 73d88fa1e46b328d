import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARM64_DEFAULT_COSTS } from '@hvsim/cpu';
import { Kvm } from '@hvsim/kvm';
import { ARM64_CPU_COST_FIELDS, ARM64_HOST_COST_FIELDS, arm64ProfileAsFile, loadArm64Profile, validateArm64Profile } from './arm64-profile.js';
import { SimUsageError } from './errors.js';
import { DEVICE_COST_FIELDS, PROFILES_DIR } from './profiles.js';

const shipped = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(PROFILES_DIR, `${name}.json`), 'utf8')) as Record<string, unknown>;

describe('arm64 cost profiles', () => {
  it('arm64-xgene: split-mode KVM on X-Gene, the world switch from ISCA 2016\'s 6,500-cycle hypercall', () => {
    const p = loadArm64Profile('arm64-xgene');
    expect(p).toMatchObject({ arch: 'arm64', clockHz: 2_400_000_000, host: { mode: 'nvhe' } });
    // papers.md 4.1: a KVM ARM hypercall is the trap, the world switch and the ERET back.
    expect(p.cpu.trapToEl2 + p.host.exit + p.cpu.eretFromEl2).toBe(6500);
    expect(p.sources['host.exit']).toMatch(/papers\.md 4\.1.*6,500/);
    // papers.md 4.2: I/O User (10,012) is a hypercall (6,413) and the return to userspace.
    expect(6413 + p.host.userspace).toBe(10_012);
    expect(p.sources['host.userspace']).toMatch(/papers\.md 4\.2.*assumption/);
  });

  it('arm64-vhe: ATC 2017\'s VHE-style design, a hypercall of 752 cycles and I/O User of 7,630', () => {
    const p = loadArm64Profile('arm64-vhe');
    expect(p.host.mode).toBe('vhe');
    expect(p.cpu.trapToEl2 + p.host.exit + p.cpu.eretFromEl2).toBe(752);
    expect(752 + p.host.userspace).toBe(7630);
    expect(p.sources['host.exit']).toMatch(/papers\.md 4\.2.*752/);
  });

  it('gives every number a source or says it is an assumption; the VM\'s vCPUs charge the profile\'s CPU costs', () => {
    for (const name of ['arm64-xgene', 'arm64-vhe']) {
      const p = loadArm64Profile(name);
      for (const f of ARM64_CPU_COST_FIELDS) {
        expect(p.sources[`cpu.${f}`], `${name} cpu.${f}`).toMatch(/papers\.md|assumption/);
        expect(p.cpu[f], `${name} cpu.${f}`).toBe(ARM64_DEFAULT_COSTS[f]);
      }
      for (const f of DEVICE_COST_FIELDS) expect(p.sources[`device.${f}`], `${name} device.${f}`).toMatch(/assumption/);
      // 0.5 µs of DMA round trip and 2 µs of wire at the profile's clock, as x86-sandybridge has them.
      expect(p.device).toEqual({ nicDmaRoundTrip: p.clockHz * 0.5e-6, wireLatency: p.clockHz * 2e-6, lineRateBitsPerSecond: 10e9 });
      for (const f of ARM64_HOST_COST_FIELDS) expect(p.sources[`host.${f}`], `${name} host.${f}`).toMatch(/papers\.md 4\.[12]/);
      expect(p.sources.clockHz).toMatch(/assumption/);
      expect(Object.isFrozen(p.host)).toBe(true);
      // Ready for the KVM API: the VM takes the profile's world switch.
      const vm = new Kvm({ arch: 'arm64', arm64Costs: p.host, arm64CpuCosts: p.cpu }).createVm();
      expect(vm.costs).toBe(p.host);
      expect(vm.cpuCosts).toBe(p.cpu);
      // --json's config holds the file's shape: validating it again gives the same profile.
      expect(validateArm64Profile(JSON.parse(JSON.stringify(arm64ProfileAsFile(p))))).toEqual(p);
    }
  });

  it('names unknown, missing and bad fields, and an x86 profile', () => {
    const base = shipped('arm64-xgene');
    const check = (json: unknown, message: RegExp): void => {
      expect(() => validateArm64Profile(json)).toThrow(SimUsageError);
      expect(() => validateArm64Profile(json)).toThrow(message);
    };
    check({ ...base, cpu: { ...(base.cpu as object), vmExit: 650 } }, /unknown field cpu\.vmExit/);
    const { trapToEl2: _t, ...cpu } = base.cpu as Record<string, number>;
    check({ ...base, cpu }, /missing field cpu\.trapToEl2/);
    check({ ...base, host: { ...(base.host as object), mode: 'split' } }, /host\.mode must be "nvhe" \(split mode\) or "vhe", got "split"/);
    check({ ...base, host: { ...(base.host as object), exit: -1 } }, /host\.exit must be a non-negative number of cycles, got -1/);
    check({ ...base, host: { ...(base.host as object), perIrq: 9000 } }, /unknown field host\.perIrq/);
    check({ ...base, device: { ...(base.device as object), lineRateBitsPerSecond: 0 } }, /device\.lineRateBitsPerSecond must be positive/);
    const { device: _d, ...noDevice } = base;
    check(noDevice, /missing field device/);
    const sources = { ...(base.sources as Record<string, string>) };
    delete sources['host.userspace'];
    check({ ...base, sources }, /missing field sources\.host\.userspace/);
    check({ ...base, sources: { ...(base.sources as object), 'cpu.op': ' ' } }, /sources\.cpu\.op must cite a source or say "assumption"/);
    check(shipped('x86-sandybridge'), /arch "x86" is not arm64: this run is --arch arm64/);
    expect(() => loadArm64Profile('no-such-profile')).toThrow(/no shipped profile or file named 'no-such-profile'/);
  });
});
