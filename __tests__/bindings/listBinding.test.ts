import { ListBinding } from '../../src/bindings/listBinding'

interface Item {
  id: string
  text: string
  status: string
}
const item = (id: string, status = 'sent'): Item => ({ id, text: `t${id}`, status })
type Rendered = { id: string; text: string; status?: string }
/** Renders `status` only while it is not 'sent', as the room behavior does. */
const binding = (limit: number): { patch: (items: Item[], generation: number) => Record<string, unknown>; added: () => number } => {
  const b = new ListBinding<Item, Rendered>('list', limit, (i) => (i.status === 'sent' ? { id: i.id, text: i.text } : { id: i.id, text: i.text, status: i.status }))
  let added = 0
  return {
    patch: (items, generation) => {
      const result = b.patch(items, generation)
      added = result.added
      return result.patch
    },
    added: () => added,
  }
}

describe('ListBinding', () => {
  it('sends a new generation whole, then each new item as one path key, and a changed item by field', () => {
    const b = binding(3)
    expect(b.patch([item('a'), item('b')], 1)).toEqual({
      list: [
        { id: 'a', text: 'ta', k: 0 },
        { id: 'b', text: 'tb', k: 1 },
      ],
    })
    expect(b.added()).toBe(2)
    expect(b.patch([item('a'), item('b'), item('c', 'pending')], 1)).toEqual({ 'list[2]': { id: 'c', text: 'tc', status: 'pending', k: 2 } })
    expect(b.added()).toBe(1)
    // Only the field that changed; one the item no longer renders is cleared.
    expect(b.patch([item('a'), item('b'), item('c', 'failed')], 1)).toEqual({ 'list[2].status': 'failed' })
    expect(b.patch([item('a'), item('b'), item('c', 'sent')], 1)).toEqual({ 'list[2].status': '' })
    expect(b.added()).toBe(0)
    expect(b.patch([item('a'), item('b'), item('c', 'sent')], 1)).toEqual({})
  })

  it('reuses the oldest slot past the limit (a ring), with k rising for the CSS order', () => {
    const b = binding(3)
    b.patch([item('a'), item('b'), item('c')], 1)
    expect(b.patch([item('a'), item('b'), item('c'), item('d')], 1)).toEqual({ 'list[0]': { id: 'd', text: 'td', k: 3 } })
    expect(b.patch([item('c'), item('d'), item('e')], 1)).toEqual({ 'list[1]': { id: 'e', text: 'te', k: 4 } })
  })

  it('hides an item gone from the list (a deleted comment) with one path, re-sending nothing else (issue 25)', () => {
    const b = binding(200)
    const items = Array.from({ length: 150 }, (_, i) => item(`m${i}`))
    b.patch(items, 1)
    const after = items.filter((i) => i.id !== 'm70')
    expect(b.patch(after, 1)).toEqual({ 'list[70].deleted': true })
    expect(b.added()).toBe(0)
    // The next comment goes on as before; the hidden slot is not sent again.
    expect(b.patch([...after, item('n')], 1)).toEqual({ 'list[150]': { id: 'n', text: 'tn', k: 150 } })
  })

  it('names the item rendered at an index (what a long-press on `data-index` means), across the ring and after a deletion', () => {
    const b = new ListBinding<Item, Rendered>('list', 3, (i) => ({ id: i.id, text: i.text }))
    b.patch([item('a'), item('b'), item('c')], 1)
    expect([0, 1, 2, 3].map((i) => b.itemAt(i)?.id)).toEqual(['a', 'b', 'c', undefined])
    b.patch([item('b'), item('c'), item('d')], 1)
    expect([0, 1, 2].map((i) => b.itemAt(i)?.id)).toEqual(['d', 'b', 'c'])
    // A deleted item's slot names nothing until the ring reuses it.
    b.patch([item('b'), item('d')], 1)
    expect([0, 1, 2].map((i) => b.itemAt(i)?.id)).toEqual(['d', 'b', undefined])
    b.patch([item('a'), item('b'), item('c')], 2)
    expect(b.itemAt(0)?.id).toBe('a')
  })

  it('starts over on a new generation (a snapshot replaced the list)', () => {
    const b = binding(3)
    b.patch([item('a'), item('b')], 1)
    expect(b.patch([item('x')], 2)).toEqual({ list: [{ id: 'x', text: 'tx', k: 0 }] })
  })

  it('refuses a limit that is not a positive whole number', () => {
    expect(() => binding(0)).toThrow(TypeError)
    expect(() => binding(1.5)).toThrow(TypeError)
  })
})
