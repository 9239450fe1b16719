import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { tsKernel } from '../../../src/engine/exec/kernel.js'
import {
  checkedOutSourceHash,
  defaultBindingPath,
  kernelReport,
  loadKernel,
  nativeEnabled,
  requireNativeKernel,
  selfCheck,
} from '../../../src/engine/exec/loader.js'
import type { Kernel } from '../../../src/engine/exec/kernel.js'
import type { AggregateRequest } from '../../../src/engine/exec/types.js'
import { quantumFor } from '../../../src/engine/exec/quantum.js'

/**
 * Which kernel runs. The fallback tests pass whether or not the addon is
 * built; the first test asserts that it is (CI builds it in `npm ci`).
 */

const ts = (reason: string) => ({ kernel: 'ts', reason, binding: null, isa: null, compiler: null })

t.test('npm ci built the addon, and the loader picks it', async (t) => {
  const file = defaultBindingPath()
  t.ok(fs.existsSync(file), `${file} exists`)
  const choice = loadKernel({ native: true, env: {} })
  t.equal(choice.kernel.name, 'native', choice.reason ?? 'native')
  t.equal(choice.reason, undefined)
  const report = kernelReport(choice)
  t.equal(report.kernel, 'native')
  t.equal(report.binding, file)
  t.type(report.isa, 'string')
  t.equal(choice.native?.source, checkedOutSourceHash(), 'built from the checked-out sources')
  t.strictSame(JSON.parse(JSON.stringify(report)), report, 'the report is plain JSON, for /healthz')
})

t.test('native: false and VEILBOX_NATIVE=0 give the TypeScript kernel', async (t) => {
  const off = loadKernel({ native: false })
  t.equal(off.kernel, tsKernel)
  t.strictSame(kernelReport(off), ts('the native kernel is disabled by configuration'))
  for (const v of ['0', 'false', 'OFF', ' no ']) {
    const env = loadKernel({ native: true, env: { VEILBOX_NATIVE: v } })
    t.equal(env.kernel, tsKernel, `VEILBOX_NATIVE=${JSON.stringify(v)}`)
    t.equal(env.reason, 'the native kernel is disabled by VEILBOX_NATIVE')
  }
  t.ok(nativeEnabled({}))
  t.ok(nativeEnabled({ VEILBOX_NATIVE: '' }))
  for (const on of ['1', 'true', 'ON', ' yes ']) t.ok(nativeEnabled({ VEILBOX_NATIVE: on }), JSON.stringify(on))
  for (const off of ['0', 'false', 'Off', 'NO']) t.notOk(nativeEnabled({ VEILBOX_NATIVE: off }), JSON.stringify(off))
})

t.test(
  'a VEILBOX_NATIVE that is neither on nor off: the configuration refuses it, the loader falls back and says why',
  async (t) => {
    t.throws(() => nativeEnabled({ VEILBOX_NATIVE: 'enabled' }), { code: 'VEILBOX_ERR_CONFIG_INVALID' })
    const choice = loadKernel({ native: true, env: { VEILBOX_NATIVE: 'enabled' } })
    t.equal(choice.kernel, tsKernel, 'never throws: the TypeScript kernel')
    t.match(
      choice.reason,
      /^invalid environment: VEILBOX_NATIVE: must be one of 1, true, on, yes \(on\) or 0, false, off, no \(off\)/,
    )
  },
)

t.test('a missing or broken binding falls back to the TypeScript kernel with the reason', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-native-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const missing = path.join(dir, 'veilbox_native.node')
  const choice = loadKernel({ native: true, bindingPath: missing, env: {} })
  t.equal(choice.kernel, tsKernel)
  t.equal(choice.reason, `the native addon is not built (no ${missing}); run npm run native:rebuild`)

  const garbage = path.join(dir, 'garbage.node')
  fs.writeFileSync(garbage, 'not an ELF file')
  const broken = loadKernel({ native: true, bindingPath: garbage, env: {} })
  t.equal(broken.kernel, tsKernel)
  t.match(broken.reason, /^cannot load .*garbage\.node: /)

  // A loadable module without the addon's exports: a shared object that is
  // not ours (the addon of better-sqlite3, another Node-API module).
  const other = path.join(
    path.dirname(new URL(import.meta.url).pathname),
    '../../../node_modules/better-sqlite3/build/Release/better_sqlite3.node',
  )
  if (fs.existsSync(other)) {
    const wrong = loadKernel({ native: true, bindingPath: other, env: {} })
    t.equal(wrong.kernel, tsKernel)
    t.match(wrong.reason, /does not export moments, histogram, counts, info, variants/)
  }

  t.throws(
    () => requireNativeKernel({ bindingPath: missing }),
    { code: 'VEILBOX_ERR_NATIVE_UNAVAILABLE' },
    'strict loading throws a typed error',
  )
  const stale = loadKernel({ native: true, env: {}, expectedSource: '0123456789abcdef' })
  t.equal(stale.kernel, tsKernel, 'an addon built from other sources is not used')
  t.match(
    stale.reason,
    /was built from other sources \([0-9a-f]{16}\) than native\/ holds \(0123456789abcdef\); run npm run native:rebuild/,
  )
  const unknownIsa = loadKernel({ native: true, isa: 'avx1024', env: {} })
  t.equal(unknownIsa.kernel, tsKernel)
  t.match(unknownIsa.reason, /no native kernel variant "avx1024"/)
})

t.test('the self-check refuses a kernel that is off by one anywhere', async (t) => {
  t.equal(selfCheck(tsKernel), null, 'the TS kernel passes its own check')
  const offByOne: Kernel = {
    name: 'native',
    aggregate: (req: AggregateRequest) => {
      const res = tsKernel.aggregate(req)
      const m = res.measures[0]
      if (m?.kind === 'moments' && m.sum.length > 1) m.sum[1] = m.sum[1]! + 1n
      return res
    },
  }
  t.match(selfCheck(offByOne), /^measures\[0\]\.sum\[1\]: /)
  const noRefusal: Kernel = {
    name: 'native',
    aggregate: (req: AggregateRequest) => {
      try {
        return tsKernel.aggregate(req)
      } catch {
        return { count: new Float64Array(2), measures: [] }
      }
    },
  }
  t.match(selfCheck(noRefusal), /^a NaN in a selected row: expected VEILBOX_ERR_EXEC_BAD_ARGUMENT/)
  const throwing: Kernel = {
    name: 'native',
    aggregate: () => {
      throw new Error('segfault avoided')
    },
  }
  t.equal(selfCheck(throwing), 'threw segfault avoided')
})

t.test('whichever kernel loads answers queries the same', async (t) => {
  const req: AggregateRequest = {
    rows: 4,
    selection: Uint8Array.of(1, 1, 0, 1),
    grouping: { codes: Uint8Array.of(0, 1, 1, 0), count: 2 },
    measures: [
      {
        kind: 'moments',
        column: { kind: 'f64', values: Float64Array.of(1, 2, 3, 4), nulls: null },
        lower: 0,
        upper: 4,
        quantum: quantumFor(0, 4),
        squares: true,
      },
    ],
  }
  const a = loadKernel({ native: true, env: {} }).kernel.aggregate(req)
  const b = loadKernel({ native: true, env: { VEILBOX_NATIVE: '0' } }).kernel.aggregate(req)
  t.strictSame(a, b)
})
