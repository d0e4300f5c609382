import { codeOfHttpStatus, ErrorCode, httpStatusOf } from '../../src/protocol/codes'

describe('the HTTP fallback status of each error code (one table, server and client)', () => {
  it('answers each code with its status, and reads a status back as the code it stands for', () => {
    expect(httpStatusOf(ErrorCode.unauthorized)).toBe(401)
    expect(httpStatusOf(ErrorCode.notFound)).toBe(404)
    expect(httpStatusOf(ErrorCode.rateLimited)).toBe(429)
    expect(httpStatusOf(ErrorCode.internal)).toBe(503)
    expect(httpStatusOf(ErrorCode.muted)).toBe(403)
    expect(httpStatusOf(9999)).toBe(400)
    for (const code of [
      ErrorCode.badRequest,
      ErrorCode.unauthorized,
      ErrorCode.forbidden,
      ErrorCode.notFound,
      ErrorCode.tooLarge,
      ErrorCode.rateLimited,
      ErrorCode.contentRefused,
      ErrorCode.internal,
    ]) {
      expect(codeOfHttpStatus(httpStatusOf(code))).toBe(code)
    }
    // 403 stands for forbidden: a muted or kicked user's refusal carries its own code in the body.
    expect(codeOfHttpStatus(403)).toBe(ErrorCode.forbidden)
    expect(codeOfHttpStatus(0)).toBeUndefined()
    expect(codeOfHttpStatus(500)).toBeUndefined()
  })
})
