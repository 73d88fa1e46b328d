import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimUsageError } from './errors.js';
import { Kvm, X86_KVM_COST_FIELDS } from '@hvsim/kvm';
import { CPU_COST_FIELDS, DEVICE_COST_FIELDS, HOST_COST_FIELDS, PROFILES_DIR, loadProfile, validateProfile } from './profiles.js';

const shipped = (): Record<string, unknown> => JSON.parse(readFileSync(join(PROFILES_DIR, 'x86-sandybridge.json'), 'utf8')) as Record<string, unknown>;

describe('cost profiles', () => {
  it('loads x86-sandybridge with a source for every number, citing papers.md for the VM transitions', () => {
    const p = loadProfile('x86-sandybridge');
    expect(p.clockHz).toBe(2_100_000_000);
    expect(p.cpu.vmExit + p.cpu.vmEntry).toBe(1300); // ISCA 2016 Table II, KVM x86 hypercall
    for (const f of CPU_COST_FIELDS) expect(p.sources[`cpu.${f}`], f).toMatch(/papers\.md|assumption/);
    expect(p.sources['host.userspaceExit']).toMatch(/papers\.md 4\.2/);
    expect(p.sources['host.exitHandler']).toMatch(/papers\.md 4\.2.*2,565.*1,437.*assumption/);
    expect(p.sources['host.injection']).toMatch(/assumption/);
    // ATC 2017 (papers.md 5): an I/O exit handled in user space is the hypercall (the CPU's exit and entry
    // stand for it), KVM's in-kernel handling and the return to userspace: 6,732 cycles.
    expect(1437 + p.host.exitHandler + p.host.userspaceExit).toBe(6732);
  });

  it("gives KVM's own costs exactly @hvsim/kvm's X86KvmCosts fields, ready for new Kvm({ x86KvmCosts })", () => {
    expect([...HOST_COST_FIELDS]).toEqual([...X86_KVM_COST_FIELDS]);
    const p = loadProfile('x86-sandybridge');
    expect(Object.isFrozen(p.host)).toBe(true);
    expect(new Kvm({ x86KvmCosts: p.host }).createVm().kvmCosts).toEqual(p.host);
  });

  it('gives the assigned NIC\'s and the wire\'s costs (device.*) with their sources, and names a missing or bad one', () => {
    const p = loadProfile('x86-sandybridge');
    expect(p.device).toEqual({ nicDmaRoundTrip: 1050, wireLatency: 4200, lineRateBitsPerSecond: 10e9 });
    for (const f of DEVICE_COST_FIELDS) expect(p.sources[`device.${f}`], f).toMatch(/assumption/);
    const { device, ...noDevice } = shipped();
    expect(() => validateProfile(noDevice)).toThrow(/missing field device/);
    expect(() => validateProfile({ ...shipped(), device: { ...(device as object), wireLatency: -1 } })).toThrow(/device\.wireLatency must be a non-negative number, got -1/);
    expect(() => validateProfile({ ...shipped(), device: { ...(device as object), lineRateBitsPerSecond: 0 } })).toThrow(/device\.lineRateBitsPerSecond must be positive/);
  });

  it('loads a profile from a file path', () => {
    expect(loadProfile(join(PROFILES_DIR, 'x86-sandybridge.json')).name).toBe('x86-sandybridge');
    expect(() => loadProfile('no-such-profile')).toThrow(/--profile: no shipped profile or file named 'no-such-profile'/);
  });

  it('names unknown, missing and bad fields', () => {
    const withExtra = { ...shipped(), cpu: { ...(shipped().cpu as object), tlbShootdown: 5 } };
    expect(() => validateProfile(withExtra)).toThrow(SimUsageError);
    expect(() => validateProfile(withExtra)).toThrow(/unknown field cpu\.tlbShootdown/);
    const { vmExit: _drop, ...cpu } = shipped().cpu as Record<string, number>;
    expect(() => validateProfile({ ...shipped(), cpu })).toThrow(/missing field cpu\.vmExit/);
    const sources = { ...(shipped().sources as Record<string, string>) };
    delete sources['cpu.iret'];
    expect(() => validateProfile({ ...shipped(), sources })).toThrow(/missing field sources\.cpu\.iret/);
    expect(() => validateProfile({ ...shipped(), cpu: { ...(shipped().cpu as object), load: -1 } })).toThrow(/cpu\.load must be a non-negative number of cycles, got -1/);
    expect(() => validateProfile({ ...shipped(), perInterrupt: 3000 })).toThrow(/unknown field perInterrupt/);
    expect(() => validateProfile({ ...shipped(), host: { ...(shipped().host as object), exitHandler: -5 } })).toThrow(/host\.exitHandler must be a non-negative number of cycles, got -5/);
    expect(() => validateProfile({ ...shipped(), host: { ...(shipped().host as object), perIrq: 1 } })).toThrow(/unknown field host\.perIrq/);
    const { injection: _gone, ...host } = shipped().host as Record<string, number>;
    expect(() => validateProfile({ ...shipped(), host })).toThrow(/missing field host\.injection/);
    const noSource = { ...(shipped().sources as Record<string, string>) };
    delete noSource['host.exitHandler'];
    expect(() => validateProfile({ ...shipped(), sources: noSource })).toThrow(/missing field sources\.host\.exitHandler/);
    expect(() => validateProfile({ ...shipped(), arch: 'arm64' })).toThrow(/arch "arm64" is not x86: an arm64 profile needs --arch arm64/);
  });
});
