import { createServer } from '../../server/server'
import { SECRET } from './conformanceSuite'
import { expirySuite, hardeningSuite, idleRoomSuite } from './hardeningSuite'

hardeningSuite('in-memory', (options) => createServer({ port: 0, secret: SECRET, ...options }))
expirySuite('in-memory', (options) => createServer({ port: 0, secret: SECRET, ...options }))
idleRoomSuite((options) => createServer({ port: 0, secret: SECRET, ...options }))
