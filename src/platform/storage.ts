import { STORAGE_KEY_LIMIT_BYTES, STORAGE_TOTAL_LIMIT_BYTES } from './types'
import { utf8ByteLength } from '../protocol/utf8'

/** Where a storage keeps its serialised entries between "app restarts". */
export interface StorageBackend {
  load(): Record<string, string>
  save(entries: Record<string, string>): void
}

export interface KeyValueStorage {
  get(key: string): unknown
  set(key: string, value: unknown): void
  remove(key: string): void
  /** Bytes in use, counted as WeChat does: key plus serialised value. */
  readonly bytesUsed: number
}

/**
 * Key-value storage with WeChat's limits: 1 MB a key, 10 MB in all. Values are kept
 * serialised, as WeChat does, so a read returns a copy and never the stored object.
 * Over a limit, `set` throws an Error with WeChat's message and changes nothing.
 */
export function createKeyValueStorage(backend?: StorageBackend): KeyValueStorage {
  const entries = new Map<string, string>(Object.entries(backend?.load() ?? {}))
  const sizeOf = (key: string, serialised: string): number => utf8ByteLength(key) + utf8ByteLength(serialised)
  let bytesUsed = 0
  for (const [key, value] of entries) bytesUsed += sizeOf(key, value)

  const persist = (): void => backend?.save(Object.fromEntries(entries))

  return {
    get(key) {
      const stored = entries.get(key)
      return stored === undefined ? undefined : (JSON.parse(stored) as unknown)
    },
    set(key, value) {
      if (typeof key !== 'string' || key.length === 0) throw new Error('setStorageSync:fail parameter error: key')
      const serialised = JSON.stringify(value === undefined ? null : value)
      const size = sizeOf(key, serialised)
      if (size > STORAGE_KEY_LIMIT_BYTES) throw new Error('setStorageSync:fail entry size limit reached')
      const previous = entries.get(key)
      const next = bytesUsed - (previous === undefined ? 0 : sizeOf(key, previous)) + size
      if (next > STORAGE_TOTAL_LIMIT_BYTES) throw new Error('setStorageSync:fail exceed storage max size 10MB')
      entries.set(key, serialised)
      bytesUsed = next
      persist()
    },
    remove(key) {
      const previous = entries.get(key)
      if (previous === undefined) return
      entries.delete(key)
      bytesUsed -= sizeOf(key, previous)
      persist()
    },
    get bytesUsed() {
      return bytesUsed
    },
  }
}
