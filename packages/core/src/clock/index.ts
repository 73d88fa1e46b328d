export { Clock, type ClockEvent, type EventHandle, type ClockState } from './clock.js';
