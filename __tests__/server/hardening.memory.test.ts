import { createServer } from '../../server/server'
import { SECRET } from './conformanceSuite'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { MemoryEngine } from '../../server/engine/memory'
import { VirtualClock } from '../helpers/virtualClock'
import { dedupSuite, expirySuite, hardeningSuite, idleRoomSuite } from './hardeningSuite'

hardeningSuite('in-memory', (options) => createServer({ port: 0, secret: SECRET, ...options }))
expirySuite('in-memory', (options) => createServer({ port: 0, secret: SECRET, ...options }))
idleRoomSuite((options) => createServer({ port: 0, secret: SECRET, ...options }))
dedupSuite((options) => createServer({ port: 0, secret: SECRET, ...options }))

describe('MemoryEngine dedup memory', () => {
  it('forgets acks past the window, and users left with none (memory follows the rate, not the age)', async () => {
    const clock = new VirtualClock(0)
    const engine = new MemoryEngine({ clock, dedupTtlMs: 1000 })
    try {
      for (let i = 0; i < 3; i++) await engine.rememberAck(`u${i}`, 'm', { msg_type: 'ack', msg_id: 'm', ok: true })
      clock.advance(600)
      await engine.rememberAck('u0', 'm2', { msg_type: 'ack', msg_id: 'm2', ok: true })
      clock.advance(600)
      expect(engine.forgetOldAcks()).toBe(3)
      expect(await engine.recallAck('u1', 'm')).toBeUndefined()
      expect(await engine.recallAck('u0', 'm2')).toMatchObject({ msg_id: 'm2' })
    } finally {
      await engine.close()
    }
  })
})

describe('MemoryEngine dedup file', () => {
  it('keeps the file about as large as the window, however long the server lives', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'live-dedupfile-')), 'dedup.jsonl')
    const clock = new VirtualClock(0)
    const engine = new MemoryEngine({ clock, dedupTtlMs: 1000, dedupFile: file })
    try {
      for (let i = 0; i < 25000; i++) await engine.rememberAck(`u${i % 50}`, `m${i}`, { msg_type: 'ack', msg_id: `m${i}`, ok: true })
      clock.advance(500)
      for (let i = 0; i < 10; i++) await engine.rememberAck('late', `k${i}`, { msg_type: 'ack', msg_id: `k${i}`, ok: true })
      clock.advance(900)
      expect(engine.forgetOldAcks()).toBe(25000)
      await engine.dedupWritten()
      const lines = fs.readFileSync(file, 'utf8').trim().split('\n')
      expect(lines).toHaveLength(10)
      expect(JSON.parse(lines[0])[0]).toBe('late')
    } finally {
      await engine.close()
    }
  })
})
