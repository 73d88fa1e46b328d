import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '@hvsim/core';
import { loadArm64Profile } from './arm64-profile.js';
import { arm64NicPort } from './devices/arm64-nic-port.js';
import { parseOptions } from './options.js';
import { simulate, type RunResult } from './simulate.js';

const xgene = loadArm64Profile('arm64-xgene');
const runs = (argv: string[] = []): RunResult[] => simulate(parseOptions(['--arch', 'arm64', '--workload', 'netperf-rr', '--duration', '400000', ...argv]), xgene).runs;
const byMode = (list: RunResult[], mode: string): RunResult => list.find((r) => r.mode === mode)!;

describe('arm64 netperf-rr over the assigned NIC: native (GICv3 + ITS), gicv3 (vITS, list registers), gicv4 (direct vLPIs)', () => {
  // One run per mode (each with its native baseline), shared by the tests below: the first to ask pays for it.
  const memo = new Map<string, RunResult>();
  const mode = (m: string): RunResult => memo.get(m) ?? memo.set(m, byMode(runs(['--mode', m]), m)).get(m)!;
  const every = (): RunResult[] => ['native', 'gicv3', 'gicv4'].map(mode);

  it('gicv3: one exit per device interrupt, the injection (the kick\'s IRQ exit); the guest\'s acknowledge and EOI of the LPI cost none', () => {
    const v = mode('gicv3');
    expect(v.interrupts.delivered).toBeGreaterThan(10);
    // The irqfd's MSI route translates in the vITS (IHI0069 5.2) to a pending LPI of vCPU 0, which KVM kicks out
    // of the guest to put it in a list register at the next entry: one IRQ exit per interrupt.
    expect(v.exits.perInterrupt).toBeGreaterThanOrEqual(0.95);
    expect(v.exits.perInterrupt).toBeLessThanOrEqual(1.1);
    expect(Math.abs((v.exits.byReason.IRQ ?? 0) - v.interrupts.delivered)).toBeLessThanOrEqual(1);
    // IHI0069 6.1: ICV_IAR1_EL1 / ICV_EOIR1_EL1 served by the list registers; the ring and the BAR's register
    // page are memslots (no data abort), the MSI-X table is touched at bring-up only.
    expect(v.exits.byReason.SYS64 ?? 0).toBe(0);
    expect(v.exits.byReason.DATA_ABORT_LOWER ?? 0).toBe(0);
  });

  it('gicv4: about no exit per device interrupt (the VF\'s MSI is a vLPI to the resident vPE, IHI0069 5.4); native none at all', () => {
    const v = mode('gicv4');
    expect(v.interrupts.delivered).toBeGreaterThan(10);
    expect(v.exits.perInterrupt).toBeLessThanOrEqual(0.1);
    expect(mode('native').exits.total).toBe(0);
    expect(mode('native').interrupts.delivered).toBeGreaterThan(10);
  });

  it('throughput as a percentage of native is ordered gicv3 < gicv4 <= about native; MSI-to-handler latency likewise', () => {
    const [v3, v4] = [mode('gicv3'), mode('gicv4')];
    expect(v3.throughput.pctOfNative!).toBeLessThan(v4.throughput.pctOfNative!);
    expect(v4.throughput.pctOfNative!).toBeLessThanOrEqual(102);
    expect(v3.latencyCycles!.p50).toBeGreaterThan(xgene.host.exit); // a world switch on the way in
    expect(v4.latencyCycles!.p50).toBeLessThan(xgene.host.exit);
  });

  it('accounts for every frame and every receive cause in each mode', () => {
    for (const r of every()) {
      const p = r.packets!;
      const i = r.interrupts;
      expect(p.requests, r.mode).toBe(p.requestsInFlight + p.nicReceived);
      expect(p.nicReceived, r.mode).toBe(p.toRing + p.droppedNoDescriptor + p.droppedDmaFault);
      expect(p.droppedDmaFault + p.responseDmaFaults, r.mode).toBe(0);
      expect(p.responses, r.mode).toBe(p.responsesInFlight + p.clientReceived);
      expect(p.served, r.mode).toBe(p.responses);
      expect(i.delivered + i.coalesced + i.dropped, r.mode).toBe(i.raised);
      expect(r.throughput.unit).toBe('transactions/s');
    }
  });
});

describe('the arm64 NIC port (no SMMU model)', () => {
  it('DMA goes to the bus address\'s memory through `translate`; an address no memory backs is an Unsupported Request; the MSI goes to the host with the DeviceID', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0x4000_0000, 0x1000, { name: 'ram' });
    const msis: number[][] = [];
    const port = arm64NicPort({ memory, translate: (a) => (a >= 0x1000 ? a + 0x3fff_f000 : -1), msi: (address, data, deviceId) => (msis.push([address, data, deviceId]), 1) });
    expect(port.dmaWrite(0x300, 0x1010, 4, 0xabcd).status).toBe('ok');
    expect(memory.read32(0x4000_0010)).toBe(0xabcd);
    expect(port.dmaRead(0x300, 0x1010, 4)).toMatchObject({ status: 'ok', value: 0xabcd, physicalAddress: 0x4000_0010 });
    expect(port.dmaRead(0x300, 0x10, 4)).toMatchObject({ status: 'unsupported-request', value: 0, physicalAddress: -1 }); // no translation
    expect(port.dmaWrite(0x300, 0x3000, 4, 1)).toMatchObject({ status: 'unsupported-request', physicalAddress: -1 }); // past the RAM
    expect(port.sendMsi(0x300, 0x0809_0040, 0).status).toBe(1);
    expect(msis).toEqual([[0x0809_0040, 0, 0x300]]);
  });
});
