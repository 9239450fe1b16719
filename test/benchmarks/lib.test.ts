import fs from 'node:fs'
import http from 'node:http'
import t from 'tap'
import { spawn } from 'node:child_process'
import {
  allowedCpus,
  envCpus,
  expandCpus,
  envInt,
  goal,
  goalRows,
  healthzDuring,
  healthzSummary,
  percentile,
  pinnedCommand,
  pinProcess,
  processCpuSeconds,
  statedAt,
  stealPercent,
  systemCpu,
} from '../../benchmarks/lib.js'

// The HTTP benchmark's per-request CPU and host-steal columns come from these readings.
const linux = fs.existsSync('/proc/self/stat')

t.test('stealPercent is the steal share of the CPU time between two readings', async (t) => {
  t.equal(stealPercent({ total: 1000, steal: 10 }, { total: 3000, steal: 510 }), 25)
  t.equal(stealPercent({ total: 1000, steal: 10 }, { total: 1200, steal: 10 }), 0)
  t.equal(stealPercent(null, { total: 1, steal: 0 }), null, 'no first reading')
  t.equal(stealPercent({ total: 1, steal: 0 }, null), null, 'no second reading')
  t.equal(stealPercent({ total: 500, steal: 0 }, { total: 500, steal: 0 }), null, 'no time passed: no share to give')
})

t.test(
  'processCpuSeconds grows while the process computes and is null for one that does not exist',
  { skip: !linux && 'needs /proc' },
  async (t) => {
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
  },
)

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

t.test('envCpus takes a CPU list this machine has, and says what is wrong otherwise', async (t) => {
  const name = 'VEILBOX_TEST_ENVCPUS'
  t.teardown(() => {
    delete process.env[name]
  })
  delete process.env[name]
  t.equal(envCpus(name, 8), null, 'unset: no pinning')
  process.env[name] = ' '
  t.equal(envCpus(name, 8), null, 'blank: no pinning')
  process.env[name] = '0-3, 5,7'
  t.equal(envCpus(name, 8), '0-3,5,7', 'ranges and single CPUs, spaces dropped')
  process.env[name] = '0-8'
  t.throws(
    () => envCpus(name, 8),
    /VEILBOX_TEST_ENVCPUS must be a CPU list such as 0-3 or 0,2,4-5 \(this machine has CPUs 0-7\); CPU 8 does not exist/,
  )
  process.env[name] = '3-1'
  t.throws(() => envCpus(name, 8), /the range 3-1 runs backwards/)
  for (const bad of ['one', '0-', '-1', '0,,1', '0x1', '1.5']) {
    process.env[name] = bad
    t.throws(() => envCpus(name, 8), /it is not one/, bad)
  }
})

t.test('expandCpus lists each CPU a list names once, in order', async (t) => {
  t.same(expandCpus('0-3'), [0, 1, 2, 3])
  t.same(expandCpus('5,0-1,1'), [0, 1, 5])
  t.same(expandCpus('7'), [7])
})

t.test('pinnedCommand leaves a command alone without CPUs and needs taskset with them', async (t) => {
  t.same(pinnedCommand(null, 'node', ['-v']), ['node', ['-v']])
  const path = process.env.PATH
  t.teardown(() => {
    process.env.PATH = path
  })
  process.env.PATH = '/nonexistent'
  t.throws(
    () => pinnedCommand('0', 'node', ['-v']),
    /pinning to CPUs needs taskset \(Debian and Ubuntu: the util-linux package\)/,
  )
  t.throws(() => pinProcess(process.pid, '0'), /needs taskset/)
})

// Pinning for real needs taskset (util-linux, on every Debian) and /proc to read the result.
const taskset = linux && pinnedCommandWorks()
function pinnedCommandWorks(): boolean {
  try {
    pinnedCommand('0', 'true', [])
    return true
  } catch {
    return false
  }
}

t.test(
  'a pinned command and a pinned process run only on the CPUs given',
  { skip: !taskset && 'needs taskset and /proc' },
  async (t) => {
    const [command, args] = pinnedCommand('0', process.execPath, ['-e', 'setTimeout(() => {}, 30_000)'])
    const child = spawn(command, args, { stdio: 'ignore' })
    t.teardown(() => {
      child.kill()
    })
    // taskset becomes the command: wait until the process is node (its affinity is set before that).
    const deadline = Date.now() + 10_000
    while (!/node/.test(readComm(child.pid!)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    t.match(readComm(child.pid!), /node/, 'the same pid, now running node')
    t.equal(allowedCpus(child.pid!), '0')
    // Moved onto every CPU this test may use, written another way than the kernel writes it (each CPU, highest first).
    const mine = allowedCpus(process.pid)!
    const reversed = expandCpus(mine).reverse().join(',')
    pinProcess(child.pid!, reversed)
    t.equal(allowedCpus(child.pid!), mine, `${reversed} is ${mine}`)
    t.throws(() => pinProcess(2 ** 30, '0'), /taskset could not move process 1073741824 onto CPUs 0/)
    t.equal(allowedCpus(2 ** 30), null, 'no such process')
  },
)

function readComm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}

t.test('goal judges a figure against its target, and says why when it cannot', async (t) => {
  t.same(goal('x', { op: '>=', value: 1 }, 1), { name: 'x', target: '>= 1', measured: 1, met: true })
  t.same(goal('x', { op: '>=', value: 1 }, 0.99), { name: 'x', target: '>= 1', measured: 0.99, met: false })
  t.same(goal('y', { op: '<', value: 50 }, 50).met, false, '50 is not under 50')
  t.same(goal('y', { op: '<=', value: 50 }, 50).met, true)
  t.same(goal('z', { op: '<', value: 50 }, null), {
    name: 'z',
    target: '< 50',
    measured: null,
    met: null,
    note: 'not measured',
  })
  t.same(goal('z', { op: '<', value: 50 }, Number.NaN, { unjudged: 'skipped' }).note, 'skipped')
  t.same(goal('z', { op: '<', value: 50 }, 5, { unjudged: 'another size' }), {
    name: 'z',
    target: '< 50',
    measured: 5,
    met: null,
    note: 'another size',
  })
  t.same(goal('z', { op: '<', value: 50 }, 5, { failed: '2 failed' }).met, false)
  t.equal(statedAt('rows', 1_000_000, 1_000_000), null)
  t.equal(statedAt('rows', 1_000_000, 20_000), 'the goal is stated at 1,000,000 rows; this run used 20,000')
  t.same(goalRows([{ name: 'x', target: '< 1', measured: null, met: null, note: 'n', benchmark: 'b' }]), [
    { benchmark: 'b', goal: 'x', target: '< 1', measured: '', met: 'not judged', note: 'n' },
  ])
})

t.test('percentile and healthzSummary', async (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1)
  t.equal(percentile(xs, 0.5), 50)
  t.equal(percentile(xs, 0.99), 99)
  t.equal(percentile([7], 0.99), 7)
  t.ok(Number.isNaN(percentile([], 0.5)))
  t.same(healthzSummary([1.04, 2, 300], 1), { requests: 3, failures: 1, p50Ms: 2, p99Ms: 300, maxMs: 300 })
})

t.test('healthzDuring polls /healthz one request at a time while the work runs', async (t) => {
  let inFlight = 0
  let most = 0
  const server = http.createServer((req, res) => {
    inFlight += 1
    most = Math.max(most, inFlight)
    setTimeout(() => {
      inFlight -= 1
      res.writeHead(req.url === '/healthz' ? 200 : 404).end('{}')
    }, 5)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const { port } = server.address() as { port: number }
  const r = await healthzDuring(`http://127.0.0.1:${port}`, () => new Promise((ok) => setTimeout(() => ok(42), 300)), 5)
  t.equal(r.value, 42)
  t.ok(r.operationMs >= 290, `the operation took ${r.operationMs} ms`)
  t.ok(r.healthz.requests >= 5, `${r.healthz.requests} requests`)
  t.equal(r.healthz.failures, 0)
  t.ok(r.healthz.p50Ms >= 4, 'each request waited for its answer')
  t.equal(most, 1, 'never two at once')
  await t.rejects(
    healthzDuring(`http://127.0.0.1:${port}`, () => Promise.reject(new Error('boom'))),
    /boom/,
    'a failed operation stops the poll and fails',
  )
})
