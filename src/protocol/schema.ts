/**
 * A very small runtime schema checker for wire frames. Each check returns
 * `null` when the value fits, or a reason string naming the first bad field.
 * It never throws and never copies: a frame that passes is used as parsed.
 */

export type Check = (value: unknown, path: string) => string | null

type Shape = Readonly<Record<string, Check>>

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export const str =
  (min = 0, max = Infinity): Check =>
  (v, p) =>
    typeof v !== 'string'
      ? `${p} must be a string`
      : v.length < min || v.length > max
        ? `${p} must be ${min}..${max} characters`
        : null

export const int =
  (min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Check =>
  (v, p) =>
    typeof v !== 'number' || !Number.isSafeInteger(v)
      ? `${p} must be an integer`
      : v < min || v > max
        ? `${p} must be in ${min}..${max}`
        : null

export const num: Check = (v, p) => (typeof v === 'number' && Number.isFinite(v) ? null : `${p} must be a number`)

export const bool: Check = (v, p) => (typeof v === 'boolean' ? null : `${p} must be a boolean`)

export const oneOf =
  (...values: readonly string[]): Check =>
  (v, p) =>
    typeof v === 'string' && values.includes(v) ? null : `${p} must be one of ${values.join(', ')}`

/** Optional field: `undefined` (absent) passes. `null` does not: the protocol never sends it. */
export const opt =
  (check: Check): Check =>
  (v, p) =>
    v === undefined ? null : check(v, p)

export const obj =
  (shape: Shape): Check =>
  (v, p) => {
    if (!isPlainObject(v)) return `${p} must be an object`
    for (const key of Object.keys(shape)) {
      const reason = shape[key](v[key], p ? `${p}.${key}` : key)
      if (reason !== null) return reason
    }
    return null
  }

/** Any JSON object (contents not checked beyond being an object). */
export const anyObj: Check = (v, p) => (isPlainObject(v) ? null : `${p} must be an object`)

/**
 * A JSON object nested at most `maxDepth` levels (the object itself is level 1). Walked with an
 * explicit stack: a hostile 20,000-deep value must not overflow the call stack here or later.
 */
export const shallowObj =
  (maxDepth: number): Check =>
  (v, p) => {
    if (!isPlainObject(v)) return `${p} must be an object`
    const stack: Array<[unknown, number]> = [[v, 1]]
    while (stack.length > 0) {
      const [value, depth] = stack.pop() as [unknown, number]
      if (value === null || typeof value !== 'object') continue
      if (depth > maxDepth) return `${p} is nested deeper than ${maxDepth} levels`
      for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push([child, depth + 1])
    }
    return null
  }

export const arr =
  (item: Check, min = 0, max = Infinity): Check =>
  (v, p) => {
    if (!Array.isArray(v)) return `${p} must be an array`
    if (v.length < min || v.length > max) return `${p} must hold ${min}..${max} items`
    for (let i = 0; i < v.length; i++) {
      const reason = item(v[i], `${p}[${i}]`)
      if (reason !== null) return reason
    }
    return null
  }
