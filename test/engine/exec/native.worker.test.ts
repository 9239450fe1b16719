import { Worker } from 'node:worker_threads'
import t from 'tap'
import { aggregate } from '../../../src/engine/exec/kernel-ts.js'
import { requireNativeKernel, resultDifference } from '../../../src/engine/exec/loader.js'
import { quantumFor } from '../../../src/engine/exec/quantum.js'
import type { AggregateRequest, Measure, NumericColumn } from '../../../src/engine/exec/types.js'
import type { NativeWorkerData, NativeWorkerReply } from '../../fixtures/native-kernel-worker.js'
import { int, rng } from './fixtures.js'

/**
 * The native kernel inside worker threads, as the sandbox runs it: each worker
 * loads the addon itself and reads columns in shared memory in place, several
 * at once, while the main thread runs it too.
 */

const WORKER = new URL('../../fixtures/native-kernel-worker.ts', import.meta.url)
// `execArgv: ['--import', 'tsx']` does not make a .ts worker loadable here
// (Node 20, tsx 4: tsx registers its hooks from --import on the main thread
// only), so a one-line bootstrap registers tsx in the worker, then imports
// the fixture.
const BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ register }) => { register(); return import(${JSON.stringify(WORKER.href)}) })`

function runWorker(data: NativeWorkerData): Promise<NativeWorkerReply> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOT, { eval: true, workerData: data, execArgv: [] })
    let reply: NativeWorkerReply | null = null
    worker.once('message', (m: NativeWorkerReply) => (reply = m))
    worker.once('error', reject)
    worker.once('exit', (code) =>
      code === 0 && reply !== null ? resolve(reply) : reject(new Error(`worker exited with ${code}`)),
    )
  })
}

function shared<T extends Float64Array | Int32Array | Uint8Array | Uint16Array>(
  make: (b: SharedArrayBuffer, n: number) => T,
  bytes: number,
  n: number,
): T {
  return make(new SharedArrayBuffer(bytes * n), n)
}

/** Columns in SharedArrayBuffer, as the column cache holds them. */
function sharedRequests(rows: number): AggregateRequest[] {
  const r = rng(99)
  const values = shared((b, n) => new Float64Array(b, 0, n), 8, rows)
  const ints = shared((b, n) => new Int32Array(b, 0, n), 4, rows)
  const nulls = shared((b, n) => new Uint8Array(b, 0, n), 1, Math.ceil(rows / 8))
  const selection = shared((b, n) => new Uint8Array(b, 0, n), 1, rows)
  const c7 = shared((b, n) => new Uint8Array(b, 0, n), 1, rows)
  const c5000 = shared((b, n) => new Uint16Array(b, 0, n), 2, rows)
  for (let i = 0; i < rows; i++) {
    values[i] = r() < 0.02 ? Infinity : r() * 300 - 100
    ints[i] = Math.floor(r() * 2 ** 32) - 2 ** 31
    if (r() < 0.1) {
      nulls[i >> 3]! |= 1 << (i & 7)
      values[i] = Number.NaN
    }
    selection[i] = r() < 0.7 ? 1 : 0
    c7[i] = int(r, 7)
    c5000[i] = int(r, 5000)
  }
  const f64: NumericColumn = { kind: 'f64', values, nulls }
  const i32: NumericColumn = { kind: 'i32', values: ints, nulls: null }
  const measures: Measure[] = [
    { kind: 'moments', column: f64, lower: 0, upper: 100, quantum: quantumFor(0, 100), squares: true },
    {
      kind: 'moments',
      column: i32,
      lower: -(2 ** 31),
      upper: 2 ** 31,
      quantum: quantumFor(-(2 ** 31), 2 ** 31),
      squares: true,
    },
    { kind: 'histogram', column: f64, lower: 0, upper: 100, bins: 10 },
    { kind: 'nonNull', column: f64 },
  ]
  return [null, { codes: c7, count: 7 }, { codes: c5000, count: 5000 }].flatMap((grouping) => [
    { rows, selection, grouping, measures },
    { rows, selection: null, grouping, measures: measures.slice(2) },
  ])
}

function refusedRequests(): AggregateRequest[] {
  const q = quantumFor(0, 1)
  const column = { kind: 'f64', values: Float64Array.of(0.5, Number.NaN, 0.25), nulls: null } as const
  return [
    {
      rows: 3,
      selection: null,
      grouping: null,
      measures: [{ kind: 'moments', column, lower: 0, upper: 1, quantum: q, squares: false }],
    },
    { rows: 3, selection: null, grouping: { codes: Uint8Array.of(0, 3, 1), count: 2 }, measures: [] },
    {
      rows: 3,
      selection: null,
      grouping: null,
      measures: [
        {
          kind: 'moments',
          column: { kind: 'f64', values: new Float32Array(3) as unknown as Float64Array, nulls: null },
          lower: 0,
          upper: 1,
          quantum: q,
          squares: false,
        },
      ],
    },
  ]
}

t.test('a worker loads the addon and agrees with the TS kernel on shared columns', async (t) => {
  const requests = sharedRequests(20_011)
  const reply = await runWorker({ requests, refused: refusedRequests(), repeat: 1 })
  t.equal(reply.report.kernel, 'native', 'the worker runs the native kernel')
  t.ok(reply.variants.length >= 1)
  t.strictSame(
    reply.differences,
    requests.map(() => reply.variants.map(() => null)),
    'every variant, every request',
  )
  t.strictSame(
    reply.refusals,
    reply.expected.map((e) => reply.variants.map(() => e)),
    'refused with the same typed errors as the TS kernel, inside the worker',
  )
  t.match(reply.expected, [
    /^VEILBOX_ERR_EXEC_BAD_ARGUMENT: /,
    /^VEILBOX_ERR_EXEC_BAD_ARGUMENT: /,
    /^VEILBOX_ERR_EXEC_BAD_ARGUMENT: /,
  ])
})

t.test('several workers and the main thread at once, over the same shared columns', async (t) => {
  const requests = sharedRequests(50_003)
  const main = requireNativeKernel().kernel
  const replies = Promise.all([1, 2, 3].map(() => runWorker({ requests, refused: [], repeat: 3 })))
  // The main thread computes meanwhile on the very same buffers.
  for (let k = 0; k < 3; k++)
    for (const req of requests)
      t.equal(resultDifference(aggregate(req), main.aggregate(req)), null, `main thread, round ${k}`)
  for (const reply of await replies) {
    t.equal(reply.report.kernel, 'native')
    t.strictSame(
      reply.differences,
      requests.map(() => reply.variants.map(() => null)),
    )
  }
})
