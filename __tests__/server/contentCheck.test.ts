/**
 * Issue 25: the content check a comment goes through before it is applied: the blocked-words
 * list (one automaton, case, full-width forms and separators ignored), the check's deadline and
 * its fail-open or fail-closed default (in virtual time), and WeChat's msgSecCheck adapter
 * against a local stand-in of its API (no request leaves the machine).
 */
import * as http from 'http'
import type { AddressInfo } from 'net'
import { BlockedWords } from '../../server/blockedWords'
import { blockedWordsCheck, runContentCheck } from '../../server/contentCheck'
import { wechatAccessToken, wechatContentCheck } from '../../server/wechatContentCheck'
import { VirtualClock } from '../helpers/virtualClock'

const viewer = { user: { uid: 'openid-1', name: 'Ann' }, roomId: 'r' }

describe('blocked words', () => {
  const words = BlockedWords.fromText('# the list\nbad\n\nspam link\n傻瓜\n')

  it('finds words whatever their case, width, or the separators put between their letters, and masks each character they cover', () => {
    expect(words.size).toBe(3)
    expect(words.mask('a BAD day').text).toBe('a *** day')
    expect(words.mask('ＢＡＤ!').text).toBe('***!')
    expect(words.mask('b.a d and b-a_d').text).toBe('***** and *****')
    expect(words.mask('SPAM   Link here').text).toBe('*********** here')
    expect(words.mask('你是傻 瓜').text).toBe('你是***')
    expect(words.mask('badge').found).toBe(true)
    expect(words.mask('a fine comment')).toEqual({ text: 'a fine comment', found: false })
    // Characters outside the BMP count as one each.
    expect(words.mask('😀bad😀').text).toBe('😀***😀')
  })

  it('finds overlapping words and words inside words', () => {
    const list = new BlockedWords(['he', 'she', 'hers'])
    expect(list.find('ushers').sort()).toEqual([
      [1, 4],
      [2, 4],
      [2, 6],
    ])
  })

  it('costs the length of the comment, not the number of words: 50,000 words, one pass', () => {
    const many = new BlockedWords(Array.from({ length: 50_000 }, (_, i) => `word${i}x`))
    expect(many.size).toBe(50_000)
    const text = 'word123x '.repeat(20)
    // Each position is visited once: a match per occurrence, no re-scan per word.
    expect(many.find(text)).toHaveLength(20)
  })

  it('masks with the built-in check, or refuses with reject', () => {
    expect(blockedWordsCheck(words)('so bad', viewer)).toEqual({ verdict: 'mask', content: 'so ***' })
    expect(blockedWordsCheck(words, 'reject')('so bad', viewer)).toMatchObject({ verdict: 'refuse' })
    expect(blockedWordsCheck(words)('fine', viewer)).toEqual({ verdict: 'allow' })
  })
})

describe('the content check deadline', () => {
  it('applies the fail-open default after the deadline, counted as a timeout; fail-closed refuses', async () => {
    const clock = new VirtualClock()
    const counts: string[] = []
    const never = (): Promise<never> => new Promise(() => undefined)
    const open = runContentCheck({ check: never, deadlineMs: 500 }, 'x', viewer, (label) => counts.push(label), clock)
    clock.advance(499)
    await Promise.resolve()
    expect(counts).toEqual([])
    clock.advance(1)
    expect(await open).toEqual({ verdict: 'allow' })
    const closed = runContentCheck({ check: never, deadlineMs: 500, onFailure: 'closed' }, 'x', viewer, (label) => counts.push(label), clock)
    clock.advance(500)
    expect(await closed).toMatchObject({ verdict: 'refuse' })
    const failing = await runContentCheck({ check: () => Promise.reject(new Error('down')) }, 'x', viewer, (label) => counts.push(label), clock)
    expect(failing).toEqual({ verdict: 'allow' })
    expect(counts).toEqual(['timeout', 'timeout', 'error'])
  })
})

describe("WeChat's content security API (a local stand-in)", () => {
  let server: http.Server
  let endpoint = ''
  const seen: Array<{ path: string; body: Record<string, unknown> }> = []
  let tokenRequests = 0
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let text = ''
      req.on('data', (chunk: Buffer) => (text += chunk.toString()))
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x')
        res.setHeader('content-type', 'application/json')
        if (url.pathname === '/cgi-bin/token') {
          tokenRequests++
          res.end(JSON.stringify(url.searchParams.get('secret') === 'right' ? { access_token: 'AT', expires_in: 7200 } : { errcode: 40001, errmsg: 'invalid credential' }))
          return
        }
        const body = JSON.parse(text) as Record<string, unknown>
        seen.push({ path: `${url.pathname}?${url.searchParams.toString()}`, body })
        if (url.searchParams.get('access_token') !== 'AT') return res.end(JSON.stringify({ errcode: 40001, errmsg: 'invalid credential' }))
        const content = String(body.content)
        const suggest = content.includes('risky') ? 'risky' : content.includes('review') ? 'review' : 'pass'
        res.end(JSON.stringify({ errcode: 0, errmsg: 'ok', result: { suggest, label: suggest === 'pass' ? 100 : 20001 }, detail: [] }))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('sends the comment, version 2, the scene and the user openid; pass allows, risky refuses with the label, review as configured', async () => {
    const accessToken = wechatAccessToken({ appid: 'wx1', secret: 'right', endpoint })
    const check = wechatContentCheck({ accessToken, endpoint })
    expect(await check('hello', viewer)).toEqual({ verdict: 'allow' })
    expect(seen[0]).toEqual({ path: '/wxa/msg_sec_check?access_token=AT', body: { content: 'hello', version: 2, scene: 2, openid: 'openid-1' } })
    expect(await check('a risky one', viewer)).toEqual({ verdict: 'refuse', reason: "refused by WeChat's content check (label 20001)" })
    expect(await check('needs review', viewer)).toEqual({ verdict: 'allow' })
    expect(await wechatContentCheck({ accessToken, endpoint, onReview: 'refuse' })('needs review', viewer)).toMatchObject({ verdict: 'refuse' })
    // One token request for all of them: the token is kept until shortly before it expires.
    expect(tokenRequests).toBe(1)
  })

  it('fails (so the server default applies) on an error code', async () => {
    const check = wechatContentCheck({ accessToken: () => Promise.resolve('stale'), endpoint })
    await expect(check('hello', viewer)).rejects.toThrow(/msgSecCheck failed: 200 40001 invalid credential/)
    await expect(wechatAccessToken({ appid: 'wx1', secret: 'wrong', endpoint })()).rejects.toThrow(/no access token: 40001/)
  })
})
