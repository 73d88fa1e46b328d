/**
 * Exits counted by reason, as `perf kvm stat` reports them: hardware exit
 * reasons by their architecture's names (x86: VMX basic exit reasons) and
 * exits to userspace by `KVM_EXIT_*` name.
 */

/** Exit counters of a vCPU or a VM. */
export class ExitStats {
  /** Counters by reason name, each a one-element array so that counting is one lookup (every exit counts). */
  private readonly counts = new Map<string, [number]>();
  /** Total hardware exits. */
  exits = 0;
  /** Total returns to userspace. */
  userspaceExits = 0;

  /** Counts one hardware exit of reason `name`. */
  countExit(name: string): void {
    this.exits++;
    this.bump(name);
  }

  /** Counts one return to userspace with `name` (`KVM_EXIT_IO`...). */
  countUserspace(name: string): void {
    this.userspaceExits++;
    this.bump(name);
  }

  /** The count of one reason. */
  count(name: string): number {
    return this.counts.get(name)?.[0] ?? 0;
  }

  /** All counts by reason name, sorted by name. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].map(([name, c]) => [name, c[0]] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  private bump(name: string): void {
    const c = this.counts.get(name);
    if (c === undefined) this.counts.set(name, [1]);
    else c[0]++;
  }

  /** Resets every counter. */
  reset(): void {
    this.counts.clear();
    this.exits = 0;
    this.userspaceExits = 0;
  }
}
