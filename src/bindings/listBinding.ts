/**
 * An incremental list binding: each new item costs one path-keyed `setData` entry
 * (`'comments[57]': {...}`), a changed item only its changed fields, whatever the list's
 * length. The rendered list is a ring of `limit` slots; each item carries `k`, its
 * position in arrival order, for `style="order: {{item.k}}"` in a flex column, so the
 * ring shows oldest first without ever shifting the array.
 */
export interface ListItem {
  id: string
}

interface Placed {
  slot: number
  version: string
}

export class ListBinding<T extends ListItem, R extends object> {
  private placed = new Map<string, Placed>()
  private slotOwner: Array<string | undefined> = []
  private nextK = 0
  private generation = -1

  constructor(
    private readonly key: string,
    private readonly limit: number,
    /** The item as the page renders it (small: only what the WXML uses). */
    private readonly render: (item: T) => R,
    /** Changes when an item needs re-rendering (for example `status`). */
    private readonly version: (item: T) => string,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new TypeError('ListBinding: limit must be a positive whole number')
  }

  /**
   * The `setData` patch that brings the rendered list to `items` (oldest first).
   * A new `generation` (the list was replaced, e.g. by a snapshot) re-sends it whole.
   */
  patch(items: readonly T[], generation: number): Record<string, unknown> {
    const visible = items.length > this.limit ? items.slice(items.length - this.limit) : items
    if (generation !== this.generation) return this.reset(visible, generation)
    const patch: Record<string, unknown> = {}
    for (const item of visible) {
      const version = this.version(item)
      const placed = this.placed.get(item.id)
      if (placed === undefined) {
        const k = this.nextK++
        const slot = k % this.limit
        const evicted = this.slotOwner[slot]
        if (evicted !== undefined) this.placed.delete(evicted)
        this.slotOwner[slot] = item.id
        this.placed.set(item.id, { slot, version })
        patch[`${this.key}[${slot}]`] = { ...this.render(item), k }
      } else if (placed.version !== version) {
        placed.version = version
        const rendered = this.render(item) as Record<string, unknown>
        for (const [field, value] of Object.entries(rendered)) patch[`${this.key}[${placed.slot}].${field}`] = value
      }
    }
    return patch
  }

  private reset(items: readonly T[], generation: number): Record<string, unknown> {
    this.generation = generation
    this.placed = new Map()
    this.slotOwner = []
    this.nextK = 0
    const list = items.map((item) => {
      const k = this.nextK++
      this.slotOwner[k] = item.id
      this.placed.set(item.id, { slot: k, version: this.version(item) })
      return { ...this.render(item), k }
    })
    return { [this.key]: list }
  }
}
