// One device MSI through the vITS and the list registers end to end (the "through the vITS + LRs" path,
// target ≥ 0.5 M/s): a device's MSI (KVM_SIGNAL_MSI from a clock event) is translated by the vITS to LPI 8195 of
// vCPU 0, the vGIC kicks the running vCPU (one IRQ exit), the flush puts the LPI in a list register, and the guest
// acknowledges and completes it through ICV_IAR1_EL1 / ICV_EOIR1_EL1 with no exit. Interrupts per second are
// MSIS × the iterations per second (steady state: the machine is built once).
import { bench, describe } from 'vitest';
import { msiMachine } from './test-support/msi-machine.js';

const MSIS = 5000;
const PERIOD = 5000;
const m = msiMachine(false);

describe('vITS and list registers', () => {
  bench(`${MSIS} device MSIs as LPIs, one IRQ exit each, acknowledge and EOI without exits`, () => {
    const before = m.vmm.vcpus[0]!.stats.count('IRQ');
    m.burst(MSIS, PERIOD);
    const irqExits = m.vmm.vcpus[0]!.stats.count('IRQ') - before;
    if (irqExits < MSIS) throw new Error(`expected an IRQ exit per LPI, got ${irqExits} for ${MSIS}`);
  }, { iterations: 20 });
});
