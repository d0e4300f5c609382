import { createServer } from '../../server/server'
import { conformanceSuite, SECRET } from './conformanceSuite'

conformanceSuite('in-memory', (options) => createServer({ port: 0, secret: SECRET, ...options }))
