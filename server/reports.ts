import { promises as fs } from 'fs'
import * as path from 'path'
import type { ReportLog } from 'miniprogram-live-store/protocol'

/**
 * Appends analytics logs to `DATA_DIR/reports.jsonl`, one JSON object a line.
 * Writes are chained so lines never interleave; `append` resolves once its lines are written.
 */
export class ReportSink {
  private chain: Promise<void> = Promise.resolve()
  private dirReady: Promise<void> | undefined
  readonly file: string

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'reports.jsonl')
  }

  append(logs: ReportLog[]): Promise<void> {
    return this.appendLines(logs.map((log) => JSON.stringify(log)))
  }

  /** Appends lines already serialised (one JSON object each). */
  appendLines(lines: string[]): Promise<void> {
    const text = lines.join('\n') + '\n'
    this.dirReady ??= fs.mkdir(path.dirname(this.file), { recursive: true }).then(() => undefined)
    const write = this.chain.then(() => this.dirReady).then(() => fs.appendFile(this.file, text))
    // A failed write fails its own report, not the ones after it.
    this.chain = write.catch(() => undefined)
    return write
  }

  /** Resolves when every write so far has finished. */
  flush(): Promise<void> {
    return this.chain
  }
}
