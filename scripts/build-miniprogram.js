#!/usr/bin/env node
'use strict'
/**
 * Builds the mini-program-ready bundle (miniprogram_dist/: rxjs tree-shaken in,
 * mobx-miniprogram and mobx-miniprogram-bindings left as peer packages) and lays it,
 * with the peers, into miniprogram/miniprogram_npm/ the way DevTools' "Build npm" does.
 * Prints the bundle's size, raw and gzip. `npm run build` (and so `npm ci` and `npm pack`) runs it
 * with --no-lay, so the package always carries the folder its "miniprogram" field names.
 *
 *   node scripts/build-miniprogram.js [--out DIR] [--no-lay]
 */
const fs = require('fs')
const path = require('path')
const zlib = require('zlib')
const esbuild = require('esbuild')
const { layWxs, writeWxs } = require('./wxs')

const root = path.join(__dirname, '..')
const PEERS = ['mobx-miniprogram', 'mobx-miniprogram-bindings']

async function buildBundle(outDir) {
  fs.mkdirSync(outDir, { recursive: true })
  const outfile = path.join(outDir, 'index.js')
  const result = await esbuild.build({
    entryPoints: [path.join(root, 'src', 'index.ts')],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'neutral',
    // rxjs's ES2015 build (dist/esm): native classes and spreads instead of the ES5 build's
    // tslib helpers, 7 KB less in the bundle. WeChat runs ES2017 (the target below).
    mainFields: ['es2015', 'module', 'main'],
    conditions: ['es2015'],
    target: 'es2017',
    external: PEERS,
    minify: true,
    // No source map: DevTools' Build npm copies the whole miniprogram_dist/ into the app's
    // package, where every byte counts against the 2 MB main-package limit.
    sourcemap: false,
    treeShaking: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
  })
  writeWxs(outDir)
  const code = fs.readFileSync(outfile)
  const rxjsBytes = Object.entries(result.metafile.inputs)
    .filter(([file]) => file.includes('node_modules/rxjs/'))
    .reduce((sum, [, input]) => sum + input.bytes, 0)
  return { outfile, raw: code.length, gzip: zlib.gzipSync(code, { level: 9 }).length, rxjsInputBytes: rxjsBytes, metafile: result.metafile }
}

/** miniprogram_npm/<name>/index.js, as DevTools' Build npm lays packages out (`extra` files beside it). */
function lay(npmDir, name, fromFile, extra = []) {
  const dir = path.join(npmDir, name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.copyFileSync(fromFile, path.join(dir, 'index.js'))
  for (const file of extra) fs.copyFileSync(file, path.join(dir, path.basename(file)))
}

async function main(argv) {
  const outIndex = argv.indexOf('--out')
  const outDir = outIndex !== -1 ? path.resolve(argv[outIndex + 1]) : path.join(root, 'miniprogram_dist')
  fs.rmSync(outDir, { recursive: true, force: true })
  const bundle = await buildBundle(outDir)
  console.log(`miniprogram_dist/index.js: ${bundle.raw} bytes raw, ${bundle.gzip} bytes gzip`)
  if (!argv.includes('--no-lay')) {
    const npmDir = path.join(root, 'miniprogram', 'miniprogram_npm')
    lay(npmDir, 'miniprogram-live-store', bundle.outfile)
    layWxs(npmDir)
    lay(npmDir, 'mobx-miniprogram', require.resolve('mobx-miniprogram/dist/mobx.cjs.production.min.js'))
    lay(npmDir, 'mobx-miniprogram-bindings', require.resolve('mobx-miniprogram-bindings/dist/index.js'))
    console.log(`laid out miniprogram/miniprogram_npm/{${['miniprogram-live-store', ...PEERS].join(',')}}/index.js`)
  }
  return bundle
}

module.exports = { buildBundle, main }

if (require.main === module) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
