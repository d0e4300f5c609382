import * as fs from 'fs'
import * as path from 'path'
import type { StorageBackend } from 'miniprogram-live-store/platform'

/** Storage backed by a JSON file (written whole, atomically), so a new platform on it sees what the last one wrote. */
export function fileBackend(file: string): StorageBackend {
  return {
    load() {
      try {
        const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'))
        return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {}
      } catch {
        return {}
      }
    },
    save(entries) {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, JSON.stringify(entries))
      fs.renameSync(tmp, file)
    },
  }
}
