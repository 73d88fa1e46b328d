/**
 * Saving and restoring an x86 vCPU and a whole VM as a VMM does it for
 * snapshots and live migration (QEMU's `kvm_arch_get/put_registers`,
 * `ram_save_*`): through the KVM API — KVM_GET/SET_REGS, SREGS, LAPIC,
 * MSRS (the index list), VCPU_EVENTS, MP_STATE, KVM_GET/SET_IRQCHIP, the
 * GSI routing, the memslots' RAM and KVM_GET_DIRTY_LOG — plus what this
 * model keeps outside guest memory: the guest code's position (`@hvsim/cpu`
 * saves it with `{ snapshots: true }`, `new Kvm({ snapshots: true })`).
 *
 * The states are JSON-safe, with a type and version; times are relative to
 * the clock at the save, so a state restored into a host whose clock runs
 * differently loses no tick. A restore checks the whole state first and
 * changes nothing when it throws (`SnapshotError`). The target is a VM the
 * VMM built with the same shape: the same memslots (its own userspace
 * memory behind them), the same kind of irqchip, the same vCPU ids, and
 * the same guest program.
 *
 * An I/O exit must be completed before a vCPU is saved (api.rst 5: the
 * operation completes only at the next KVM_RUN; run it with
 * `kvm_run.immediate_exit = 1`, which completes it and returns EINTR).
 */
import { SnapshotError, UsageError, base64ToBytes, bytesToBase64, readState, type StateReader } from '@hvsim/core';
import { VMCS_FIELD } from '@hvsim/vmcs';
import { KVM_IRQCHIP, KVM_MEM, KVM_VCPUEVENT_VALID } from '../generic/constants.js';
import { KvmError } from '../generic/errors.js';
import { parseMemslotPages, restoreMemslotPages, saveMemslotPages } from '../generic/memslot-pages.js';
import type { KvmIrqRoutingEntry } from '../generic/routing.js';
import type { KvmIoapicState, KvmPicState } from './irqchip-state.js';
import { syncIa32eEntry } from './arch-events.js';
import { KVM_MSR_INDEX_LIST, type KvmMsrEntry } from './msrs.js';
import type { KvmRegs, KvmSregs, X86Vcpu } from './vcpu.js';
import { checkVcpuEvents, type KvmVcpuEvents } from './vcpu-events.js';
import type { X86Vm } from './vm.js';

/** A saved x86 vCPU (see the file comment). */
export interface X86VcpuSavedState {
  type: 'hvsim.kvm.x86-vcpu';
  version: 1;
  id: number;
  /** The guest's local time minus the clock's time at the save. */
  time: number;
  regs: KvmRegs;
  sregs: KvmSregs;
  /** KVM_GET_LAPIC's 1 KiB image, base64 (null without the in-kernel LAPIC). */
  lapic: string | null;
  /** KVM_GET_MSRS of the index list: [index, value as hex]. */
  msrs: [number, string][];
  events: KvmVcpuEvents;
  mpState: number;
  /** The SIPI vector of the last SIPI (restored with KVM_VCPUEVENT_VALID_SIPI_VECTOR). */
  sipiVector: number;
  /** The guest CPU with its running code (`X86Cpu.saveState`). */
  cpu: unknown;
}

/** A saved memslot: its layout, the non-zero pages of its RAM, the pages dirty since the last KVM_GET_DIRTY_LOG. */
export interface SavedMemslot {
  slot: number;
  flags: number;
  guestPhysAddr: number;
  memorySize: number;
  /** [page index, base64 of the 4 KiB page] for the pages that are not all zeros (empty without RAM). */
  pages: [number, string][];
  /** The slot's dirty bitmap as 32-bit words (empty when the slot does not log). */
  dirty: number[];
}

/** A saved x86 VM (see the file comment). */
export interface X86VmSavedState {
  type: 'hvsim.kvm.x86-vm';
  version: 1;
  /** Whether the memslots' RAM is in the state (false: the VMM copied it, e.g. by dirty-page rounds). */
  ram: boolean;
  memslots: SavedMemslot[];
  irqchip: 'none' | 'full' | 'split';
  reservedIoapicPins: number;
  /** KVM_GET_IRQCHIP of the PIC master and slave (full irqchip). */
  pic: KvmPicState[];
  /** KVM_GET_IRQCHIP of the IOAPIC with the redirection entries as hex (full irqchip), or null. */
  ioapic: (Omit<KvmIoapicState, 'redirtbl'> & { redirtbl: string[] }) | null;
  /** KVM_SET_GSI_ROUTING's table. */
  routing: KvmIrqRoutingEntry[];
  tssAddr: number;
  vcpus: X86VcpuSavedState[];
}

const PAGE = 4096;

/** KVM errors of a restore become SnapshotErrors naming the part. */
function asSnapshotError(e: unknown, what: string): SnapshotError {
  if (e instanceof SnapshotError) return e;
  if (e instanceof KvmError || e instanceof UsageError) return new SnapshotError('shape', `${what}: ${e.message}`);
  throw e;
}

/**
 * Saves a vCPU that is outside KVM_RUN, with no I/O exit left to complete
 * (UsageError 'bad-state' otherwise), through its ioctls.
 */
export function saveVcpu(v: X86Vcpu): X86VcpuSavedState {
  if (v.mode !== 'outside-guest') throw new UsageError('bad-state', `vCPU ${v.id} is in KVM_RUN`);
  if (v.userIo !== null) throw new UsageError('bad-state', `vCPU ${v.id} has an I/O exit to complete: KVM_RUN it with kvm_run.immediate_exit = 1 first (api.rst 5)`);
  let cpu: unknown;
  try {
    cpu = v.cpu.saveState();
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError('bad-state', `vCPU ${v.id}: ${e.message} (create the Kvm with { snapshots: true })`);
    throw e;
  }
  const msrs = KVM_MSR_INDEX_LIST.map((index) => ({ index, data: 0n }));
  msrs.length = v.getMsrs(msrs);
  return {
    type: 'hvsim.kvm.x86-vcpu',
    version: 1,
    id: v.id,
    time: v.cpu.localTime - v.host.clock.now(),
    regs: v.getRegs(),
    sregs: v.getSregs(),
    lapic: v.apic ? bytesToBase64(v.getLapic()) : null,
    msrs: msrs.map((m) => [m.index, m.data.toString(16)]),
    events: v.getVcpuEvents(),
    mpState: v.getMpState(),
    sipiVector: v.arch.sipi.vector,
    cpu,
  };
}

interface ParsedVcpu {
  time: number;
  regs: KvmRegs;
  sregs: KvmSregs;
  lapic: Uint8Array | null;
  msrs: KvmMsrEntry[];
  events: KvmVcpuEvents;
  mpState: number;
  sipiVector: number;
  cpu: Record<string, unknown>;
}

function parseVcpu(v: X86Vcpu, state: unknown, path: string): ParsedVcpu {
  const r = readState(state, 'hvsim.kvm.x86-vcpu', 1);
  const id = r.int('id', 0, 0xffff_ffff);
  if (id !== v.id) throw new SnapshotError('shape', `${path}.id ${id} is not the id of the vCPU it is restored into (${v.id})`);
  const regs = r.object('regs');
  const sregs = r.object('sregs');
  const idt = sregs.object('idt');
  const lapicRaw = r.raw('lapic');
  const lapic = lapicRaw === null ? null : base64ToBytes(lapicRaw, `${path}.lapic`);
  if ((lapic === null) !== (v.apic === undefined) || (lapic !== null && lapic.length !== 1024)) throw new SnapshotError('shape', `${path}.lapic must be ${v.apic ? 'a 1 KiB image' : 'null (no in-kernel LAPIC)'}`);
  const msrsRaw = r.raw('msrs');
  if (!Array.isArray(msrsRaw)) throw new SnapshotError('shape', `${path}.msrs must be an array`);
  const msrs = msrsRaw.map((m: unknown, i) => {
    if (!Array.isArray(m) || m.length !== 2 || typeof m[0] !== 'number' || typeof m[1] !== 'string' || !/^[0-9a-f]{1,16}$/.test(m[1])) throw new SnapshotError('shape', `${path}.msrs[${i}] must be [index, hex value]`);
    return { index: m[0], data: BigInt(`0x${m[1]}`) };
  });
  const events = r.record('events') as unknown as KvmVcpuEvents;
  try {
    checkVcpuEvents(events, 0);
  } catch (e) {
    throw asSnapshotError(e, `${path}.events`);
  }
  const cpu = r.record('cpu');
  return {
    time: r.int('time', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    regs: { rip: regs.address('rip'), rsp: regs.address('rsp'), rflags: regs.u32('rflags') },
    sregs: { cr0: sregs.u32('cr0'), cr2: sregs.address('cr2'), cr3: sregs.address('cr3'), cr4: sregs.u32('cr4'), cr8: sregs.int('cr8', 0, 15), efer: sregs.u32('efer'), apic_base: sregs.address('apic_base'), idt: { base: idt.address('base'), limit: idt.int('limit', 0, 0xffff) } },
    lapic,
    msrs,
    events,
    mpState: r.int('mpState', 0, 0xffff_ffff),
    sipiVector: r.int('sipiVector', 0, 0xff),
    cpu,
  };
}

/** Applies a parsed vCPU state (QEMU's order: registers, special registers, LAPIC, MSRs, MP state, events). */
function applyVcpu(v: X86Vcpu, p: ParsedVcpu): void {
  // The guest code first: it replays to where it stood (and throws, changing nothing, if it cannot).
  v.cpu.restoreState({ ...p.cpu, localTime: v.host.clock.now() + p.time });
  v.userIo = null;
  // KVM_SET_REGS without restarting the code: RIP names where the restored code stands.
  v.vmx.vmwrite(VMCS_FIELD.GUEST_RIP, p.regs.rip);
  v.setRegs({ rsp: p.regs.rsp, rflags: p.regs.rflags });
  v.setSregs(p.sregs);
  syncIa32eEntry(v); // vmx_set_efer (a vCPU saved in real mode, e.g. an AP just started by SIPI)
  if (p.lapic) v.setLapic(p.lapic);
  const written = v.setMsrs(p.msrs);
  if (written !== p.msrs.length) throw new SnapshotError('shape', `MSR 0x${p.msrs[written]!.index.toString(16)} was refused by KVM_SET_MSRS`);
  v.setMpState(p.mpState);
  v.setVcpuEvents({ ...p.events, sipi_vector: p.sipiVector, flags: (p.events.flags & ~KVM_VCPUEVENT_VALID.SMM) | KVM_VCPUEVENT_VALID.NMI_PENDING | KVM_VCPUEVENT_VALID.SHADOW | KVM_VCPUEVENT_VALID.SIPI_VECTOR });
}

/** What a rollback needs: the target's state before, when it could be saved. */
function trySaveVcpu(v: X86Vcpu): X86VcpuSavedState | undefined {
  try {
    return saveVcpu(v);
  } catch {
    return undefined;
  }
}

/**
 * Restores a saved vCPU into `v` (a vCPU with the same id, e.g. freshly
 * created in the target VM): the whole state is checked, then applied
 * through the ioctls; on any failure the vCPU is put back as it was and a
 * SnapshotError names the part.
 */
export function restoreVcpu(v: X86Vcpu, state: unknown): void {
  const parsed = parseVcpu(v, state, 'vcpu');
  const before = trySaveVcpu(v);
  try {
    applyVcpu(v, parsed);
  } catch (e) {
    if (before) applyVcpu(v, parseVcpu(v, before, 'vcpu'));
    throw asSnapshotError(e, `vcpu ${v.id}`);
  }
}

/**
 * Saves a VM and its vCPUs: memslots (with their RAM unless `ram: false`,
 * and their pending dirty bitmaps), the irqchip (KVM_GET_IRQCHIP), the
 * routing, the TSS address and every vCPU (see {@link saveVcpu}).
 */
export function saveVm(vm: X86Vm, options: { ram?: boolean } = {}): X86VmSavedState {
  const ram = options.ram ?? true;
  const vcpus = vm.vcpuIds().map((id) => saveVcpu(vm.vcpu(id)!));
  const chip = vm.irqchip;
  const full = chip !== undefined && !chip.split;
  const ioapic = full ? vm.getIrqchipState(KVM_IRQCHIP.IOAPIC) : undefined;
  return {
    type: 'hvsim.kvm.x86-vm',
    version: 1,
    ram,
    memslots: vm.memslots.list().map((s) => ({
      slot: s.id,
      flags: s.flags,
      guestPhysAddr: s.guestPhysical,
      memorySize: s.size,
      pages: ram ? saveMemslotPages(vm.memory, s.hostPhysical, s.size) : [],
      dirty: Array.from(vm.memslots.dirtyBitmap(s.id) ?? []),
    })),
    irqchip: chip === undefined ? 'none' : chip.split ? 'split' : 'full',
    reservedIoapicPins: vm.nrReservedIoapicPins,
    pic: full ? [KVM_IRQCHIP.PIC_MASTER, KVM_IRQCHIP.PIC_SLAVE].map((c) => (vm.getIrqchipState(c) as { pic: KvmPicState }).pic) : [],
    ioapic: ioapic && 'ioapic' in ioapic ? { ...ioapic.ioapic, redirtbl: ioapic.ioapic.redirtbl.map((e) => e.toString(16)) } : null,
    routing: structuredClone([...vm.gsiRouting()]),
    tssAddr: vm.tssAddress,
    vcpus,
  };
}

interface ParsedVm {
  state: X86VmSavedState;
  slots: { id: number; hostPhysical: number; pages: [number, Uint8Array][]; dirty: number[] }[];
  ioapic: KvmIoapicState | null;
  vcpus: [X86Vcpu, ParsedVcpu][];
}

function parseVm(vm: X86Vm, state: unknown): ParsedVm {
  const r = readState(state, 'hvsim.kvm.x86-vm', 1);
  const s = state as X86VmSavedState;
  r.bool('ram');
  const kind = r.oneOf('irqchip', ['none', 'full', 'split'] as const);
  const chip = vm.irqchip;
  const have = chip === undefined ? 'none' : chip.split ? 'split' : 'full';
  if (kind !== have) throw new SnapshotError('shape', `hvsim.kvm.x86-vm.irqchip is '${kind}' but the target VM's is '${have}'`);
  if (r.int('reservedIoapicPins', 0, 4096) !== vm.nrReservedIoapicPins) throw new SnapshotError('shape', `hvsim.kvm.x86-vm.reservedIoapicPins differs from the target VM's (${vm.nrReservedIoapicPins})`);
  const slots = r.array('memslots', (m: StateReader, i) => {
    const id = m.int('slot', 0, 0xffff);
    const target = vm.memslots.get(id);
    const gpa = m.address('guestPhysAddr');
    const size = m.address('memorySize');
    const flags = m.u32('flags');
    if (!target || target.guestPhysical !== gpa || target.size !== size || target.flags !== flags) throw new SnapshotError('shape', `hvsim.kvm.x86-vm.memslots[${i}] (slot ${id}) differs from the target VM's memslot (set it up the same first)`);
    const rawPages = m.raw('pages');
    const pages = parseMemslotPages(rawPages, size, `hvsim.kvm.x86-vm.memslots[${i}].pages`);
    const dirty = m.intArray('dirty', 0, 0xffff_ffff);
    if (dirty.length > Math.ceil(size / PAGE / 32)) throw new SnapshotError('shape', `hvsim.kvm.x86-vm.memslots[${i}].dirty is longer than the slot's bitmap`);
    return { id, hostPhysical: target.hostPhysical, pages, dirty };
  });
  if (slots.length !== vm.memslots.list().length) throw new SnapshotError('shape', `hvsim.kvm.x86-vm.memslots has ${slots.length} slots, the target VM ${vm.memslots.list().length}`);
  let ioapic: KvmIoapicState | null = null;
  if (kind === 'full') {
    const io = r.object('ioapic');
    const tbl = io.raw('redirtbl');
    if (!Array.isArray(tbl) || !tbl.every((e) => typeof e === 'string' && /^[0-9a-f]{1,16}$/.test(e))) throw new SnapshotError('shape', 'hvsim.kvm.x86-vm.ioapic.redirtbl must be hex strings');
    ioapic = { base_address: io.address('base_address'), ioregsel: io.u32('ioregsel'), id: io.u32('id'), irr: io.u32('irr'), redirtbl: (tbl as string[]).map((e) => BigInt(`0x${e}`)) };
    if (!Array.isArray(s.pic) || s.pic.length !== 2) throw new SnapshotError('shape', 'hvsim.kvm.x86-vm.pic must hold the master and the slave');
  }
  if (!Array.isArray(s.routing)) throw new SnapshotError('shape', 'hvsim.kvm.x86-vm.routing must be an array');
  r.int('tssAddr', -1, 0xffff_ffff);
  const vcpus = r.array('vcpus', (_x, i) => {
    const saved = s.vcpus[i]!;
    const target = vm.vcpu((saved as { id?: unknown }).id as number);
    if (!target) throw new SnapshotError('shape', `hvsim.kvm.x86-vm.vcpus[${i}]: the target VM has no vCPU ${String((saved as { id?: unknown }).id)}`);
    return [target, parseVcpu(target, saved, `hvsim.kvm.x86-vm.vcpus[${i}]`)] as [X86Vcpu, ParsedVcpu];
  });
  if (vcpus.length !== vm.vcpuIds().length) throw new SnapshotError('shape', `hvsim.kvm.x86-vm.vcpus has ${vcpus.length} vCPUs, the target VM ${vm.vcpuIds().length}`);
  return { state: s, slots, ioapic, vcpus };
}

function applyVm(vm: X86Vm, p: ParsedVm): void {
  const s = p.state;
  if (p.ioapic) {
    vm.setIrqchipState({ chip_id: KVM_IRQCHIP.PIC_MASTER, pic: s.pic[0]! });
    vm.setIrqchipState({ chip_id: KVM_IRQCHIP.PIC_SLAVE, pic: s.pic[1]! });
    vm.setIrqchipState({ chip_id: KVM_IRQCHIP.IOAPIC, ioapic: p.ioapic });
  }
  if (s.irqchip !== 'none') vm.setGsiRouting(s.routing);
  if (s.tssAddr >= 0) vm.setTssAddr(s.tssAddr);
  for (const [v, parsed] of p.vcpus) applyVcpu(v, parsed);
}

/**
 * Restores a saved VM into `vm`, a VM of the same shape (see the file
 * comment): the irqchip state, the routing, every vCPU, then the RAM and
 * the pending dirty pages. Everything is checked first; on any failure the
 * VM is put back as it was and a SnapshotError names the part.
 */
export function restoreVm(vm: X86Vm, state: unknown): void {
  const parsed = parseVm(vm, state);
  let before: ParsedVm | undefined;
  try {
    before = parseVm(vm, saveVm(vm, { ram: false }));
  } catch {
    before = undefined;
  }
  try {
    applyVm(vm, parsed);
  } catch (e) {
    if (before) applyVm(vm, before);
    throw asSnapshotError(e, 'vm');
  }
  for (const slot of parsed.slots) {
    const target = vm.memslots.get(slot.id)!;
    // Pages the source had all zeros are cleared only where the target has something.
    if (parsed.state.ram) restoreMemslotPages(vm.memory, slot.hostPhysical, target.size, slot.pages);
    // The pending dirty log: what the destination's next KVM_GET_DIRTY_LOG reports is what the source's would have.
    if ((target.flags & KVM_MEM.LOG_DIRTY_PAGES) !== 0) {
      vm.getDirtyLog(slot.id);
      slot.dirty.forEach((word, w) => {
        for (let b = 0; b < 32; b++) if ((word & (1 << b)) !== 0) vm.memslots.markDirty(target.guestPhysical + (w * 32 + b) * PAGE, PAGE);
      });
    }
  }
  // Shadow paging: guest RAM (its page tables) was rewritten behind the MMU; nothing cached survives a restore.
  vm.shadowPages?.zapAll();
}
