/**
 * The userspace VMM, kvmtool-style, using only the KVM API: /dev/kvm, a VM
 * with its interrupt-delivery mode, the in-kernel irqchip, one memslot of
 * RAM, page tables and the IDT written into guest RAM as a loader does, the
 * vCPUs in 64-bit mode, and a run loop (KVM's host scheduler) that serves
 * KVM_EXIT_IO for the serial port. The storm device raises its MSIs with
 * KVM_SIGNAL_MSI.
 */
import type { CpuStats } from '@hvsim/cpu';
import { KVM_EXIT, KVM_EXIT_IO_OUT, KVM_MP_STATE, KVM_EXIT_NAME, Kvm, VcpuScheduler, type X86Vcpu } from '@hvsim/kvm';
import { APIC } from '@hvsim/lapic';
import { PageAllocator, X86PageTableBuilder } from '@hvsim/mmu';
import { defineKernel } from '../guest/kernel.js';
import { GUEST, stackTop } from '../guest/layout.js';
import { loadGuest, type BootParams } from '../guest/loader.js';
import type { SimHost } from '../host/host.js';
import type { SimProfile } from '../profiles.js';

/** How the VM is built. */
export interface VmmOptions {
  readonly cpus: number;
  readonly profile: SimProfile;
  readonly boot: BootParams;
  /** The guest kernel uses the x2APIC. */
  readonly x2apic: boolean;
  /** KVM's interrupt-delivery mode for the VM. */
  readonly delivery: 'emulated' | 'apicv';
  /** Cycles a vCPU's physical CPU may run ahead of another (VcpuScheduler's quantum): the bound on cross-CPU timing error. */
  readonly quantum: number;
  /** Receives what the guest writes to its serial port. */
  readonly console?: (byte: number) => void;
}

/** EFER.SCE | LME | LMA | NXE: the loader starts the vCPUs in 64-bit mode. */
const EFER_LONG_MODE = 0xd00;

/** Builds the VM through the KVM API and returns it as a host (see the file comment). */
export function vmmHost(options: VmmOptions): SimHost {
  const kvm = new Kvm({ x86CpuCosts: options.profile.cpu, x86KvmCosts: options.profile.host });
  const vm = kvm.createVm();
  vm.interrupts.setMode(options.delivery);
  vm.createIrqchip();
  const ram = kvm.mmap(GUEST.RAM);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: GUEST.RAM, userspaceAddr: ram });
  const toHost = (gpa: number): number => ram + gpa;
  // Identity page tables in guest RAM: RAM in 2 MiB pages, and the xAPIC page.
  const tables = new X86PageTableBuilder(kvm.memory, new PageAllocator(GUEST.TABLES, 0x10_0000), 4, toHost);
  for (let la = 0; la < GUEST.RAM; la += 0x20_0000) tables.map(la, la, { pageSize: 0x20_0000, writable: true, accessed: true, dirty: true });
  tables.map(GUEST.APIC, GUEST.APIC, { writable: true, accessed: true, dirty: true });
  defineKernel(vm.program, { x2apic: options.x2apic });
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
  const scheduler = new VcpuScheduler({ quantum: options.quantum });
  const userspaceExit = options.profile.host.userspaceExit;
  let hostCycles = 0;
  const now = (): number => Math.min(...vcpus.map((v) => v.cpu.localTime));
  /** Serves one return to userspace (kvm charged the vCPU its round trip, `host.userspaceExit`). */
  const serve = (vcpu: X86Vcpu): void => {
    const run = vcpu.kvmRun;
    hostCycles += userspaceExit;
    if (run.exit_reason === KVM_EXIT.INTR) return; // the cycle budget (our "signal"): nothing to do
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
  };
}
