export type { AccessSize, MmioDevice, PioDevice, MsrDevice } from './devices.js';
export { AddressMap, type BusMapping } from './address-map.js';
export { MmioBus, PioBus, MsrBus } from './buses.js';
export { BusError, type BusErrorKind } from './bus-error.js';
