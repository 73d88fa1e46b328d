export { SnapshotError, type SnapshotErrorKind } from './snapshot-error.js';
export type { VersionedState, Snapshottable, JsonValue } from './snapshot.js';
export { bigintToHex, hexToBigint, bitmapToHex, bitmapFromHex, bytesToBase64, base64ToBytes } from './encoding.js';
export { StateReader, readState } from './state-reader.js';
