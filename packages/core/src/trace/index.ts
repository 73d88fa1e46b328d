export type {
  TraceArg,
  TraceEventBase,
  InterruptTraceEvent,
  IpiTraceEvent,
  MsiTraceEvent,
  VmExitTraceEvent,
  VmEntryTraceEvent,
  PageWalkTraceEvent,
  TlbTraceEvent,
  FaultTraceEvent,
  CustomTraceEvent,
  TraceEvent,
  TraceEventKind,
  Tracer,
} from './events.js';
export { RecordingTracer, FanoutTracer, type RecordingTracerOptions } from './recording-tracer.js';
export { toChromeTrace, toJsonLines, type ChromeTrace, type ChromeTraceEntry, type ChromeTraceOptions } from './exporters.js';
