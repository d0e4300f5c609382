#!/usr/bin/env node
// Runs the README's test command (`npm test`) while a busy loop holds one core, as a loaded CI
// machine would: a test that depends on this machine's speed fails here rather than now and then.
// Usage: node scripts/test-under-load.js [runs]   (default 1; exits with the first failing run's code)
'use strict'
const { spawn, spawnSync } = require('child_process')

const runs = Math.max(1, Number(process.argv[2] ?? 1))
const hog = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' })
let code = 0
try {
  for (let run = 1; run <= runs && code === 0; run++) {
    const started = Date.now()
    console.log(`\n[test-under-load] run ${run} of ${runs}, one core busy (pid ${hog.pid})`)
    const result = spawnSync('npm', ['test'], { stdio: 'inherit', env: process.env })
    code = result.status ?? 1
    console.log(`[test-under-load] run ${run}: exit ${code} after ${Math.round((Date.now() - started) / 1000)} s`)
  }
} finally {
  hog.kill('SIGKILL')
}
process.exit(code)
