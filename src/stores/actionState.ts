import { action } from 'mobx-miniprogram'
import type { AckFrame } from '../protocol/frames'
import { reasonOf } from './reason'

/** Where a command stands: bind it to show a spinner, a tick or the reason it failed. */
export interface ActionState {
  status: 'pending' | 'done' | 'failed'
  /** Why it failed (the server's reason, or the client's: timed out, closed ...). */
  reason?: string
}

/**
 * Follows a sent command: `set` gets `pending` at once, then `done` or `failed` with the
 * reason, each in a MobX action. Returns the same promise.
 */
export function trackAction(set: (state: ActionState) => void, sent: Promise<AckFrame>): Promise<AckFrame> {
  const apply = action(set)
  apply({ status: 'pending' })
  sent.then(
    () => apply({ status: 'done' }),
    (error: unknown) => apply({ status: 'failed', reason: reasonOf(error) }),
  )
  return sent
}
