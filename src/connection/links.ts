import type { BehaviorSubject, Observable, SchedulerLike, Subject } from 'rxjs'
import type { ServerFrame } from '../protocol/frames'
import type { FrameError } from '../protocol/parse'
import type { PlainDecoder } from '../protocol/plain'
import type { Platform } from '../platform/types'
import type { LiveClientOptions } from './api'
import { createHttpSession, httpBaseOf } from './httpSession'
import { nextRttEstimate, pongTimeoutMs, type RttEstimate } from './rtt'
import { createSession, offeredProtocols, type SessionEvent } from './session'
import type { Transport } from './state'
import type { FallbackSettings } from './transportChoice'

/** What every link of a client shares: its platform and clock, its settings, and where frames and counts go. */
export interface LinkSettings {
  platform: Platform
  scheduler: SchedulerLike
  options: Pick<LiveClientOptions, 'batch' | 'tokenIn' | 'compression' | 'heartbeatMs' | 'pongTimeoutMs'>
  plainDecoder: PlainDecoder | undefined
  connectTimeoutMs: number
  maxFrameBytes: number
  nextMsgId(): string
  /** Ping now (the app was shown again). */
  checkLink$: Subject<void>
  /** The RTT estimate, updated from each pong. */
  rtt$: BehaviorSubject<RttEstimate | undefined>
  onRttSample(sample: number): void
  onFrame(frame: ServerFrame): void
  onBadFrame(error: FrameError): void
  onFrameIn(): void
  onFrameOut(): void
  /** A socket this client closed: the function returned settles it when its `onClose` comes. */
  onClosing(): () => void
  onProbe(): void
}

/**
 * One link to `url`: a WebSocket session, or the HTTP fallback's (then `fallback` says how).
 * Throws when the fallback's base URL cannot be derived from `url`.
 */
export function openLink(settings: LinkSettings, transport: Transport, fallback: FallbackSettings | undefined, id: number, url: string, token: string | undefined): Observable<SessionEvent> {
  const { platform, scheduler, options, maxFrameBytes } = settings
  const frames = { onFrame: settings.onFrame, onBadFrame: settings.onBadFrame, onFrameIn: settings.onFrameIn, onFrameOut: settings.onFrameOut }
  if (transport === 'http' && fallback !== undefined) {
    const { waitMs, maxRequests, probeDelayMs } = fallback
    const baseUrl = fallback.url ?? httpBaseOf(url)
    const protocols = offeredProtocols(options.batch ?? true)
    return createHttpSession({ id, platform, baseUrl, socketUrl: url, protocols, token, scheduler, waitMs, maxRequests, maxFrameBytes, probeDelayMs, ...frames, onProbe: settings.onProbe })
  }
  return createSession({
    id,
    platform,
    url,
    token,
    tokenIn: options.tokenIn ?? 'header',
    batch: options.batch ?? true,
    ...(settings.plainDecoder !== undefined ? { plainDecoder: settings.plainDecoder } : {}),
    compression: options.compression ?? true,
    scheduler,
    heartbeatMs: options.heartbeatMs,
    pongTimeoutMs: () => options.pongTimeoutMs ?? pongTimeoutMs(settings.rtt$.value),
    connectTimeoutMs: settings.connectTimeoutMs,
    maxFrameBytes,
    nextMsgId: settings.nextMsgId,
    checkLink$: settings.checkLink$,
    onRttSample: (sample) => {
      settings.onRttSample(sample)
      settings.rtt$.next(nextRttEstimate(settings.rtt$.value, sample))
    },
    ...frames,
    onClosing: settings.onClosing,
  })
}
