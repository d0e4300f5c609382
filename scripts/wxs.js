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
 * A WXS file as it ships: its comment lines left out (they cost the app's package bytes; the
 * source keeps them). Only whole lines starting with `//` go, so no code can be cut.
 */
function shippedWxs(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*\/\//.test(line))
    .join('\n')
}

/** Writes the WXS files as they ship into `dir`. */
function writeWxs(dir) {
  for (const file of WXS_FILES) fs.writeFileSync(path.join(dir, path.basename(file)), shippedWxs(file))
}

/**
 * Lays the WXS files alone into `<npmDir>/miniprogram-live-store/` (page tests compile the
 * sample's WXML, which imports them from there), atomically: test files may run at once.
 */
function layWxs(npmDir) {
  const dir = path.join(npmDir, 'miniprogram-live-store')
  fs.mkdirSync(dir, { recursive: true })
  for (const file of WXS_FILES) {
    const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`)
    fs.writeFileSync(temp, shippedWxs(file))
    fs.renameSync(temp, path.join(dir, path.basename(file)))
  }
}

module.exports = { WXS_FILES, layWxs, writeWxs }
