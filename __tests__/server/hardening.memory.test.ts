import { createServer } from '../../server/server'
import { SECRET } from './conformanceSuite'
import { expirySuite, hardeningSuite } from './hardeningSuite'

hardeningSuite('in-memory', (options) => createServer({ port: 0, secret: SECRET, ...options }))
expirySuite('in-memory', (options) => createServer({ port: 0, secret: SECRET, ...options }))
