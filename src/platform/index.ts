/**
 * `miniprogram-live-store/platform`: what a platform implementation needs (the SocketTask and
 * storage contracts, WeChat's limits, a storage with WeChat's size rules over any backend).
 * `wx` itself is adapted by `createWxPlatform`; the Node stand-in lives in
 * `miniprogram-live-store-server/node`.
 */
export type * from './types'
export {
  fitCloseReason,
  isValidCloseCode,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONCURRENT_REQUESTS,
  MAX_CONCURRENT_SOCKETS,
  MAX_REQUEST_TIMEOUT_MS,
  STORAGE_KEY_LIMIT_BYTES,
  STORAGE_TOTAL_LIMIT_BYTES,
} from './types'
export { SOCKET_OPTION_VERSIONS, socketOptionsFor } from './wx'
export { createKeyValueStorage } from './storage'
export type { KeyValueStorage, StorageBackend } from './storage'
export { createWxPlatform } from './wx'
export type { WxLike } from './wx'
export { utf8ByteLength } from '../protocol/utf8'
