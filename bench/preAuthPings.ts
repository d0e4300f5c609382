/**
 * The compressed-ping attack of issue 21 (problem 2), as a probe: 300 sockets without a token
 * offer permessage-deflate and send 40 pings padded to 64 KiB each. Prints what was negotiated,
 * how the server answered and its CPU time per KB the attackers put on the wire.
 * Run: node -r ./scripts/dev-source.js bench/preAuthPings.ts
 */
import { fork } from 'child_process'
import * as path from 'path'
import WebSocket from 'ws'

const child = fork(path.join(__dirname, 'preAuthServer.ts'), [], { execArgv: ['-r', path.join(__dirname, '..', 'scripts', 'dev-source.js')] })
const ask = <T>(m?: string): Promise<T> =>
  new Promise((resolve) => {
    child.once('message', (x) => resolve(x as T))
    if (m !== undefined) child.send(m)
  })

void (async () => {
  const { url } = await ask<{ url: string }>()
  const before = await ask<{ cpu: NodeJS.CpuUsage }>('cpu')
  let negotiated = 0
  let closed1009 = 0
  let pongs = 0
  const sockets = await Promise.all(
    Array.from(
      { length: 300 },
      () =>
        new Promise<WebSocket>((resolve) => {
          const ws = new WebSocket(url, ['live.v1'], { perMessageDeflate: true })
          ws.on('open', () => resolve(ws))
          ws.on('error', () => undefined)
          ws.on('message', (d) => {
            if (String(d).includes('"pong"')) pongs++
          })
          ws.on('close', (code) => {
            if (code === 1009) closed1009++
          })
        }),
    ),
  )
  const pad = 'x'.repeat(64 * 1024 - 40)
  for (const ws of sockets) {
    if (ws.extensions.includes('permessage-deflate')) negotiated++
    for (let i = 0; i < 40 && ws.readyState === ws.OPEN; i++) ws.send(JSON.stringify({ msg_type: 'ping', t: i, pad }), { compress: true })
  }
  // Let the server read what it will; bounded, then measured.
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const wire = sockets.reduce((sum, ws) => sum + (ws as unknown as { _socket: { bytesWritten: number } })._socket.bytesWritten, 0)
  const after = await ask<{ cpu: NodeJS.CpuUsage }>('cpu')
  const cpuMs = (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000
  console.log(
    `[pre-auth pings] 300 token-less sockets: deflate negotiated by ${negotiated}, closed 1009 ${closed1009}, pongs ${pongs}; ` +
      `${(wire / 1e6).toFixed(1)} MB put on the wire, server CPU ${Math.round(cpuMs)} ms = ${(cpuMs / (wire / 1024)).toFixed(4)} ms per KB`,
  )
  for (const ws of sockets) ws.terminate()
  child.kill()
})()
