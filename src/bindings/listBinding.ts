/**
 * An incremental list binding: each new item costs one path-keyed `setData` entry
 * (`'comments[57]': {...}`), a changed item only its changed fields, whatever the list's
 * length. The rendered list is a ring of `limit` slots; each item carries `k`, its
 * position in arrival order, for `style="order: {{item.k}}"` in a flex column, so the
 * ring shows oldest first without ever shifting the array. An item gone from the list (a
 * deleted comment) costs one path too: `'comments[12].deleted': true` (the WXML hides it);
 * its slot is reused when the ring comes round.
 */
export interface ListItem {
  id: string
}

interface Placed<T, R> {
  slot: number
  /** The item last rendered (items are replaced, never mutated, when they change). */
  item: T
  rendered: R
}

export class ListBinding<T extends ListItem, R extends object> {
  private placed = new Map<string, Placed<T, R>>()
  private slotOwner: Array<string | undefined> = []
  private nextK = 0
  private generation = -1

  constructor(
    private readonly key: string,
    private readonly limit: number,
    /** The item as the page renders it (small: only what the WXML uses). */
    private readonly render: (item: T) => R,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new TypeError('ListBinding: limit must be a positive whole number')
  }

  /**
   * The `setData` patch that brings the rendered list to `items` (oldest first), and how many
   * items it adds. A new `generation` (the list was replaced, e.g. by a snapshot) re-sends it
   * whole. A changed item costs only its changed fields (a field it no longer has is set to '').
   */
  patch(items: readonly T[], generation: number): { patch: Record<string, unknown>; added: number } {
    const visible = items.length > this.limit ? items.slice(items.length - this.limit) : items
    if (generation !== this.generation) return { patch: this.reset(visible, generation), added: visible.length }
    const patch: Record<string, unknown> = {}
    let added = 0
    // Fewer items than rendered ones: some left the list (not by the ring's eviction).
    if (this.placed.size > visible.length) {
      const present = new Set(visible.map((item) => item.id))
      for (const [id, placed] of this.placed) {
        if (present.has(id)) continue
        patch[`${this.key}[${placed.slot}].deleted`] = true
        this.placed.delete(id)
      }
    }
    for (const item of visible) {
      const placed = this.placed.get(item.id)
      if (placed === undefined) {
        const k = this.nextK++
        const slot = k % this.limit
        const evicted = this.slotOwner[slot]
        if (evicted !== undefined) this.placed.delete(evicted)
        this.slotOwner[slot] = item.id
        const rendered = this.render(item)
        this.placed.set(item.id, { slot, item, rendered })
        patch[`${this.key}[${slot}]`] = { k, ...rendered }
        added++
      } else if (placed.item !== item) {
        const rendered = this.render(item)
        const before = placed.rendered as Record<string, unknown>
        const after = rendered as Record<string, unknown>
        for (const field of new Set([...Object.keys(before), ...Object.keys(after)])) {
          if (before[field] !== after[field]) patch[`${this.key}[${placed.slot}].${field}`] = after[field] ?? ''
        }
        placed.item = item
        placed.rendered = rendered
      }
    }
    return { patch, added }
  }

  /** The item rendered at `slot` (the WXML's `index` in the list), if one is. */
  itemAt(slot: number): T | undefined {
    const id = this.slotOwner[slot]
    return id === undefined ? undefined : this.placed.get(id)?.item
  }

  private reset(items: readonly T[], generation: number): Record<string, unknown> {
    this.generation = generation
    this.placed = new Map()
    this.slotOwner = []
    this.nextK = 0
    const list = items.map((item) => {
      const k = this.nextK++
      this.slotOwner[k] = item.id
      const rendered = this.render(item)
      this.placed.set(item.id, { slot: k, item, rendered })
      return { k, ...rendered }
    })
    return { [this.key]: list }
  }
}
