/**
 * What an x86 walk notes about one paging level: the entry it read there,
 * the rights accumulated down to it, where the entry lies, and the cached
 * page view of the table page at that level. `X86PageWalker` makes one
 * record per level once and fills them in place (a walk allocates nothing);
 * plain int32 fields cost a native walk less than typed-array slots, which
 * are bounds-checked at every access.
 */

/** The words of no page: a level whose table page has no view (its entries are read through `EntryReader`). */
export const NO_WORDS = new Uint32Array(0);

/** One level's record of the last walk (see the file comment). */
export class WalkLevel {
  /** Bits 31:0 of the entry read, as int32 (after A/D updates). */
  lo = 0;
  /** Bits 63:32 of the entry read, as int32. */
  hi = 0;
  /** Rights accumulated from the top level down to this one (`X86_RIGHTS` bits). */
  perms = 0;
  /** Native walks: frame (address / 4096) of the table page the entry was read from. */
  frame = 0;
  /** Native walks: the entry's index in 4-byte words within that page. */
  word = 0;
  /** General walks: where the entry was read, guest-physical (the table address the walk computed). */
  gpa = 0;
  /** General walks: where the entry was read, host-physical (after the second stage). */
  hpa = 0;
  /** Frame of the table page whose view `words` holds; -1 for none. */
  viewFrame = -1;
  /** That page's words (`NO_WORDS`: the page has no view; its entries are read through `EntryReader`). */
  words: Uint32Array = NO_WORDS;

  /** Forgets the cached page view (the memory's generation changed). */
  dropView(): void {
    this.viewFrame = -1;
    this.words = NO_WORDS;
  }
}
