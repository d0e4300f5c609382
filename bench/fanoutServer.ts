/**
 * The server side of the fan-out rate bench (bench/fanoutRates.ts), a process of its own so
 * that its CPU and memory are its own. One room; events generated here at a fixed rate and
 * sent through each server's real path. Modes:
 *
 *   bare        ws, JSON.stringify once, ws.send(text) to every viewer
 *   frameOnce   ws, the frame built once (Sender.frame), the same bytes to every viewer
 *   deflate     ws with permessage-deflate (context takeover), ws.send per viewer: each socket compresses
 *   socketio    socket.io room broadcast
 *   ours        the reference server (in-memory engine): events through engine.apply; the
 *               viewers choose live.v1, live.v1.batch, and permessage-deflate
 *
 * Driven over IPC: { cmd: 'rate', rate, seconds } -> { cpuUs, events }; { cmd: 'mem' } ->
 * { rss, heapUsed } after a full GC; { cmd: 'stop' }.
 */
import * as fs from 'fs'
import * as http from 'http'
import * as os from 'os'
import * as path from 'path'
import type { AddressInfo } from 'net'
import WebSocket, { WebSocketServer } from 'ws'
import { Server as SocketIoServer } from 'socket.io'
import { createServer } from '../server/server'

const mode = process.argv[2]
const CONTENT = 'a typical comment of about forty characters..'
const send = (message: unknown): void => {
  process.send?.(message)
}

interface Broadcaster {
  url: string
  emit(seq: number): void | Promise<unknown>
}

const Sender = (WebSocket as unknown as { Sender: { frame(data: Buffer, o: Record<string, unknown>): Buffer[] } }).Sender

function eventText(seq: number): string {
  return JSON.stringify({ msg_type: 'message', room_id: 'bench', seq, ts: Date.now(), msg_id: `e${seq}`, from_uid: 'anchor', from_name: 'Anchor', content: CONTENT })
}

async function wsServer(perMessageDeflate: boolean): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate, handleProtocols: (p) => (p.has('live.v1') ? 'live.v1' : false) })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws` }
}

async function start(): Promise<Broadcaster> {
  switch (mode) {
    case 'bare': {
      const { wss, url } = await wsServer(false)
      return {
        url,
        emit: (seq) => {
          const text = eventText(seq)
          for (const ws of wss.clients) ws.send(text)
        },
      }
    }
    case 'frameOnce': {
      const { wss, url } = await wsServer(false)
      return {
        url,
        emit: (seq) => {
          const list = [Buffer.concat(Sender.frame(Buffer.from(eventText(seq)), { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }))]
          for (const ws of wss.clients) (ws as unknown as { _sender: { sendFrame(l: Buffer[]): void } })._sender.sendFrame(list)
        },
      }
    }
    case 'deflate': {
      const { wss, url } = await wsServer(true)
      return {
        url,
        emit: (seq) => {
          const text = eventText(seq)
          for (const ws of wss.clients) ws.send(text, { compress: true })
        },
      }
    }
    case 'socketio': {
      const httpServer = http.createServer()
      const io = new SocketIoServer(httpServer, { transports: ['websocket'], perMessageDeflate: false })
      io.on('connection', (socket) => void socket.join('bench'))
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', () => resolve()))
      return { url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`, emit: (seq) => void io.to('bench').emit('message', eventText(seq)) }
    }
    case 'ours': {
      const server = await createServer({
        port: 0,
        secret: 'bench-secret',
        dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'bench-fanout-')),
        heartbeatMs: 600000,
        maxConnectionsPerUser: 10000,
        // Every viewer comes from 127.0.0.1: the per-address cap is lifted for the bench.
        maxConnectionsPerAddress: 1_000_000,
        log: () => undefined,
      })
      return { url: server.url, emit: () => server.engine.apply('bench', { type: 'message', msgId: `e${Math.random()}`, user: { uid: 'anchor', name: 'Anchor' }, content: CONTENT }) }
    }
    default:
      throw new Error(`unknown mode ${mode}`)
  }
}

void (async () => {
  const server = await start()
  let seq = 0
  process.on('message', (message: { cmd: string; rate?: number; seconds?: number }) => {
    if (message.cmd === 'mem') {
      ;(global as { gc?: () => void }).gc?.()
      const m = process.memoryUsage()
      send({ rss: m.rss, heapUsed: m.heapUsed })
    } else if (message.cmd === 'rate') {
      const rate = message.rate ?? 100
      const total = Math.round(rate * (message.seconds ?? 3))
      const started = Date.now()
      const cpu = process.cpuUsage()
      let sent = 0
      // Every 10 ms, the events due by now: a steady rate whatever the timer's jitter.
      const tick = setInterval(() => {
        const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate))
        while (sent < due) {
          void server.emit(++seq)
          sent++
        }
        if (sent >= total) {
          clearInterval(tick)
          // How long the events took to go out: a server that cannot keep the rate emits late.
          const emitSeconds = (Date.now() - started) / 1000
          // Let the last writes leave before the CPU is read.
          setTimeout(() => {
            const used = process.cpuUsage(cpu)
            send({ cpuUs: used.user + used.system, events: sent, emitSeconds })
          }, 500)
        }
      }, 10)
    } else if (message.cmd === 'stop') process.exit(0)
  })
  send({ url: server.url })
})()
