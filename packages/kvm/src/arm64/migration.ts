/**
 * Saving and restoring a whole arm64 VM as a VMM does it (QEMU's
 * `kvm_arch_get/put_registers`, `kvm_arm_gicv3_get/put`,
 * `kvm_arm_its_pre_save/post_load`), through the KVM API: every vCPU's
 * one-reg registers (KVM_GET_REG_LIST) with the virtual timer's CTL, CVAL
 * and CNT, and its MP state; the vGICv3 through its device attributes
 * (DIST_REGS, REDIST_REGS, CPU_SYSREGS; arm-vgic-v3.rst), the LPIs' pending
 * bits through KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES; each vITS through
 * KVM_DEV_ARM_ITS_SAVE_TABLES and its ITS_REGS, restored in the "ITS
 * Restore Sequence" of arm-vgic-its.rst; the GSI routing and the memslots'
 * RAM (where the tables now are) — plus what this model keeps outside
 * guest memory: the guest code's position (`new Kvm({ arch: 'arm64',
 * snapshots: true })`) and KVM's own vCPU state no register holds (a
 * pending CPU_ON reset, the timer line).
 *
 * vCPUs are saved outside KVM_RUN, so their vPEs are already descheduled
 * (vgic_v4_put) and their list registers folded into the emulated
 * distributor. Times are relative to the clock at the save; the guest's
 * virtual counter continues from its saved value (KVM_REG_ARM_TIMER_CNT
 * moves CNTVOFF_EL2). A restore goes into a VM the VMM built with the same
 * shape (memslots, vGIC addresses and NR_IRQS, vITS bases, vCPU ids, guest
 * program), checks the whole state first and puts the VM back when a part
 * fails (`SnapshotError`).
 */
import { SnapshotError, UsageError, bigintToHex, hexToBigint, readState, type StateReader } from '@hvsim/core';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE, GITS } from '@hvsim/gic';
import { KVM_MEM } from '../generic/constants.js';
import { KvmError } from '../generic/errors.js';
import { parseMemslotPages, restoreMemslotPages, saveMemslotPages } from '../generic/memslot-pages.js';
import type { KvmIrqRoutingEntry } from '../generic/routing.js';
import type { SavedMemslot } from '../x86/migration.js';
import { ARM64_MAX_VCPUS } from './caps.js';
import { KVM_ARM_MP_STATE, KVM_DEV_ARM_VGIC_CTRL, KVM_DEV_ARM_VGIC_GRP, KVM_REG_ARM_CORE_INDEX, KVM_REG_ARM_TIMER, arm64CoreRegId } from './constants.js';
import type { Arm64Vcpu, Arm64VcpuRunState } from './vcpu.js';
import { VGIC_SAVED_CPU_SYSREGS, VTIMER_PPI, type Arm64Vgic } from './vgic.js';
import type { Arm64Vits } from './vits.js';
import type { Arm64Vm } from './vm.js';

/** A saved arm64 vCPU (see the file comment). */
export interface Arm64VcpuSavedState {
  type: 'hvsim.kvm.arm64-vcpu';
  version: 1;
  id: number;
  /** The guest's local time minus the clock's time at the save. */
  time: number;
  /** KVM's state beside the registers. */
  run: Arm64VcpuRunState;
  /** KVM_GET_ONE_REG of every listed register but the PC and the timer's: [id, value], both hex. */
  regs: [string, string][];
  /** KVM_REG_ARM_TIMER_CTL, _CVAL and _CNT, hex. */
  timer: { ctl: string; cval: string; cnt: string };
  /** The guest CPU with its running code (`Arm64Cpu.saveState`). */
  cpu: unknown;
}

/** A saved arm64 VM (see the file comment). */
export interface Arm64VmSavedState {
  type: 'hvsim.kvm.arm64-vm';
  version: 1;
  memslots: SavedMemslot[];
  routing: KvmIrqRoutingEntry[];
  /** The vGICv3 (null without one): NR_IRQS, then the distributor and redistributor registers in the fixed order `src/arm64/migration.ts` lists (DIST_REGS, REDIST_REGS). */
  vgic: {
    nrIrqs: number;
    dist: number[];
    /** Per vCPU (vCPU id order): the redistributor registers, then the CPU system registers. */
    redist: number[][];
    cpuSysregs: number[][];
    /** Each vITS: its base and its ITS_REGS (CBASER, CREADR, CWRITER, BASER0-7, IIDR, CTLR), hex. */
    its: { base: number; regs: string[] }[];
  } | null;
  vcpus: Arm64VcpuSavedState[];
}

const { DIST_REGS, REDIST_REGS, CPU_SYSREGS, CTRL, ITS_REGS, NR_IRQS } = KVM_DEV_ARM_VGIC_GRP;
const PC_ID = arm64CoreRegId(KVM_REG_ARM_CORE_INDEX.PC);
const TIMER_IDS = new Set<bigint>([KVM_REG_ARM_TIMER.CTL, KVM_REG_ARM_TIMER.CVAL, KVM_REG_ARM_TIMER.CNT]);

/**
 * The distributor registers of `nrIrqs` interrupts in restore order
 * (IHI 0069 12.9): GICD_CTLR, the SPIs' configuration (group, group
 * modifier, priority, trigger, route), then enable, pending and active.
 */
function distOffsets(nrIrqs: number): number[] {
  const words = (base: number, per: number, first: number): number[] => Array.from({ length: nrIrqs / per - first }, (_, i) => base + 4 * (first + i));
  const routes: number[] = [];
  for (let id = 32; id < nrIrqs; id++) routes.push(GICD.IROUTER + 8 * id, GICD.IROUTER + 8 * id + 4);
  return [
    GICD.CTLR,
    ...words(GICD.IGROUPR, 32, 1),
    ...words(GICD.IGRPMODR, 32, 1),
    ...words(GICD.IPRIORITYR, 4, 8),
    ...words(GICD.ICFGR, 16, 2),
    ...routes,
    ...words(GICD.ISENABLER, 32, 1),
    ...words(GICD.ISPENDR, 32, 1),
    ...words(GICD.ISACTIVER, 32, 1),
  ];
}

/** A redistributor's registers in restore order (IHI 0069 12.11): GICR_CTLR last (EnableLPIs reads the pending table). */
const SGI = (off: number): number => GICR_SGI_BASE + off;
const REDIST_OFFSETS: readonly number[] = [
  GICR.WAKER,
  GICR.PROPBASER,
  GICR.PROPBASER + 4,
  GICR.PENDBASER,
  GICR.PENDBASER + 4,
  SGI(GICR_SGI.IGROUPR0),
  SGI(GICR_SGI.IGRPMODR0),
  ...Array.from({ length: 8 }, (_, i) => SGI(GICR_SGI.IPRIORITYR0 + 4 * i)),
  SGI(GICR_SGI.ICFGR0),
  SGI(GICR_SGI.ICFGR1),
  SGI(GICR_SGI.ISENABLER0),
  SGI(GICR_SGI.ISPENDR0),
  SGI(GICR_SGI.ISACTIVER0),
  GICR.CTLR,
];
const ISACTIVER0_INDEX = REDIST_OFFSETS.indexOf(SGI(GICR_SGI.ISACTIVER0));

/** The vITS registers in the "ITS Restore Sequence" order (arm-vgic-its.rst): GITS_CBASER, the others, GITS_CTLR last. */
const ITS_OFFSETS: readonly number[] = [GITS.CBASER, GITS.CREADR, GITS.CWRITER, ...Array.from({ length: 8 }, (_, n) => GITS.BASER + 8 * n), GITS.IIDR, GITS.CTLR];

/** The vCPUs of a VM in id order. */
function vcpusOf(vm: Arm64Vm): Arm64Vcpu[] {
  const out: Arm64Vcpu[] = [];
  for (let id = 0; id < ARM64_MAX_VCPUS; id++) {
    const v = vm.vcpu(id);
    if (v) out.push(v);
  }
  return out;
}

const mpidrAttr = (v: Arm64Vcpu, low: number): bigint => (BigInt(v.mpidr) << 32n) | BigInt(low);

/** Saves a vCPU outside KVM_RUN with no MMIO exit to complete (UsageError 'bad-state' otherwise). */
function saveVcpu(vm: Arm64Vm, v: Arm64Vcpu): Arm64VcpuSavedState {
  if (v.inKvmRun) throw new UsageError('bad-state', `vCPU ${v.id} is in KVM_RUN`);
  if (v.mmioInFlight) throw new UsageError('bad-state', `vCPU ${v.id} has an MMIO exit to complete: KVM_RUN it with kvm_run.immediate_exit = 1 first (api.rst 5)`);
  if (!v.initialized) throw new UsageError('bad-state', `vCPU ${v.id} was never initialized (KVM_ARM_VCPU_INIT)`);
  let cpu: unknown;
  try {
    cpu = v.cpu.saveState();
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError('bad-state', `vCPU ${v.id}: ${e.message} (new Kvm({ arch: 'arm64', snapshots: true }))`);
    throw e;
  }
  const regs: [string, string][] = [];
  for (const id of v.getRegList()) if (id !== PC_ID && !TIMER_IDS.has(id)) regs.push([bigintToHex(id), bigintToHex(v.getOneReg(id))]);
  return {
    type: 'hvsim.kvm.arm64-vcpu',
    version: 1,
    id: v.id,
    time: v.cpu.localTime - vm.clock.now(),
    run: v.runState(),
    regs,
    timer: { ctl: bigintToHex(v.getOneReg(KVM_REG_ARM_TIMER.CTL)), cval: bigintToHex(v.getOneReg(KVM_REG_ARM_TIMER.CVAL)), cnt: bigintToHex(v.getOneReg(KVM_REG_ARM_TIMER.CNT)) },
    cpu,
  };
}

function saveVgic(vm: Arm64Vm, vgic: Arm64Vgic, vcpus: readonly Arm64Vcpu[]): NonNullable<Arm64VmSavedState['vgic']> {
  // The tables go to guest memory first (vgic_v3_save_pending_tables, vgic_its_save_tables_v0), saved with the RAM.
  vgic.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.SAVE_PENDING_TABLES });
  for (const its of vgic.its) its.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.ITS_SAVE_TABLES });
  const nrIrqs = Number(vgic.getAttr({ group: NR_IRQS, attr: 0 }));
  return {
    nrIrqs,
    dist: distOffsets(nrIrqs).map((off) => Number(vgic.getAttr({ group: DIST_REGS, attr: off }))),
    redist: vcpus.map((v) => REDIST_OFFSETS.map((off) => Number(vgic.getAttr({ group: REDIST_REGS, attr: mpidrAttr(v, off) })))),
    cpuSysregs: vcpus.map((v) => VGIC_SAVED_CPU_SYSREGS.map((instr) => Number(vgic.getAttr({ group: CPU_SYSREGS, attr: mpidrAttr(v, instr) })))),
    its: vgic.its.map((its: Arm64Vits) => ({ base: its.baseAddress, regs: ITS_OFFSETS.map((off) => bigintToHex(its.getAttr({ group: ITS_REGS, attr: off }))) })),
  };
}

/**
 * Saves a whole arm64 VM (see the file comment): every vCPU must be
 * outside KVM_RUN with no MMIO exit pending, and the guest CPUs must record
 * their code (`snapshots: true`), else UsageError 'bad-state'. The vGIC's
 * and vITSs' tables are written into guest memory first, as the save
 * ioctls do. `ram: false` leaves the RAM out (a VMM that copies it itself).
 */
export function saveArm64Vm(vm: Arm64Vm, options: { ram?: boolean } = {}): Arm64VmSavedState {
  const ram = options.ram ?? true;
  const vcpus = vcpusOf(vm);
  const savedVcpus = vcpus.map((v) => saveVcpu(vm, v));
  const vgic = vm.vgic;
  const savedVgic = vgic?.initialized === true ? saveVgic(vm, vgic, vcpus) : null;
  return {
    type: 'hvsim.kvm.arm64-vm',
    version: 1,
    memslots: vm.memslots.list().map((s) => ({
      slot: s.id,
      flags: s.flags,
      guestPhysAddr: s.guestPhysical,
      memorySize: s.size,
      pages: ram ? saveMemslotPages(vm.memory, s.hostPhysical, s.size) : [],
      dirty: Array.from(vm.memslots.dirtyBitmap(s.id) ?? []),
    })),
    routing: structuredClone([...vm.gsiRouting()]),
    vgic: savedVgic,
    vcpus: savedVcpus,
  };
}

interface ParsedVcpu {
  vcpu: Arm64Vcpu;
  state: Arm64VcpuSavedState;
  regs: [bigint, bigint][];
  timer: { ctl: bigint; cval: bigint; cnt: bigint };
}

interface ParsedVm {
  state: Arm64VmSavedState;
  slots: { id: number; hostPhysical: number; size: number; flags: number; guestPhysical: number; pages: [number, Uint8Array][] | null; dirty: number[] }[];
  vcpus: ParsedVcpu[];
}

function parseVcpu(v: Arm64Vcpu, raw: unknown, where: string): ParsedVcpu {
  const r = readState(raw, 'hvsim.kvm.arm64-vcpu', 1);
  const s = raw as Arm64VcpuSavedState;
  if (r.int('id', 0, ARM64_MAX_VCPUS - 1) !== v.id) throw new SnapshotError('shape', `${where}.id is not vCPU ${v.id}`);
  r.int('time', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const run = r.object('run');
  const features = run.int('features', 0, 0xffff_ffff);
  const mp = run.int('mp', 0, 0xff);
  if (mp !== KVM_ARM_MP_STATE.RUNNABLE && mp !== KVM_ARM_MP_STATE.STOPPED) throw new SnapshotError('shape', `${where}.run.mp ${mp} is not RUNNABLE (0) or STOPPED (5)`);
  const pc = run.int('pc', 0, Number.MAX_SAFE_INTEGER);
  const resetPending = run.bool('resetPending');
  const started = run.bool('started');
  run.bool('timerLine');
  if (!v.initialized) throw new SnapshotError('shape', `${where}: the target vCPU ${v.id} is not initialized (KVM_ARM_VCPU_INIT it as the source was)`);
  if (features !== v.runState().features) throw new SnapshotError('shape', `${where}.run.features 0x${features.toString(16)} differ from the target vCPU's KVM_ARM_VCPU_INIT features`);
  if ((resetPending || started) && !v.hasCodeAt(pc)) throw new SnapshotError('shape', `${where}.run.pc 0x${pc.toString(16)} has no guest code in the target VM`);
  const rawRegs = r.raw('regs');
  if (!Array.isArray(rawRegs)) throw new SnapshotError('shape', `${where}.regs must be an array of [id, value]`);
  const known = new Set(v.getRegList());
  const regs = rawRegs.map((e: unknown, i) => {
    if (!Array.isArray(e) || e.length !== 2) throw new SnapshotError('shape', `${where}.regs[${i}] must be [id, value] in hex`);
    const id = hexToBigint(e[0], `${where}.regs[${i}][0]`);
    if (!known.has(id) || id === PC_ID || TIMER_IDS.has(id)) throw new SnapshotError('shape', `${where}.regs[${i}]: ${String(e[0])} is not a register the target vCPU saves`);
    return [id, hexToBigint(e[1], `${where}.regs[${i}][1]`, 128)] as [bigint, bigint];
  });
  const t = r.object('timer');
  const timer = { ctl: t.bigint('ctl'), cval: t.bigint('cval'), cnt: t.bigint('cnt') };
  if (typeof s.cpu !== 'object' || s.cpu === null) throw new SnapshotError('shape', `${where}.cpu must be a saved Arm64Cpu`);
  return { vcpu: v, state: s, regs, timer };
}

function parseVm(vm: Arm64Vm, raw: unknown): ParsedVm {
  const r = readState(raw, 'hvsim.kvm.arm64-vm', 1);
  const s = raw as Arm64VmSavedState;
  const slots = r.array('memslots', (m: StateReader, i) => {
    const id = m.int('slot', 0, 0xffff);
    const target = vm.memslots.get(id);
    const gpa = m.address('guestPhysAddr');
    const size = m.address('memorySize');
    const flags = m.u32('flags');
    if (!target || target.guestPhysical !== gpa || target.size !== size || target.flags !== flags) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.memslots[${i}] (slot ${id}) differs from the target VM's memslot (set it up the same first)`);
    const rawPages = m.raw('pages');
    const pages = Array.isArray(rawPages) && rawPages.length === 0 ? null : parseMemslotPages(rawPages, size, `hvsim.kvm.arm64-vm.memslots[${i}].pages`);
    const dirty = m.intArray('dirty', 0, 0xffff_ffff);
    if (dirty.length > Math.ceil(size / 4096 / 32)) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.memslots[${i}].dirty is longer than the slot's bitmap`);
    return { id, hostPhysical: target.hostPhysical, size, flags, guestPhysical: gpa, pages, dirty };
  });
  if (slots.length !== vm.memslots.list().length) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.memslots has ${slots.length} slots, the target VM ${vm.memslots.list().length}`);
  if (!Array.isArray(s.routing)) throw new SnapshotError('shape', 'hvsim.kvm.arm64-vm.routing must be an array');
  const targets = vcpusOf(vm);
  const vcpus = r.array('vcpus', (_x, i) => {
    const saved = s.vcpus[i] as { id?: unknown };
    const target = typeof saved.id === 'number' ? vm.vcpu(saved.id) : undefined;
    if (!target) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.vcpus[${i}]: the target VM has no vCPU ${String(saved.id)}`);
    return parseVcpu(target, saved, `hvsim.kvm.arm64-vm.vcpus[${i}]`);
  });
  if (vcpus.length !== targets.length) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.vcpus has ${vcpus.length} vCPUs, the target VM ${targets.length}`);
  parseVgic(vm, r, s, targets.length);
  return { state: s, slots, vcpus };
}

function parseVgic(vm: Arm64Vm, r: StateReader, s: Arm64VmSavedState, cpus: number): void {
  const vgic = vm.vgic;
  const have = vgic?.initialized === true;
  if (s.vgic === null) {
    if (have) throw new SnapshotError('shape', 'hvsim.kvm.arm64-vm.vgic is null but the target VM has an initialized vGICv3');
    return;
  }
  if (!have) throw new SnapshotError('shape', 'hvsim.kvm.arm64-vm.vgic is saved but the target VM has no initialized vGICv3 (create and CTRL_INIT it as the source was)');
  const g = r.object('vgic');
  const nrIrqs = g.int('nrIrqs', 64, 1024);
  if (nrIrqs !== Number(vgic.getAttr({ group: NR_IRQS, attr: 0 }))) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.vgic.nrIrqs ${nrIrqs} differs from the target vGIC's`);
  g.intArray('dist', 0, 0xffff_ffff, distOffsets(nrIrqs).length);
  const rows = (key: 'redist' | 'cpuSysregs', length: number): void => {
    const list = g.raw(key);
    if (!Array.isArray(list) || list.length !== cpus) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.vgic.${key} must hold one row per vCPU (${cpus})`);
    list.forEach((row: unknown, i) => {
      if (!Array.isArray(row) || row.length !== length || !row.every((x) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffff_ffff)) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.vgic.${key}[${i}] must be ${length} u32 values`);
    });
  };
  rows('redist', REDIST_OFFSETS.length);
  rows('cpuSysregs', VGIC_SAVED_CPU_SYSREGS.length);
  const its = g.array('its', (x: StateReader, i) => {
    const base = x.int('base', -1, Number.MAX_SAFE_INTEGER);
    const target = vgic.its[i];
    if (target?.baseAddress !== base) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.vgic.its[${i}] at 0x${base.toString(16)} is not a vITS of the target VM at that base`);
    const regs = x.raw('regs');
    if (!Array.isArray(regs) || regs.length !== ITS_OFFSETS.length) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.vgic.its[${i}].regs must be ${ITS_OFFSETS.length} hex values`);
    regs.forEach((v, k) => hexToBigint(v, `hvsim.kvm.arm64-vm.vgic.its[${i}].regs[${k}]`));
    return base;
  });
  if (its.length !== vgic.its.length) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm.vgic.its has ${its.length} vITSs, the target VM ${vgic.its.length}`);
}

/** The vGIC's registers, then each vITS in the ITS Restore Sequence. */
function applyVgic(vm: Arm64Vm, saved: NonNullable<Arm64VmSavedState['vgic']>, vcpus: readonly Arm64Vcpu[]): void {
  const vgic = vm.vgic!;
  // The set-registers only set: what the target holds is cleared first (GICD_IC*R / GICR_IC*R0).
  for (let w = 1; w < saved.nrIrqs / 32; w++) for (const off of [GICD.ICENABLER, GICD.ICPENDR, GICD.ICACTIVER]) vgic.setAttr({ group: DIST_REGS, attr: off + 4 * w, value: 0xffff_ffff });
  distOffsets(saved.nrIrqs).forEach((off, k) => vgic.setAttr({ group: DIST_REGS, attr: off, value: saved.dist[k]! }));
  vcpus.forEach((v, i) => {
    for (const off of [GICR_SGI.ICENABLER0, GICR_SGI.ICPENDR0, GICR_SGI.ICACTIVER0]) vgic.setAttr({ group: REDIST_REGS, attr: mpidrAttr(v, SGI(off)), value: 0xffff_ffff });
    REDIST_OFFSETS.forEach((off, k) => vgic.setAttr({ group: REDIST_REGS, attr: mpidrAttr(v, off), value: saved.redist[i]![k]! }));
    VGIC_SAVED_CPU_SYSREGS.forEach((instr, k) => vgic.setAttr({ group: CPU_SYSREGS, attr: mpidrAttr(v, instr), value: saved.cpuSysregs[i]![k]! }));
    // kvm_timer_vcpu_load_gic: a forwarded timer interrupt active in the vGIC is active on the physical CPU too,
    // until the guest's deactivation through the HW list register.
    const hostRd = vm.hostGic.redistributorRegion;
    const active = (saved.redist[i]![ISACTIVER0_INDEX]! >>> VTIMER_PPI) & 1;
    hostRd.mmioWrite(vm.pcpuOf(v.id) * hostRd.stride + GICR_SGI_BASE + (active ? GICR_SGI.ISACTIVER0 : GICR_SGI.ICACTIVER0), 4, 1 << VTIMER_PPI);
  });
  vgic.its.forEach((its, i) => {
    const regs = saved.its[i]!.regs;
    ITS_OFFSETS.forEach((off, k) => {
      if (off === GITS.CTLR) its.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.ITS_RESTORE_TABLES });
      its.setAttr({ group: ITS_REGS, attr: off, value: hexToBigint(regs[k], 'its') });
    });
  });
}

function applyVcpu(vm: Arm64Vm, p: ParsedVcpu): void {
  const v = p.vcpu;
  for (const [id, value] of p.regs) v.setOneReg(id, value);
  // The virtual counter first (CNTVOFF_EL2), then the compare value and the control.
  v.setOneReg(KVM_REG_ARM_TIMER.CNT, p.timer.cnt);
  v.setOneReg(KVM_REG_ARM_TIMER.CVAL, p.timer.cval);
  v.setOneReg(KVM_REG_ARM_TIMER.CTL, p.timer.ctl);
  v.setRunState(p.state.run);
  const cpu = { ...(p.state.cpu as Record<string, unknown>), localTime: Math.max(0, vm.clock.now() + p.state.time) };
  v.cpu.restoreState(cpu);
}

function apply(vm: Arm64Vm, p: ParsedVm): void {
  for (const slot of p.slots) {
    if (slot.pages !== null) restoreMemslotPages(vm.memory, slot.hostPhysical, slot.size, slot.pages);
    if ((slot.flags & KVM_MEM.LOG_DIRTY_PAGES) !== 0) {
      // The pending dirty log: what the destination's next KVM_GET_DIRTY_LOG reports is what the source's would have.
      vm.getDirtyLog(slot.id);
      slot.dirty.forEach((word, w) => {
        for (let b = 0; b < 32; b++) if ((word & (1 << b)) !== 0) vm.memslots.markDirty(slot.guestPhysical + (w * 32 + b) * 4096, 4096);
      });
    }
  }
  const s = p.state;
  if (s.vgic !== null) {
    applyVgic(vm, s.vgic, p.vcpus.map((x) => x.vcpu));
    vm.setGsiRouting(s.routing);
  }
  for (const v of p.vcpus) applyVcpu(vm, v);
}

/**
 * Restores a saved arm64 VM into `vm`, a VM of the same shape (see the
 * file comment), in the order the vGIC documents ask: RAM (with the saved
 * tables), the distributor, each redistributor (GICR_CTLR last) and CPU
 * interface, each vITS (GITS_CBASER, the other registers,
 * KVM_DEV_ARM_ITS_RESTORE_TABLES, GITS_CTLR), the routing, then the vCPUs.
 * Everything is checked first; when a part still fails, the VM is put back
 * as it was and a SnapshotError names the part.
 */
export function restoreArm64Vm(vm: Arm64Vm, state: unknown): void {
  const parsed = parseVm(vm, state);
  if (vm.running > 0) throw new UsageError('bad-state', 'a vCPU of the target VM is in KVM_RUN');
  let before: ParsedVm | undefined;
  try {
    before = parseVm(vm, saveArm64Vm(vm));
  } catch {
    before = undefined;
  }
  try {
    apply(vm, parsed);
  } catch (e) {
    if (before) apply(vm, before);
    if (e instanceof SnapshotError) throw e;
    if (e instanceof KvmError || e instanceof UsageError) throw new SnapshotError('shape', `hvsim.kvm.arm64-vm: ${e.message}`);
    throw e;
  }
}
