/** Waiting on real sockets: poll a condition, fail with what was awaited. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function until(check: () => boolean, what = 'condition', timeoutMs = 10000): Promise<void> {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** `until` for a check that has to ask (a store, a metric): polls it, fails with what was awaited. */
export async function eventually(check: () => Promise<boolean>, what = 'condition', timeoutMs = 10000): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}
