/**
 * `miniprogram-live-store/protocol`: the wire protocol shared by the client and the reference
 * server (frame types, close and error codes, the validating parsers). No Node built-ins, no `ws`.
 */
export * from './frames'
export * from './codes'
export * from './parse'
export * from './plain'
