import * as http from 'http'
import * as https from 'https'
import { MAX_CONCURRENT_REQUESTS, MAX_REQUEST_TIMEOUT_MS, type RequestOptions, type RequestTask } from 'miniprogram-live-store/platform'
import { result } from './listeners'

/** The platform's requests: how many are open, the most at once, the ones in flight, and whether the network is up. */
export interface RequestState {
  open: number
  peak: number
  readonly inFlight: Set<http.ClientRequest>
  online(): boolean
}

/**
 * `wx.request` over Node's HTTP client (`http` / `https`: it runs where `fetch` is not, as in
 * jsdom page tests), with WeChat's limits: 10 at once, 60 s each, `errMsg` strings.
 */
export function nodeRequest(o: RequestOptions, state: RequestState): RequestTask {
  const fail = (errMsg: string): void => result(errMsg, o.fail, o.complete)
  const refuse = (errMsg: string): RequestTask => {
    // Listeners are the caller's own callbacks: report on the next turn, as WeChat does.
    setTimeout(() => fail(errMsg), 0)
    return { abort: () => undefined }
  }
  if (state.open >= MAX_CONCURRENT_REQUESTS) return refuse('request:fail exceed max concurrent count')
  if (!/^https?:\/\//.test(o.url)) return refuse(`request:fail invalid url "${o.url}"`)
  if (!state.online()) return refuse('request:fail network is down')
  state.open++
  state.peak = Math.max(state.peak, state.open)
  let settled = false
  const finish = (then: () => void): void => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    state.inFlight.delete(req)
    state.open--
    then()
  }
  const body = o.method === 'POST' ? Buffer.from(o.data ?? '', 'utf8') : undefined
  const req = (o.url.startsWith('https:') ? https : http).request(
    o.url,
    { method: o.method, headers: { ...o.header, ...(body !== undefined ? { 'content-length': String(body.length) } : {}) } },
    (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        finish(() => {
          const header: Record<string, string> = {}
          for (const [key, value] of Object.entries(res.headers)) if (value !== undefined) header[key] = Array.isArray(value) ? value.join(', ') : value
          o.success?.({ statusCode: res.statusCode ?? 0, data: Buffer.concat(chunks).toString('utf8'), header })
          o.complete?.({ errMsg: 'request:ok' })
        }),
      )
      res.on('error', (error: Error) => finish(() => fail(`request:fail ${error.message}`)))
    },
  )
  const timeoutMs = Math.min(o.timeout ?? MAX_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS)
  const timer = setTimeout(() => {
    finish(() => fail('request:fail timeout'))
    req.destroy()
  }, timeoutMs)
  req.on('error', (error: Error) => finish(() => fail(`request:fail ${error.message}`)))
  state.inFlight.add(req)
  req.end(body)
  return {
    abort: () => {
      finish(() => fail('request:fail abort'))
      req.destroy()
    },
  }
}
