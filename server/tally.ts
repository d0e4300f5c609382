/**
 * How many of something each key holds right now (connections per user or address, requests in
 * flight, held polls): a key is kept only while its count is above zero, so memory follows what
 * is open, not every key ever seen.
 */
export class Tally {
  private readonly counts = new Map<string, number>()
  private sum = 0

  get(key: string): number {
    return this.counts.get(key) ?? 0
  }

  /** Every key's count added up. */
  get total(): number {
    return this.sum
  }

  add(key: string): void {
    this.counts.set(key, this.get(key) + 1)
    this.sum++
  }

  /** One fewer for `key`; a key at zero is forgotten. A key not held is left alone. */
  remove(key: string): void {
    const held = this.counts.get(key)
    if (held === undefined) return
    if (held > 1) this.counts.set(key, held - 1)
    else this.counts.delete(key)
    this.sum--
  }
}
