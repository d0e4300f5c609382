import { promises as fs } from 'fs'
import * as path from 'path'
import type { ReportLog } from 'miniprogram-live-store/protocol'
import { SERVER_DEFAULTS } from './defaults'

export interface ReportSinkOptions {
  /** `reports.jsonl` is rotated once it would grow past this many bytes. Default 64 MiB. */
  maxFileBytes?: number
  /** Rotated files kept (`reports.jsonl.1` the newest); older ones are deleted. Default 5. */
  keepFiles?: number
}

/**
 * Appends analytics logs to `DATA_DIR/reports.jsonl`, one JSON object a line, rotated by size:
 * the disk it may take is `(keepFiles + 1) x maxFileBytes` at most, whatever clients send.
 * Writes are chained so lines never interleave; `append` resolves once its lines are written.
 */
export class ReportSink {
  private chain: Promise<void> = Promise.resolve()
  private dirReady: Promise<void> | undefined
  /** Bytes in the current file (read once, then counted). */
  private size: number | undefined
  readonly file: string
  private readonly maxFileBytes: number
  private readonly keepFiles: number

  constructor(dataDir: string, options: ReportSinkOptions = {}) {
    this.file = path.join(dataDir, 'reports.jsonl')
    this.maxFileBytes = options.maxFileBytes ?? SERVER_DEFAULTS.reportsMaxBytes
    this.keepFiles = Math.max(0, options.keepFiles ?? SERVER_DEFAULTS.reportsKeep)
  }

  append(logs: ReportLog[]): Promise<void> {
    return this.appendLines(logs.map((log) => JSON.stringify(log)))
  }

  /** Appends lines already serialised (one JSON object each). */
  appendLines(lines: string[]): Promise<void> {
    const text = lines.join('\n') + '\n'
    const bytes = Buffer.byteLength(text)
    this.dirReady ??= fs.mkdir(path.dirname(this.file), { recursive: true }).then(() => undefined)
    const write = this.chain
      .then(() => this.dirReady)
      .then(async () => {
        this.size ??= await fs.stat(this.file).then(
          (s) => s.size,
          () => 0,
        )
        if (this.size > 0 && this.size + bytes > this.maxFileBytes) await this.rotate()
        await fs.appendFile(this.file, text)
        this.size += bytes
      })
    // A failed write fails its own report, not the ones after it (the size is read again).
    this.chain = write.catch(() => {
      this.size = undefined
    })
    return write
  }

  /** Resolves when every write so far has finished. */
  flush(): Promise<void> {
    return this.chain
  }

  /** reports.jsonl -> .1 -> .2 ... ; the one past `keepFiles` is deleted. */
  private async rotate(): Promise<void> {
    const name = (n: number): string => (n === 0 ? this.file : `${this.file}.${n}`)
    await fs.rm(name(this.keepFiles), { force: true })
    for (let n = this.keepFiles - 1; n >= 0; n--) await fs.rename(name(n), name(n + 1)).catch(() => undefined)
    this.size = 0
  }
}
