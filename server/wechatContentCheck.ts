/**
 * A content check over WeChat's content security API (`msgSecCheck`, version 2): the comment, the
 * user's openid and a scene go to WeChat; its verdict's `suggest` decides (`pass` lets the comment
 * through, `risky` refuses it with the verdict's `label`, `review` as configured). Any other answer
 * (an `errcode`, a network error) is a failure: the server's fail-open or fail-closed default applies.
 */
import type { UserRef } from 'miniprogram-live-store/protocol'
import type { ContentCheck } from './contentCheck'

export const WECHAT_API = 'https://api.weixin.qq.com'

export interface WeChatContentCheckOptions {
  /** A valid access token of the mini-program (see `wechatAccessToken`). */
  accessToken: () => Promise<string>
  /** The user's openid. Default: the uid (a token minted from the user's WeChat login carries it). */
  openid?: (user: UserRef) => string
  /** 1 profile, 2 comment, 3 forum, 4 social log. Default 2. */
  scene?: 1 | 2 | 3 | 4
  /** What `suggest: "review"` means. Default `allow` (WeChat's own advice: a person looks later). */
  onReview?: 'allow' | 'refuse'
  /** Where WeChat's API is (a stand-in in tests). Default https://api.weixin.qq.com. */
  endpoint?: string
}

interface SecCheckReply {
  errcode?: number
  errmsg?: string
  result?: { suggest?: string; label?: number }
}

/** The check: one POST to `/wxa/msg_sec_check` per comment. */
export function wechatContentCheck(options: WeChatContentCheckOptions): ContentCheck {
  const endpoint = options.endpoint ?? WECHAT_API
  return async (content, { user }) => {
    const token = await options.accessToken()
    const res = await fetch(`${endpoint}/wxa/msg_sec_check?access_token=${encodeURIComponent(token)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content, version: 2, scene: options.scene ?? 2, openid: options.openid?.(user) ?? user.uid }),
    })
    const reply = (await res.json()) as SecCheckReply
    if (!res.ok || (reply.errcode ?? 0) !== 0) throw new Error(`msgSecCheck failed: ${res.status} ${reply.errcode ?? ''} ${reply.errmsg ?? ''}`)
    const suggest = reply.result?.suggest
    if (suggest === 'pass') return { verdict: 'allow' }
    if (suggest === 'review' && (options.onReview ?? 'allow') === 'allow') return { verdict: 'allow' }
    if (suggest === 'risky' || suggest === 'review') return { verdict: 'refuse', reason: `refused by WeChat's content check (label ${reply.result?.label ?? 'unknown'})` }
    throw new Error(`msgSecCheck gave no verdict: ${JSON.stringify(reply).slice(0, 200)}`)
  }
}

/**
 * An access token from the mini-program's appid and secret (`/cgi-bin/token`), kept until five
 * minutes before it expires; one request at a time however many comments wait for it.
 */
export function wechatAccessToken(options: { appid: string; secret: string; endpoint?: string; now?: () => number }): () => Promise<string> {
  const now = options.now ?? Date.now
  let cached: { token: string; until: number } | undefined
  let pending: Promise<string> | undefined
  const fetchToken = async (): Promise<string> => {
    const url = `${options.endpoint ?? WECHAT_API}/cgi-bin/token?grant_type=client_credential&appid=${encodeURIComponent(options.appid)}&secret=${encodeURIComponent(options.secret)}`
    const reply = (await (await fetch(url)).json()) as { access_token?: string; expires_in?: number; errcode?: number; errmsg?: string }
    if (typeof reply.access_token !== 'string') throw new Error(`no access token: ${reply.errcode ?? ''} ${reply.errmsg ?? ''}`)
    cached = { token: reply.access_token, until: now() + Math.max(0, (reply.expires_in ?? 7200) - 300) * 1000 }
    return reply.access_token
  }
  return () => {
    if (cached !== undefined && cached.until > now()) return Promise.resolve(cached.token)
    pending ??= fetchToken().finally(() => (pending = undefined))
    return pending
  }
}
