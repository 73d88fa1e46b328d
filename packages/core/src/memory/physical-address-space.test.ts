import { describe, expect, it } from 'vitest';
import { MmioBus } from '../bus/buses.js';
import type { AccessSize, MmioDevice } from '../bus/devices.js';
import { UsageError } from '../errors/hvsim-error.js';
import { GuestPhysicalMemory } from './guest-physical-memory.js';
import { Memslots } from './memslots.js';
import { PhysicalAddressSpace } from './physical-address-space.js';
import { PhysicalMemory } from './physical-memory.js';

class Regs implements MmioDevice {
  log: string[] = [];
  mmioRead(offset: number, size: AccessSize): number {
    this.log.push(`r${size}@${offset}`);
    return 0x1000 + offset;
  }
  mmioWrite(offset: number, size: AccessSize, value: number): void {
    this.log.push(`w${size}@${offset}=${value.toString(16)}`);
  }
}

class Regs64 extends Regs {
  mmioRead64(offset: number): bigint {
    this.log.push(`r8@${offset}`);
    return 0x1234_5678_9abc_def0n;
  }
  mmioWrite64(offset: number, value: bigint): void {
    this.log.push(`w8@${offset}=${value.toString(16)}`);
  }
}

function setup(priority?: 'ram' | 'mmio'): { ram: PhysicalMemory; bus: MmioBus; dev: Regs; wide: Regs64; space: PhysicalAddressSpace } {
  const ram = new PhysicalMemory();
  ram.addRegion(0, 0x10_0000);
  ram.addRegion(0xf_0000_0000, 0x1000, { readOnly: true });
  const bus = new MmioBus();
  const dev = new Regs();
  const wide = new Regs64();
  bus.map(0xfee0_0000, 0x1000, dev, 'lapic');
  bus.map(0xfec0_0000, 0x100, wide, 'wide');
  return { ram, bus, dev, wide, space: new PhysicalAddressSpace(ram, bus, priority === undefined ? {} : { priority }) };
}

describe('PhysicalAddressSpace: RAM and MMIO as a CPU sees them', () => {
  it('reads and writes RAM of every size', () => {
    const { ram, space } = setup();
    const out = { lo: 0, hi: 7 };
    expect(space.write(0x1000, 8, 0x5566_7788, 0x1122_3344)).toBe('ram');
    expect(ram.read64(0x1000)).toBe(0x1122_3344_5566_7788n);
    expect(space.read(0x1000, 8, out)).toBe('ram');
    expect(out).toEqual({ lo: 0x5566_7788, hi: 0x1122_3344 });
    expect(space.read(0x1002, 2, out)).toBe('ram');
    expect(out).toEqual({ lo: 0x5566, hi: 0 });
    expect(space.write(0x1001, 1, 0xab)).toBe('ram');
    expect(space.read(0x1000, 4, out)).toBe('ram');
    expect(out.lo).toBe(0x5566_ab88);
    expect(space.write(0xffe, 4, 0xdead_beef)).toBe('ram'); // crosses a page inside RAM
    expect(ram.read32(0xffe)).toBe(0xdead_beef);
  });

  it('sends what RAM does not back to the device, with the offset in its range', () => {
    const { dev, space } = setup();
    const out = { lo: 0, hi: 9 };
    expect(space.read(0xfee0_0030, 4, out)).toBe('mmio');
    expect(out).toEqual({ lo: 0x1030, hi: 0 });
    expect(space.write(0xfee0_00b0, 4, 0)).toBe('mmio');
    expect(space.write(0xfee0_0010, 1, 0x5)).toBe('mmio');
    expect(dev.log).toEqual(['r4@48', 'w4@176=0', 'w1@16=5']);
  });

  it('carries 8-byte MMIO to a device with 64-bit registers, and as two 32-bit halves otherwise', () => {
    const { dev, wide, space } = setup();
    const out = { lo: 0, hi: 0 };
    expect(space.read(0xfec0_0008, 8, out)).toBe('mmio');
    expect(out).toEqual({ lo: 0x9abc_def0, hi: 0x1234_5678 });
    expect(space.write(0xfec0_0010, 8, 0x2, 0x1)).toBe('mmio');
    expect(wide.log).toEqual(['r8@8', 'w8@16=100000002']);
    expect(space.read(0xfee0_0100, 8, out)).toBe('mmio');
    expect(out).toEqual({ lo: 0x1100, hi: 0x1104 });
    expect(space.write(0xfee0_0100, 8, 0xaa, 0xbb)).toBe('mmio');
    expect(dev.log).toEqual(['r4@256', 'r4@260', 'w4@256=aa', 'w4@260=bb']);
  });

  it('reports "nothing there" as a value: a hole, past the end of a device, crossing from RAM into a hole', () => {
    const { ram, dev, space } = setup();
    const out = { lo: 0x11, hi: 0x22 };
    expect(space.read(0x8000_0000, 4, out)).toBe('unclaimed');
    expect(out).toEqual({ lo: 0x11, hi: 0x22 });
    expect(space.write(0x8000_0000, 1, 0)).toBe('unclaimed');
    expect(space.read(0xfee0_0ffe, 4, out)).toBe('unclaimed');
    expect(space.write(0xf_ffff_fffc, 8, 1, 1)).toBe('unclaimed'); // below 2^52: a hole
    expect(space.read(2 ** 52 + 8, 1, out)).toBe('unclaimed'); // beyond the MMIO space, still an address
    expect(space.write(0xf_fffc, 8, 1, 1)).toBe('unclaimed'); // RAM ends inside the access
    expect(ram.read32(0xf_fffc)).toBe(0);
    expect(dev.log).toEqual([]);
  });

  it('reports a write to read-only RAM as read-only and leaves it', () => {
    const { ram, space } = setup();
    expect(space.write(0xf_0000_0010, 4, 1)).toBe('read-only');
    expect(ram.read32(0xf_0000_0010)).toBe(0);
    const out = { lo: 1, hi: 1 };
    expect(space.read(0xf_0000_0010, 4, out)).toBe('ram');
    expect(out).toEqual({ lo: 0, hi: 0 });
    expect(space.write(0xf_0000_0010, 4, 1)).toBe('read-only'); // the page is cached now
  });

  it('lets a device win over RAM with priority mmio (an APIC page over RAM)', () => {
    const { ram, bus, space } = setup('mmio');
    const over = new Regs();
    bus.map(0x2000, 0x1000, over, 'over-ram');
    ram.write32(0x2000, 0x77);
    const out = { lo: 0, hi: 0 };
    expect(space.read(0x2000, 4, out)).toBe('mmio');
    expect(out.lo).toBe(0x1000);
    expect(space.read(0x3000, 4, out)).toBe('ram');
    const { space: ramFirst, bus: bus2 } = setup();
    bus2.map(0x2000, 0x1000, new Regs(), 'over-ram');
    expect(ramFirst.read(0x2000, 4, out)).toBe('ram');
    expect(() => new PhysicalAddressSpace(ram, bus, { priority: 'rom' as 'ram' })).toThrow(`priority must be 'ram' or 'mmio', got "rom"`);
    expect(() => new PhysicalAddressSpace(ram, bus, { priorty: 'mmio' } as never)).toThrow('PhysicalAddressSpace has no option "priorty" (known: priority)');
    expect(() => new PhysicalAddressSpace(bus as never, bus)).toThrow('PhysicalAddressSpace needs a Memory, got object');
    expect(() => new PhysicalAddressSpace(ram, ram as never)).toThrow('PhysicalAddressSpace needs an MmioBus, got object');
  });

  it('drops its cached RAM page when the memory generation changes', () => {
    const { ram, space } = setup();
    const out = { lo: 0, hi: 0 };
    expect(space.read(0x5000, 4, out)).toBe('ram');
    ram.removeRegion(0);
    expect(space.read(0x5000, 4, out)).toBe('unclaimed');
  });

  it('works over a guest-physical view: unslotted guest addresses go to the guest devices', () => {
    const host = new PhysicalMemory();
    host.addRegion(0x100_0000, 0x10_0000);
    const slots = new Memslots();
    slots.add({ id: 0, guestPhysical: 0, size: 0x10_0000, hostPhysical: 0x100_0000 });
    const bus = new MmioBus();
    bus.map(0xd000_0000, 0x1000, new Regs(), 'virtio');
    const space = new PhysicalAddressSpace(new GuestPhysicalMemory(host, slots), bus);
    expect(space.write(0x10, 4, 9)).toBe('ram');
    expect(host.read32(0x100_0010)).toBe(9);
    const out = { lo: 0, hi: 0 };
    expect(space.read(0xd000_0004, 4, out)).toBe('mmio');
    expect(space.read(0xc000_0000, 4, out)).toBe('unclaimed');
  });

  it('throws UsageError only for host misuse: sizes and non-addresses', () => {
    const { space } = setup();
    const out = { lo: 0, hi: 0 };
    expect(() => space.read(0, 3 as 4, out)).toThrow('access size must be one of 1, 2, 4, 8 bytes, got 3 (0x3)');
    for (const bad of [-4, 0.5, 2 ** 53, 2 ** 64, Number.NaN]) {
      expect(() => space.read(bad, 4, out)).toThrow(UsageError);
      expect(() => space.write(bad, 8, 0)).toThrow(UsageError);
    }
  });
});
