import { backoffDelayMs } from '../../src/connection/backoff'
import { closePolicy } from '../../src/protocol/codes'

describe('backoffDelayMs', () => {
  const o = { minMs: 500, maxMs: 30000 }

  it('doubles the ceiling per attempt up to maxMs', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelayMs(a, o, () => 1))).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000])
  })

  it('applies full jitter: random() x ceiling', () => {
    expect(backoffDelayMs(3, o, () => 0)).toBe(0)
    expect(backoffDelayMs(3, o, () => 0.5)).toBe(1000)
    expect(backoffDelayMs(3, o, () => 0.999)).toBe(1998)
  })

  it('stays finite after a very long outage', () => {
    expect(backoffDelayMs(5000, o, () => 1)).toBe(30000)
  })
})

describe('closePolicy', () => {
  it('follows the protocol table and treats every other code like 1006', () => {
    expect(closePolicy(1008)).toBe('reconnectSlow')
    expect(closePolicy(4001)).toBe('refreshToken')
    expect(closePolicy(4003)).toBe('fail')
    expect(closePolicy(1009)).toBe('dropCommand')
    expect(closePolicy(1012)).toBe('reconnectNow')
    for (const code of [0, 1000, 1001, 1006, 1011, 1013, 4008, 3000, 4999]) expect(closePolicy(code)).toBe('reconnect')
    for (const code of [0, 1000, 1001, 1006, 1011, 1012, 4008, 3000, 4999]) expect(closePolicy(code, 'handshake')).toBe('reconnect')
  })
})
