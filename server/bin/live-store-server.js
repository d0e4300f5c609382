#!/usr/bin/env node
'use strict'
// Runs the compiled server (built by `npm run build`, which `npm ci` runs at the repository root);
// in a checkout without a build, the TypeScript source through ts-node.
const path = require('path')
const fs = require('fs')
const compiled = path.join(__dirname, '..', 'dist', 'cli.js')
let cli
if (fs.existsSync(compiled)) {
  cli = require(compiled)
} else {
  require(path.join(__dirname, '..', '..', 'scripts', 'dev-source.js'))
  cli = require(path.join(__dirname, '..', 'cli.ts'))
}
cli.main(process.argv.slice(2)).catch((error) => {
  console.error(`live-store-server: ${error && error.message ? error.message : error}`)
  process.exit(2)
})
