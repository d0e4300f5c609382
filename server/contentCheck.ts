/**
 * The content check a comment goes through before it is applied (docs/protocol.md, "Commands":
 * the server may refuse it with 4032, or apply it with the offending words masked; the broadcast
 * is the truth). A hook of the server's options, with a deadline and a stated default.
 */
import type { BlockedWords } from './blockedWords'
import { type Clock, type ClockTimer, systemClock } from './clock'
import type { UserRef } from 'miniprogram-live-store/protocol'

/** A check's answer: let it through, broadcast `content` instead, or refuse it. */
export type ContentVerdict = { verdict: 'allow' } | { verdict: 'mask'; content: string } | { verdict: 'refuse'; reason: string }

/** Checks a comment's text for a user in a room; may be async. */
export type ContentCheck = (content: string, context: { user: UserRef; roomId: string }) => ContentVerdict | Promise<ContentVerdict>

export interface ContentCheckOptions {
  check: ContentCheck
  /** How long a comment may wait for the check. Default 1000 ms. */
  deadlineMs?: number
  /**
   * What a check that failed or missed its deadline means: `open` lets the comment through
   * (the default: a moderation service's outage must not silence every room), `closed` refuses it.
   */
  onFailure?: 'open' | 'closed'
}

/** The check's verdict within its deadline, or the failure default; `counted` gets the verdict's label. */
export async function runContentCheck(
  options: ContentCheckOptions,
  content: string,
  context: { user: UserRef; roomId: string },
  counted: (label: string) => void,
  clock: Clock = systemClock,
): Promise<ContentVerdict> {
  const deadlineMs = options.deadlineMs ?? 1000
  let timer: ClockTimer | undefined
  const late = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimer(() => resolve('timeout'), deadlineMs)
  })
  try {
    const verdict = await Promise.race([Promise.resolve().then(() => options.check(content, context)), late])
    if (verdict !== 'timeout') {
      counted(verdict.verdict)
      return verdict
    }
    counted('timeout')
  } catch {
    counted('error')
  } finally {
    timer?.cancel()
  }
  return options.onFailure === 'closed' ? { verdict: 'refuse', reason: 'the content check is unavailable, try again later' } : { verdict: 'allow' }
}

/** The built-in check over a blocked-words list: masks what it finds (`reject`: refuses the comment). */
export function blockedWordsCheck(words: BlockedWords, action: 'mask' | 'reject' = 'mask'): ContentCheck {
  return (content) => {
    const masked = words.mask(content)
    if (!masked.found) return { verdict: 'allow' }
    return action === 'reject' ? { verdict: 'refuse', reason: 'the comment has a blocked word' } : { verdict: 'mask', content: masked.text }
  }
}
