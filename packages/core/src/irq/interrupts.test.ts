import { describe, expect, it } from 'vitest';
import { DELIVERY_MODE, DELIVERY_STATUS, DELIVERY_STATUS_NAME, FlowIds, LevelLine, type InterruptMessage, type InterruptTarget } from './interrupts.js';

describe('interrupt wiring', () => {
  it('numbers delivery modes as the ICR does (SDM 3A 11.6.1)', () => {
    expect(DELIVERY_MODE).toEqual({ FIXED: 0, LOWEST_PRIORITY: 1, SMI: 2, NMI: 4, INIT: 5, STARTUP: 6, EXTINT: 7 });
  });

  it('lets any target accept a message', () => {
    const got: InterruptMessage[] = [];
    const target: InterruptTarget = {
      acceptInterrupt: (m) => {
        got.push({ ...m });
        return DELIVERY_STATUS.DELIVERED;
      },
    };
    expect(target.acceptInterrupt({ vector: 0x30, trigger: 'edge', deliveryMode: DELIVERY_MODE.FIXED, flow: 7 })).toBe(DELIVERY_STATUS.DELIVERED);
    expect(got).toEqual([{ vector: 0x30, trigger: 'edge', deliveryMode: 0, flow: 7 }]);
  });

  it('numbers the delivery statuses as KVM_IRQ_LINE_STATUS does (api.rst 4.25) and names them by value', () => {
    expect(DELIVERY_STATUS).toEqual({ DELIVERED: 1, COALESCED: 0, BLOCKED: -1, DROPPED: -2 });
    for (const [name, value] of Object.entries(DELIVERY_STATUS)) expect(DELIVERY_STATUS_NAME[value]).toBe(name.toLowerCase());
  });

  it('allocates flow identifiers in order, never 0', () => {
    const ids = new FlowIds();
    expect(ids.current).toBe(0);
    expect([ids.next(), ids.next(), ids.next()]).toEqual([1, 2, 3]);
    expect(ids.current).toBe(3);
  });

  it('reports level changes only, not repeated levels', () => {
    const changes: boolean[] = [];
    const line = new LevelLine((l) => changes.push(l));
    line.setLevel(true);
    line.setLevel(true);
    line.setLevel(false);
    expect(changes).toEqual([true, false]);
    expect(line.level).toBe(false);
    new LevelLine().setLevel(true);
  });
});
