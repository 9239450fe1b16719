// Loaded into a benchmark's server with node --import (Linux only): the main thread's event-loop gaps,
// as the server itself sees them. A timer ticks every 5 ms; each gap between two ticks longer than
// GAP_MS is kept with the main thread's own CPU time during it (/proc/self/task/<pid>/schedstat, in ns).
// A gap the thread spent computing shows its length in CPU time; a gap it spent waiting for a core
// (a busy host) shows little: on a shared machine, that tells veilbox's stalls from the host's.
// Written as JSON to VEILBOX_BENCH_LOOP_DIR/loop-<pid>.json when the process exits:
// [[endedAtEpochMs, gapMs, cpuMs], ...].
import fs from 'node:fs'
import path from 'node:path'

const dir = process.env.VEILBOX_BENCH_LOOP_DIR
const stat = `/proc/self/task/${process.pid}/schedstat`
const TICK_MS = 5
const GAP_MS = 20

if (dir && fs.existsSync(stat)) {
  const cpuMs = () => Number(fs.readFileSync(stat, 'utf8').split(' ')[0]) / 1e6
  const gaps = []
  let lastAt = performance.now()
  let lastCpu = cpuMs()
  setInterval(() => {
    const at = performance.now()
    const cpu = cpuMs()
    if (at - lastAt > GAP_MS) gaps.push([Date.now(), Math.round(at - lastAt), Math.round(cpu - lastCpu)])
    lastAt = at
    lastCpu = cpu
  }, TICK_MS).unref()
  process.on('exit', () => {
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, `loop-${process.pid}.json`), JSON.stringify(gaps))
  })
}
