import { fitCloseReason, MAX_CLOSE_REASON_BYTES } from '../../src/platform/types'
import { utf8ByteLength } from '../../src/protocol/utf8'

describe('fitCloseReason (WeChat fails close() past 123 bytes of reason)', () => {
  it('keeps a short reason as it is', () => {
    expect(fitCloseReason('too many frames')).toBe('too many frames')
  })

  it('cuts ASCII, CJK and emoji to at most 123 bytes, never inside a character', () => {
    expect(fitCloseReason('x'.repeat(200))).toBe('x'.repeat(123))
    const cjk = fitCloseReason('房'.repeat(100))
    expect(cjk).toBe('房'.repeat(41))
    expect(utf8ByteLength(cjk)).toBe(123)
    const emoji = fitCloseReason('🎉'.repeat(40))
    expect(emoji).toBe('🎉'.repeat(30))
    expect(utf8ByteLength(emoji)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES)
    expect(fitCloseReason(`${'x'.repeat(122)}é`)).toBe('x'.repeat(122))
  })
})
