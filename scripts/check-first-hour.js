#!/usr/bin/env node
'use strict'
/**
 * A TypeScript team's first hour (`npm run check:first-hour`, run by .ci/run): follows the
 * README's "Adding it to your own mini-program" to the letter, in empty folders, against the
 * packed tarballs (never ../src):
 *
 *  1. packs both packages (scripts/pack.js);
 *  2. an empty mini-program folder: runs the README's `sh first-hour` commands (the client's
 *     tarball beside them) and writes every file the section shows (code blocks whose info
 *     string names a path: ```ts pages/room/room.ts);
 *  3. `tsc -p tsconfig.json` passes; a probe reading fields as the wrong type, or a field and a
 *     method that do not exist, fails with exactly those errors;
 *  4. Build npm (miniprogram-ci's packNpmManually): the client, its two peers and fmt.wxs; the
 *     sizes the README quotes (between <!-- build-sizes --> marks) are the ones measured;
 *  5. wcc compiles every page's WXML;
 *  6. the README's page test: `tsc -p tsconfig.test.json`, then jest;
 *  7. another empty folder: the README's `sh server-install` commands (both tarballs), `npm ls`
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
const toolchainDir = path.join(root, '.ci', 'toolchain')

const failures = []
const check = (ok, message) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`)
  if (!ok) failures.push(message)
  return ok
}

/** A README section's text: from its `## title` to the next `## `. */
function section(readme, title) {
  const start = readme.indexOf(`\n## ${title}\n`)
  if (start === -1) throw new Error(`README has no "## ${title}" section`)
  const end = readme.indexOf('\n## ', start + 1)
  return readme.slice(start, end === -1 ? undefined : end)
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

/** The section's files ({ path: text }) and its shell commands by tag ({ tag: [line, ...] }). */
function quickStart(readme) {
  const files = {}
  const commands = {}
  for (const { info, body } of fencedBlocks(section(readme, 'Adding it to your own mini-program'))) {
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
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`
  return `the client ${kib(clientBytes)} (its budget: ${kib(CLIENT_BUDGET_BYTES)}), ${kib(totalBytes)} with the two peers`
}

/** Steps 2-3: the mini-program folder, as the README builds it, type-checked. */
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
  console.log(`wrote ${Object.keys(quick.files).length} files from the README: ${Object.keys(quick.files).join(', ')}`)
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
async function buildAndCompile(app, readme, fixSizes) {
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
  const marked = /<!-- build-sizes -->([^<]*)<!-- \/build-sizes -->/.exec(readme)
  const expected = sizesSentence(client, total)
  if (fixSizes && marked && marked[1] !== expected) {
    fs.writeFileSync(readmePath, readme.replace(marked[0], `<!-- build-sizes -->${expected}<!-- /build-sizes -->`))
    console.log(`README sizes rewritten: "${expected}"`)
  } else {
    check(
      marked !== null && marked[1] === expected,
      `the README quotes the measured sizes: "${marked ? marked[1] : '(no <!-- build-sizes --> marks)'}" ${marked && marked[1] === expected ? '' : `should be "${expected}" (node scripts/check-first-hour.js --fix-sizes)`}`,
    )
  }

  const compiler = require(path.join(toolchainDir, 'node_modules', 'miniprogram-compiler'))
  const pages = JSON.parse(fs.readFileSync(path.join(app, 'app.json'), 'utf8')).pages
  try {
    const wxml = compiler.wxmlToJs(app)
    const missing = pages.filter((p) => !wxml.includes(`cs.push("${p}.wxml:`))
    check(missing.length === 0, `wcc compiles the README's WXML (${pages.join(', ')})${missing.length ? `; missing ${missing.join(', ')}` : ''}`)
  } catch (error) {
    check(false, `wcc compiles the README's WXML: ${error.message}`)
  }
}

/** Step 6: the README's page test. */
function pageTest(app) {
  const tsc = run('npx tsc -p tsconfig.test.json --noEmit', app)
  if (tsc.output) console.log(tsc.output)
  check(tsc.status === 0, 'tsc -p tsconfig.test.json: the page test type-checks')
  const jest = run('npx jest --ci', app)
  console.log(jest.output)
  check(jest.status === 0 && /Tests:\s+1 passed, 1 total/.test(jest.output), "the README's page test passes (jest, ts-jest, miniprogram-simulate, FakePlatform)")
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
  const quick = quickStart(readme)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-store-first-hour-'))
  try {
    const packed = packAll(path.join(work, 'tarballs'))
    const packedManifest = JSON.parse(execFileSync('tar', ['xzf', packed.client.path, '-O', 'package/package.json'], { encoding: 'utf8' }))
    check(packedManifest.scripts === undefined && packedManifest.workspaces === undefined, 'the packed client package.json has no scripts or workspaces')
    const app = path.join(work, 'app')
    typeCheckApp(app, packed.client.path, quick)
    await buildAndCompile(app, readme, argv.includes('--fix-sizes'))
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
