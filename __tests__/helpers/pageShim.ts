/**
 * WeChat's Page() constructor as its documentation describes it, for tests (miniprogram-simulate
 * renders components only). What it models:
 * - `Behavior(def)` returns an id; `Page({ behaviors })` (base library 2.9.2+) merges each
 *   behavior's `data` and `methods` into the page (nested behaviors first, later ones win), and the
 *   page's own fields win over them. A behavior's `properties`, `lifetimes`, `attached`/`detached`,
 *   `pageLifetimes` and `observers` are component features: a page does not run them.
 * - Lifecycle: `onLoad(query)` -> `onShow()` -> `onReady()` when opened; `onHide()` / `onShow()`
 *   when another page covers it and it comes back; `onUnload()` when closed.
 * - `setData` takes path keys (`a.b`, `list[3]`) and updates `this.data` synchronously.
 * It renders no WXML: tests read `data`, which is what the WXML would render.
 */
type Definition = Record<string, unknown>
type Fn = (this: PageInstance, ...args: unknown[]) => unknown

export interface PageInstance {
  data: Record<string, unknown>
  route: string
  setData(patch: Record<string, unknown>): void
  [method: string]: unknown
}

export interface OpenedPage {
  page: PageInstance
  setDataCalls: number
  hide(): void
  show(): void
  unload(): void
  call(method: string, ...args: unknown[]): unknown
}

const behaviors = new Map<string, Definition>()
let registered: Definition | undefined
let nextId = 0
const PAGE_HOOKS = new Set(['onLoad', 'onShow', 'onReady', 'onHide', 'onUnload'])

/** Defines `Behavior` and `Page` globally. Call before anything that creates behaviors (mobx-miniprogram-bindings does at import). */
export function installPageShim(): void {
  const g = globalThis as unknown as { Behavior: (def: Definition) => string; Page: (def: Definition) => void }
  g.Behavior = (def: Definition) => {
    const id = `behavior-${++nextId}`
    behaviors.set(id, def)
    return id
  }
  g.Page = (def: Definition) => {
    registered = def
  }
}

/** Runs a page module (which calls `Page({...})`) and returns the definition it registered. */
export function registerPage(load: () => unknown): Definition {
  registered = undefined
  load()
  if (registered === undefined) throw new Error('the module did not call Page()')
  return registered
}

function flatten(ids: unknown): Definition[] {
  if (!Array.isArray(ids)) return []
  return ids.flatMap((id) => {
    const def = behaviors.get(String(id))
    if (def === undefined) throw new Error(`unknown behavior ${String(id)}`)
    return [...flatten(def.behaviors), def]
  })
}

function setPath(data: Record<string, unknown>, path: string, value: unknown): void {
  const parts = [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]))
  let target: Record<string | number, unknown> = data
  parts.forEach((part, i) => {
    if (i === parts.length - 1) {
      target[part] = value
      return
    }
    const next = target[part]
    target[part] = typeof next === 'object' && next !== null ? next : typeof parts[i + 1] === 'number' ? [] : {}
    target = target[part] as Record<string | number, unknown>
  })
}

/** Opens a page as WeChat does: a new instance, then onLoad(query), onShow, onReady. */
export function openPage(def: Definition, route: string, query: Record<string, string>): OpenedPage {
  const layers = [...flatten(def.behaviors)]
  const data: Record<string, unknown> = {}
  const methods: Record<string, Fn> = {}
  for (const layer of layers) {
    Object.assign(data, JSON.parse(JSON.stringify(layer.data ?? {})))
    Object.assign(methods, layer.methods ?? {})
  }
  Object.assign(data, JSON.parse(JSON.stringify(def.data ?? {})))
  for (const [key, value] of Object.entries(def)) if (typeof value === 'function') methods[key] = value as Fn
  const opened: OpenedPage = {
    page: undefined as unknown as PageInstance,
    setDataCalls: 0,
    hide: () => opened.call('onHide'),
    show: () => opened.call('onShow'),
    unload: () => opened.call('onUnload'),
    call: (method, ...args) => {
      const fn = methods[method]
      if (fn === undefined) {
        if (PAGE_HOOKS.has(method)) return undefined
        throw new Error(`the page has no method ${method}`)
      }
      return fn.apply(opened.page, args)
    },
  }
  const page: PageInstance = {
    data,
    route,
    setData(patch: Record<string, unknown>) {
      opened.setDataCalls++
      // WeChat copies the data across to the view: what is set must survive JSON.
      for (const [key, value] of Object.entries(JSON.parse(JSON.stringify(patch)) as Record<string, unknown>)) setPath(data, key, value)
    },
  }
  for (const [name, fn] of Object.entries(methods)) page[name] = (...args: unknown[]) => fn.apply(page, args)
  opened.page = page
  opened.call('onLoad', query)
  opened.call('onShow')
  opened.call('onReady')
  return opened
}
