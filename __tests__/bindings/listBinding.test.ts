import { ListBinding } from '../../src/bindings/listBinding'

interface Item {
  id: string
  text: string
  status: string
}
const item = (id: string, status = 'sent'): Item => ({ id, text: `t${id}`, status })
const binding = (limit: number): ListBinding<Item, { id: string; text: string; status: string }> =>
  new ListBinding<Item, { id: string; text: string; status: string }>('list', limit, (i) => ({ id: i.id, text: i.text, status: i.status }), (i) => i.status)

describe('ListBinding', () => {
  it('sends a new generation whole, then each new item as one path key, and a changed item by field', () => {
    const b = binding(3)
    expect(b.patch([item('a'), item('b')], 1)).toEqual({ list: [{ id: 'a', text: 'ta', status: 'sent', k: 0 }, { id: 'b', text: 'tb', status: 'sent', k: 1 }] })
    expect(b.patch([item('a'), item('b'), item('c', 'pending')], 1)).toEqual({ 'list[2]': { id: 'c', text: 'tc', status: 'pending', k: 2 } })
    expect(b.patch([item('a'), item('b'), item('c', 'sent')], 1)).toEqual({ 'list[2].id': 'c', 'list[2].text': 'tc', 'list[2].status': 'sent' })
    expect(b.patch([item('a'), item('b'), item('c', 'sent')], 1)).toEqual({})
  })

  it('reuses the oldest slot past the limit (a ring), with k rising for the CSS order', () => {
    const b = binding(3)
    b.patch([item('a'), item('b'), item('c')], 1)
    expect(b.patch([item('a'), item('b'), item('c'), item('d')], 1)).toEqual({ 'list[0]': { id: 'd', text: 'td', status: 'sent', k: 3 } })
    expect(b.patch([item('c'), item('d'), item('e')], 1)).toEqual({ 'list[1]': { id: 'e', text: 'te', status: 'sent', k: 4 } })
  })

  it('starts over on a new generation (a snapshot replaced the list)', () => {
    const b = binding(3)
    b.patch([item('a'), item('b')], 1)
    expect(b.patch([item('x')], 2)).toEqual({ list: [{ id: 'x', text: 'tx', status: 'sent', k: 0 }] })
  })

  it('refuses a limit that is not a positive whole number', () => {
    expect(() => binding(0)).toThrow(TypeError)
    expect(() => binding(1.5)).toThrow(TypeError)
  })
})
