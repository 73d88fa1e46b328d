// One device MSI delivered as a GICv4.1 direct vLPI to a resident vCPU, through the guest's acknowledge and EOI (the
// issue's direct-injection path, target ≥ 1.5 M/s): an assigned device's write to the host ITS is translated to the
// vPE's vLPI (VMAPTI from the forwarded irqfd route), the resident vPE's virtual CPU interface signals it, and the
// guest takes it through ICV_IAR1_EL1 / ICV_EOIR1_EL1: no exit, no list register. Steady state (the machine is built
// once); interrupts per second are MSIS × the iterations per second.
import { bench, describe } from 'vitest';
import { msiMachine } from './test-support/msi-machine.js';

const MSIS = 5000;
const PERIOD = 5000;
const m = msiMachine(true);

describe('GICv4.1 direct injection', () => {
  bench(`${MSIS} device MSIs as direct vLPIs to a resident vCPU, acknowledge and EOI, no exit`, () => {
    const before = m.vmm.vcpus[0]!.stats.count('IRQ');
    const runs = m.burst(MSIS, PERIOD);
    const irqExits = m.vmm.vcpus[0]!.stats.count('IRQ') - before;
    // The only IRQ exits are the VMM's signals ending each KVM_RUN slice.
    if (irqExits > runs) throw new Error(`expected ${MSIS} vLPIs without IRQ exits, got ${irqExits} in ${runs} runs`);
  }, { iterations: 20 });
});
