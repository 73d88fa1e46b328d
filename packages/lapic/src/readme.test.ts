// The README's examples, extracted from README.md and run as written (issue 18), so
// the documentation cannot drift from what is tested. Each test checks what its
// block leaves behind against the section it documents.
import { describe, expect, it } from 'vitest';
import * as core from '@hvsim/core';
import { BusError, DELIVERY_STATUS, LevelLine } from '@hvsim/core';
import * as lapic from './index.js';
import type { LocalApic, PicPair, PostedInterruptDescriptor } from './index.js';
import { blockUnder, readmeBlocks, runBlock } from '../../../test-support/readme-blocks.js';

const blocks = readmeBlocks(new URL('../README.md', import.meta.url));
const modules = { '@hvsim/core': core, '@hvsim/lapic': lapic };
const run = (heading: string, names: string[]): ReturnType<typeof runBlock> => runBlock(blockUnder(blocks, heading), modules, names);

describe('README examples (run from README.md as written)', () => {
  it('every ```ts block is one of those checked below', () => {
    expect(blocks.map((b) => b.heading)).toEqual([
      'Usage',
      'Wiring onto @hvsim/core buses',
      'Register tables',
      'Delivery status',
      'APICv: a sink for fixed interrupts, EOIs and the virtual-APIC page',
      'IOAPIC output to a routing table or an IOMMU',
      'IOAPIC ack notifier (irqfd resample, PIT reinjection)',
      'Posted-interrupt descriptor over core\'s Memory',
      'Restoring into a running clock (migration)',
      'The i8259A PIC pair',
    ]);
  });

  it('Usage: an IPI, INTA and EOI, x2APIC SELF IPI, an MSI (SDM 3A 11.6.1, 11.8.4, 11.12.11, 11.11)', () => {
    const { scope, logs } = run('Usage', ['cpu0', 'cpu1', 'vector', 'pin4']);
    const { cpu0, cpu1 } = scope as { cpu0: LocalApic; cpu1: LocalApic };
    expect(scope.vector).toBe(0x41);
    expect(logs).toEqual(['wake CPU 1', 'wake CPU 1', 'wake CPU 0']);
    expect(cpu1.acknowledge()).toBe(0x42);
    expect(cpu0.acknowledge()).toBe(0x51);
    expect(scope.pin4).toBe(DELIVERY_STATUS.BLOCKED); // 82093AA: entries reset masked
    expect(cpu0.hasPendingInterrupt()).toBe(false);
  });

  it('Wiring onto core buses: the page follows IA32_APIC_BASE (SDM 3A 11.4.4, 11.12.1)', () => {
    const { scope } = run('Wiring onto @hvsim/core buses', ['version', 'sameVersion', 'mappedAt', 'mmio']);
    expect(scope.version).toBe(0x0106_0015);
    expect(scope.sameVersion).toBe(0x0106_0015n);
    expect(scope.mappedAt).toBeUndefined();
    expect(() => (scope.mmio as core.MmioBus).read(0xfee00030, 4)).toThrow(BusError);
  });

  it('Register tables: one description serves both views (SDM 3A Table 11-1, Table 11-6)', () => {
    const { scope } = run('Register tables', ['inBothViews', 'sameTpr']);
    expect(scope.inBothViews).toBe(true);
    expect(scope.sameTpr).toBe(0x20n);
  });

  it('Delivery status: delivered, coalesced, blocked; matched counts as KVM (KVM_IRQ_LINE_STATUS, api.rst 4.25)', () => {
    const { scope } = run('Delivery status', ['first', 'again', 'nobody', 'nobodyMatched', 'refused', 'refusedMatched', 'bus']);
    expect([scope.first, scope.again, scope.nobody, scope.refused]).toEqual([DELIVERY_STATUS.DELIVERED, DELIVERY_STATUS.COALESCED, DELIVERY_STATUS.BLOCKED, DELIVERY_STATUS.BLOCKED]);
    expect([scope.nobodyMatched, scope.refusedMatched]).toEqual([0, 1]);
    expect((scope.bus as lapic.ApicBus).lastAcceptedCount).toBe(0);
  });

  it('IOAPIC ack notifier: runs before Remote IRR is cleared; a resampled line is not re-delivered (KVM kvm_ioapic_update_eoi)', () => {
    const { scope } = run('IOAPIC ack notifier (irqfd resample, PIT reinjection)', ['acked', 'vector', 'ioapic', 'cpu']);
    expect(scope.vector).toBe(0x31);
    expect(scope.acked).toEqual([9]);
    expect((scope.ioapic as lapic.IoApic).remoteIrr(9)).toBe(false);
    expect((scope.cpu as LocalApic).hasPendingInterrupt()).toBe(false);
  });

  it('APICv: the fixed-interrupt sink posts, eoiVector, back to the IRR (VT-d 9.11, SDM 3C 30.6)', () => {
    const { scope } = run('APICv: a sink for fixed interrupts, EOIs and the virtual-APIC page', ['kicks', 'pid', 'vcpu']);
    const pid = scope.pid as PostedInterruptDescriptor;
    const vcpu = scope.vcpu as LocalApic;
    expect(scope.kicks).toEqual([1]);
    expect([pid.testPir(0x44), pid.testPir(0x45), pid.on]).toEqual([true, true, true]);
    expect(vcpu.isRequested(0x44) || vcpu.isRequested(0x45)).toBe(false);
    expect(vcpu.isRequested(0x46)).toBe(true);
  });

  it('IOAPIC output to a routing table: the entry as an MSI, onRteWrite (82093AA 3.2.4; VT-d 5.1.5.1)', () => {
    const { scope } = run('IOAPIC output to a routing table or an IOMMU', ['status', 'routed', 'rescanned', 'cpu']);
    expect(scope.status).toBe(DELIVERY_STATUS.DELIVERED);
    expect(scope.routed).toEqual([0xfee00000, 0xc030]);
    expect(scope.rescanned).toEqual([4, 4]);
    expect((scope.cpu as LocalApic).acknowledge()).toBe(0x30);
  });

  it("Posted-interrupt descriptor: checkAndPost and swapPir (VT-d 5.2.3, 9.11; SDM 3C 30.6)", () => {
    const { scope } = run("Posted-interrupt descriptor over core's Memory", ['first', 'again', 'words', 'pir', 'blocked', 'pid']);
    expect(scope.first).toBe(lapic.POST_RESULT.NOTIFY);
    expect(scope.again).toBe(lapic.POST_RESULT.COALESCED);
    expect(scope.words).toBe(1 << 1);
    expect((scope.pir as Uint32Array)[1]).toBe(1 << 17);
    expect(scope.blocked).toBe(true);
    expect((scope.pid as PostedInterruptDescriptor).hasPending()).toBe(false);
  });

  it('Restoring into a running clock: the periodic timer keeps its phase (SDM 3A 11.5.4)', () => {
    const { scope } = run('Restoring into a running clock (migration)', ['fired', 'count', 'moved']);
    expect(scope.count).toBe(5); // 500 cycles (5 ticks of 100) into the third period at the save
    expect(scope.fired).toEqual([500, 1500, 2500, 3500, 4500]);
    expect((scope.moved as LocalApic).mmioRead(lapic.APIC.TIMER_CURRENT_COUNT, 4)).toBe(5);
  });

  it('The i8259A PIC pair: initialization, a slave IRQ, INTA and EOIs (8259A datasheet, "Interrupt Sequence")', () => {
    const { scope, logs } = run('The i8259A PIC pair', ['vector', 'intr', 'pic']);
    expect(scope.vector).toBe(0x2c);
    expect((scope.intr as LevelLine).level).toBe(false);
    expect(logs).toEqual(['2c false']);
    expect((scope.pic as PicPair).registers('slave').isr).toBe(0);
  });
});
