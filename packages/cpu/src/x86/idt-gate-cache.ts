/**
 * Decoded IDT gates, by vector, so that delivering the same vector again
 * skips translating and decoding its gate, translating the handler's first
 * fetch and looking its code up in the program.
 *
 * A processor does not cache gates: every delivery reads the gate from the
 * IDT (SDM 3A 6.12.1, 6.14.1). The cache is therefore exact, never stale: an
 * entry is used only when the IDTR base is the one it was read under, no
 * translation the CPU made since may have changed (the page cache's stamp,
 * which moves at every MMU invalidation, CR0.PG change or flush), the RAM
 * page view it was read through is still current, and the gate's words in
 * that live view are still the words decoded. Whoever changed the gate (a
 * guest store, another CPU, a device's DMA, the host), the next delivery
 * sees the new one. The IDT limit is checked by the caller on every delivery.
 */
import type { PageView } from '@hvsim/core';
import type { X86Guest } from '../guest/guest.js';
import type { CodeEntry } from '../guest/program.js';

const VECTORS = 256;

/** Decoded gates by vector (see the file comment). */
export class IdtGateCache {
  /** After a hit: the gate's target (handler entry), its type, and the code there (undefined: none defined). */
  target = 0;
  type = 0;
  code: CodeEntry<X86Guest> | undefined = undefined;

  private readonly views: (PageView | null)[] = new Array<PageView | null>(VECTORS).fill(null);
  private readonly at = new Int32Array(VECTORS);
  /** Words 0-2 of each gate as decoded (word 3 is reserved). */
  private readonly words = new Uint32Array(VECTORS * 3);
  private readonly base = new Float64Array(VECTORS).fill(-1);
  private readonly stamp = new Float64Array(VECTORS).fill(-1);
  private readonly targets = new Float64Array(VECTORS);
  private readonly types = new Uint8Array(VECTORS);
  private readonly codes: (CodeEntry<X86Guest> | undefined)[] = new Array<CodeEntry<X86Guest> | undefined>(VECTORS).fill(undefined);

  /**
   * True, with `target`, `type` and `code` set, when `vector`'s gate is the
   * one decoded under this IDTR base and translation stamp, read from RAM of
   * generation `ramGeneration`.
   */
  lookup(vector: number, idtBase: number, stamp: number, ramGeneration: number): boolean {
    const view = this.views[vector] ?? null;
    if (view === null || this.base[vector] !== idtBase || this.stamp[vector] !== stamp || view.generation !== ramGeneration) return false;
    const live = view.words;
    const w = this.at[vector]!;
    const k = vector * 3;
    const words = this.words;
    if (live[w] !== words[k] || live[w + 1] !== words[k + 1] || live[w + 2] !== words[k + 2]) return false;
    this.target = this.targets[vector]!;
    this.type = this.types[vector]!;
    this.code = this.codes[vector];
    return true;
  }

  /**
   * Remembers a gate whose words 0-2 (`w0`-`w2`) were read from word `at` of
   * `view`, decoded to `target` and `type`, and whose first fetch translated.
   */
  store(vector: number, idtBase: number, stamp: number, view: PageView, at: number, w0: number, w1: number, w2: number, target: number, type: number, code: CodeEntry<X86Guest> | undefined): void {
    const k = vector * 3;
    this.words[k] = w0;
    this.words[k + 1] = w1;
    this.words[k + 2] = w2;
    this.views[vector] = view;
    this.at[vector] = at;
    this.base[vector] = idtBase;
    this.stamp[vector] = stamp;
    this.targets[vector] = target;
    this.types[vector] = type;
    this.codes[vector] = code;
  }

  /** Forgets every gate. */
  clear(): void {
    this.views.fill(null);
    this.codes.fill(undefined);
  }
}
