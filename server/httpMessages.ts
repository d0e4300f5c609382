/**
 * The HTTP fallback's messages: a refusal as an HTTP answer (its status from the protocol's
 * table, `httpStatusOf`), the request's body and path parameters, read within their bounds.
 */
import type { IncomingMessage, ServerResponse } from 'http'
import { ErrorCode, httpStatusOf, roomIdProblem } from 'miniprogram-live-store/protocol'
import type { Refusal } from './acks'

/** A refused request: its error code (the status follows from it) and reason. */
export class HttpError extends Error {
  readonly status: number
  constructor(
    readonly code: number,
    reason: string,
    /** Only for what the table has no code for (405: a method not allowed). */
    status?: number,
    /** Muted (4030) or kicked (4031) until then, server ms. */
    readonly until?: number,
  ) {
    super(reason)
    this.status = status ?? httpStatusOf(code)
  }

  static of(refusal: Refusal): HttpError {
    return new HttpError(refusal.code, refusal.reason, undefined, refusal.until)
  }
}

/** The room id in a path, held to the same rule as a socket's frames (`roomIdProblem`). */
export function roomIdOf(encoded: string): string {
  let roomId: string
  try {
    roomId = decodeURIComponent(encoded)
  } catch {
    throw new HttpError(ErrorCode.badRequest, 'malformed room id in the path')
  }
  const problem = roomIdProblem(roomId)
  if (problem !== null) throw new HttpError(ErrorCode.badRequest, problem)
  return roomId
}

export function intParam(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name)
  if (raw === null) return undefined
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < 0) throw new HttpError(ErrorCode.badRequest, `${name} must be a whole number >= 0`)
  return value
}

export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): HttpError => new HttpError(ErrorCode.tooLarge, `body larger than ${maxBytes} bytes`)
    // A declared length past the bound is refused before a byte of it is read.
    const declared = Number(req.headers['content-length'] ?? 0)
    if (!(declared <= maxBytes)) {
      reject(tooLarge())
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      // Past the bound: refused; the connection is closed after the answer, the rest never read.
      if (size > maxBytes) {
        req.pause()
        reject(tooLarge())
      } else chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
    req.on('aborted', () => reject(new Error('aborted')))
  })
}

/**
 * An error answer. When the request's body was not read whole (refused before or while it came),
 * the connection is closed after the answer instead of reading the rest.
 */
export function refuse(req: IncomingMessage, res: ServerResponse, error: HttpError): void {
  if (!req.complete && !res.headersSent) {
    res.setHeader('connection', 'close')
    res.once('finish', () => req.socket.destroy())
  }
  send(res, error.status, { code: error.code, reason: error.message, ...(error.until !== undefined ? { until: error.until } : {}) })
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
