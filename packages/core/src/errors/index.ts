export { HvsimError, UsageError, type UsageErrorKind } from './hvsim-error.js';
export {
  CpuException,
  X86_VECTOR,
  ARM64_EXCEPTION_CLASS,
  ARM64_VECTOR_OFFSET,
  type X86VectorName,
  type CpuArch,
  type CpuExceptionOptions,
} from './cpu-exception.js';
export { assertInteger, assertAddress, assertAccessSize, assertU32, describeValue } from './validate.js';
