import { nextRttEstimate, pongTimeoutMs, type RttEstimate } from '../../src/connection/rtt'

describe('RFC 6298 RTT estimator', () => {
  it('takes SRTT = R and RTTVAR = R/2 from the first sample', () => {
    expect(nextRttEstimate(undefined, 100)).toEqual({ lastMs: 100, srttMs: 100, rttvarMs: 50, rtoMs: 300 })
  })

  it('folds later samples in with alpha 1/8 and beta 1/4, using the old SRTT for RTTVAR (worked values)', () => {
    // Samples 100, 200, 50, 50 worked by hand:
    // 1: SRTT 100, RTTVAR 50, RTO 100 + 200 = 300
    // 2: RTTVAR = .75*50 + .25*|100-200| = 62.5; SRTT = .875*100 + .125*200 = 112.5; RTO = 112.5 + 250 = 362.5
    // 3: RTTVAR = .75*62.5 + .25*|112.5-50| = 62.5; SRTT = .875*112.5 + .125*50 = 104.6875; RTO = 354.6875
    // 4: RTTVAR = .75*62.5 + .25*|104.6875-50| = 60.546875; SRTT = 97.8515625; RTO = 340.0390625
    const expected: RttEstimate[] = [
      { lastMs: 100, srttMs: 100, rttvarMs: 50, rtoMs: 300 },
      { lastMs: 200, srttMs: 112.5, rttvarMs: 62.5, rtoMs: 362.5 },
      { lastMs: 50, srttMs: 104.6875, rttvarMs: 62.5, rtoMs: 354.6875 },
      { lastMs: 50, srttMs: 97.8515625, rttvarMs: 60.546875, rtoMs: 340.0390625 },
    ]
    let estimate: RttEstimate | undefined
    const seen: RttEstimate[] = []
    for (const sample of [100, 200, 50, 50]) {
      estimate = nextRttEstimate(estimate, sample)
      seen.push(estimate)
    }
    expect(seen).toEqual(expected)
  })

  it('never lets RTO fall below SRTT + G when the variance is zero', () => {
    let estimate: RttEstimate | undefined
    for (let i = 0; i < 200; i++) estimate = nextRttEstimate(estimate, 10)
    expect(estimate!.rttvarMs).toBeLessThan(1e-6)
    expect(estimate!.rtoMs).toBeCloseTo(11, 5)
  })
})

describe('pong timeout', () => {
  it('is max(4 x RTO, 3000), at most 10000, and the ceiling before any sample', () => {
    expect(pongTimeoutMs(undefined)).toBe(10000)
    expect(pongTimeoutMs(nextRttEstimate(undefined, 100))).toBe(3000) // 4 x 300 = 1200 -> floor
    expect(pongTimeoutMs(nextRttEstimate(undefined, 400))).toBe(4800) // RTO 1200
    expect(pongTimeoutMs(nextRttEstimate(undefined, 2000))).toBe(10000) // 4 x 6000 -> ceiling
  })
})
