// `pnpm start` after the build: a short tour of the models on the built packages. One device interrupt
// is followed three ways, each time by running the models (nothing here computes a result):
//   1. bare metal: an IOAPIC pin, remapped by VT-d, accepted by the local APIC, acknowledged and EOIed;
//   2. posted to a running vCPU: the device's MSI posted by VT-d into a descriptor, the notification taken
//      by the processor in VMX non-root operation, delivered as a virtual interrupt, EOI virtualized;
//   3. through KVM with an emulated LAPIC: a guest halts, the VMM signals an MSI, the guest's handler EOIs.
// Each part prints the trace the models emitted and what the interrupt cost in VM exits.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const load = (name) => import(pathToFileURL(join(import.meta.dirname, '..', 'packages', name, 'dist', 'index.js')).href);
const [core, lapic, iommuPkg, vmcs, mmu, cpu, kvmPkg] = await Promise.all(['core', 'lapic', 'iommu', 'vmcs', 'mmu', 'cpu', 'kvm'].map(load));
const { PhysicalMemory, RecordingTracer, Clock, DELIVERY_STATUS_NAME } = core;

const hex = (n) => `0x${n.toString(16)}`;
const status = (s) => DELIVERY_STATUS_NAME[s] ?? String(s);
// Events in the order the models emitted them (a model emits after its own step, so a nested step comes first).
function printTrace(tracer) {
  for (const e of tracer.events()) {
    const { source, kind, args, ...fields } = e;
    const detail = Object.entries({ ...fields, ...args })
      .filter(([k]) => !['cycle', 'cpu', 'vm', 'vcpu', 'flow', 'duration'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'number' && v > 9 ? hex(v) : String(v)}`)
      .join(' ');
    console.log(`      ${String(source).padEnd(8)} ${String(kind).padEnd(22)} ${detail}`);
  }
}

console.log('hvsim tour: one device interrupt, three ways\n');

// 1. Bare metal.
{
  const tracer = new RecordingTracer();
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x100_0000, { name: 'ram' });
  const bus = new lapic.ApicBus({ tracer });
  const apic = new lapic.LocalApic({ id: 0, tracer });
  bus.attach(apic);
  apic.mmioWrite(0xf0, 4, 0x1ff); // SVR: software-enabled
  const iommu = new iommuPkg.IntelIommu({ memory, target: bus, tracer });
  const driver = new iommuPkg.VtdDriver({ unit: iommu, memory, pages: new mmu.PageAllocator(0x10_0000, 0x10_0000) });
  driver.enableInterruptRemapping();
  const ioapic = new lapic.IoApic({ remappableFormat: true, tracer });
  const IOAPIC_SID = 0xf0f8;
  ioapic.connectMsi(iommu, IOAPIC_SID);
  const handle = driver.allocateIrte();
  driver.setRemappedIrte(handle, { vector: 0x51, destination: 0, svt: 1, sid: IOAPIC_SID });
  const [low, high] = lapic.encodeRemappableRte({ index: handle, vector: 0x51 });
  ioapic.writeIndirect(0x10 + 2 * 4 + 1, high); // IOREDTBL4, high then low half
  ioapic.writeIndirect(0x10 + 2 * 4, low);
  const delivered = ioapic.setIrq(4, true);
  const vector = apic.acknowledge();
  apic.mmioWrite(0xb0, 4, 0); // EOI
  console.log('1. bare metal: IOAPIC pin 4 -> VT-d IRTE -> local APIC 0 -> CPU');
  console.log(`   pin asserted: ${status(delivered)}; the CPU acknowledged vector ${hex(vector)} and wrote EOI`);
  printTrace(tracer);
  console.log('   VM exits: none (no virtualization)\n');
}

// 2. Posted to a running vCPU (VT-d posted interrupts and VMX posted-interrupt processing, SDM 3C 29.6).
{
  const tracer = new RecordingTracer();
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x100_0000, { name: 'ram' });
  const p = new vmcs.VmxProcessor({ memory, capabilities: {}, clock: new Clock(), tracer });
  memory.write32(0x1000, p.capabilities.revisionId);
  memory.write32(0x2000, p.capabilities.revisionId);
  p.vmxon(0x1000);
  p.vmclear(0x2000);
  p.vmptrld(0x2000);
  vmcs.prepareVmcs(p, {
    pin: vmcs.PIN_BASED.EXT_INTR_EXITING | vmcs.PIN_BASED.PROCESS_POSTED_INTERRUPTS,
    proc2: vmcs.SECONDARY.VIRTUALIZE_X2APIC_MODE | vmcs.SECONDARY.APIC_REGISTER_VIRTUALIZATION | vmcs.SECONDARY.VIRTUAL_INTERRUPT_DELIVERY,
    exit: vmcs.VM_EXIT.ACK_INTR_ON_EXIT,
    virtualApicPage: 0x4000,
    msrBitmap: 0x6000,
    postedInterruptDescriptor: 0x7000,
    notificationVector: 0xf2,
  });
  p.vmlaunch();
  let notification = -1;
  const iommu = new iommuPkg.IntelIommu({ memory, target: { deliverMsi: (_a, data) => ((notification = data & 0xff), 1) }, tracer });
  const driver = new iommuPkg.VtdDriver({ unit: iommu, memory, pages: new mmu.PageAllocator(0x10_0000, 0x10_0000) });
  driver.enableInterruptRemapping({ x2apic: true });
  const pid = new lapic.PostedInterruptDescriptor(memory, 0x7000);
  pid.updateControl({ nv: 0xf2, ndst: 0 });
  const NIC = 0x0300;
  const handle = driver.allocateIrte();
  driver.postToVcpu(handle, { vector: 0x61, descriptorAddress: 0x7000, svt: 1, sid: NIC });
  const msi = lapic.encodeRemappableMsi({ handle, shv: false, subhandle: 0 });
  const sent = iommu.sendMsi(NIC, msi.address, msi.data);
  const outcome = sent.outcome;
  const taken = p.externalInterrupt(notification, true).kind;
  const boundary = p.instructionBoundary(true);
  const eoi = p.wrmsr(0x80b, 0).kind; // the guest's x2APIC EOI, virtualized
  console.log('2. posted: NIC MSI -> VT-d posted IRTE -> descriptor (PIR, ON) -> notification -> virtual delivery');
  console.log(`   IOMMU: ${outcome}; notification vector ${hex(notification)} taken in non-root operation: ${taken}`);
  console.log(`   next instruction boundary: ${boundary.kind} vector ${hex(boundary.event?.vector ?? 0)}; guest EOI: ${eoi}`);
  printTrace(tracer);
  console.log('   VM exits: 0\n');
}

// 3. Through KVM with the in-kernel, emulated LAPIC (the @hvsim/kvm README's VMM).
{
  const { Kvm, KVM_EXIT } = kvmPkg;
  const kvm = new Kvm();
  const vm = kvm.createVm();
  vm.createIrqchip();
  const ram = kvm.mmap(8 << 20);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: 8 << 20, userspaceAddr: ram });
  const tables = new mmu.X86PageTableBuilder(kvm.memory, new mmu.PageAllocator(0x30_0000, 0x10_0000), 4, (gpa) => ram + gpa);
  tables.map(0, 0, { pageSize: 0x20_0000, writable: true });
  tables.map(0xfee0_0000, 0xfee0_0000, { writable: true });
  cpu.encodeIdtGate({ target: 0x2000 }).forEach((w, i) => kvm.memory.write32(ram + 0x1000 + 0x41 * 16 + 4 * i, w));
  let handled = 0;
  vm.program.define(0x2000, function* isr(g) {
    handled++;
    yield g.st32(0xfee0_00b0, 0); // EOI to the emulated LAPIC
    yield g.iret();
  });
  vm.program.define(0x10_0000, function* main(g) {
    yield g.st32(0xfee0_00f0, 0x1ff);
    for (;;) {
      yield g.sti();
      yield g.hlt();
    }
  });
  const vcpu = vm.createVcpu(0);
  vcpu.setSregs({ cr3: tables.root, efer: 0xd00, idt: { base: 0x1000, limit: 0xfff } });
  vcpu.setRegs({ rip: 0x10_0000, rsp: 0x8_0000, rflags: 2 });
  // KVM_RUN returns KVM_EXIT_INTR while the vCPU is blocked in HLT with nothing pending. The first MSI
  // also faults in the pages the handler touches; the second shows the steady state.
  const counts = [];
  for (let i = 0; i < 20 && counts.length < 3; i++) {
    const run = vcpu.run();
    if (run.exit_reason !== KVM_EXIT.INTR) throw new Error(`tour: unexpected exit ${run.exit_reason}`);
    counts.push(vcpu.stats.snapshot());
    if (counts.length < 3) vm.signalMsi({ addressLo: 0xfee0_0000, data: 0x41 });
  }
  const [, before, after] = counts;
  const delta = Object.entries(after)
    .map(([k, v]) => [k, v - (before?.[k] ?? 0)])
    .filter(([k, v]) => v > 0 && !k.startsWith('KVM_EXIT'));
  console.log('3. KVM, emulated LAPIC: KVM_SIGNAL_MSI to a halted vCPU -> injection at VM entry -> guest EOI traps');
  console.log(`   the guest's handler ran ${handled} time(s)`);
  console.log(`   VM exits for one interrupt: ${delta.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  console.log('   (delivery to a blocked vCPU is injected at the next VM entry, no exit; the EOI store to the APIC page');
  console.log('   exits as an EPT misconfiguration, KVM\'s MMIO marker; HLT exits when the guest waits again)');
}

console.log('\nNext: `pnpm test` runs every model\'s tests; each package README shows its API.');
