/**
 * The page sizes every translation format here shares (x86-64 paging, EPT,
 * Arm stage 2 with the 4 KiB granule): 4 KiB, 2 MiB and 1 GiB. Used by the
 * table builders to check a mapping once, the same way.
 */
import { checkAddress } from './address.js';
import { MmuUsageError } from './mmu-error.js';

/**
 * Checks a mapping of `size` bytes from `input` to `output` (both
 * non-negative safe integers aligned to `size`) and returns its size class:
 * 1 for 4 KiB, 2 for 2 MiB, 3 for 1 GiB (the x86/EPT leaf level; Arm's is
 * 4 minus it). `names` label the two addresses in messages.
 */
export function checkPageMapping(size: number, input: number, output: number, names: readonly [string, string]): 1 | 2 | 3 {
  const level = size === 4096 ? 1 : size === 0x20_0000 ? 2 : size === 0x4000_0000 ? 3 : 0;
  if (level === 0) throw new MmuUsageError('bad-argument', `page size must be 4 KiB, 2 MiB or 1 GiB, got ${String(size)}`);
  checkAddress(input, names[0]);
  checkAddress(output, names[1]);
  if (input % size !== 0 || output % size !== 0) {
    throw new MmuUsageError('bad-argument', `${names[0]} 0x${input.toString(16)} and ${names[1]} 0x${output.toString(16)} must be aligned to the page size 0x${size.toString(16)}`);
  }
  return level;
}
