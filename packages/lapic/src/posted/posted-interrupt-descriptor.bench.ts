/**
 * Posted-interrupt descriptor over core Memory through a cached page view
 * (issue 11: "posted MSI with the descriptor accessed through the page view;
 * PIR sync"). Each iteration runs N = 1000 operations.
 */
import { bench, describe } from 'vitest';
import { PhysicalMemory } from '@hvsim/core';
import { PostedInterruptDescriptor } from './posted-interrupt-descriptor.js';

const N = 1000;

function descriptor(): PostedInterruptDescriptor {
  const memory = new PhysicalMemory();
  memory.addRegion(0x10000, 0x1000);
  return new PostedInterruptDescriptor(memory, 0x10040);
}

describe(`posted-interrupt descriptor, ${N} operations per iteration`, () => {
  const a = descriptor();
  bench('reservedBitsSet + post (the IOMMU posted-MSI path)', () => {
    for (let i = 0; i < N; i++) {
      if (!a.reservedBitsSet()) a.post(0x40 + (i & 63));
      if ((i & 63) === 63) a.clear();
    }
  });

  const f = descriptor();
  bench('checkAndPost (the same, fused: one page-view lookup)', () => {
    for (let i = 0; i < N; i++) {
      f.checkAndPost(0x40 + (i & 63));
      if ((i & 63) === 63) f.clear();
    }
  });

  const b = descriptor();
  const pir = new Uint32Array(8);
  bench('postFromSoftware + clearOn + readAndClearPir (PIR sync)', () => {
    for (let i = 0; i < N; i++) {
      b.postFromSoftware(0x40 + (i & 127));
      b.clearOn();
      b.readAndClearPir(pir);
    }
  });

  const g = descriptor();
  bench('postFromSoftware + clearOnAndSwapPir (posted-interrupt processing)', () => {
    for (let i = 0; i < N; i++) {
      g.postFromSoftware(0x40 + (i & 127));
      g.clearOnAndSwapPir(pir);
    }
  });

  const c = descriptor();
  bench('updateControl (SN, NV, NDST) + clearSnAndResync (vcpu_put/load)', () => {
    for (let i = 0; i < N; i++) {
      c.updateControl({ sn: true, nv: 0xf1, ndst: i & 0xff });
      c.clearSnAndResync();
    }
  });

  const d = descriptor();
  bench('writeControl (numeric) + clearSnAndResync', () => {
    for (let i = 0; i < N; i++) {
      d.writeControl(2 | (0xf2 << 16), i & 0xff);
      d.clearSnAndResync();
    }
  });
});
