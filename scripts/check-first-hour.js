#!/usr/bin/env node
'use strict'
/**
 * A TypeScript team's first hour (`npm run check:first-hour`, run by .ci/run): follows the
 * getting-started guide (docs/getting-started.md) to the letter, in empty folders, against the
 * packed tarballs (never ../src):
 *
 *  1. packs both packages (scripts/pack.js);
 *  2. an empty mini-program folder: runs docs/getting-started.md's `sh first-hour` commands (the
 *     client's tarball beside them) and writes every file it shows (code blocks whose info string
 *     names a path: ```ts pages/room/room.ts); the README's quick start shows some of them, word for word;
 *  3. `tsc -p tsconfig.json` passes; a probe reading fields as the wrong type, or a field and a
 *     method that do not exist, fails with exactly those errors;
 *  4. Build npm (miniprogram-ci's packNpmManually): the client, its two peers and fmt.wxs; the
 *     sizes the README quotes (between <!-- build-sizes --> marks) are the ones measured;
 *  5. wcc compiles every page's WXML;
 *  6. the guide's page test: `tsc -p tsconfig.test.json`, then jest;
 *  7. another empty folder: the guide's `sh server-install` commands (both tarballs), `npm ls`
 *     valid, then `npx live-store-server --port 0 --secret s` prints its URL and /healthz answers.
 *
 * WeChat's tools come from .ci/toolchain/ (installed there when missing).
 *
 *   node scripts/check-first-hour.js [--keep] [--fix-sizes]
 */
const { execFileSync, spawn, spawnSync } = require('child_process')
const fs = require('fs')
const http = require('http')
const os = require('os')
const path = require('path')
const { packAll } = require('./pack')
const { CLIENT_BUDGET_BYTES, dirBytes } = require('./sizes')

const root = path.join(__dirname, '..')
const readmePath = path.join(root, 'README.md')
/** The guide the check follows to the letter; the README's quick start shows some of its files, which must be the same. */
const guidePath = path.join(root, 'docs', 'getting-started.md')
const toolchainDir = path.join(root, '.ci', 'toolchain')

const failures = []
const check = (ok, message) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`)
  if (!ok) failures.push(message)
  return ok
}

/** Fenced blocks (indented or not): [{ info, body }], the body unindented by the fence's indent. */
function fencedBlocks(text) {
  const blocks = []
  const re = /^( *)```([^\n`]*)\n([\s\S]*?)^\1```[ \t]*$/gm
  let match
  while ((match = re.exec(text)) !== null) {
    const indent = match[1].length
    const body = match[3]
      .split('\n')
      .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
      .join('\n')
    blocks.push({ info: match[2].trim(), body })
  }
  return blocks
}

/** A document's files ({ path: text }) and its shell commands by tag ({ tag: [line, ...] }). */
function quickStart(text) {
  const files = {}
  const commands = {}
  for (const { info, body } of fencedBlocks(text)) {
    const [lang, target] = info.split(/\s+/)
    if (!target) continue
    if (lang === 'sh') (commands[target] ??= []).push(...body.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#')))
    else files[target] = body
  }
  return { files, commands }
}

function run(command, cwd, options = {}) {
  const result = spawnSync('bash', ['-c', command], { cwd, encoding: 'utf8', env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 300_000 })
  const output = `${result.stdout}${result.stderr}`.trim()
  return { status: result.status, output }
}

function installToolchain() {
  if (fs.existsSync(path.join(toolchainDir, 'node_modules', 'miniprogram-ci'))) return
  console.log("installing WeChat's tools into .ci/toolchain (npm ci)")
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: toolchainDir, stdio: 'inherit' })
}

/** The README's size sentence for these measurements. */
function sizesSentence(clientBytes, totalBytes) {
  // Whole KiB: what a reader needs, and it moves only when the build moves by a KiB.
  const kib = (bytes) => `${Math.round(bytes / 1024)} KiB`
  return `the client ${kib(clientBytes)} (its budget: ${kib(CLIENT_BUDGET_BYTES)}), ${kib(totalBytes)} with the two peers`
}

/** Steps 2-3: the mini-program folder, as the guide builds it, type-checked. */
function typeCheckApp(app, tarball, quick) {
  fs.mkdirSync(app, { recursive: true })
  fs.writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ name: 'my-live-app', version: '1.0.0', private: true }, null, 2)}\n`)
  fs.writeFileSync(
    path.join(app, 'project.config.json'),
    `${JSON.stringify({ miniprogramRoot: './', compileType: 'miniprogram', appid: 'touristappid', setting: { useCompilerPlugins: ['typescript'] } }, null, 2)}\n`,
  )
  fs.copyFileSync(tarball, path.join(app, path.basename(tarball)))
  for (const command of quick.commands['first-hour'] ?? []) {
    const { status, output } = run(`${command} --no-audit --no-fund`, app)
    if (!check(status === 0, `(app) ${command}`)) console.log(output)
  }
  for (const [file, text] of Object.entries(quick.files)) {
    fs.mkdirSync(path.dirname(path.join(app, file)), { recursive: true })
    fs.writeFileSync(path.join(app, file), text)
  }
  console.log(`wrote ${Object.keys(quick.files).length} files from the guide: ${Object.keys(quick.files).join(', ')}`)
  const tsc = run('npx tsc -p tsconfig.json', app)
  if (tsc.output) console.log(tsc.output)
  check(tsc.status === 0, "tsc -p tsconfig.json (strict, miniprogram-api-typings, the tarball's .d.ts): no error")

  // A page that reads fields as the wrong type, a field and a method that do not exist: each an error.
  const probe = path.join(app, 'probe-wrong.ts')
  fs.writeFileSync(
    probe,
    [
      "import { livePage, liveRoomBehavior } from 'miniprogram-live-store'",
      'Component({ behaviors: [liveRoomBehavior()], methods: { m() { const online: string = this.data.onlineNum; const x = this.data.onlinNum; return [online, x] } } })',
      'livePage(liveRoomBehavior(), { onShow() { const likes: string = this.data.likeNum; this.liveRoomLod() ; void likes } })',
      '',
    ].join('\n'),
  )
  const wrong = run('npx tsc -p tsconfig.json', app)
  fs.rmSync(probe)
  const codes = (wrong.output.match(/probe-wrong\.ts\(\d+,\d+\): error (TS\d+)/g) ?? []).map((line) => line.replace(/.*error /, ''))
  console.log(`probe-wrong.ts: ${codes.join(', ') || 'no error'}`)
  // TS2322: not assignable; TS2339 / TS2551: no such property (2551 when it can suggest a name).
  const kinds = codes.map((code) => (code === 'TS2322' ? 'wrong type' : code === 'TS2339' || code === 'TS2551' ? 'unknown' : code)).sort()
  check(
    wrong.status !== 0 && JSON.stringify(kinds) === JSON.stringify(['unknown', 'unknown', 'wrong type', 'wrong type']),
    'two wrong-type reads, an unknown field and an unknown method are compile errors, not any',
  )
}

/** Steps 4-5: Build npm, sizes, wcc. */
async function buildAndCompile(app, fixSizes) {
  const ci = require(path.join(toolchainDir, 'node_modules', 'miniprogram-ci'))
  const result = await ci.packNpmManually({ packageJsonPath: path.join(app, 'package.json'), miniprogramNpmDistDir: app })
  const npmDir = path.join(app, 'miniprogram_npm')
  const packages = fs.readdirSync(npmDir).sort()
  check(
    result.warnList.length === 0 && packages.join(',') === 'miniprogram-live-store,mobx-miniprogram,mobx-miniprogram-bindings',
    `Build npm: ${packages.join(', ')}, ${result.warnList.length} warning(s)`,
  )
  check(fs.existsSync(path.join(npmDir, 'miniprogram-live-store', 'fmt.wxs')), "Build npm keeps the package's fmt.wxs (miniprogram_npm/miniprogram-live-store/fmt.wxs)")
  const client = dirBytes(path.join(npmDir, 'miniprogram-live-store'))
  const total = packages.reduce((sum, name) => sum + dirBytes(path.join(npmDir, name)), 0)
  console.log(`Build npm sizes: client ${client} B, total ${total} B`)
  check(client <= CLIENT_BUDGET_BYTES, `the client within its budget: ${client} B <= ${CLIENT_BUDGET_BYTES} B`)
  const expected = sizesSentence(client, total)
  // Every document that quotes the sizes (between <!-- build-sizes --> marks) quotes these.
  for (const doc of [readmePath, guidePath]) {
    const text = fs.readFileSync(doc, 'utf8')
    const marked = [...text.matchAll(/<!-- build-sizes -->([^<]*)<!-- \/build-sizes -->/g)]
    const name = path.relative(root, doc)
    if (fixSizes && marked.some((m) => m[1] !== expected)) {
      fs.writeFileSync(doc, text.replace(/<!-- build-sizes -->[^<]*<!-- \/build-sizes -->/g, `<!-- build-sizes -->${expected}<!-- /build-sizes -->`))
      console.log(`${name}: sizes rewritten: "${expected}"`)
    } else {
      const wrong = marked.filter((m) => m[1] !== expected).map((m) => m[1])
      check(
        marked.length > 0 && wrong.length === 0,
        `${name} quotes the measured sizes${wrong.length ? `: "${wrong[0]}" should be "${expected}" (node scripts/check-first-hour.js --fix-sizes)` : marked.length === 0 ? ': no <!-- build-sizes --> marks' : ''}`,
      )
    }
  }

  const compiler = require(path.join(toolchainDir, 'node_modules', 'miniprogram-compiler'))
  const pages = JSON.parse(fs.readFileSync(path.join(app, 'app.json'), 'utf8')).pages
  try {
    const wxml = compiler.wxmlToJs(app)
    const missing = pages.filter((p) => !wxml.includes(`cs.push("${p}.wxml:`))
    check(missing.length === 0, `wcc compiles the guide's WXML (${pages.join(', ')})${missing.length ? `; missing ${missing.join(', ')}` : ''}`)
  } catch (error) {
    check(false, `wcc compiles the guide's WXML: ${error.message}`)
  }
}

/** Step 6: the guide's page test. */
function pageTest(app) {
  const tsc = run('npx tsc -p tsconfig.test.json --noEmit', app)
  if (tsc.output) console.log(tsc.output)
  check(tsc.status === 0, 'tsc -p tsconfig.test.json: the page test type-checks')
  const jest = run('npx jest --ci', app)
  console.log(jest.output)
  check(jest.status === 0 && /Tests:\s+1 passed, 1 total/.test(jest.output), "the guide's page test passes (jest, ts-jest, miniprogram-simulate, FakePlatform)")
}

/** Step 7: the server from its tarball, beside the client's. */
async function serverFromTarballs(dir, packed, quick) {
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'my-live-server', version: '1.0.0', private: true }, null, 2)}\n`)
  for (const tarball of [packed.client.path, packed.server.path]) fs.copyFileSync(tarball, path.join(dir, path.basename(tarball)))
  const [install, help] = quick.commands['server-install'] ?? []
  const installed = run(`${install} --no-audit --no-fund`, dir)
  if (!check(installed.status === 0, `(server) ${install}`)) console.log(installed.output)
  const ls = run('npm ls --all', dir)
  console.log(
    ls.output
      .split('\n')
      .filter((line) => !/^[│ ]*[├└]─[┬─] (?!miniprogram)/.test(line) || /UNMET|invalid|missing/.test(line))
      .join('\n'),
  )
  check(
    ls.status === 0 && !/invalid|UNMET DEPENDENCY|missing/.test(ls.output.replace(/UNMET OPTIONAL DEPENDENCY/g, '')),
    "npm ls: a valid tree (the server's dependency on the client is met by the client's tarball)",
  )
  const helped = run(help, dir)
  check(helped.status === 0 && helped.output.includes('--port'), `(server) ${help}: prints the options`)

  const child = spawn('npx', ['live-store-server', '--port', '0', '--secret', 's'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let printed = ''
  child.stdout.on('data', (chunk) => (printed += chunk))
  child.stderr.on('data', (chunk) => (printed += chunk))
  const url = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 30_000)
    const look = () => {
      const match = /listening on (ws:\/\/\S+)/.exec(printed)
      if (match) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout.on('data', look)
    child.on('exit', () => {
      clearTimeout(timer)
      resolve(undefined)
    })
  })
  console.log(printed.trim().split('\n')[0])
  check(url !== undefined, `npx live-store-server --port 0 --secret s prints its URL${url ? `: ${url}` : ''}`)
  if (url) {
    const health = await new Promise((resolve) => {
      http.get(url.replace('ws://', 'http://').replace(/\/ws$/, '/healthz'), (res) => resolve(res.statusCode)).on('error', () => resolve(0))
    })
    check(health === 200, `its /healthz answers 200 (${health})`)
  }
  try {
    process.kill(-child.pid, 'SIGTERM')
  } catch {
    // already gone
  }
}

async function main(argv) {
  installToolchain()
  const readme = fs.readFileSync(readmePath, 'utf8')
  const guide = fs.readFileSync(guidePath, 'utf8')
  const quick = quickStart(guide)
  // The README's quick start: each file and command it shows is the guide's, word for word.
  const shown = quickStart(readme)
  for (const [file, text] of Object.entries(shown.files)) check(quick.files[file] === text, `the README's ${file} is the guide's`)
  for (const [tag, lines] of Object.entries(shown.commands))
    check(
      lines.every((line) => (quick.commands[tag] ?? []).includes(line)),
      `the README's \`sh ${tag}\` commands are the guide's`,
    )
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-store-first-hour-'))
  try {
    const packed = packAll(path.join(work, 'tarballs'))
    const packedManifest = JSON.parse(execFileSync('tar', ['xzf', packed.client.path, '-O', 'package/package.json'], { encoding: 'utf8' }))
    check(packedManifest.scripts === undefined && packedManifest.workspaces === undefined, 'the packed client package.json has no scripts or workspaces')
    const app = path.join(work, 'app')
    typeCheckApp(app, packed.client.path, quick)
    await buildAndCompile(app, argv.includes('--fix-sizes'))
    pageTest(app)
    await serverFromTarballs(path.join(work, 'server'), packed, quick)
  } finally {
    if (argv.includes('--keep')) console.log(`kept ${work}`)
    else fs.rmSync(work, { recursive: true, force: true })
  }
  console.log(failures.length === 0 ? 'first-hour check: all passed' : `first-hour check: ${failures.length} failed`)
  process.exitCode = failures.length === 0 ? 0 : 1
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error)
  process.exit(1)
})
