// The README's vITS example (section "The vITS and KVM_SIGNAL_MSI"), extracted from README.md and run as written:
// a guest's ITS driver maps DeviceID 2 / EventID 20 to LPI 8195 (IHI 0069 5.3), the VMM's KVM_SIGNAL_MSI
// (api.rst 4.71) makes it pending, and the guest takes it through a list register.
import { describe, expect, it } from 'vitest';
import * as core from '@hvsim/core';
import * as cpu from '@hvsim/cpu';
import * as gic from '@hvsim/gic';
import * as kvm from '../index.js';
import { blockUnder, readmeBlocks, runBlock } from '../../../../test-support/readme-blocks.js';

const blocks = readmeBlocks(new URL('../../README.md', import.meta.url));
const modules = { '@hvsim/core': core, '@hvsim/cpu': cpu, '@hvsim/gic': gic, '@hvsim/kvm': kvm };

describe('README: the vITS and KVM_SIGNAL_MSI', () => {
  it('the guest maps an event to an LPI, the VMM signals the MSI, the guest takes LPI 8195', () => {
    const { logs } = runBlock(blockUnder(blocks, 'The vITS and KVM_SIGNAL_MSI (`src/arm64/vits.ts`)'), modules);
    expect(logs).toEqual(['1 8195 true']);
  });
});
