// Property: any sequence of KVM_SET_USER_MEMORY_REGION calls keeps the slots non-overlapping and page-aligned,
// and a call that fails (with a KvmError) changes nothing (api.rst 4.35; nothing accepted half done).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KvmError } from './errors.js';
import { Kvm } from '../kvm.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

const call = fc.record({
  slot: fc.constantFrom(0, 1, 2, 3, 32764, 0x1_0001),
  flags: fc.constantFrom(0, 1, 2, 3, 4),
  guestPhysAddr: fc.integer({ min: 0, max: 16 }).map((p) => p * 0x1000 + (p === 13 ? 0x10 : 0)),
  memorySize: fc.integer({ min: 0, max: 6 }).map((p) => p * 0x1000 + (p === 5 ? 0x800 : 0)),
  userspaceOffset: fc.integer({ min: 0, max: 8 }).map((p) => p * 0x1000),
});

describe('KVM_SET_USER_MEMORY_REGION, any sequence of calls', () => {
  it('keeps slots disjoint and aligned, and a refused call changes nothing', () => {
    fc.assert(
      fc.property(fc.array(call, { maxLength: 12 }), (calls) => {
        const kvm = new Kvm({ kernelSize: 4 << 20 });
        const vm = kvm.createVm();
        const hva = kvm.mmap(0x1_0000);
        for (const c of calls) {
          const before = JSON.stringify(vm.memslots.list());
          try {
            vm.setUserMemoryRegion({ slot: c.slot, flags: c.flags, guestPhysAddr: c.guestPhysAddr, memorySize: c.memorySize, userspaceAddr: hva + c.userspaceOffset });
          } catch (e) {
            expect(e).toBeInstanceOf(KvmError);
            expect(JSON.stringify(vm.memslots.list())).toBe(before);
          }
          const slots = [...vm.memslots.list()].sort((a, b) => a.guestPhysical - b.guestPhysical);
          slots.forEach((s, i) => {
            expect(s.guestPhysical % 4096).toBe(0);
            expect(s.size % 4096).toBe(0);
            if (i > 0) expect(slots[i - 1]!.guestPhysical + slots[i - 1]!.size).toBeLessThanOrEqual(s.guestPhysical);
          });
        }
      }),
      { seed, numRuns },
    );
  });
});
