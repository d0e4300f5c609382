#!/usr/bin/env node
'use strict'
/**
 * Packs both packages as they would be published (`npm run pack`): the client
 * (miniprogram-live-store) and the server (miniprogram-live-store-server), each from a staging
 * folder holding the files its `files` field names and a package.json a user can install:
 *
 *  - no `scripts` (the repository's `prepare: npm run build` and workspace scripts mean nothing
 *    outside it), no `devDependencies`, no `workspaces`;
 *  - the server depends on the client by version (`^<client version>`), not `file:..`: installed
 *    beside the client's tarball, npm takes that one; once both are published, the registry's.
 *
 * Run after `npm run build` (npm ci runs it). Prints one JSON line: { client, server } tarball paths.
 *
 *   node scripts/pack.js [--out DIR]
 */
const { execFileSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const root = path.join(__dirname, '..')
/** Fields of a package.json that mean something only inside this repository. */
const REPOSITORY_ONLY = ['scripts', 'devDependencies', 'workspaces', 'overrides']

function manifest(dir) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
}

/** The manifest as it ships: repository-only fields dropped, `file:` dependencies replaced by versions. */
function publishable(pkg, versions) {
  const out = {}
  for (const [key, value] of Object.entries(pkg)) if (!REPOSITORY_ONLY.includes(key)) out[key] = value
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    if (!out[field]) continue
    out[field] = Object.fromEntries(
      Object.entries(out[field]).map(([name, spec]) => {
        if (!String(spec).startsWith('file:')) return [name, spec]
        if (!versions[name]) throw new Error(`${pkg.name}: ${name} is ${spec}, and no package of this repository has that name`)
        return [name, `^${versions[name]}`]
      }),
    )
  }
  return out
}

/** Copies what `files` names (and the README) into `stage`, then `npm pack`s it into `outDir`. */
function packOne(dir, versions, outDir) {
  const pkg = manifest(dir)
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), `pack-${pkg.name}-`))
  try {
    for (const entry of [...(pkg.files ?? []), 'README.md', 'LICENSE']) {
      const from = path.join(dir, entry)
      if (!fs.existsSync(from)) {
        if ((pkg.files ?? []).includes(entry) && entry !== 'README.md') throw new Error(`${pkg.name}: "${entry}" is in files but missing (run npm run build first)`)
        continue
      }
      fs.cpSync(from, path.join(stage, entry), { recursive: true })
    }
    fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(publishable(pkg, versions), null, 2)}\n`)
    const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', outDir], { cwd: stage, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    const [info] = JSON.parse(out.slice(out.indexOf('[')))
    return { path: path.join(outDir, info.filename), files: info.files.map((f) => f.path).sort(), size: info.size, unpackedSize: info.unpackedSize }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

/** Both tarballs, into `outDir`. */
function packAll(outDir) {
  fs.mkdirSync(outDir, { recursive: true })
  const client = manifest(root)
  const server = manifest(path.join(root, 'server'))
  const versions = { [client.name]: client.version, [server.name]: server.version }
  return { client: packOne(root, versions, outDir), server: packOne(path.join(root, 'server'), versions, outDir) }
}

module.exports = { packAll, publishable }

if (require.main === module) {
  const argv = process.argv.slice(2)
  const outIndex = argv.indexOf('--out')
  const outDir = path.resolve(outIndex !== -1 ? argv[outIndex + 1] : root)
  const packed = packAll(outDir)
  for (const [which, info] of Object.entries(packed)) console.error(`${which}: ${info.path} (${info.files.length} files, ${info.size} B packed, ${info.unpackedSize} B unpacked)`)
  console.log(JSON.stringify({ client: packed.client.path, server: packed.server.path }))
}
