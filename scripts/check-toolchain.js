#!/usr/bin/env node
'use strict'
/**
 * The official-toolchain check (`npm run check:toolchain`, run by .ci/run): does what a user does.
 *
 *  1. packs both packages as published (scripts/pack.js) and checks the client tarball's files;
 *  2. installs the tarball into a fresh copy of the sample mini-program, with its two peers;
 *  3. runs miniprogram-ci's packNpmManually on it (what DevTools' "Build npm" does);
 *  4. compiles every page's WXML and WXSS with miniprogram-compiler (the official wcc/wcsc);
 *  5. renders the room page in miniprogram-simulate from that miniprogram_npm/ and sees a comment
 *     arrive from a real server (__tests__/miniprogram/installedApp.check.ts).
 *
 * WeChat's tools are installed into .ci/toolchain/ (its own lockfile) so the root install stays lean.
 *
 *   node scripts/check-toolchain.js [--keep]
 */
const { execFileSync, spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const root = path.join(__dirname, '..')
const toolchainDir = path.join(root, '.ci', 'toolchain')
const { packAll } = require('./pack')
const { CLIENT_BUDGET_BYTES, MINIPROGRAM_NPM_BUDGET_BYTES, dirBytes } = require('./sizes')
const PEERS = ['mobx-miniprogram', 'mobx-miniprogram-bindings']
const NODE_ONLY = ['ws', 'ioredis', 'prom-client']

const failures = []
const check = (ok, message) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`)
  if (!ok) failures.push(message)
}
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 })

function listFiles(dir, base = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? listFiles(full, base) : [path.relative(base, full)]
  })
}

function installToolchain() {
  if (!process.env.CI && fs.existsSync(path.join(toolchainDir, 'node_modules', 'miniprogram-ci'))) return
  console.log("installing WeChat's tools into .ci/toolchain (npm ci)")
  npm(['ci', '--no-audit', '--no-fund'], toolchainDir)
}

/** 1. Both packages packed as they would be published (scripts/pack.js); the client's tarball checked. */
function packClient(work) {
  const { client: info } = packAll(work)
  const files = info.files
  console.log(`packed: ${path.basename(info.path)}, ${files.length} files, ${info.size} B packed, ${info.unpackedSize} B unpacked`)
  for (const f of files.filter((f) => !f.startsWith('dist/') || f.endsWith('index.js') || f.endsWith('index.d.ts'))) console.log(`  ${f}`)
  check(files.includes('miniprogram_dist/fmt.wxs'), 'tarball has miniprogram_dist/fmt.wxs (the WXS helpers the pages import)')
  check(files.includes('miniprogram_dist/index.js'), 'tarball has miniprogram_dist/index.js (the "miniprogram" field\'s folder)')
  check(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), 'tarball has the CommonJS + .d.ts build (dist/)')
  check(files.includes('LICENSE'), 'tarball has the LICENSE')
  check(!files.some((f) => /^(server|src|__tests__|miniprogram)\//.test(f)), 'tarball has no server, sources, tests or sample')
  // Every sourceMappingURL must name a file the package has.
  const extracted = path.join(work, 'extracted')
  fs.mkdirSync(extracted)
  execFileSync('tar', ['xzf', info.path, '-C', extracted])
  const pkgDir = path.join(extracted, 'package')
  const dangling = []
  for (const f of files.filter((f) => f.endsWith('.js'))) {
    const match = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(fs.readFileSync(path.join(pkgDir, f), 'utf8'))
    if (match && !match[1].startsWith('data:') && !fs.existsSync(path.join(pkgDir, path.dirname(f), match[1]))) dangling.push(f)
  }
  check(dangling.length === 0, `no sourceMappingURL points at a missing file${dangling.length ? `: ${dangling.join(', ')}` : ''}`)
  const bundle = fs.readFileSync(path.join(pkgDir, 'miniprogram_dist', 'index.js'), 'utf8')
  check(!bundle.includes('sourceMappingURL') && bundle.split('\n').length < 10, `miniprogram_dist/index.js is minified, no source map (${bundle.length} B)`)
  const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))
  check(manifest.scripts === undefined && manifest.workspaces === undefined && manifest.devDependencies === undefined, 'the packed package.json has no scripts, workspaces or devDependencies')
  return info.path
}

/** 2. A fresh copy of the sample app, the tarball and the peers installed into it. */
function installIntoSample(work, tarball) {
  const app = path.join(work, 'app')
  fs.cpSync(path.join(root, 'miniprogram'), app, {
    recursive: true,
    filter: (src) => !/[\\/](miniprogram_npm|node_modules)([\\/]|$)/.test(src),
  })
  const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const samplePkg = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8'))
  samplePkg.dependencies = {
    'miniprogram-live-store': `file:${tarball}`,
    ...Object.fromEntries(PEERS.map((p) => [p, rootPkg.devDependencies[p]])),
  }
  fs.writeFileSync(path.join(app, 'package.json'), `${JSON.stringify(samplePkg, null, 2)}\n`)
  npm(['install', '--no-audit', '--no-fund', '--omit=dev'], app)
  const tree = spawnSync('npm', ['ls', '--omit=dev', '--all'], { cwd: app, encoding: 'utf8' })
  console.log(`npm ls --omit=dev --all (the sample app):\n${tree.stdout.trim()}`)
  check(tree.status === 0, 'npm ls reports a valid tree')
  const installed = fs.readdirSync(path.join(app, 'node_modules')).filter((n) => !n.startsWith('.'))
  check(!NODE_ONLY.some((n) => installed.includes(n) || tree.stdout.includes(` ${n}@`)), `installing the client pulls none of ${NODE_ONLY.join(', ')}`)
  return app
}

/** The sample is TypeScript, which DevTools compiles (useCompilerPlugins: typescript): do the same. */
function compileScripts(app) {
  const esbuild = require('esbuild')
  for (const file of listFiles(app).filter((f) => f.endsWith('.ts') && !f.startsWith('node_modules') && !f.startsWith('miniprogram_npm'))) {
    const full = path.join(app, file)
    const { code } = esbuild.transformSync(fs.readFileSync(full, 'utf8'), { loader: 'ts', format: 'cjs', target: 'es2017' })
    fs.writeFileSync(full.replace(/\.ts$/, '.js'), code)
    fs.rmSync(full)
  }
}

/** 3. DevTools' Build npm. */
async function buildNpm(app) {
  const ci = require(path.join(toolchainDir, 'node_modules', 'miniprogram-ci'))
  const printed = []
  const capture = (stream) => {
    const write = stream.write.bind(stream)
    stream.write = (chunk, ...rest) => {
      printed.push(String(chunk))
      return write(chunk, ...rest)
    }
    return () => (stream.write = write)
  }
  const restore = [capture(process.stdout), capture(process.stderr)]
  let result
  try {
    result = await ci.packNpmManually({ packageJsonPath: path.join(app, 'package.json'), miniprogramNpmDistDir: app })
  } finally {
    restore.forEach((r) => r())
  }
  const npmDir = path.join(app, 'miniprogram_npm')
  const packages = fs.readdirSync(npmDir).sort()
  const sizes = packages.map((p) => [p, dirBytes(path.join(npmDir, p))])
  const total = sizes.reduce((sum, [, bytes]) => sum + bytes, 0)
  console.log(`packNpmManually: ${result.miniProgramPackNum} mini-program package(s), ${result.otherNpmPackNum} other(s), ${result.warnList.length} warning(s)`)
  for (const [name, bytes] of sizes) console.log(`  miniprogram_npm/${name}: ${bytes} B`)
  console.log(`  total: ${total} B (budget ${MINIPROGRAM_NPM_BUDGET_BYTES} B)`)
  check(result.warnList.length === 0, `Build npm gave no warning${result.warnList.length ? `: ${JSON.stringify(result.warnList)}` : ''}`)
  const complaints = printed
    .join('')
    .split('\n')
    .filter((line) => /fail|error|warn/i.test(line))
  check(complaints.length === 0, `Build npm printed no error or warning${complaints.length ? `: ${complaints.join(' | ')}` : ''}`)
  check(JSON.stringify(packages) === JSON.stringify(['miniprogram-live-store', ...PEERS].sort()), `miniprogram_npm/ holds only the client and its two peers (${packages.join(', ')})`)
  const client = sizes.find(([name]) => name === 'miniprogram-live-store')?.[1] ?? 0
  check(client <= CLIENT_BUDGET_BYTES, `the client within budget: ${client} B <= ${CLIENT_BUDGET_BYTES} B`)
  check(total <= MINIPROGRAM_NPM_BUDGET_BYTES, `miniprogram_npm/ within budget: ${total} B <= ${MINIPROGRAM_NPM_BUDGET_BYTES} B`)
  return total
}

/** 4. The official compilers over the whole app. */
function compileTemplates(app) {
  const compilerDir = path.join(toolchainDir, 'node_modules', 'miniprogram-compiler')
  const compiler = require(compilerDir)
  const wcsc = require(path.join(compilerDir, 'src', 'wcsc'))
  const pages = JSON.parse(fs.readFileSync(path.join(app, 'app.json'), 'utf8')).pages
  let wxml
  try {
    wxml = compiler.wxmlToJs(app)
  } catch (error) {
    check(false, `wcc compiles every WXML file: ${error.message}`)
    return
  }
  // Each page's template is compiled into a function that records its nodes as 'page.wxml:tag:line:col'.
  const missing = pages.filter((p) => !wxml.includes(`cs.push("${p}.wxml:`))
  check(missing.length === 0, `wcc compiled every page's WXML (${pages.length} pages, ${wxml.length} B of JS)${missing.length ? `; missing ${missing.join(', ')}` : ''}`)
  // wxssToJs swallows wcsc's failure (it returns the Error and maps over it): call wcsc itself too.
  const wxssFiles = listFiles(app)
    .filter((f) => f.endsWith('.wxss') && !f.startsWith('miniprogram_npm'))
    .map((f) => f.slice(0, -5))
  const styles = wcsc(app, wxssFiles)
  check(!(styles instanceof Error), `wcsc compiles every WXSS file (${wxssFiles.length} files)${styles instanceof Error ? `: ${styles.message}` : ''}`)
  const wxss = compiler.wxssToJs(app)
  const unstyled = pages.filter((p) => !wxss.includes(`'${p}.wxss'`) && fs.existsSync(path.join(app, `${p}.wxss`)))
  check(unstyled.length === 0, `wcsc compiled every page's WXSS${unstyled.length ? `; missing ${unstyled.join(', ')}` : ''}`)
}

/** 5. The room page from that miniprogram_npm/, against a real server (jest: jsdom + miniprogram-simulate). */
function renderFromBuild(app) {
  const run = spawnSync(process.execPath, [require.resolve('jest/bin/jest', { paths: [root] }), '--config', 'jest.toolchain.config.ts'], {
    cwd: root,
    env: { ...process.env, LIVE_STORE_APP_DIR: app },
    encoding: 'utf8',
  })
  process.stdout.write(run.stdout)
  process.stdout.write(run.stderr)
  check(run.status === 0, 'the room page, loaded from miniprogram_npm/, renders a comment sent through a real server')
}

async function main(argv) {
  installToolchain()
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-store-toolchain-'))
  try {
    const tarball = packClient(work)
    const app = installIntoSample(work, tarball)
    compileScripts(app)
    await buildNpm(app)
    compileTemplates(app)
    renderFromBuild(app)
  } finally {
    if (argv.includes('--keep')) console.log(`kept ${work}`)
    else fs.rmSync(work, { recursive: true, force: true })
  }
  console.log(failures.length === 0 ? 'toolchain check: all passed' : `toolchain check: ${failures.length} failed`)
  process.exitCode = failures.length === 0 ? 0 : 1
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error)
  process.exit(1)
})
