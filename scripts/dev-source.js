'use strict'
/**
 * Preload for running the repository's TypeScript directly (`node -r ./scripts/dev-source.js x.ts`):
 * ts-node, transpile only, and the client package's entries resolved to src/ so that the demo,
 * the bench and the server (which imports `miniprogram-live-store/protocol`) share one copy of
 * the source instead of mixing it with a possibly stale dist/.
 */
const Module = require('module')
const path = require('path')

const root = path.join(__dirname, '..')
const entries = {
  'miniprogram-live-store': 'src/index.ts',
  'miniprogram-live-store/protocol': 'src/protocol/index.ts',
  'miniprogram-live-store/platform': 'src/platform/index.ts',
  'miniprogram-live-store/testing': 'src/testing/index.ts',
}
const resolve = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  const source = entries[request]
  return resolve.call(this, source === undefined ? request : path.join(root, source), ...rest)
}
require('ts-node').register({ transpileOnly: true, project: path.join(root, 'tsconfig.json') })
