/**
 * A WebSocket peer on a bare TCP socket, for what `ws` cannot play: a reader that stops
 * reading (the kernel's buffers fill, then the server's queue), then maybe starts again.
 */
import * as net from 'net'

/** A client frame: text (or `opcode`), masked as RFC 6455 requires. */
export function maskedFrame(payload: Buffer, opcode = 0x1): Buffer {
  const mask = Buffer.from([1, 2, 3, 4])
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))
  const header = payload.length < 126 ? Buffer.from([0x80 | opcode, 0x80 | payload.length]) : Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
  return Buffer.concat([header, mask, masked])
}

/** Upgrades with a header token, joins `roomId`, then stops reading. */
export async function pausedReader(url: string, token: string, roomId: string): Promise<net.Socket> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const upgraded = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.write(
    'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Protocol: live.v1\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  )
  await upgraded
  const joinedRoom = new Promise<void>((resolve) => {
    let seen = ''
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('latin1')
      if (!seen.includes('"snapshot"')) return
      socket.off('data', onData)
      resolve()
    }
    socket.on('data', onData)
  })
  socket.write(maskedFrame(Buffer.from(JSON.stringify({ msg_type: 'join', msg_id: 'j', room_id: roomId }))))
  await joinedRoom
  socket.pause()
  return socket
}

/** A frame from a server (unmasked, as servers send them). */
export interface ServerWireFrame {
  opcode: number
  /** RSV1: the payload is compressed (permessage-deflate). */
  compressed: boolean
  payload: Buffer
}

/** Splits a server's byte stream into frames: feed it the socket's chunks, in order. */
export function frameReader(onFrame: (frame: ServerWireFrame) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    for (;;) {
      if (pending.length < 2) return
      let length = pending[1] & 0x7f
      let offset = 2
      if (length === 126) {
        if (pending.length < 4) return
        length = pending.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (pending.length < 10) return
        length = Number(pending.readBigUInt64BE(2))
        offset = 10
      }
      if (pending.length < offset + length) return
      const frame = { opcode: pending[0] & 0x0f, compressed: (pending[0] & 0x40) !== 0, payload: pending.subarray(offset, offset + length) }
      pending = pending.subarray(offset + length)
      onFrame(frame)
    }
  }
}

/**
 * Reads a paused socket to its end, frame by frame: answers the server's close frame (as a
 * well-behaved peer does) and resolves with its code, or with 1006 if the socket ended first.
 */
export function readUntilClose(socket: net.Socket): Promise<number> {
  return new Promise((resolve) => {
    let code = 1006
    socket.on(
      'data',
      frameReader(({ opcode, payload }) => {
        if (opcode !== 0x8) return
        code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
        socket.write(maskedFrame(Buffer.from(payload.subarray(0, 2)), 0x8))
      }),
    )
    socket.once('close', () => resolve(code))
    socket.resume()
  })
}
