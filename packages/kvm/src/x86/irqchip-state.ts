/**
 * KVM_GET_IRQCHIP / KVM_SET_IRQCHIP (api.rst 4.26, 4.27; Linux
 * arch/x86/kvm/x86.c `kvm_vm_ioctl_get/set_irqchip`, i8259.c, ioapic.c
 * `kvm_get/set_ioapic`): `struct kvm_irqchip` with `chip_id` PIC_MASTER,
 * PIC_SLAVE or IOAPIC and the chip's `struct kvm_pic_state` or
 * `struct kvm_ioapic_state`, converted from and to the `@hvsim/lapic`
 * models' own states.
 *
 * What the uapi structs do not carry is kept from the chip (the PIC's ICW3,
 * single and LTIM bits, which KVM's PIC does not model either). Setting the
 * IOAPIC restores its pins from `irr`: level-triggered pins as asserted
 * lines, edge-triggered ones as edges held for delivery.
 */
import type { IoApic, PicPair } from '@hvsim/lapic';
import { KVM_IRQCHIP } from '../generic/constants.js';
import { fail, hex, u32 } from '../generic/errors.js';
import { IOAPIC_BASE, IOAPIC_NUM_PINS } from './irqchip.js';

/** `struct kvm_pic_state` (uapi asm/kvm.h), one 8259A. */
export interface KvmPicState {
  last_irr: number;
  irr: number;
  imr: number;
  isr: number;
  priority_add: number;
  irq_base: number;
  read_reg_select: number;
  poll: number;
  special_mask: number;
  init_state: number;
  auto_eoi: number;
  rotate_on_auto_eoi: number;
  special_fully_nested_mode: number;
  init4: number;
  elcr: number;
  elcr_mask: number;
}

/** `struct kvm_ioapic_state` (uapi asm/kvm.h): 24 redirection entries of 64 bits. */
export interface KvmIoapicState {
  base_address: number;
  ioregsel: number;
  id: number;
  /** Asserted pins (level-triggered lines up, edges not yet delivered). */
  irr: number;
  redirtbl: bigint[];
}

/** `struct kvm_irqchip`: a PIC (chip_id 0 or 1) or the IOAPIC (2). */
export type KvmIrqchip = { chip_id: typeof KVM_IRQCHIP.PIC_MASTER | typeof KVM_IRQCHIP.PIC_SLAVE; pic: KvmPicState } | { chip_id: typeof KVM_IRQCHIP.IOAPIC; ioapic: KvmIoapicState };

/** KVM's i8259 ELCR write masks (kvm_pic_init: master 0xf8, slave 0xde). */
const ELCR_MASK = [0xf8, 0xde] as const;
const RTE_LEVEL = 1 << 15;

/** The PIC part of KVM_GET_IRQCHIP. */
export function getPicState(pic: PicPair, chip: 0 | 1): KvmPicState {
  const r = pic.registers(chip === 0 ? 'master' : 'slave');
  const b = (x: boolean): number => (x ? 1 : 0);
  return {
    last_irr: r.lastIrr,
    irr: r.irr,
    imr: r.imr,
    isr: r.isr,
    priority_add: r.priorityAdd,
    irq_base: r.irqBase,
    read_reg_select: b(r.readRegSelect),
    poll: b(r.poll),
    special_mask: b(r.specialMask),
    init_state: r.initState,
    auto_eoi: b(r.autoEoi),
    rotate_on_auto_eoi: b(r.rotateOnAutoEoi),
    special_fully_nested_mode: b(r.specialFullyNestedMode),
    init4: b(r.init4),
    elcr: r.elcr,
    elcr_mask: ELCR_MASK[chip],
  };
}

/** The IOAPIC part of KVM_GET_IRQCHIP. */
export function getIoapicState(ioapic: IoApic): KvmIoapicState {
  const s = ioapic.saveState();
  let irr = s.heldEdges ?? 0;
  s.pins.forEach((up, pin) => {
    if (up && (s.rteLow[pin]! & RTE_LEVEL) !== 0) irr |= 1 << pin;
  });
  return { base_address: IOAPIC_BASE, ioregsel: s.ioregsel, id: s.id, irr: irr >>> 0, redirtbl: s.rteLow.map((lo, pin) => (BigInt(s.rteHigh[pin]!) << 32n) | BigInt(lo)) };
}

const byte = (v: unknown, name: string): number => {
  const n = u32(v, name);
  if (n > 0xff) fail('EINVAL', `${name} must be a byte, got ${n}`);
  return n;
};

/**
 * The PIC part of KVM_SET_IRQCHIP: the chip's registers from `state`
 * (checked whole; EINVAL naming a bad field), then the PIC re-evaluates its
 * output (kvm_pic_update_irq).
 */
export function setPicState(pic: PicPair, chip: 0 | 1, state: KvmPicState): void {
  if (typeof (state as unknown) !== 'object' || (state as unknown) === null) fail('EFAULT', 'KVM_SET_IRQCHIP needs a struct kvm_pic_state');
  const f = (k: keyof KvmPicState): number => byte(state[k], `pic.${k}`);
  const flag = (k: keyof KvmPicState): boolean => {
    const v = f(k);
    if (v > 1) fail('EINVAL', `pic.${k} must be 0 or 1, got ${v}`);
    return v === 1;
  };
  const saved = pic.saveState();
  const name = chip === 0 ? 'master' : 'slave';
  const regs = { ...saved[name] };
  regs.lastIrr = f('last_irr');
  regs.irr = f('irr');
  regs.imr = f('imr');
  regs.isr = f('isr');
  regs.priorityAdd = f('priority_add');
  if (regs.priorityAdd > 7) fail('EINVAL', `pic.priority_add must be 0-7, got ${regs.priorityAdd}`);
  regs.irqBase = f('irq_base');
  regs.readRegSelect = flag('read_reg_select');
  regs.poll = flag('poll');
  regs.specialMask = flag('special_mask');
  regs.initState = f('init_state');
  if (regs.initState > 3) fail('EINVAL', `pic.init_state must be 0-3, got ${regs.initState}`);
  regs.autoEoi = flag('auto_eoi');
  regs.rotateOnAutoEoi = flag('rotate_on_auto_eoi');
  regs.specialFullyNestedMode = flag('special_fully_nested_mode');
  regs.init4 = flag('init4');
  regs.elcr = f('elcr') & ELCR_MASK[chip];
  f('elcr_mask');
  const lines = chip === 0 ? (saved.lines & 0xff00) | regs.lastIrr : (saved.lines & 0xff) | (regs.lastIrr << 8);
  try {
    pic.restoreState({ ...saved, [name]: regs, lines });
  } catch (e) {
    fail('EINVAL', `kvm_pic_state: ${(e as Error).message}`);
  }
}

/**
 * The IOAPIC part of KVM_SET_IRQCHIP (kvm_set_ioapic): ID, IOREGSEL, the
 * redirection entries and the asserted pins, checked whole first (EINVAL
 * naming a bad field or entry).
 */
export function setIoapicState(ioapic: IoApic, state: KvmIoapicState): void {
  if (typeof (state as unknown) !== 'object' || (state as unknown) === null) fail('EFAULT', 'KVM_SET_IRQCHIP needs a struct kvm_ioapic_state');
  const ioregsel = byte(state.ioregsel, 'ioapic.ioregsel');
  const id = u32(state.id, 'ioapic.id');
  if (id > 15) fail('EINVAL', `ioapic.id must be 0-15, got ${id}`);
  const irr = u32(state.irr, 'ioapic.irr');
  const tbl: unknown = state.redirtbl;
  if (!Array.isArray(tbl) || tbl.length !== IOAPIC_NUM_PINS) fail('EINVAL', `ioapic.redirtbl must hold ${IOAPIC_NUM_PINS} entries`);
  const rteLow: number[] = [];
  const rteHigh: number[] = [];
  state.redirtbl.forEach((e, pin) => {
    if (typeof (e as unknown) !== 'bigint' || e < 0n || e > 0xffff_ffff_ffff_ffffn) fail('EINVAL', `ioapic.redirtbl[${pin}] must be a 64-bit bigint, got ${String(e)}`);
    rteLow.push(Number(e & 0xffff_ffffn));
    rteHigh.push(Number(e >> 32n));
  });
  const pins = rteLow.map((lo, pin) => (irr & (1 << pin)) !== 0 && (lo & RTE_LEVEL) !== 0);
  const held = rteLow.reduce((acc, lo, pin) => ((irr & (1 << pin)) !== 0 && (lo & RTE_LEVEL) === 0 ? acc | (1 << pin) : acc), 0);
  try {
    ioapic.restoreState({ ...ioapic.saveState(), id, ioregsel, rteLow, rteHigh, pins, heldEdges: held >>> 0 });
  } catch (e) {
    fail('EINVAL', `kvm_ioapic_state: ${(e as Error).message}`);
  }
}

/** `chip_id` of a struct kvm_irqchip, or EINVAL. */
export function irqchipId(chip: unknown): 0 | 1 | 2 {
  const id = u32(chip, 'chip_id');
  if (id !== 0 && id !== 1 && id !== 2) fail('EINVAL', `chip_id ${hex(id)} is not KVM_IRQCHIP_PIC_MASTER (0), KVM_IRQCHIP_PIC_SLAVE (1) or KVM_IRQCHIP_IOAPIC (2)`);
  return id;
}
