#!/usr/bin/env node
'use strict'
// Runs the compiled server (npm run build, done by `npm ci` through `prepare`);
// falls back to the TypeScript source through ts-node in a checkout without dist/.
const path = require('path')
const fs = require('fs')
const compiled = path.join(__dirname, '..', 'dist', 'server', 'cli.js')
let cli
if (fs.existsSync(compiled)) {
  cli = require(compiled)
} else {
  require('ts-node').register({ transpileOnly: true, project: path.join(__dirname, '..', 'tsconfig.json') })
  cli = require(path.join(__dirname, '..', 'server', 'cli.ts'))
}
cli.main(process.argv.slice(2)).catch((error) => {
  console.error(`live-store-server: ${error && error.message ? error.message : error}`)
  process.exit(2)
})
