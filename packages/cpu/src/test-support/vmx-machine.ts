/**
 * One physical x86 CPU with VMX, a host local APIC, and a guest vCPU whose
 * code runs in VMX non-root operation: guest RAM at GPA 0-8 MiB is host RAM
 * at 16 MiB through EPT, guest page tables identity-map the first 16 MiB of
 * guest-linear space, and the VMCS comes from vmcs's `prepareVmcs` with the
 * controls a test asks for. The test plays KVM: it runs the guest, reads
 * the exit, emulates, and re-enters.
 */
import { Clock, PhysicalMemory } from '@hvsim/core';
import { LocalApic } from '@hvsim/lapic';
import { EptBuilder, PageAllocator, X86Mmu, X86PageTableBuilder } from '@hvsim/mmu';
import { VM_ENTRY, VmxProcessor, prepareVmcs, type PrepareVmcsOptions } from '@hvsim/vmcs';
import { X86Guest } from '../guest/guest.js';
import { GuestProgram } from '../guest/program.js';
import { encodeIdtGate, type IdtGateFields } from '../x86/idt-gate.js';
import { EFER } from '../x86/regs.js';
import { X86Cpu, type X86RunResult } from '../x86/x86-cpu.js';

/** Host-physical layout. */
export const HOST = {
  VMXON: 0x1_0000,
  VMCS: 0x1_1000,
  VAPIC: 0x1_2000,
  APIC_ACCESS: 0x1_3000,
  MSR_BITMAP: 0x1_4000,
  PID: 0x1_5000,
  EPT_POOL: 0x10_0000,
  GUEST_RAM: 0x100_0000,
} as const;

/** Guest-physical layout. */
export const GUEST = {
  IDT: 0x1000,
  STACK_TOP: 0x8_0000,
  ENTRY: 0x10_0000,
  DATA: 0x20_0000,
  TABLES: 0x30_0000,
  RAM: 8 << 20,
} as const;

export function vmxMachine(controls: PrepareVmcsOptions = {}) {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(0, 64 << 20, { name: 'host ram' });
  const hostApic = new LocalApic({ id: 0, clock });
  hostApic.mmioWrite(0xf0, 4, 0x1ff);
  const vmx = new VmxProcessor({ memory, clock });
  const rev = vmx.capabilities.revisionId;
  memory.write32(HOST.VMXON, rev);
  memory.write32(HOST.VMCS, rev);
  vmx.vmxon(HOST.VMXON);
  vmx.vmclear(HOST.VMCS);
  vmx.vmptrld(HOST.VMCS);

  // EPT: guest RAM GPA 0-8 MiB → HPA 16-24 MiB, 2 MiB pages.
  const ept = new EptBuilder(memory, new PageAllocator(HOST.EPT_POOL, 0x10_0000));
  for (let gpa = 0; gpa < GUEST.RAM; gpa += 0x20_0000) ept.map(gpa, HOST.GUEST_RAM + gpa, { pageSize: 0x20_0000 });
  // Guest page tables in guest RAM: identity-map guest-linear 0-16 MiB (beyond guest RAM: EPT violations).
  const toHost = (gpa: number) => HOST.GUEST_RAM + gpa;
  const tables = new X86PageTableBuilder(memory, new PageAllocator(GUEST.TABLES, 0x10_0000), 4, toHost);
  for (let la = 0; la < 16 << 20; la += 0x20_0000) tables.map(la, la, { pageSize: 0x20_0000, writable: true, accessed: true, dirty: true });

  prepareVmcs(vmx, {
    ...controls,
    proc2: (controls.proc2 ?? 0) | 2 /* enable EPT */,
    entry: (controls.entry ?? 0) | VM_ENTRY.IA32E_MODE_GUEST,
    fields: {
      EPT_POINTER: ept.eptp(),
      GUEST_CR3: tables.root,
      GUEST_IA32_EFER: EFER.LME | EFER.LMA | EFER.NXE,
      GUEST_RIP: GUEST.ENTRY,
      GUEST_RSP: GUEST.STACK_TOP,
      GUEST_IDTR_BASE: GUEST.IDT,
      GUEST_IDTR_LIMIT: 0xfff,
      ...controls.fields,
    },
  });

  const program = new GuestProgram<X86Guest>();
  const mmu = new X86Mmu(memory, { ept: true, clock });
  mmu.setEptp(ept.eptp());
  const cpu = new X86Cpu({ memory, program, mmu, clock });
  cpu.attachVmx(vmx, hostApic);

  /** Writes an IDT gate into guest memory from the host. */
  const setGate = (vector: number, fields: IdtGateFields) => {
    encodeIdtGate(fields).forEach((w, i) => memory.write32(toHost(GUEST.IDT + vector * 16 + 4 * i), w));
  };
  /** VMLAUNCH/VMRESUME and run until an exit or the budget; the exits seen are recorded. */
  const exits: number[] = [];
  let launched = false;
  const enterAndRun = (until: number): X86RunResult => {
    const o = launched ? vmx.vmresume() : vmx.vmlaunch();
    launched = true;
    if (o.kind !== 'entered') throw new Error(`VM entry failed: ${o.kind} ${o.kind === 'exit' ? o.exit.reasonName : ''} ${vmx.lastEntryCheck}`);
    cpu.enterGuest(o.inject);
    const r = cpu.run(until);
    if (r === 'exit') exits.push(cpu.lastExit!.basicReason);
    return r;
  };
  return { clock, memory, hostApic, vmx, ept, tables, program, mmu, cpu, setGate, enterAndRun, exits, toHost };
}
