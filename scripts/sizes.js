'use strict'
/**
 * What Build npm may lay into the app's main package (WeChat's limit for it: 2 MB, the app
 * included), and how it is measured: the bytes of each miniprogram_npm/<package>/ folder.
 * The client is one minified file (our code, about 76 KB, and the parts of rxjs it uses) and
 * fmt.wxs; mobx-miniprogram is 108 KB, mobx-miniprogram-bindings 23 KB. The client's budget is
 * 100 KiB: one module per noun costs a few KB of names a minifier keeps (class members, the
 * settings objects the parts are built with), which the 2 MB main package can afford; the
 * total stays within 240 KiB. The README quotes the measured figures (check-first-hour.js).
 */
const fs = require('fs')
const path = require('path')

const CLIENT_BUDGET_BYTES = 100 * 1024
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
