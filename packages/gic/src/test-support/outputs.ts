/** Recorded IRQ/FIQ/vIRQ/vFIQ output levels per CPU, shared by the GICv2 and GICv3 test rigs. */

/** The last level each output was driven to, indexed by CPU. */
export interface OutputLevels {
  irq: boolean[];
  fiq: boolean[];
  virq: boolean[];
  vfiq: boolean[];
}

/** Fresh level arrays and the `onIrq`/`onFiq`/`onVirq`/`onVfiq` options that fill them. */
export function recordOutputs(): {
  levels: OutputLevels;
  callbacks: Record<'onIrq' | 'onFiq' | 'onVirq' | 'onVfiq', (cpu: number, asserted: boolean) => void>;
} {
  const levels: OutputLevels = { irq: [], fiq: [], virq: [], vfiq: [] };
  return {
    levels,
    callbacks: {
      onIrq: (c, l) => (levels.irq[c] = l),
      onFiq: (c, l) => (levels.fiq[c] = l),
      onVirq: (c, l) => (levels.virq[c] = l),
      onVfiq: (c, l) => (levels.vfiq[c] = l),
    },
  };
}
