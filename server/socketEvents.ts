/**
 * A socket's events, handed to its connection: the same three listener functions for every
 * socket, and what ws tells of the socket itself (its compression, its rule-breaking peers).
 */
import type { WebSocket } from 'ws'
import { CloseCode } from 'miniprogram-live-store/protocol'
import type { OpenConnection } from './context'

/** What the socket's listeners call on its connection (connection.ts's `LiveConnection`). */
export interface SocketOwner extends OpenConnection {
  readonly ctx: { connections: Set<OpenConnection>; addressConnections: { remove(key: string): void } }
  onMessage(data: Buffer, isBinary: boolean): void
  closingWith(code: number): void
  closedByPeer(code: number): Promise<void>
}

/**
 * permessage-deflate negotiated with server_no_context_takeover (the server asks for it, see
 * createServer): each message stands alone, so a frame compressed once is valid on this socket.
 */
export function deflateWithoutContext(ws: WebSocket): boolean {
  const extension = (ws as unknown as { _extensions?: Record<string, { params?: Record<string, unknown> } | undefined> })._extensions?.['permessage-deflate']
  return extension?.params?.server_no_context_takeover === true
}

/** ws's errors for peers that break WebSocket's own rules, and the close code ws sends for each. */
const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.tooBig,
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_INVALID_CLOSE_CODE: 1002,
  WS_ERR_INVALID_OPCODE: 1002,
  WS_ERR_UNEXPECTED_MASK: 1002,
  WS_ERR_EXPECTED_MASK: 1002,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: 1002,
  WS_ERR_UNEXPECTED_RSV_1: 1002,
  WS_ERR_UNEXPECTED_RSV_2_3: 1002,
  WS_ERR_EXPECTED_FIN: 1002,
}

/**
 * The socket's listeners are the same three functions for every connection (ws calls them with
 * the socket as `this`), not three closures each: a connection is mostly its socket, and at
 * 10,000 viewers a room's server should hold little else.
 */
const CONNECTION = Symbol('liveConnection')
type ConnectedSocket = WebSocket & { [CONNECTION]: SocketOwner }

const connectionOf = (ws: WebSocket): SocketOwner => (ws as ConnectedSocket)[CONNECTION]

function onSocketMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  connectionOf(this).onMessage(data, isBinary)
}

/** ws closes by itself when a peer breaks the framing rules; the code it sent is counted, not the 1006 it then sees. */
function onSocketError(this: WebSocket, error: Error & { code?: string }): void {
  const code = WS_ERROR_CLOSE_CODES[error.code ?? '']
  if (code !== undefined) connectionOf(this).closingWith(code)
}

function onSocketClose(this: WebSocket, code: number): void {
  const connection = connectionOf(this)
  connection.ctx.connections.delete(connection)
  connection.ctx.addressConnections.remove(connection.address)
  void connection.closedByPeer(code)
}

/** Hands the socket's events to `owner` from now on. */
export function attachSocket(ws: WebSocket, owner: SocketOwner): void {
  ;(ws as ConnectedSocket)[CONNECTION] = owner
  ws.on('message', onSocketMessage)
  ws.on('error', onSocketError)
  ws.on('close', onSocketClose)
}
