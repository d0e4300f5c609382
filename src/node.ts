/** Node entry: the platform over `ws` that stands in for WeChat in tests, benchmarks and the demo. */
export { createNodePlatform } from './platform/node'
export type { NodePlatform, NodePlatformOptions, NodeSocketTask } from './platform/node'
export { createKeyValueStorage } from './platform/storage'
export type { KeyValueStorage, StorageBackend } from './platform/storage'
export { createNodeWx } from './platform/nodeWx'
export type { NodeWx } from './platform/nodeWx'
