/**
 * A very small runtime schema checker for wire frames. Each check returns
 * `null` when the value fits, or a reason naming the first bad field relative to the
 * value (".user.uid must be a string", "[3] must be ..."), built only on failure: a
 * frame that fits costs no string at all. It never throws and never copies: a frame
 * that passes is used as parsed. `describe` turns a reason into a message.
 */

export type Check = (value: unknown) => string | null

/** "user.uid must be a string" from ".user.uid must be a string" (a top-level leaf: "value must ..."). */
export function describe(reason: string): string {
  return reason.startsWith('.') ? reason.slice(1) : reason.startsWith(' ') ? `value${reason}` : reason
}

type Shape = Readonly<Record<string, Check>>

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export const str =
  (min = 0, max = Infinity): Check =>
  (v) =>
    typeof v !== 'string' ? ' must be a string' : v.length < min || v.length > max ? ` must be ${min}..${max} characters` : null

export const int =
  (min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Check =>
  (v) =>
    typeof v !== 'number' || !Number.isSafeInteger(v) ? ' must be an integer' : v < min || v > max ? ` must be in ${min}..${max}` : null

export const num: Check = (v) => (typeof v === 'number' && Number.isFinite(v) ? null : ' must be a number')

export const bool: Check = (v) => (typeof v === 'boolean' ? null : ' must be a boolean')

export const oneOf = (...values: readonly string[]): Check => {
  const allowed = new Set(values)
  return (v) => (typeof v === 'string' && allowed.has(v) ? null : ` must be one of ${values.join(', ')}`)
}

/** Optional field: `undefined` (absent) passes. `null` does not: the protocol never sends it. */
export const opt =
  (check: Check): Check =>
  (v) =>
    v === undefined ? null : check(v)

export const obj = (shape: Shape): Check => {
  const keys = Object.keys(shape)
  const checks = keys.map((key) => shape[key])
  return (v) => {
    if (!isPlainObject(v)) return ' must be an object'
    for (let i = 0; i < keys.length; i++) {
      const reason = checks[i](v[keys[i]])
      if (reason !== null) return `.${keys[i]}${reason}`
    }
    return null
  }
}

/** Any JSON object (contents not checked beyond being an object). */
export const anyObj: Check = (v) => (isPlainObject(v) ? null : ' must be an object')

/**
 * A JSON object nested at most `maxDepth` levels (the object itself is level 1). Walked with an
 * explicit stack: a hostile 20,000-deep value must not overflow the call stack here or later.
 */
export const shallowObj =
  (maxDepth: number): Check =>
  (v) => {
    if (!isPlainObject(v)) return ' must be an object'
    const stack: Array<[unknown, number]> = [[v, 1]]
    while (stack.length > 0) {
      const [value, depth] = stack.pop() as [unknown, number]
      if (value === null || typeof value !== 'object') continue
      if (depth > maxDepth) return ` is nested deeper than ${maxDepth} levels`
      for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push([child, depth + 1])
    }
    return null
  }

export const arr =
  (item: Check, min = 0, max = Infinity): Check =>
  (v) => {
    if (!Array.isArray(v)) return ' must be an array'
    if (v.length < min || v.length > max) return ` must hold ${min}..${max} items`
    for (let i = 0; i < v.length; i++) {
      const reason = item(v[i])
      if (reason !== null) return `[${i}]${reason}`
    }
    return null
  }
