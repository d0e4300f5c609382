/**
 * Standard JWTs (issue 15): minted here with `jose` (a JWT library, not the project's code), as
 * a backend in any language would; verified by the server with HS256 and its secret, RS256 with
 * a public key, ES256 through a JWKS file; every classic way to get it wrong refused with 4001;
 * a connection closed when its token expires, and the client back with a fresh one, no gap.
 */
import { generateKeyPairSync, type KeyObject } from 'crypto'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { exportJWK, type JWTPayload, SignJWT } from 'jose'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import type { ConnectionLogEvent } from '../../src/connection/connectionLog'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { createServer, type LiveServer, type ServerOptions } from '../../server/server'
import { CLOCK_TOLERANCE_S, MAX_TOKEN_LENGTH, signToken, TokenVerifier } from '../../server/token'
import { startServerProcess } from '../helpers/serverProcess'
import { RawClient } from '../helpers/rawClient'
import { redisForThisFile } from '../helpers/redisServer'
import { until } from '../helpers/wait'

const SECRET = 'jwt-test-secret-of-a-decent-length'
const redis = redisForThisFile()
const ISSUER = 'https://auth.example.com'
const AUDIENCE = 'live'
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const otherEc = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const pem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString()
const nowS = (): number => Math.floor(Date.now() / 1000)

/** A backend's token: `sub`, `name`, `role`, an hour of life, `iss` and `aud`, unless `claims` say otherwise. */
async function mint(alg: 'HS256' | 'RS256' | 'ES256', claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const key = alg === 'HS256' ? new TextEncoder().encode(SECRET) : alg === 'RS256' ? rsa.privateKey : ec.privateKey
  return new SignJWT({ name: 'Ann', role: 'viewer', ...claims })
    .setProtectedHeader({ alg, ...(alg === 'ES256' ? { kid: 'ec-1' } : {}), ...header })
    .setSubject(typeof claims.sub === 'string' ? claims.sub : 'u1')
    .setIssuedAt(typeof claims.iat === 'number' ? claims.iat : nowS())
    .setExpirationTime(typeof claims.exp === 'number' ? claims.exp : nowS() + 3600)
    .setIssuer(typeof claims.iss === 'string' ? claims.iss : ISSUER)
    .setAudience(typeof claims.aud === 'string' ? claims.aud : AUDIENCE)
    .sign(key)
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

async function jwksFile(keys: KeyObject[]): Promise<string> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'live-jwks-')), 'jwks.json')
  const jwks = { keys: await Promise.all(keys.map(async (k, i) => ({ ...(await exportJWK(k)), kid: `ec-${i + 1}`, alg: 'ES256', use: 'sig' }))) }
  fs.writeFileSync(file, JSON.stringify(jwks))
  return file
}

describe('JWT verification (TokenVerifier)', () => {
  let verifier: TokenVerifier
  beforeAll(async () => {
    verifier = new TokenVerifier({ secret: SECRET, publicKey: pem(rsa.publicKey), issuer: ISSUER, audience: AUDIENCE })
  })
  const check = (token: string, at = Date.now()): Promise<{ ok: boolean; reason?: string }> => verifier.verify(token, at).then((c) => (c.ok ? { ok: true } : { ok: false, reason: c.reason }))

  it("accepts HS256 with the secret and RS256 with the public key, and the project's own tokens", async () => {
    expect(await verifier.verify(await mint('HS256'), Date.now())).toMatchObject({ ok: true, payload: { uid: 'u1', name: 'Ann', role: 'viewer' } })
    expect(await verifier.verify(await mint('RS256', { role: 'anchor', rooms: ['r1'] }), Date.now())).toMatchObject({ ok: true, payload: { uid: 'u1', role: 'anchor', rooms: ['r1'] } })
    expect(await check(signToken({ uid: 'u2', name: 'B', role: 'viewer', exp: nowS() + 60, iss: ISSUER, aud: [AUDIENCE, 'other'] }, SECRET))).toEqual({ ok: true })
  })

  it("holds the project's own tokens to the configured iss and aud too (round two, problem 7)", async () => {
    const own = (extra: Record<string, unknown>): string => signToken({ uid: 'u2', name: 'B', role: 'viewer', exp: nowS() + 60, ...extra }, SECRET)
    expect(await check(own({}))).toEqual({ ok: false, reason: 'bad iss' })
    expect(await check(own({ iss: ISSUER }))).toEqual({ ok: false, reason: 'bad aud' })
    expect(await check(own({ iss: 'https://evil.example.com', aud: AUDIENCE }))).toEqual({ ok: false, reason: 'bad iss' })
    expect(await check(own({ iss: ISSUER, aud: 'other' }))).toEqual({ ok: false, reason: 'bad aud' })
    expect(await check(own({ iss: ISSUER, aud: AUDIENCE }))).toEqual({ ok: true })
    // A server that names neither takes them as before.
    const plain = new TokenVerifier({ secret: SECRET })
    expect((await plain.verify(own({}), Date.now())).ok).toBe(true)
  })

  it('refuses alg none, the HS256/public-key confusion, other algorithms, wrong iss or aud, expired, not yet valid, over-long', async () => {
    const payload = { sub: 'u1', name: 'Ann', role: 'viewer', exp: nowS() + 3600, iss: ISSUER, aud: AUDIENCE }
    expect(await check(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`)).toMatchObject({ ok: false, reason: expect.stringMatching(/algorithm "none" is not accepted/) })
    // HS256 "signed" with the server's public key as the HMAC secret: the classic confusion.
    const confused = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(pem(rsa.publicKey)))
    expect(await check(confused)).toEqual({ ok: false, reason: 'bad signature' })
    const hs512 = await new SignJWT(payload).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(SECRET))
    expect(await check(hs512)).toMatchObject({ ok: false, reason: expect.stringMatching(/not accepted/) })
    // ES256 with no EC key configured here.
    expect(await check(await mint('ES256'))).toEqual({ ok: false, reason: 'no key for ES256 tokens' })
    expect(await check(await mint('RS256', { iss: 'https://evil.example.com' }))).toEqual({ ok: false, reason: 'bad iss' })
    expect(await check(await mint('RS256', { aud: 'other' }))).toEqual({ ok: false, reason: 'bad aud' })
    expect(await check(await mint('HS256', { exp: nowS() - 1, iat: nowS() - 100 }))).toEqual({ ok: false, reason: 'token expired' })
    // exp is strict: a token is refused from its exp on, whatever the skew tolerance.
    const exp = nowS() + 10
    const short = await mint('RS256', { exp })
    expect(await check(short, exp * 1000 - 1)).toEqual({ ok: true })
    expect(await check(short, exp * 1000)).toEqual({ ok: false, reason: 'token expired' })
    // nbf: up to the skew tolerance ahead is fine, more is not.
    expect(await check(await mint('RS256', { nbf: nowS() + CLOCK_TOLERANCE_S - 5 }))).toEqual({ ok: true })
    expect(await check(await mint('RS256', { nbf: nowS() + CLOCK_TOLERANCE_S + 60 }))).toEqual({ ok: false, reason: 'token not yet valid' })
    expect(await check(await mint('RS256', { exp: nowS() + 40 * 86400 }))).toMatchObject({ ok: false, reason: expect.stringMatching(/days ahead/) })
    const long = await mint('RS256', { padding: 'x'.repeat(MAX_TOKEN_LENGTH) })
    expect(await check(long)).toEqual({ ok: false, reason: `token longer than ${MAX_TOKEN_LENGTH} characters` })
    // Claims the server needs: sub, name, role.
    // The contract's roles are viewer, anchor and admin (an admin moderates every room); any other is refused.
    expect(await check(await mint('RS256', { role: 'owner' }))).toEqual({ ok: false, reason: 'bad role' })
    expect(await verifier.verify(await mint('RS256', { role: 'admin' }), Date.now())).toMatchObject({ ok: true, payload: { role: 'admin' } })
    const noExp = await new SignJWT({ name: 'Ann', role: 'viewer' }).setProtectedHeader({ alg: 'RS256' }).setSubject('u1').setIssuer(ISSUER).setAudience(AUDIENCE).sign(rsa.privateKey)
    expect(await check(noExp)).toMatchObject({ ok: false })
    expect(await check('a.b.c.d')).toEqual({ ok: false, reason: 'malformed token' })
  })

  it("with public keys only, holds no secret: the project's own tokens and HS256 are refused; a JWKS picks the key by kid and is re-read when rotated", async () => {
    const file = await jwksFile([ec.publicKey])
    const keysOnly = new TokenVerifier({ jwks: file })
    expect(keysOnly.hasSecret).toBe(false)
    expect(await keysOnly.verify(await mint('ES256'), Date.now())).toMatchObject({ ok: true })
    expect(await keysOnly.verify(await mint('HS256'), Date.now())).toEqual({ ok: false, reason: 'HS256 tokens need a secret this server does not have' })
    expect((await keysOnly.verify(signToken({ uid: 'u', name: 'U', role: 'viewer', exp: nowS() + 60 }, SECRET), Date.now())).ok).toBe(false)
    // A token of a key the set does not hold yet.
    const next = await new SignJWT({ name: 'Ann', role: 'viewer' })
      .setProtectedHeader({ alg: 'ES256', kid: 'ec-2' })
      .setSubject('u1')
      .setExpirationTime(nowS() + 600)
      .sign(otherEc.privateKey)
    expect(await keysOnly.verify(next, Date.now())).toEqual({ ok: false, reason: 'no key for this token (kid)' })
    // Rotation: the new key is added to the file; after the re-read interval, its tokens pass.
    const rotated = JSON.parse(fs.readFileSync(await jwksFile([ec.publicKey, otherEc.publicKey]), 'utf8')) as unknown
    fs.writeFileSync(file, JSON.stringify(rotated))
    fs.utimesSync(file, new Date(), new Date(Date.now() + 10000))
    expect(await keysOnly.verify(next, Date.now() + 6000)).toMatchObject({ ok: true })
    expect(() => new TokenVerifier({})).toThrow(TypeError)
  })
})

describe('JWTs against the server', () => {
  let server: LiveServer | undefined
  let platform: NodePlatform | undefined
  let client: LiveClient | undefined
  afterEach(async () => {
    client?.close()
    platform?.destroy()
    await server?.close()
    server = undefined
  })
  const boot = async (options: Partial<ServerOptions>): Promise<LiveServer> =>
    (server = await createServer({ port: 0, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-jwt-')), ...options } as ServerOptions))

  /** A client whose token function mints RS256 tokens living `lifeS` on the server's clock; its connection log and room seqs. */
  function startViewer(sub: string, lifeS: number, serverNow: () => number, onMint: (minted: { token: string; exp: number }) => void): { log: ConnectionLogEvent[]; seqs: number[] } {
    platform = createNodePlatform()
    client = createLiveClient({
      url: server!.url,
      platform,
      token: async () => {
        const exp = Math.floor(serverNow() / 1000) + lifeS
        const token = await new SignJWT({ name: 'Viewer', role: 'viewer' })
          .setProtectedHeader({ alg: 'RS256' })
          .setSubject(sub)
          .setIssuedAt(Math.floor(serverNow() / 1000))
          .setExpirationTime(exp)
          .sign(rsa.privateKey)
        onMint({ token, exp })
        return token
      },
      backoff: { minMs: 5, maxMs: 20 },
      lingerMs: 20,
      outbox: { storageKey: false },
    })
    const log: ConnectionLogEvent[] = []
    client.connectionLog$.subscribe((e) => log.push(e))
    const seqs: number[] = []
    client.room('r').subscribe((u) => u.type === 'event' && seqs.push(u.event.seq ?? -1))
    return { log, seqs }
  }

  it.each(['memory', 'redis'] as const)(
    'takes a JWT in the handshake header or an auth frame; refuses none, the key confusion, iss, aud, expired, not yet valid and over-long with 4001 and closes (%s engine)',
    async (engine) => {
      await boot({ secret: SECRET, jwt: { publicKey: pem(rsa.publicKey), issuer: ISSUER, audience: AUDIENCE }, ...(engine === 'redis' ? { redis: { url: redis.url, prefix: 'jwt:' } } : {}) })
      const good = await RawClient.connect(server!.url, { token: await mint('RS256', { sub: 'hdr', name: 'Header' }) })
      expect(await good.type('init')).toMatchObject({ user: { uid: 'hdr', name: 'Header', role: 'viewer' } })
      good.ws.terminate()
      const framed = await RawClient.connect(server!.url)
      await framed.type('init')
      expect(await framed.command({ msg_type: 'auth', msg_id: 'a1', token: await mint('HS256', { sub: 'frm' }) })).toMatchObject({ ok: true, user: { uid: 'frm' } })
      framed.ws.terminate()
      const payload = { sub: 'x', name: 'x', role: 'viewer', exp: nowS() + 600, iss: ISSUER, aud: AUDIENCE }
      const refused = [
        `${b64({ alg: 'none' })}.${b64(payload)}.`,
        await new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(pem(rsa.publicKey))),
        await mint('RS256', { iss: 'https://evil.example.com' }),
        await mint('RS256', { aud: 'other' }),
        await mint('HS256', { exp: nowS() - 5, iat: nowS() - 100 }),
        await mint('RS256', { nbf: nowS() + 3600 }),
        await mint('RS256', { padding: 'x'.repeat(MAX_TOKEN_LENGTH) }),
      ]
      for (const bad of refused) {
        const c = await RawClient.connect(server!.url)
        await c.type('init')
        expect(await c.command({ msg_type: 'auth', msg_id: 'a2', token: bad })).toMatchObject({ ok: false, code: 4001 })
        expect((await c.closed).code).toBe(4001)
      }
    },
  )

  it('closes a connection when its JWT expires (4001, within a second); the client comes back with a fresh token and no gap', async () => {
    let offsetMs = 0
    const serverNow = (): number => Date.now() + offsetMs
    await boot({ secret: SECRET, jwt: { publicKey: pem(rsa.publicKey) }, heartbeatMs: 1000, now: serverNow, messageRateLimit: { perSecond: 1000, burst: 1000 } })
    const minted: number[] = []
    // A backend's token endpoint: a fresh RS256 token, 60 s of life on the server's clock.
    const { log, seqs } = startViewer('v1', 60, serverNow, ({ exp }) => minted.push(exp))
    await until(() => client!.state.status === 'open' && seqs.length > 0, 'joined')
    const say = (n: number): Promise<unknown> => server!.engine.apply('r', { type: 'message', msgId: `m${n}`, user: { uid: 'anchor', name: 'A' }, content: `m${n}` })
    for (let i = 0; i < 20; i++) await say(i)
    // The server's clock passes the token's exp.
    offsetMs = 61000
    const expiredAt = Date.now()
    await until(() => log.some((e) => e.type === 'close' && e.code === 4001), 'closed with 4001', 3000)
    const closedAfterMs = Date.now() - expiredAt
    for (let i = 20; i < 40; i++) await say(i)
    await until(() => client!.state.status === 'open' && client!.stats.reconnects === 1, 'back with a fresh token', 5000)
    const backAfterMs = Date.now() - expiredAt
    for (let i = 40; i < 60; i++) await say(i)
    await until(() => seqs.filter((s) => s > 0).length >= 61, 'every event', 5000)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0] + i))
    expect(client!.stats.gapsDetected).toBe(0)
    expect(client!.stats.duplicatesDropped).toBe(0)
    // (How soon after exp: the sweep runs every min(1 s, heartbeat / 4); the figure is printed below, not asserted in wall time.)
    expect(minted).toHaveLength(2)
    expect(log.filter((e) => e.type === 'close').map((e) => (e as { code: number }).code)).toEqual([4001])
    // The rejoin recovered what was sent while it was away: the 20 comments (and the old link's leave notice).
    const rejoins = log.filter((e): e is Extract<ConnectionLogEvent, { type: 'rejoin' }> => e.type === 'rejoin')
    expect(rejoins).toEqual([expect.objectContaining({ recovered: true })])
    expect(rejoins[0].missed).toBeGreaterThanOrEqual(20)
    process.stdout.write(
      `jwt expiry: closed 4001 ${closedAfterMs} ms after exp, back open ${backAfterMs} ms after exp with token #${minted.length}; ${seqs.length} events, gaps 0, duplicates 0, ${rejoins[0].missed} recovered\n`,
    )
  })

  it('refreshes the token on the open socket before it expires: the room is never left, the server keeps the link past the old exp', async () => {
    let offsetMs = 0
    const serverNow = (): number => Date.now() + offsetMs
    await boot({ secret: SECRET, jwt: { publicKey: pem(rsa.publicKey) }, heartbeatMs: 1000, now: serverNow })
    const tokens: Array<{ token: string; exp: number }> = []
    // Short-lived tokens (4 s): the client refreshes halfway through what is left.
    const { log, seqs } = startViewer('v2', 4, serverNow, (minted) => tokens.push(minted))
    await until(() => client!.state.status === 'open', 'open')
    await until(() => client!.stats.tokenRefreshes === 1, 'refreshed on the open socket', 5000)
    expect(tokens.length).toBe(2)
    expect(tokens[1].exp).toBeGreaterThanOrEqual(tokens[0].exp + 1)
    // A control connection holding the first token; then the server's clock passes that token's exp.
    const control = await RawClient.connect(server!.url, { token: tokens[0].token })
    expect((await control.type('init')).user).toMatchObject({ uid: 'v2' })
    offsetMs = tokens[0].exp * 1000 + 100 - Date.now()
    // The sweep that closes the control (4001) saw the client's link too: it keeps it (its token is the fresh one).
    expect((await control.closed).code).toBe(4001)
    await server!.engine.apply('r', { type: 'message', msgId: 'after-exp', user: { uid: 'a', name: 'A' }, content: 'still here' })
    await until(() => seqs.length > 0 && client!.state.status === 'open', 'an event after the old exp')
    expect(log.filter((e) => e.type === 'close')).toEqual([])
    expect(client!.stats.reconnects).toBe(0)
    expect(platform!.sockets).toHaveLength(1)
  })

  it('the CLI server accepts a token minted by a JWT library (RS256, iss, aud), with no secret of its own', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-jwt-cli-'))
    fs.writeFileSync(path.join(dir, 'live.pub'), pem(rsa.publicKey))
    const cli = await startServerProcess(['--jwt-public-key', path.join(dir, 'live.pub'), '--jwt-issuer', ISSUER, '--jwt-audience', AUDIENCE, '--data-dir', dir], { LIVE_SECRET: undefined })
    try {
      expect(cli.output()).toMatch(/no secret: only JWTs verified with the configured public keys are accepted/)
      const c = await RawClient.connect(cli.url, { token: await mint('RS256', { sub: 'cli-user', name: 'From Java' }) })
      expect(await c.type('init')).toMatchObject({ user: { uid: 'cli-user', name: 'From Java', role: 'viewer' } })
      c.ws.terminate()
      const own = await RawClient.connect(cli.url, { token: signToken({ uid: 'x', name: 'x', role: 'viewer', exp: nowS() + 60 }, SECRET) })
      expect((await own.type('init')).user).toBeUndefined()
      own.ws.terminate()
    } finally {
      await cli.kill('SIGTERM')
    }
  })
})
