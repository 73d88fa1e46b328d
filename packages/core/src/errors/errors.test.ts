import { describe, expect, it } from 'vitest';
import { CpuException, X86_VECTOR, ARM64_EXCEPTION_CLASS } from './cpu-exception.js';
import { HvsimError, UsageError } from './hvsim-error.js';
import { assertAccessSize, assertAddress, assertInteger, assertOptions, assertU32, describeValue, wrongType } from './validate.js';

describe('CpuException', () => {
  // SDM 3A 6.3.1: vector numbers of the architectural exceptions.
  it('carries the x86 vector and error code', () => {
    const gp = CpuException.gp('WRMSR 0x80B with value 1');
    expect(gp.vector).toBe(13);
    expect(gp.errorCode).toBe(0);
    expect(gp.arch).toBe('x86');
    expect(gp.message).toBe('#GP (error code 0x0): WRMSR 0x80B with value 1');
    expect(CpuException.isVector(gp, X86_VECTOR.GP)).toBe(true);
    expect(CpuException.isVector(new Error('x'), 13)).toBe(false);
    const ud = CpuException.ud();
    expect(ud.vector).toBe(6);
    expect(ud.errorCode).toBeUndefined();
    expect(ud.message).toBe('#UD');
    const pf = CpuException.pf(0x6, 0x7fff0000);
    expect([pf.vector, pf.errorCode, pf.faultAddress]).toEqual([14, 6, 0x7fff0000]);
    expect(gp).toBeInstanceOf(Error);
    expect(gp).not.toBeInstanceOf(HvsimError);
  });

  it('carries an Arm exception class', () => {
    const e = new CpuException(ARM64_EXCEPTION_CLASS.DATA_ABORT_LOWER, { arch: 'arm64', errorCode: 0x46, faultAddress: 0x8000 });
    expect(e.message).toBe('arm64 EC 0x24 (error code 0x46)');
    expect(CpuException.isVector(e, 0x24)).toBe(false);
  });

  it('names vectors without a mnemonic by number', () => {
    expect(new CpuException(9).message).toBe('#vector 9');
  });
});

describe('argument checks', () => {
  it('name the argument and the value', () => {
    expect(() => assertInteger(5.5, 'count', 0, 10)).toThrow('count must be an integer in [0, 10], got 5.5');
    expect(() => assertAddress(-1, 'base')).toThrow('base must be a non-negative safe integer, got -1');
    expect(() => assertAddress(2 ** 53)).toThrow(/address must be a non-negative safe integer/);
    expect(() => assertAccessSize(3, [1, 2, 4])).toThrow('access size must be one of 1, 2, 4 bytes, got 3 (0x3)');
    expect(() => assertU32(2 ** 32, 'value')).toThrow('value must be an unsigned 32-bit integer, got 4294967296 (0x100000000)');
    const e = (() => {
      try {
        assertU32(-1, 'v');
      } catch (err) {
        return err as UsageError;
      }
    })();
    expect(e).toBeInstanceOf(UsageError);
    expect(e?.kind).toBe('bad-argument');
    expect(e?.name).toBe('UsageError');
  });

  it('describe any value safely', () => {
    expect(describeValue(16)).toBe('16 (0x10)');
    expect(describeValue(-2)).toBe('-2');
    expect(describeValue(3n)).toBe('3n');
    expect(describeValue('a')).toBe('"a"');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue([1])).toBe('an array');
    expect(describeValue({})).toBe('object');
  });
});

describe('option and type checks (issue 12: misspelled options, bigint for number)', () => {
  it('names a misspelled option and the known ones', () => {
    expect(() => assertOptions({ capcity: 3 }, ['capacity'], 'RecordingTracer')).toThrow('RecordingTracer has no option "capcity" (known: capacity)');
    expect(() => assertOptions(5, ['a'], 'thing')).toThrow('thing options must be an object, got 5 (0x5)');
    expect(() => assertOptions({}, [], 'thing')).not.toThrow();
    expect(() => assertOptions(undefined, [], 'thing')).not.toThrow();
    expect(() => assertOptions({ a: 1 }, [], 'thing')).toThrow('thing has no option "a" (known: none)');
  });

  it("an unknown option name is kind 'unknown-name', a non-object 'bad-argument' (docs/conventions.md \"Errors\")", () => {
    const kindOf = (f: () => void): unknown => {
      try {
        f();
      } catch (e) {
        return e instanceof UsageError ? e.kind : e;
      }
      return 'nothing thrown';
    };
    expect(kindOf(() => assertOptions({ capcity: 3 }, ['capacity'], 'RecordingTracer'))).toBe('unknown-name');
    expect(kindOf(() => assertOptions(5, ['a'], 'thing'))).toBe('bad-argument');
  });

  it('names a value of the wrong numeric type', () => {
    expect(() => wrongType(5n, 'address', 'number')).toThrow(UsageError);
    expect(() => wrongType(5n, 'address', 'number')).toThrow('address must be a number, got 5n');
  });
});
