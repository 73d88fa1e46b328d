import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { VMCS_FIELD } from '../fields/field-table.js';
import { ADDR, apicvOptions, launch, preparedFixture, type Fixture } from '../internal/test-setup.js';
import { EOI_EXITS } from './virtual-apic.js';

const F = VMCS_FIELD;
const NV = 0xf2;
const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

function running(fields: Record<string, number | bigint> = {}): { f: Fixture; pid: PostedInterruptDescriptor } {
  const f = preparedFixture(apicvOptions({ fields }));
  launch(f);
  return { f, pid: new PostedInterruptDescriptor(f.memory, ADDR.PID) };
}

/** Posts `vectors` and runs posted-interrupt processing (SDM 3C "Posted-Interrupt Processing"). */
function postAll(f: Fixture, pid: PostedInterruptDescriptor, vectors: number[]): void {
  for (const v of vectors) pid.postFromSoftware(v);
  f.p.externalInterrupt(NV, true);
}

describe('VirtualApic.virtualizeEoi (SDM 3C "EOI Virtualization")', () => {
  it('retires SVI, sets SVI to the next VISR vector, virtualizes the PPR and evaluates pending virtual interrupts', () => {
    const { f, pid } = running();
    const va = f.p.vapic;
    postAll(f, pid, [0x51]);
    expect(va.deliver()).toBe(0x51);
    postAll(f, pid, [0x72, 0x33]);
    expect(va.deliver()).toBe(0x72); // VISR = {0x51, 0x72}, VIRR = {0x33}
    expect([va.svi, va.rvi, va.vppr]).toEqual([0x72, 0x33, 0x70]);
    expect(va.virtualizeEoi()).toBe(0x72);
    // SVI = highest VISR bit; VPPR = SVI & F0 (VTPR 0); RVI[7:4] 3 <= VPPR[7:4] 5: nothing recognized.
    expect([va.svi, va.vppr, va.recognized, va.testVisr(0x72)]).toEqual([0x51, 0x50, false, false]);
    expect(va.virtualizeEoi()).toBe(0x51);
    expect([va.svi, va.vppr, va.recognized]).toEqual([0, 0, true]); // RVI 0x33 now above VPPR
    expect(f.memory.read32(ADDR.VAPIC + 0xa0)).toBe(0); // the page's PPR follows
  });

  it('with the vector in the EOI-exit bitmap answers vector | EOI_EXITS and evaluates nothing (the caller exits)', () => {
    const { f, pid } = running({ EOI_EXIT_BITMAP1: 1n << BigInt(0x61 - 64) });
    const va = f.p.vapic;
    postAll(f, pid, [0x61]);
    va.deliver();
    postAll(f, pid, [0x40]); // recognized stays false: VPPR 0x60 blocks 0x40
    expect(va.recognized).toBe(false);
    expect(va.virtualizeEoi()).toBe(0x61 | EOI_EXITS);
    expect([va.svi, va.vppr, va.recognized]).toEqual([0, 0, false]); // retired, but no evaluation
  });

  it('the processor turns the flag into an EOI-induced VM exit with the vector as qualification (SDM 3C "EOI Virtualization")', () => {
    const { f, pid } = running({ EOI_EXIT_BITMAP3: 1n << BigInt(0xe1 - 192) });
    postAll(f, pid, [0xe1]);
    expect(f.p.instructionBoundary(true).kind).toBe('deliver');
    const o = f.p.wrmsr(0x80b, 0);
    expect(o.kind === 'exit' && [o.exit.reasonName, o.exit.qualification]).toEqual(['EOI_INDUCED', 0xe1]);
  });
});

describe('guest interrupt status kept as a number (SDM 3C "Guest Non-Register State": RVI 7:0, SVI 15:8)', () => {
  it('every change is written through to the VMCS field, and VM entry reads the field again', () => {
    const { f, pid } = running();
    const va = f.p.vapic;
    postAll(f, pid, [0x45, 0x9a]);
    const status = (): number => f.p.currentVmcs!.read32(F.GUEST_INTR_STATUS);
    expect(status()).toBe(0x9a);
    f.p.instructionBoundary(true);
    expect(status()).toBe((0x9a << 8) | 0x45);
    f.p.wrmsr(0x80b, 0);
    expect(status()).toBe(0x45);
    // In root operation the VMM writes the field; the next entry takes it (VISR/VIRR on the page agree with it).
    f.p.reportExit(12);
    expect(f.p.vmwrite(F.GUEST_INTR_STATUS, 0x45).kind).toBe('succeed');
    f.memory.write32(ADDR.VAPIC + 0x200 + 0x20, 0); // VIRR 0x45 cleared by the VMM
    expect(f.p.vmwrite(F.GUEST_INTR_STATUS, 0).kind).toBe('succeed');
    expect(f.p.vmresume().kind).toBe('entered');
    expect([va.rvi, va.svi]).toEqual([0, 0]);
  });

  it('RVI and SVI always equal the VMCS field while the guest runs (property: posts, deliveries, EOIs)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0x20, max: 0xff }), fc.integer({ min: 0, max: 2 })), { maxLength: 24 }), (steps) => {
        const { f, pid } = running();
        const va = f.p.vapic;
        for (const [v, op] of steps) {
          if (op === 0) postAll(f, pid, [v]);
          else if (op === 1) f.p.instructionBoundary(true);
          else if (va.svi !== 0) f.p.wrmsr(0x80b, 0);
          const field = f.p.currentVmcs!.read32(F.GUEST_INTR_STATUS);
          expect([va.rvi, va.svi]).toEqual([field & 0xff, field >>> 8]);
        }
      }),
      { seed, numRuns },
    );
  });
});

describe('posted-interrupt processing with nothing behind the virtual-APIC page (SDM 3C "Posted-Interrupt Processing")', () => {
  it('VIRR and RVI still take the PIR; the all-ones stand-in page is left as it was', () => {
    const { f, pid } = running({ VIRTUAL_APIC_PAGE_ADDR: 0x20_0000 }); // beyond the 1-MiB region
    const va = f.p.vapic;
    postAll(f, pid, [0x41, 0xc3]);
    expect([va.testVirr(0x41), va.testVirr(0xc3), va.rvi]).toEqual([true, true, 0xc3]);
    expect(va.read32(0x200 + 0x60)).toBe(0xffff_ffff); // VIRR word 6 of the stand-in
    expect(va.read32(0x200 + 0x20)).toBe(0xffff_ffff);
  });
});
