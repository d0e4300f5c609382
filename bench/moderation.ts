/**
 * What a comment's content check costs the server: the blocked-words list (one Aho-Corasick
 * automaton, O(length of the comment)) beside the obvious loop over the list (fold the comment
 * once, then `indexOf` each word: O(words)), on the same comments, lists of growing size.
 */
import { BlockedWords } from '../server/blockedWords'

export interface BlockedWordsRow {
  words: number
  /** Milliseconds to compile the list (once, at start). */
  compileMs: number
  /** Microseconds per comment, the automaton (masking included). */
  automatonUs: number
  /** Microseconds per comment, folding once and looking for each word in turn. */
  loopUs: number
  /** Comments the two found a blocked word in (they must agree). */
  found: { automaton: number; loop: number }
}

/** A deterministic word list: `n` words of 4..10 letters from a small LCG. */
function wordList(n: number): string[] {
  let seed = 42
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648)
  const letters = 'abcdefghijklmnopqrstuvwxyz'
  return Array.from({ length: n }, () => Array.from({ length: 4 + (next() % 7) }, () => letters[next() % 26]).join(''))
}

function comments(n: number, words: string[]): string[] {
  // One comment in ten carries a listed word, in capitals, as a real room's would rarely.
  return Array.from({ length: n }, (_, i) => (i % 10 === 0 ? `wow ${words[i % words.length].toUpperCase()} so good, comment ${i}` : `comment number ${i}, a typical length of text`))
}

const fold = (text: string): string => text.normalize('NFKC').toLowerCase()

function time(run: () => number, rounds: number): { us: number; found: number } {
  let best = Infinity
  let found = 0
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    found = run()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000)
  }
  return { us: best, found }
}

export function blockedWordsCost(sizes: number[], commentCount: number): BlockedWordsRow[] {
  return sizes.map((n) => {
    const words = wordList(n)
    const compileStart = process.hrtime.bigint()
    const list = new BlockedWords(words)
    const compileMs = Number(process.hrtime.bigint() - compileStart) / 1e6
    const input = comments(commentCount, words)
    const automaton = time(() => input.reduce((found, c) => found + (list.mask(c).found ? 1 : 0), 0), 3)
    const loop = time(
      () =>
        input.reduce((found, c) => {
          const folded = fold(c)
          return found + (words.some((w) => folded.includes(w)) ? 1 : 0)
        }, 0),
      1,
    )
    return { words: n, compileMs, automatonUs: automaton.us / commentCount, loopUs: loop.us / commentCount, found: { automaton: automaton.found, loop: loop.found } }
  })
}

export function formatBlockedWords(rows: BlockedWordsRow[]): string {
  const lines = [
    '| words in the list | compiled once, ms | automaton us/comment | loop over the list us/comment | loop / automaton | comments with a word (automaton, loop) |',
    '|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    lines.push(
      `| ${r.words.toLocaleString('en-US')} | ${r.compileMs.toFixed(0)} | ${r.automatonUs.toFixed(2)} | ${r.loopUs.toFixed(2)} | ${(r.loopUs / r.automatonUs).toFixed(1)} | ${r.found.automaton}, ${r.found.loop} |`,
    )
  }
  return lines.join('\n')
}
