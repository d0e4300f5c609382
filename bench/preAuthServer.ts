// The server side of bench/preAuthPings.ts: a reference server in its own process, reporting its CPU time when asked.
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createServer } from '../server/server'

void (async () => {
  const server = await createServer({ port: 0, secret: 'bench', dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'preauth-')) })
  process.send?.({ url: server.url })
  process.on('message', (m: string) => {
    if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() })
  })
})()
