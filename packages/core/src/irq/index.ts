export {
  DELIVERY_MODE,
  LevelLine,
  type DeliveryMode,
  type TriggerMode,
  type InterruptMessage,
  type InterruptTarget,
  type MsiTarget,
  type InterruptLine,
  type InterruptNotifier,
} from './interrupts.js';
