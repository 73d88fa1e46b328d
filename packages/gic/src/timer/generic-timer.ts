/**
 * The Arm generic timer of N PEs (Arm ARM DDI 0487 chapter D11, "The Generic
 * Timer in AArch64 state"): one system counter (D11.1.2) read through
 * CNTPCT_EL0 and, offset by each PE's CNTVOFF_EL2, CNTVCT_EL0 (D11.2.2); and
 * per PE the EL1 physical timer (CNTP_*), the virtual timer (CNTV_*) and the
 * EL2 physical timer (CNTHP_*) (D11.2.4), each with its CompareValue (CVAL),
 * TimerValue (TVAL) and control (CTL) views.
 *
 * A timer's condition is met when ENABLE is 1 and (count - CVAL) >= 0 as an
 * unsigned 64-bit comparison (count >= CVAL; the count is the virtual count
 * for CNTV). Its interrupt output is ENABLE && ISTATUS && !IMASK, a level
 * that drives a PPI through the owner's output callback (or an
 * `InterruptLine` per timer), so the timer does not know which GIC it feeds.
 * Level changes happen exactly at the cycle the condition changes: a Clock
 * event is scheduled for the next change whenever the output could change,
 * and re-scheduled on every CTL, CVAL, TVAL and CNTVOFF_EL2 write.
 */
import {
  UsageError,
  assertU64,
  bigintToHex,
  describeValue,
  fieldMask,
  type Clock,
  type ClockEvent,
  type InterruptLine,
  type Tracer,
  type U64Halves,
} from '@hvsim/core';
import { TIMER_ACCESS, checkTimerAccess, timerAccessException } from './access.js';
import { SystemCounter, type CounterPosition } from './counter.js';
import { checkContext, type GenericTimerContext } from './timer-context.js';
import { parseTimerState, type GenericTimerCpuState, type GenericTimerState, type GenericTimerTimerState } from './timer-state.js';
import {
  CNTHCTL_WRITABLE,
  CNTKCTL_WRITABLE,
  CNT_CTL,
  CNT_CTL_WRITABLE,
  DEFAULT_COUNTER_FREQUENCY_HZ,
  DEFAULT_CPU_FREQUENCY_HZ,
  MAX_TIMER_CPUS,
  TIMER,
  TIMERS_PER_CPU,
  TIMER_NAMES,
  TIMER_PPI,
  TIMER_RESET,
  type TimerId,
  type TimerName,
} from './regs.js';
import { FIRST_TIMER_SYSREG, TIMER_SYSREG, TIMER_SYSREGS, type TimerSysregId, type TimerSysregName } from './sysregs.js';
import { add64, fromBigint, geU64, sub64, toBigint, toSafeNumber, type U64 } from './u64.js';

// CTL bits as masks, for the hot paths.
const ENABLE = fieldMask(CNT_CTL.ENABLE);
const IMASK = fieldMask(CNT_CTL.IMASK);
const ISTATUS = fieldMask(CNT_CTL.ISTATUS);

/** Where a timer's interrupt output goes by default: the PE, the PPI INTID and the new level. */
export type TimerOutput = (cpu: number, intid: number, level: boolean) => void;

/** Exception level of a guest access, or undefined for the host's own access (no trap checks). */
export type TimerAccessLevel = 0 | 1 | 2 | undefined;

/** Construction options of {@link GenericTimer}. */
export interface GenericTimerOptions {
  /** The simulated clock the counter is derived from and expiries are scheduled on. */
  clock: Clock;
  /** Number of PEs, 1-1024. */
  cpus: number;
  /** System counter frequency in Hz, 1 to 2^32 - 1 (default 62.5 MHz, see DEFAULT_COUNTER_FREQUENCY_HZ). */
  counterFrequencyHz?: number;
  /** Clock cycles per second (default 2.5 GHz); with the counter frequency it fixes cycles per tick. */
  cpuFrequencyHz?: number;
  /** Receives every output level change, e.g. `(cpu, intid, level) => gic.setPpiLevel(cpu, intid, level)`. */
  output?: TimerOutput;
  /** PPI INTIDs (16-31) of the timers, default CNTP 30, CNTV 27, CNTHP 26 (Arm BSA). */
  intids?: Partial<Record<TimerName, number>>;
  /** HCR_EL2.E2H is 1 (a VHE host): CNTHCTL_EL2 uses the E2H=1 layout (EL1PCTEN bit 10, EL1PTEN bit 11). */
  e2h?: boolean;
  /** Receives `interrupt.raised` (output asserted) events with source `'generic-timer'`. */
  tracer?: Tracer;
}

function timerIdOf(timer: TimerName | TimerId): TimerId {
  const id: unknown = typeof timer === 'string' ? (Object.hasOwn(TIMER, timer) ? TIMER[timer] : undefined) : timer;
  if (id === 0 || id === 1 || id === 2) return id;
  throw new UsageError('bad-argument', `timer must be one of ${TIMER_NAMES.join(', ')} (or 0-2), got ${describeValue(timer)}`);
}

/** Per-PE generic timers on one system counter (see the file comment). */
export class GenericTimer {
  /** Number of PEs. */
  readonly cpus: number;
  /** System counter frequency in Hz. */
  readonly counterFrequencyHz: number;
  /** Clock cycles per second. */
  readonly cpuFrequencyHz: number;
  private readonly clock: Clock;
  private readonly counter: SystemCounter;
  private readonly output: TimerOutput | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly e2h: boolean;
  private readonly ppi: Uint8Array;
  // Per timer, index cpu * 3 + timer.
  private readonly ctl: Uint8Array;
  private readonly cvalLo: Uint32Array;
  private readonly cvalHi: Uint32Array;
  private readonly handle: Float64Array;
  private readonly level: Uint8Array;
  private readonly lines: (InterruptLine | undefined)[];
  private readonly events: ClockEvent[];
  // Per PE.
  private readonly cntvoffLo: Uint32Array;
  private readonly cntvoffHi: Uint32Array;
  private readonly cntfrq: Uint32Array;
  private readonly cntkctl: Uint32Array;
  private readonly cnthctl: Uint32Array;
  private readonly s1: U64 = { lo: 0, hi: 0 };
  private readonly s2: U64 = { lo: 0, hi: 0 };
  private readonly halves: U64Halves = { lo: 0, hi: 0 };

  constructor(options: GenericTimerOptions) {
    if (typeof options !== 'object' || (options as unknown) === null) throw new UsageError('bad-argument', `GenericTimer options must be an object, got ${describeValue(options)}`);
    const { clock, cpus } = options;
    if (typeof clock !== 'object' || (clock as unknown) === null || typeof clock.schedule !== 'function') {
      throw new UsageError('bad-argument', `GenericTimer needs a Clock, got ${describeValue(clock)}`);
    }
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_TIMER_CPUS) {
      throw new UsageError('bad-argument', `cpus must be an integer in [1, ${MAX_TIMER_CPUS}], got ${describeValue(cpus)}`);
    }
    if (options.output !== undefined && typeof options.output !== 'function') {
      throw new UsageError('bad-argument', `output must be a function (cpu, intid, level), got ${describeValue(options.output)}`);
    }
    this.clock = clock;
    this.cpus = cpus;
    this.counter = new SystemCounter(options.counterFrequencyHz ?? DEFAULT_COUNTER_FREQUENCY_HZ, options.cpuFrequencyHz ?? DEFAULT_CPU_FREQUENCY_HZ);
    this.counterFrequencyHz = this.counter.frequencyHz;
    this.cpuFrequencyHz = this.counter.cpuFrequencyHz;
    this.output = options.output;
    this.tracer = options.tracer;
    this.e2h = options.e2h ?? false;
    this.ppi = new Uint8Array(TIMERS_PER_CPU);
    for (const name of TIMER_NAMES) {
      const intid = options.intids?.[name] ?? TIMER_PPI[name];
      if (!Number.isInteger(intid) || intid < 16 || intid > 31) {
        throw new UsageError('bad-argument', `intids.${name} must be a PPI INTID in [16, 31], got ${describeValue(intid)}`);
      }
      this.ppi[TIMER[name]] = intid;
    }
    const n = cpus * TIMERS_PER_CPU;
    this.ctl = new Uint8Array(n);
    this.cvalLo = new Uint32Array(n);
    this.cvalHi = new Uint32Array(n);
    this.handle = new Float64Array(n).fill(-1);
    this.level = new Uint8Array(n);
    this.lines = new Array<InterruptLine | undefined>(n).fill(undefined);
    this.events = [];
    for (let k = 0; k < n; k++) {
      const cpu = (k / TIMERS_PER_CPU) | 0;
      const t = k - cpu * TIMERS_PER_CPU;
      this.events.push(() => {
        this.handle[k] = -1;
        this.update(cpu, t, false);
      });
    }
    this.cntvoffLo = new Uint32Array(cpus);
    this.cntvoffHi = new Uint32Array(cpus);
    this.cntfrq = new Uint32Array(cpus);
    this.cntkctl = new Uint32Array(cpus);
    this.cnthctl = new Uint32Array(cpus);
    this.resetRegisters();
  }

  /** The PPI INTID a timer drives. */
  intid(timer: TimerName | TimerId): number {
    return this.ppi[timerIdOf(timer)]!;
  }

  /** Clock cycles per counter tick (may be fractional, e.g. 2.5 for a 1 GHz counter on a 2.5 GHz clock). */
  get cyclesPerTick(): number {
    return this.counter.cyclesPerPeriod / this.counter.ticksPerPeriod;
  }

  // ---------------------------------------------------------------- by name

  /**
   * Reads a register of `cpu` by name, e.g. `read(0, 'CNTVCT_EL0')`. With
   * `el` the access is checked as a guest's MRS at that Exception level and
   * may throw the architectural `CpuException` (see checkTimerAccess).
   */
  read(cpu: number, name: TimerSysregName, el?: TimerAccessLevel): bigint {
    const h = this.readSysreg(cpu, this.idOf(name), this.halves, el);
    return h.hi === 0 ? BigInt(h.lo) : toBigint(h.lo, h.hi);
  }

  /** Writes a register of `cpu` by name, e.g. `write(0, 'CNTV_CVAL_EL0', 1000n)`; `el` as for {@link read}. */
  write(cpu: number, name: TimerSysregName, value: bigint, el?: TimerAccessLevel): void {
    const id = this.idOf(name);
    assertU64(value, name);
    fromBigint(value, this.s2);
    this.writeSysreg(cpu, id, this.s2.lo, this.s2.hi, el);
  }

  private idOf(name: TimerSysregName): TimerSysregId {
    const info = TIMER_SYSREGS.get(name);
    if (info === undefined) throw new UsageError('unknown-name', `${describeValue(name)} is not a generic timer register (one of ${[...TIMER_SYSREGS.keys()].join(', ')})`);
    return info.id;
  }

  // ---------------------------------------------------------------- number path

  /**
   * Reads register `id` (see TIMER_SYSREG / timerSysregId) of `cpu` into
   * `out` as 32-bit halves, with no bigint and no allocation.
   */
  readSysreg(cpu: number, id: TimerSysregId, out: U64Halves, el?: TimerAccessLevel): U64Halves {
    this.checkAccess(cpu, id, false, el);
    out.hi = 0;
    switch (id) {
      case TIMER_SYSREG.CNTFRQ_EL0:
        out.lo = this.cntfrq[cpu]!;
        return out;
      case TIMER_SYSREG.CNTPCT_EL0:
        this.counter.countAt(this.clock.now(), this.s1);
        break;
      case TIMER_SYSREG.CNTVCT_EL0:
        this.counter.countAt(this.clock.now(), this.s1);
        sub64(this.s1.lo, this.s1.hi, this.cntvoffLo[cpu]!, this.cntvoffHi[cpu]!, this.s1);
        break;
      case TIMER_SYSREG.CNTVOFF_EL2:
        out.lo = this.cntvoffLo[cpu]!;
        out.hi = this.cntvoffHi[cpu]!;
        return out;
      case TIMER_SYSREG.CNTKCTL_EL1:
        out.lo = this.cntkctl[cpu]!;
        return out;
      case TIMER_SYSREG.CNTHCTL_EL2:
        out.lo = this.cnthctl[cpu]!;
        return out;
      default: {
        const t = ((id - FIRST_TIMER_SYSREG) / 3) | 0;
        const view = id - FIRST_TIMER_SYSREG - t * 3;
        const k = cpu * TIMERS_PER_CPU + t;
        if (view === 2) {
          out.lo = this.cvalLo[k]!;
          out.hi = this.cvalHi[k]!;
        } else if (view === 1) {
          out.lo = this.readCtl(cpu, t);
        } else {
          // TVAL: (CVAL - count)[31:0], bits [63:32] RES0 (Arm ARM, CNTP_TVAL_EL0 register page). With ENABLE 0 the value is
          // UNKNOWN; the model keeps counting down, as the register page describes the view appearing to.
          this.timerCount(cpu, t, this.s1);
          out.lo = sub64(this.cvalLo[k]!, this.cvalHi[k]!, this.s1.lo, this.s1.hi, this.s1).lo;
        }
        return out;
      }
    }
    out.lo = this.s1.lo;
    out.hi = this.s1.hi;
    return out;
  }

  /** Writes register `id` of `cpu` from 32-bit halves (`hi` is ignored for 32-bit registers, whose upper half is RES0). */
  writeSysreg(cpu: number, id: TimerSysregId, lo: number, hi: number, el?: TimerAccessLevel): void {
    this.checkAccess(cpu, id, true, el);
    if (lo >>> 0 !== lo || hi >>> 0 !== hi) {
      throw new UsageError('bad-argument', `value halves must be unsigned 32-bit integers, got lo ${describeValue(lo)}, hi ${describeValue(hi)}`);
    }
    switch (id) {
      case TIMER_SYSREG.CNTFRQ_EL0:
        // Only the register: the frequency it reports is what firmware says, the counter's rate is fixed (D11.1.2).
        this.cntfrq[cpu] = lo;
        return;
      case TIMER_SYSREG.CNTPCT_EL0:
      case TIMER_SYSREG.CNTVCT_EL0:
        throw new UsageError('bad-argument', `${id === TIMER_SYSREG.CNTPCT_EL0 ? 'CNTPCT_EL0' : 'CNTVCT_EL0'} is read-only`);
      case TIMER_SYSREG.CNTVOFF_EL2:
        this.cntvoffLo[cpu] = lo;
        this.cntvoffHi[cpu] = hi;
        this.update(cpu, TIMER.CNTV, false);
        return;
      case TIMER_SYSREG.CNTKCTL_EL1:
        this.cntkctl[cpu] = lo & CNTKCTL_WRITABLE;
        return;
      case TIMER_SYSREG.CNTHCTL_EL2:
        this.cnthctl[cpu] = lo & (this.e2h ? CNTHCTL_WRITABLE.E2H1 : CNTHCTL_WRITABLE.E2H0);
        return;
      default: {
        const t = ((id - FIRST_TIMER_SYSREG) / 3) | 0;
        const view = id - FIRST_TIMER_SYSREG - t * 3;
        const k = cpu * TIMERS_PER_CPU + t;
        if (view === 2) {
          this.cvalLo[k] = lo;
          this.cvalHi[k] = hi;
        } else if (view === 1) {
          // ISTATUS is read-only and bits [63:3] are RES0: only ENABLE and IMASK are kept.
          this.ctl[k] = lo & CNT_CTL_WRITABLE;
        } else {
          // TVAL write: CVAL = count + SignExtend(TimerValue[31:0]) (Arm ARM, CNTP_TVAL_EL0 register page).
          this.timerCount(cpu, t, this.s1);
          const negative = lo >= 0x8000_0000;
          add64(this.s1.lo, this.s1.hi, lo, negative ? 0xffff_ffff : 0, this.s1);
          this.cvalLo[k] = this.s1.lo;
          this.cvalHi[k] = this.s1.hi;
        }
        this.update(cpu, t, false);
      }
    }
  }

  private checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) {
      throw new UsageError('bad-argument', `cpu must be an integer in [0, ${this.cpus - 1}], got ${describeValue(cpu)}`);
    }
  }

  private checkAccess(cpu: number, id: TimerSysregId, write: boolean, el: TimerAccessLevel): void {
    this.checkCpu(cpu);
    if (!Number.isInteger(id) || id < 0 || id > TIMER_SYSREG.CNTHP_CVAL_EL2) {
      throw new UsageError('bad-argument', `register id must be an integer in [0, ${TIMER_SYSREG.CNTHP_CVAL_EL2}] (TIMER_SYSREG), got ${describeValue(id)}`);
    }
    if (el === undefined) return;
    const level: unknown = el;
    if (level !== 0 && level !== 1 && level !== 2) throw new UsageError('bad-argument', `el must be 0, 1, 2 or undefined, got ${describeValue(el)}`);
    const outcome = checkTimerAccess(id, write, el, this.cntkctl[cpu]!, this.cnthctl[cpu]!, this.e2h);
    if (outcome !== TIMER_ACCESS.OK) throw timerAccessException(outcome, id, write, el);
  }

  // ---------------------------------------------------------------- condition and output

  /** The count timer `t` of `cpu` compares with: the physical count, minus CNTVOFF_EL2 for CNTV (D11.2.2). */
  private timerCount(cpu: number, t: number, out: U64): U64 {
    this.counter.countAt(this.clock.now(), out);
    if (t === TIMER.CNTV) sub64(out.lo, out.hi, this.cntvoffLo[cpu]!, this.cntvoffHi[cpu]!, out);
    return out;
  }

  private readCtl(cpu: number, t: number): number {
    const k = cpu * TIMERS_PER_CPU + t;
    const ctl = this.ctl[k]!;
    // ISTATUS: the condition is met only while ENABLE is 1 (D11.2.4; with ENABLE 0 the model reads 0).
    if ((ctl & ENABLE) === 0) return ctl;
    this.timerCount(cpu, t, this.s1);
    return geU64(this.s1.lo, this.s1.hi, this.cvalLo[k]!, this.cvalHi[k]!) ? ctl | ISTATUS : ctl;
  }

  /**
   * Recomputes timer `t` of `cpu`: its output level now, and the Clock event
   * for the next cycle at which the output changes (the count reaching CVAL,
   * or a count at or past CVAL wrapping through 2^64 back below it).
   */
  private update(cpu: number, t: number, force: boolean): void {
    const k = cpu * TIMERS_PER_CPU + t;
    const ctl = this.ctl[k]!;
    let level = false;
    let at = -1;
    if ((ctl & ENABLE) !== 0 && (ctl & IMASK) === 0) {
      const ticks = this.counter.ticksAt(this.clock.now());
      this.counter.countOfTicks(ticks, this.s1);
      if (t === TIMER.CNTV) sub64(this.s1.lo, this.s1.hi, this.cntvoffLo[cpu]!, this.cntvoffHi[cpu]!, this.s1);
      const lo = this.cvalLo[k]!;
      const hi = this.cvalHi[k]!;
      level = geU64(this.s1.lo, this.s1.hi, lo, hi);
      at = this.nextChange(level, this.s1, lo, hi, ticks);
    }
    const h = this.handle[k]!;
    // An expiry already due at the same cycle is kept (a CTL rewrite that changes nothing); any other is stale.
    if (h !== -1 && !(at >= 0 && this.clock.dueAt(h) === at)) {
      this.clock.cancel(h);
      this.handle[k] = -1;
    }
    if (at >= 0 && this.handle[k] === -1) this.handle[k] = this.clock.schedule(at, this.events[k]!);
    this.drive(cpu, t, k, level, force);
  }

  /** The cycle at which a condition `met` at `count` (at `ticks` since the epoch) next changes, or -1 past the horizon. */
  private nextChange(met: boolean, count: U64, cvalLo: number, cvalHi: number, ticks: number): number {
    if (met) {
      // Met until the count wraps to 0 (never, when CVAL is 0).
      if (cvalLo === 0 && cvalHi === 0) return -1;
      sub64(0, 0, count.lo, count.hi, this.s2);
    } else {
      sub64(cvalLo, cvalHi, count.lo, count.hi, this.s2);
    }
    const delta = toSafeNumber(this.s2.lo, this.s2.hi);
    if (delta < 0) return -1;
    const target = ticks + delta;
    return Number.isSafeInteger(target) ? this.counter.cycleOfTicks(target) : -1;
  }

  private drive(cpu: number, t: number, k: number, level: boolean, force: boolean): void {
    const v = level ? 1 : 0;
    if (this.level[k] === v && !force) return;
    this.level[k] = v;
    const intid = this.ppi[t]!;
    if (level) this.tracer?.emit({ kind: 'interrupt.raised', source: 'generic-timer', cycle: this.clock.now(), cpu, vector: intid });
    const line = this.lines[k];
    if (line !== undefined) line.setLevel(level);
    else this.output?.(cpu, intid, level);
  }

  /** The level of a timer's interrupt output now (ENABLE && ISTATUS && !IMASK). */
  outputLevel(cpu: number, timer: TimerName | TimerId): boolean {
    this.checkCpu(cpu);
    return this.level[cpu * TIMERS_PER_CPU + timerIdOf(timer)] === 1;
  }

  /**
   * The cycle at which a timer's output asserts next: now when it is asserted,
   * -1 when it cannot (disabled, IMASK set, or beyond 2^53 cycles).
   */
  nextFireCycle(cpu: number, timer: TimerName | TimerId): number {
    this.checkCpu(cpu);
    const t = timerIdOf(timer);
    const k = cpu * TIMERS_PER_CPU + t;
    if (this.level[k] === 1) return this.clock.now();
    if ((this.ctl[k]! & (ENABLE | IMASK)) !== ENABLE) return -1;
    const h = this.handle[k]!;
    return h === -1 ? -1 : (this.clock.dueAt(h) ?? -1);
  }

  /**
   * Sends a timer's output to `line` instead of the `output` callback (with
   * no line: back to the callback). A hypervisor uses it while the vCPU that
   * owns the virtual timer is not running: redirect to a line that wakes the
   * vCPU, or to one that ignores levels to mask it. The old destination sees
   * the output fall if it was high, the new one sees it rise.
   */
  redirect(cpu: number, timer: TimerName | TimerId, line?: InterruptLine): void {
    this.checkCpu(cpu);
    const t = timerIdOf(timer);
    if (line !== undefined && (typeof line !== 'object' || typeof line.setLevel !== 'function')) {
      throw new UsageError('bad-argument', `line must be an InterruptLine, got ${describeValue(line)}`);
    }
    const k = cpu * TIMERS_PER_CPU + t;
    const high = this.level[k] === 1;
    if (high) this.drive(cpu, t, k, false, false);
    this.lines[k] = line;
    if (high) this.drive(cpu, t, k, true, false);
  }

  // ---------------------------------------------------------------- hypervisor context switch

  /** Saves `cpu`'s EL1 timer context (KVM's vcpu_put), into `into` when given (no allocation). */
  saveContext(cpu: number, into?: GenericTimerContext): GenericTimerContext {
    this.checkCpu(cpu);
    const k = cpu * TIMERS_PER_CPU;
    const c = into ?? ({} as GenericTimerContext);
    c.cntpCtl = this.readCtl(cpu, TIMER.CNTP);
    c.cntpCvalLo = this.cvalLo[k + TIMER.CNTP]!;
    c.cntpCvalHi = this.cvalHi[k + TIMER.CNTP]!;
    c.cntvCtl = this.readCtl(cpu, TIMER.CNTV);
    c.cntvCvalLo = this.cvalLo[k + TIMER.CNTV]!;
    c.cntvCvalHi = this.cvalHi[k + TIMER.CNTV]!;
    c.cntvoffLo = this.cntvoffLo[cpu]!;
    c.cntvoffHi = this.cntvoffHi[cpu]!;
    c.cntkctl = this.cntkctl[cpu]!;
    return c;
  }

  /** Loads an EL1 timer context into `cpu` (KVM's vcpu_load); outputs and expiries follow at once. */
  loadContext(cpu: number, context: GenericTimerContext): void {
    this.checkCpu(cpu);
    checkContext(context);
    const k = cpu * TIMERS_PER_CPU;
    this.ctl[k + TIMER.CNTP] = context.cntpCtl & CNT_CTL_WRITABLE;
    this.cvalLo[k + TIMER.CNTP] = context.cntpCvalLo;
    this.cvalHi[k + TIMER.CNTP] = context.cntpCvalHi;
    this.ctl[k + TIMER.CNTV] = context.cntvCtl & CNT_CTL_WRITABLE;
    this.cvalLo[k + TIMER.CNTV] = context.cntvCvalLo;
    this.cvalHi[k + TIMER.CNTV] = context.cntvCvalHi;
    this.cntvoffLo[cpu] = context.cntvoffLo;
    this.cntvoffHi[cpu] = context.cntvoffHi;
    this.cntkctl[cpu] = context.cntkctl & CNTKCTL_WRITABLE;
    this.update(cpu, TIMER.CNTP, false);
    this.update(cpu, TIMER.CNTV, false);
  }

  /**
   * The cycle at which the CNTP or CNTV timer of a saved context would assert
   * its output if it were loaded (KVM's background timer for a halted vCPU):
   * now when it already would, -1 when it never would.
   */
  contextFireCycle(context: GenericTimerContext, timer: 'CNTP' | 'CNTV'): number {
    checkContext(context);
    const t = timerIdOf(timer);
    if (t === TIMER.CNTHP) throw new UsageError('bad-argument', 'a timer context holds CNTP and CNTV only, not CNTHP');
    const ctl = t === TIMER.CNTP ? context.cntpCtl : context.cntvCtl;
    if ((ctl & (ENABLE | IMASK)) !== ENABLE) return -1;
    const now = this.clock.now();
    const ticks = this.counter.ticksAt(now);
    this.counter.countOfTicks(ticks, this.s1);
    if (t === TIMER.CNTV) sub64(this.s1.lo, this.s1.hi, context.cntvoffLo, context.cntvoffHi, this.s1);
    const lo = t === TIMER.CNTP ? context.cntpCvalLo : context.cntvCvalLo;
    const hi = t === TIMER.CNTP ? context.cntpCvalHi : context.cntvCvalHi;
    if (geU64(this.s1.lo, this.s1.hi, lo, hi)) return now;
    return this.nextChange(false, this.s1, lo, hi, ticks);
  }

  // ---------------------------------------------------------------- reset and snapshots

  /** Resets every PE's timer registers to TIMER_RESET (the system counter keeps counting, D11.1.2). */
  reset(): void {
    this.resetRegisters();
    for (let cpu = 0; cpu < this.cpus; cpu++) for (let t = 0; t < TIMERS_PER_CPU; t++) this.update(cpu, t, false);
  }

  private resetRegisters(): void {
    this.ctl.fill(TIMER_RESET.CTL);
    this.cvalLo.fill(TIMER_RESET.CVAL);
    this.cvalHi.fill(TIMER_RESET.CVAL);
    this.cntvoffLo.fill(TIMER_RESET.CNTVOFF);
    this.cntvoffHi.fill(TIMER_RESET.CNTVOFF);
    this.cntfrq.fill(this.counterFrequencyHz);
    this.cntkctl.fill(TIMER_RESET.CNTKCTL);
    this.cnthctl.fill(this.e2h ? TIMER_RESET.CNTHCTL_E2H1 : TIMER_RESET.CNTHCTL_E2H0);
  }

  /** The JSON-safe state (see {@link GenericTimerState} for why it holds no absolute cycles). */
  saveState(): GenericTimerState {
    const pos = this.counter.position(this.clock.now(), { countLo: 0, countHi: 0, phase: 0 }, this.s1);
    const perCpu: GenericTimerCpuState[] = [];
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      const timers: GenericTimerTimerState[] = [];
      for (let t = 0; t < TIMERS_PER_CPU; t++) {
        const k = cpu * TIMERS_PER_CPU + t;
        timers.push({ ctl: this.ctl[k]!, cval: bigintToHex(toBigint(this.cvalLo[k]!, this.cvalHi[k]!)) });
      }
      perCpu.push({
        cntfrq: this.cntfrq[cpu]!,
        cntkctl: this.cntkctl[cpu]!,
        cnthctl: this.cnthctl[cpu]!,
        cntvoff: bigintToHex(toBigint(this.cntvoffLo[cpu]!, this.cntvoffHi[cpu]!)),
        timers,
      });
    }
    return {
      type: 'hvsim.generic-timer',
      version: 1,
      cpus: this.cpus,
      counterFrequencyHz: this.counterFrequencyHz,
      cpuFrequencyHz: this.cpuFrequencyHz,
      count: bigintToHex(toBigint(pos.countLo, pos.countHi)),
      phase: pos.phase,
      perCpu,
    };
  }

  /**
   * Restores a saved state at the clock's current time, whatever it is: the
   * counter continues from the saved count and phase, expiries are scheduled
   * again and every output is driven to its restored level. Validates the
   * whole state first and changes nothing when it throws (SnapshotError).
   */
  restoreState(state: unknown): void {
    const { count, phase, perCpu } = parseTimerState(state, {
      cpus: this.cpus,
      counterFrequencyHz: this.counterFrequencyHz,
      cpuFrequencyHz: this.cpuFrequencyHz,
      cyclesPerPeriod: this.counter.cyclesPerPeriod,
      cnthctlMask: this.e2h ? CNTHCTL_WRITABLE.E2H1 : CNTHCTL_WRITABLE.E2H0,
    });
    fromBigint(count, this.s1);
    const pos: CounterPosition = { countLo: this.s1.lo, countHi: this.s1.hi, phase };
    // Everything is valid: commit.
    for (let k = 0; k < this.handle.length; k++) {
      const h = this.handle[k]!;
      if (h !== -1) this.clock.cancel(h);
      this.handle[k] = -1;
    }
    this.counter.setPosition(this.clock.now(), pos);
    perCpu.forEach((c, cpu) => {
      this.cntfrq[cpu] = c.cntfrq;
      this.cntkctl[cpu] = c.cntkctl;
      this.cnthctl[cpu] = c.cnthctl;
      fromBigint(c.cntvoff, this.s1);
      this.cntvoffLo[cpu] = this.s1.lo;
      this.cntvoffHi[cpu] = this.s1.hi;
      c.timers.forEach((tm, t) => {
        const k = cpu * TIMERS_PER_CPU + t;
        this.ctl[k] = tm.ctl;
        fromBigint(tm.cval, this.s1);
        this.cvalLo[k] = this.s1.lo;
        this.cvalHi[k] = this.s1.hi;
      });
    });
    for (let cpu = 0; cpu < this.cpus; cpu++) for (let t = 0; t < TIMERS_PER_CPU; t++) this.update(cpu, t, true);
  }
}
