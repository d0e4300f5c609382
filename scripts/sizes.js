'use strict'
/**
 * What Build npm may lay into the app's main package (WeChat's limit for it: 2 MB, the app
 * included), and how it is measured: the bytes of each miniprogram_npm/<package>/ folder.
 * The client was 77.4 KB before issue 14 (HTTP fallback, reports, the plain codec) and about
 * 94 KiB after issues 21 and 22; mobx-miniprogram is 108 KB, mobx-miniprogram-bindings 23 KB.
 * The README quotes the measured figures (scripts/check-first-hour.js checks them).
 */
const fs = require('fs')
const path = require('path')

const CLIENT_BUDGET_BYTES = 96 * 1024
const MINIPROGRAM_NPM_BUDGET_BYTES = 240 * 1024

function dirBytes(dir) {
  let total = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    total += entry.isDirectory() ? dirBytes(full) : fs.statSync(full).size
  }
  return total
}

module.exports = { CLIENT_BUDGET_BYTES, MINIPROGRAM_NPM_BUDGET_BYTES, dirBytes }
