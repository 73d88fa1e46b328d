// Issue 12 "Nothing escapes": random VMX instruction sequences with random
// VMWRITEs (any encoding, any value, VMCS pointers inside, outside and beyond
// memory) and random guest events. A guest or VMM can cause each of these;
// the only acceptable outcomes are a normal return (an outcome value) or an
// architectural CpuException — never a host MemoryError/UsageError (VmxError is one),
// TypeError or RangeError — and saveState → JSON → restoreState round-trips.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CpuException } from '@hvsim/core';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { VMCS_FIELD_SPECS } from '../fields/field-table.js';
import { ADDR, apicvOptions, rootFixture } from '../internal/test-setup.js';
import { prepareVmcs } from './prepare-vmcs.js';
import { VmxProcessor } from './processor.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

const encodings = VMCS_FIELD_SPECS.map((s) => s.encoding);
const pointer = fc.oneof(
  fc.constantFrom(ADDR.VMCS, ADDR.VMCS2, ADDR.VMXON, 0x40_0000, 0xffff_f000),
  fc.integer({ min: 0, max: 2 ** 40 }).map((a) => a - (a % 4096)),
  fc.integer({ min: 0, max: 2 ** 53 - 1 }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const value64 = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(0, 1, 0x1000, 0x4000, 0x6000, 0x7040, 0x40_0000));
const encoding = fc.oneof(fc.constantFrom(...encodings), fc.integer({ min: 0, max: 0xffff_ffff }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('vmwrite' as const), e: encoding, v: value64 }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('vmread' as const), e: encoding }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('vmclear' as const, 'vmptrld' as const, 'vmxon' as const), a: pointer }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('vmptrst' as const), a: fc.integer({ min: 0, max: 2 ** 53 - 1 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('vmlaunch' as const, 'vmresume' as const, 'vmxoff' as const, 'prepare' as const) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('boundary' as const), ifl: fc.boolean(), nmi: fc.boolean(), ext: fc.integer({ min: -1, max: 255 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('ext' as const), v: fc.integer({ min: 0, max: 255 }), ifl: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('post' as const), v: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('nmi' as const, 'init' as const, 'hlt' as const, 'iret' as const, 'movss' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sipi' as const), v: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sti' as const), was: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('rdmsr' as const, 'wrmsr' as const), msr: fc.oneof(fc.integer({ min: 0x800, max: 0x8ff }), fc.integer({ min: 0, max: 0xffff_ffff })), v: value64 }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mem' as const), a: fc.oneof(fc.integer({ min: 0x4000, max: 0x6000 }), fc.integer({ min: 0, max: 2 ** 53 - 1 })), size: fc.constantFrom(1, 2, 4), w: fc.boolean(), v: fc.integer({ min: 0, max: 0xff }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('exception' as const), v: fc.integer({ min: 0, max: 31 }), code: fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cr8' as const), v: fc.integer({ min: 0, max: 15 }), read: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('helpers' as const), port: fc.integer({ min: 0, max: 0xffff }), cr3: value64 }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('time' as const), n: fc.integer({ min: 0, max: 5000 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sync' as const) }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function apply(p: VmxProcessor, pid: PostedInterruptDescriptor, o: Op, advance: (n: number) => void): void {
  const nonRoot = p.vmxOperation === 'non-root';
  switch (o.k) {
    case 'vmwrite': p.vmwrite(o.e, o.v); break;
    case 'vmread': p.vmread(o.e); break;
    case 'vmclear': p.vmclear(o.a); break;
    case 'vmptrld': p.vmptrld(o.a); break;
    case 'vmxon': p.vmxon(o.a); break;
    case 'vmptrst': p.vmptrst(o.a); break;
    case 'vmlaunch': p.vmlaunch(); break;
    case 'vmresume': p.vmresume(); break;
    case 'vmxoff': p.vmxoff(); break;
    case 'prepare': if (p.vmxOperation === 'root' && p.currentVmcs) prepareVmcs(p, apicvOptions()); break;
    case 'post': pid.postFromSoftware(o.v); break;
    case 'time': advance(o.n); break;
    case 'sync': if (p.vmxOperation === 'root' && p.currentVmcs) p.syncPirToVirr(); break;
    case 'init': p.init(); break;
    case 'sipi': p.sipi(o.v); break;
    default:
      if (!nonRoot) break;
      switch (o.k) {
        case 'boundary': p.instructionBoundary(o.ifl, o.nmi, o.ext); break;
        case 'ext': p.externalInterrupt(o.v, o.ifl); break;
        case 'nmi': p.nmi(); break;
        case 'hlt': p.hlt(); break;
        case 'iret': p.iret(); break;
        case 'movss': p.movSs(); break;
        case 'sti': p.sti(o.was); break;
        case 'rdmsr': p.rdmsr(o.msr); break;
        case 'wrmsr': p.wrmsr(o.msr, o.v); break;
        case 'mem': p.memoryAccess(o.a, o.size, o.w ? 'write' : 'read', o.v); break;
        case 'exception': p.exception(o.v, { errorCode: o.code }); break;
        case 'cr8': if (o.read) p.movFromCr8(); else p.movToCr8(o.v); break;
        case 'helpers':
          p.ioAccessExits(o.port, 1);
          p.crAccessExits({ type: 'mov-to', cr: 3, value: o.cr3 });
          p.instructionExits('rdtsc');
          void p.boundaryPending;
          break;
      }
  }
}

describe('nothing escapes: random VMX instruction sequences, VMWRITEs and guest events', () => {
  // Two halves of the runs (seeds seed and seed + 1), so that no test depends on the machine's speed.
  it.each([0, 1])('only outcome values or CpuException, and the state round-trips through JSON (half %i)', (half) => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => {
        const f = rootFixture();
        prepareVmcs(f.p, apicvOptions());
        const pid = new PostedInterruptDescriptor(f.memory, ADDR.PID);
        for (const o of ops) {
          try {
            apply(f.p, pid, o, (n) => f.clock.advance(n));
          } catch (e) {
            if (!(e instanceof CpuException)) throw new Error(`${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))} threw ${String(e)}`);
          }
        }
        const text = JSON.stringify(f.p.saveState());
        const saved = JSON.parse(text) as unknown;
        const b = new VmxProcessor({ memory: f.memory, clock: f.clock });
        b.restoreState(saved);
        // Compared as JSON text (exact, and cheap enough for every run); a difference is shown field by field.
        const again = JSON.stringify(b.saveState());
        if (again !== text) expect(JSON.parse(again)).toEqual(saved);
        expect(again).toBe(text);
      }),
      { seed: seed + half, numRuns: Math.ceil(numRuns / 2) },
    );
  });
});

describe('host-side arguments are checked (issue 12): a bigint where a number is expected names the value', () => {
  it('gives UsageError with the value, never "Cannot mix BigInt"', () => {
    const f = rootFixture();
    prepareVmcs(f.p, apicvOptions());
    expect(() => f.p.vmwrite32(0x4002, 5n as unknown as number)).toThrow(/vmwrite32 value must be an unsigned 32-bit integer, got 5/);
    f.p.vmlaunch();
    expect(() => f.p.externalInterrupt(0x20n as unknown as number, true)).toThrow(/vector must be an integer in \[0, 255\], got 32n/);
    expect(() => f.p.instructionBoundary(true, false, 0x20n as unknown as number)).toThrow(/vector must be an integer/);
    expect(() => f.p.rdmsr(0x808n as unknown as number)).toThrow(/MSR index \(ECX\) must be an integer/);
    expect(() => f.p.memoryAccess(0x5000n as unknown as number, 4, 'read')).toThrow(/physical address must be a non-negative safe integer, got 20480/);
    expect(() => f.p.ioAccessExits(0x60n as unknown as number, 1)).toThrow(/I\/O port must be an integer/);
  });
});
