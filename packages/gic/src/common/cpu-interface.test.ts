import { describe, expect, it } from 'vitest';
import { CpuInterfaceCore } from './cpu-interface.js';
import { IrqEngine, type CandidateSource } from './irq-state.js';
import { LPI_BASE } from './intid.js';

/** A minimal LPI source: the seam issue 8's redistributor plugs into (IHI0069 5.1). */
class FakeLpis implements CandidateSource {
  readonly firstKey: number;
  readonly prio = new Map<number, number>();
  constructor(private readonly engine: IrqEngine) {
    this.firstKey = engine.lines;
  }
  key(intid: number): number {
    return this.firstKey + intid - LPI_BASE;
  }
  intid(key: number): number {
    return key - this.firstKey + LPI_BASE;
  }
  priority(_cpu: number, key: number): number {
    return this.prio.get(key)!;
  }
  group(): number {
    return 1;
  }
  raise(cpu: number, intid: number, priority: number): void {
    const k = this.key(intid);
    this.prio.set(k, priority);
    const set = this.engine.candidates[cpu]!;
    set.grow(k + 1);
    set.insert(k, priority, 1);
    this.engine.onChange(cpu);
  }
  acknowledge(cpu: number, key: number): void {
    this.engine.candidates[cpu]!.remove(key);
  }
}

describe('CpuInterfaceCore with interrupts from a CandidateSource (the LPI seam)', () => {
  it('selects LPIs and SPIs by priority, returns the LPI INTID, and EOI of an LPI only drops priority', () => {
    const e = new IrqEngine({ cpus: 1, spis: 32, priorityBits: 8, routing: 'affinity' });
    e.distEnable = 3;
    const ci = new CpuInterfaceCore(e, 0, 8, false, {});
    e.onChange = () => ci.update();
    ci.groupEnable = 3;
    ci.pmr = 0xff;
    const lpis = new FakeLpis(e);
    e.extension = lpis;
    e.setGroup(0, 40, 1);
    e.setPriority(0, 40, 0x80);
    e.setEnabled(0, 40, true);
    e.setPending(0, 40);
    lpis.raise(0, 8192 + 65535, 0x40);
    expect(ci.irqLevel).toBe(true);
    expect(ci.highestPending(2, 1023)).toBe(8192 + 65535);
    expect(ci.acknowledge(2, 1023)).toBe(8192 + 65535);
    expect(ci.runningPriority()).toBe(0x40);
    expect(ci.acknowledge(2, 1023)).toBe(1023); // 0x80 cannot preempt 0x40
    ci.endOfInterrupt(8192 + 65535);
    expect(ci.runningPriority()).toBe(0xff);
    expect(ci.acknowledge(2, 1023)).toBe(40);
  });
});
