/**
 * The userspace VMM, kvmtool-style, using only the KVM API: /dev/kvm, a VM
 * with its interrupt-delivery mode, the in-kernel irqchip, one memslot of
 * RAM, page tables and the IDT written into guest RAM as a loader does, the
 * vCPUs in 64-bit mode, and a run loop (KVM's host scheduler) that serves
 * KVM_EXIT_IO for the serial port. The storm device raises its MSIs with
 * KVM_SIGNAL_MSI.
 */
import type { CpuStats } from '@hvsim/cpu';
import { EventFd, KVM_CAP, KVM_IOEVENTFD_FLAG, KVM_EXIT, KVM_EXIT_IO_OUT, KVM_MP_STATE, KVM_EXIT_NAME, Kvm, VcpuScheduler, type X86Vcpu } from '@hvsim/kvm';
import { APIC } from '@hvsim/lapic';
import { PageAllocator, X86PageTableBuilder } from '@hvsim/mmu';
import { NIC_BAR_SIZE } from '../devices/nic-regs.js';
import { defineKernel } from '../guest/kernel.js';
import { GUEST, MICRO_IO_SENT, NOTIFY_PORT, stackTop } from '../guest/layout.js';
import { loadGuest, type BootParams } from '../guest/loader.js';
import type { SimHost } from '../host/host.js';
import type { SimProfile } from '../profiles.js';
import { assignNic } from './vfio-nic.js';

/** How the VM is built. */
export interface VmmOptions {
  readonly cpus: number;
  readonly profile: SimProfile;
  readonly boot: BootParams;
  /** The guest kernel uses the x2APIC. */
  readonly x2apic: boolean;
  /** KVM's interrupt-delivery mode for the VM (`eli`: an x2APIC guest, its IDT shadowed at GUEST.SHADOW_IDT). */
  readonly delivery: 'emulated' | 'apicv' | 'eli';
  /** The assigned NIC's MSIs go through KVM's IRQ bypass (posted under APICv, direct under ELI) instead of VFIO's host handler. */
  readonly posting: boolean;
  /**
   * `kernel` (default): KVM_CREATE_IRQCHIP, the PIC and IOAPIC in KVM. `split`: KVM_CAP_SPLIT_IRQCHIP with the
   * 24 IOAPIC GSIs reserved, the LAPICs in KVM and the PIC and IOAPIC left to the VMM (api.rst 7.8).
   */
  readonly irqchip?: 'kernel' | 'split';
  /** The VM's MMU: `ept` (default) or `shadow` (shadow paging, KVM with ept=0: `vm.setMmu('shadow')`). */
  readonly mmu?: 'ept' | 'shadow';
  /** Cycles a vCPU's physical CPU may run ahead of another (VcpuScheduler's quantum): the bound on cross-CPU timing error. */
  readonly quantum: number;
  /** Receives what the guest writes to its serial port. */
  readonly console?: (byte: number) => void;
}

/** The IOAPIC's pins: the GSIs a split irqchip reserves for the VMM's IOAPIC (QEMU's default). */
const IOAPIC_PINS = 24;

/** EFER.SCE | LME | LMA | NXE: the loader starts the vCPUs in 64-bit mode. */
const EFER_LONG_MODE = 0xd00;

/** Builds the VM through the KVM API and returns it as a host (see the file comment). */
export function vmmHost(options: VmmOptions): SimHost {
  const kvm = new Kvm({ x86CpuCosts: options.profile.cpu, x86KvmCosts: options.profile.host });
  const vm = kvm.createVm();
  if (options.delivery === 'eli') vm.interrupts.setMode('eli', { shadowIdt: GUEST.SHADOW_IDT });
  else vm.interrupts.setMode(options.delivery);
  if (options.mmu === 'shadow') vm.setMmu('shadow');
  if (options.irqchip === 'split') vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [IOAPIC_PINS] });
  else vm.createIrqchip();
  const ram = kvm.mmap(GUEST.RAM);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: GUEST.RAM, userspaceAddr: ram });
  const toHost = (gpa: number): number => ram + gpa;
  // Identity page tables in guest RAM: RAM in 2 MiB pages, and the xAPIC page.
  const tables = new X86PageTableBuilder(kvm.memory, new PageAllocator(GUEST.TABLES, 0x10_0000), 4, toHost);
  for (let la = 0; la < GUEST.RAM; la += 0x20_0000) tables.map(la, la, { pageSize: 0x20_0000, writable: true, accessed: true, dirty: true });
  tables.map(GUEST.APIC, GUEST.APIC, { writable: true, accessed: true, dirty: true });
  // ELI's shadow IDT: no memslot, mapped to itself in the guest's tables (KVM maps it read-only in EPT).
  if (options.delivery === 'eli') tables.map(GUEST.SHADOW_IDT, GUEST.SHADOW_IDT, { writable: false, accessed: true });
  const withNic = options.boot.nicWork !== 0;
  // The VF's BAR: its register page (mapped into the guest below) and its MSI-X table page (emulated).
  const hostBar = withNic ? kvm.mmap(NIC_BAR_SIZE) : 0;
  if (withNic) for (let off = 0; off < NIC_BAR_SIZE; off += 0x1000) tables.map(GUEST.NIC_BAR + off, GUEST.NIC_BAR + off, { writable: true, accessed: true, dirty: true });
  defineKernel(vm.program, { x2apic: options.x2apic, memory: (options.boot.memProcs ?? 0) !== 0 });
  loadGuest((gpa, v) => {
    kvm.memory.write32(toHost(gpa), v);
  }, options.boot);
  const vcpus: X86Vcpu[] = [];
  for (let id = 0; id < options.cpus; id++) {
    const vcpu = vm.createVcpu(id);
    vcpu.setSregs({ cr3: tables.root, efer: EFER_LONG_MODE });
    vcpu.setRegs({ rip: GUEST.ENTRY, rsp: stackTop(id), rflags: 2 });
    // APs are created waiting for INIT/SIPI; the loader starts every vCPU at the entry point (KVM_SET_MP_STATE, api.rst 4.39).
    if (id !== 0) vcpu.setMpState(KVM_MP_STATE.RUNNABLE);
    vcpus.push(vcpu);
  }
  const vfio = withNic ? assignNic({ vm, memory: kvm.memory, dmaCycles: options.profile.device.nicDmaRoundTrip, hostBar, bypass: options.posting }) : undefined;
  // The I/O-latency-out microbenchmark's backend: an ioeventfd on the notification port (api.rst 4.59), timed when signalled.
  const ioOut: number[] = [];
  if (options.boot.microReps !== 0) {
    const fd = new EventFd();
    vm.ioeventfd({ addr: NOTIFY_PORT, len: 1, fd, flags: KVM_IOEVENTFD_FLAG.PIO });
    fd.addWaiter(() => {
      fd.read();
      const sent = kvm.memory.read32(toHost(MICRO_IO_SENT)) + kvm.memory.read32(toHost(MICRO_IO_SENT + 4)) * 2 ** 32;
      ioOut.push(vcpus[0]!.cpu.localTime - sent);
    });
  }
  const scheduler = new VcpuScheduler({ quantum: options.quantum });
  const userspaceExit = options.profile.host.userspaceExit;
  let hostCycles = 0;
  const now = (): number => {
    let t = Infinity;
    for (const v of vcpus) t = Math.min(t, v.cpu.localTime);
    return t;
  };
  /** Serves one return to userspace (kvm charged the vCPU its round trip, `host.userspaceExit`). */
  const serve = (vcpu: X86Vcpu): void => {
    const run = vcpu.kvmRun;
    hostCycles += userspaceExit;
    if (run.exit_reason === KVM_EXIT.INTR) return; // the cycle budget (our "signal"): nothing to do
    if (run.exit_reason === KVM_EXIT.MMIO && vfio?.mmio(run.mmio.phys_addr, run.mmio.is_write !== 0, run.mmio.data, run.mmio.len)) return;
    if (run.exit_reason !== KVM_EXIT.IO) throw new Error(`vCPU ${vcpu.id}: unexpected ${KVM_EXIT_NAME[run.exit_reason] ?? run.exit_reason}`);
    const { port, direction } = run.io;
    const data = run.ioData;
    if (direction === KVM_EXIT_IO_OUT && port === GUEST.SERIAL) options.console?.(data[0]!);
    else if (port === GUEST.SERIAL + 5) data[0] = 0x20; // LSR: transmitter empty
    else data.fill(0xff); // nothing there
  };
  return {
    clock: kvm.clock,
    cpus: vcpus.length,
    runUntil(cycle: number): void {
      for (let t = now(); t < cycle; t = now()) {
        const r = scheduler.run(vcpus, cycle - t);
        const vcpu = r && vcpus.find((v) => v === r.vcpu);
        if (vcpu) serve(vcpu);
      }
    },
    now,
    sendMsi: (dest, vector) => vm.signalMsi({ addressLo: GUEST.APIC + dest * 0x1000, data: vector }),
    read32: (gpa) => kvm.memory.read32(toHost(gpa)),
    exits: () => {
      const byReason: Record<string, number> = {};
      for (const [name, n] of Object.entries(vm.stats.snapshot())) if (!name.startsWith('KVM_EXIT_')) byReason[name] = n;
      return { total: vm.stats.exits, byReason };
    },
    resetExits: () => {
      vm.stats.reset();
    },
    timerCurrentCount: (i) => {
      const image = vcpus[i]!.getLapic(); // KVM_GET_LAPIC: the 1 KiB register image
      return new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(APIC.TIMER_CURRENT_COUNT, true);
    },
    cpuStats: (i): CpuStats => vcpus[i]!.cpu.stats(),
    hostCycles: () => hostCycles,
    ioOutLatencies: () => ioOut,
    nic: vfio?.nic,
  };
}
