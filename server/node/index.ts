/** Node entry: the platform over `ws` that stands in for WeChat in tests, benchmarks and the demo. */
export { createNodePlatform } from './platform'
export type { NodeClock, NodePlatform, NodePlatformOptions, NodeSocketTask } from './platform'
export { createKeyValueStorage } from 'miniprogram-live-store/platform'
export type { KeyValueStorage, StorageBackend } from 'miniprogram-live-store/platform'
export { createNodeWx } from './nodeWx'
export type { NodeWx } from './nodeWx'
