import fs from 'node:fs'
import t from 'tap'
import { envInt, processCpuSeconds, stealPercent, systemCpu } from '../../benchmarks/lib.js'

// The HTTP benchmark's per-request CPU and host-steal columns come from these readings.
const linux = fs.existsSync('/proc/self/stat')

t.test('stealPercent is the steal share of the CPU time between two readings', async (t) => {
  t.equal(stealPercent({ total: 1000, steal: 10 }, { total: 3000, steal: 510 }), 25)
  t.equal(stealPercent({ total: 1000, steal: 10 }, { total: 1200, steal: 10 }), 0)
  t.equal(stealPercent(null, { total: 1, steal: 0 }), null, 'no first reading')
  t.equal(stealPercent({ total: 1, steal: 0 }, null), null, 'no second reading')
  t.equal(stealPercent({ total: 500, steal: 0 }, { total: 500, steal: 0 }), null, 'no time passed: no share to give')
})

t.test('processCpuSeconds grows while the process computes and is null for one that does not exist', { skip: !linux && 'needs /proc' }, async (t) => {
  const before = processCpuSeconds(process.pid)
  t.type(before, 'number')
  // Spin until the reading has grown by 50 ms of CPU (five 10 ms clock ticks), giving up only after 10 s of
  // wall time: however crowded the machine, the reading must move while this process computes.
  const deadline = Date.now() + 10_000
  let after = before!
  let x = 0
  while (after - before! < 0.05 && Date.now() < deadline) {
    for (let i = 0; i < 100_000; i++) x += Math.sqrt(x + i)
    after = processCpuSeconds(process.pid)!
  }
  t.ok(x > 0)
  t.ok(after - before! >= 0.05, `used ${(after - before!).toFixed(2)} s of CPU while busy`)
  // PIDs are below /proc/sys/kernel/pid_max (at most 2^22); this one cannot exist.
  t.equal(processCpuSeconds(2 ** 30), null)
})

t.test('systemCpu reads the machine totals', { skip: !linux && 'needs /proc' }, async (t) => {
  const a = systemCpu()!
  t.ok(a.total > 0)
  t.ok(a.steal >= 0 && a.steal <= a.total)
  const b = systemCpu()!
  t.ok(b.total >= a.total, 'the counters only grow')
})

t.test('envInt takes whole numbers at or above its minimum, and says what it got otherwise', async (t) => {
  const name = 'VEILBOX_TEST_ENVINT'
  t.teardown(() => {
    delete process.env[name]
  })
  delete process.env[name]
  t.equal(envInt(name, 7), 7, 'unset: the default')
  process.env[name] = '1_000'
  t.equal(envInt(name, 7), 1000, 'underscores as separators')
  process.env[name] = '0'
  t.equal(envInt(name, 7, 0), 0, 'zero where the minimum allows it')
  t.throws(() => envInt(name, 7), /VEILBOX_TEST_ENVINT must be a whole number of at least 1, got 0/)
  process.env[name] = '2.5'
  t.throws(() => envInt(name, 7), /got 2\.5/)
})
