/**
 * A list of blocked words or phrases, compiled once into an Aho-Corasick automaton: finding them
 * in a comment costs O(length of the comment), whatever the number of words.
 *
 * Matching ignores case, full-width and half-width forms (NFKC: `ＢＡＤ` is `bad`) and anything
 * that is not a letter or a digit put between the letters (`b.a d` and `b a-d` are `bad`). A match
 * is masked with one `*` per character of the original text it covers, separators included.
 */

interface Node {
  next: Map<string, Node>
  fail: Node | undefined
  /** Lengths (in normalized characters) of the words that end here, this node's and its fail chain's. */
  ends: number[]
}

const node = (): Node => ({ next: new Map(), fail: undefined, ends: [] })

/** Not a letter, a digit or a mark: ignored between the letters of a word. */
const SEPARATOR = /^[^\p{L}\p{N}\p{M}]+$/u

/** A text's characters as matching sees them, each with the index of the original character it came from. */
function normalize(text: string): { chars: string[]; from: number[]; original: string[] } {
  const original = [...text]
  const chars: string[] = []
  const from: number[] = []
  original.forEach((char, i) => {
    const folded = char.normalize('NFKC').toLowerCase()
    if (SEPARATOR.test(folded)) return
    for (const c of folded) {
      chars.push(c)
      from.push(i)
    }
  })
  return { chars, from, original }
}

/** Most words in a list, and characters in a word (a list is an operator's file: bounded all the same). */
export const MAX_BLOCKED_WORDS = 100_000
export const MAX_BLOCKED_WORD_LENGTH = 64

export class BlockedWords {
  private readonly root = node()
  /** Words compiled (after normalization; empty ones and repeats dropped). */
  readonly size: number

  constructor(words: Iterable<string>) {
    let size = 0
    for (const word of words) {
      const { chars } = normalize(word.trim())
      if (chars.length === 0 || chars.length > MAX_BLOCKED_WORD_LENGTH) continue
      if (size >= MAX_BLOCKED_WORDS) throw new Error(`a blocked-words list holds ${MAX_BLOCKED_WORDS} words at most`)
      let at = this.root
      for (const c of chars) {
        let next = at.next.get(c)
        if (next === undefined) at.next.set(c, (next = node()))
        at = next
      }
      if (!at.ends.includes(chars.length)) {
        at.ends.push(chars.length)
        size++
      }
    }
    this.size = size
    // Failure links, breadth first; each node's ends include those of its fail chain.
    const queue: Node[] = []
    for (const child of this.root.next.values()) {
      child.fail = this.root
      queue.push(child)
    }
    for (let i = 0; i < queue.length; i++) {
      const current = queue[i]
      for (const [c, child] of current.next) {
        let fail = current.fail
        while (fail !== undefined && !fail.next.has(c)) fail = fail.fail
        child.fail = fail?.next.get(c) ?? this.root
        child.ends.push(...child.fail.ends.filter((n) => !child.ends.includes(n)))
        queue.push(child)
      }
    }
  }

  /** One word or phrase a line; blank lines and lines starting with `#` are skipped. */
  static fromText(text: string): BlockedWords {
    return new BlockedWords(text.split(/\r?\n/).filter((line) => line.trim() !== '' && !line.trim().startsWith('#')))
  }

  /** The ranges [start, end) of the original text's characters (code points) that blocked words cover. */
  find(text: string): Array<[number, number]> {
    const { chars, from } = normalize(text)
    const ranges: Array<[number, number]> = []
    let at = this.root
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i]
      while (at !== this.root && !at.next.has(c)) at = at.fail ?? this.root
      at = at.next.get(c) ?? this.root
      for (const length of at.ends) ranges.push([from[i - length + 1], from[i] + 1])
    }
    return ranges
  }

  /** The text with every blocked word masked (`*` per character), and whether any was found. */
  mask(text: string): { text: string; found: boolean } {
    const ranges = this.find(text)
    if (ranges.length === 0) return { text, found: false }
    const original = [...text]
    for (const [start, end] of ranges) for (let i = start; i < end; i++) original[i] = '*'
    return { text: original.join(''), found: true }
  }
}
