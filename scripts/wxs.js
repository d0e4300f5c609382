'use strict'
/**
 * The library's view-layer helpers: WXS files the pages' WXML imports
 * (`<wxs module="fmt" src="../../miniprogram_npm/miniprogram-live-store/fmt.wxs" />`, relative to the page), shipped in
 * miniprogram_dist/ beside the bundle (scripts/build-miniprogram.js). No dependency, so tests
 * under jsdom can load it.
 */
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')
const WXS_FILES = [path.join(root, 'src', 'wxs', 'fmt.wxs')]

/**
 * Lays the WXS files alone into `<npmDir>/miniprogram-live-store/` (page tests compile the
 * sample's WXML, which imports them from there), atomically: test files may run at once.
 */
function layWxs(npmDir) {
  const dir = path.join(npmDir, 'miniprogram-live-store')
  fs.mkdirSync(dir, { recursive: true })
  for (const file of WXS_FILES) {
    const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`)
    fs.copyFileSync(file, temp)
    fs.renameSync(temp, path.join(dir, path.basename(file)))
  }
}

module.exports = { WXS_FILES, layWxs }
