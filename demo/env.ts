/**
 * Runs the sample mini-program's real pages under Node: a DOM (jsdom) for
 * miniprogram-simulate, the library resolved by its package name, and `wx` over the
 * Node platform. Import first.
 */
import * as fs from 'fs'
import Module from 'module'
import * as path from 'path'
import { JSDOM } from 'jsdom'

const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true })
const g = global as unknown as Record<string, unknown>
for (const key of ['window', 'document', 'Node', 'Element', 'HTMLElement', 'Event', 'CustomEvent', 'navigator', 'getComputedStyle', 'MutationObserver']) {
  // Always jsdom's: Node's own global Event and CustomEvent are refused by jsdom's dispatchEvent,
  // which silently breaks taps in miniprogram-simulate.
  g[key] = key === 'window' ? dom.window : (dom.window as unknown as Record<string, unknown>)[key]
}

// Pages import 'miniprogram-live-store', as users do: scripts/dev-source.js (preloaded by
// `npm start` and `npm run bench`) resolves it to this repository's source.
const resolver = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string }
const original = resolver._resolveFilename
resolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
  // miniprogram-simulate requires a page by its path without extension; Node would pick
  // the page's .json before its .ts (jest picks .ts), so point it at the script.
  if (path.isAbsolute(request) && path.extname(request) === '' && fs.existsSync(`${request}.ts`)) return `${request}.ts`
  return original.call(this, request, ...rest)
}
