import t from 'tap'
import { tsKernel } from '../../../src/engine/exec/kernel.js'
import { requireNativeKernel } from '../../../src/engine/exec/loader.js'
import { createNativeKernel, type NativeBinding } from '../../../src/engine/exec/native.js'
import { quantumFor } from '../../../src/engine/exec/quantum.js'
import type { AggregateRequest } from '../../../src/engine/exec/types.js'
import { vouchForGrouping } from '../../../src/engine/exec/validate.js'
import { bitmap, f64, int, rng, selectionOf } from './fixtures.js'

/**
 * The few-groups pass (native/src/simd.h moments_few: AVX2, one-byte codes,
 * at most 8 groups, no squares) against the TypeScript kernel: every group
 * count, row counts that end mid-step, masks, nulls, packing flushes, and
 * the refusals (a code past the groups, a NaN in a selected row).
 */

const choice = requireNativeKernel()
const binding = (() => {
  const holder = { exports: {} as unknown }
  process.dlopen(holder, choice.binding!)
  return holder.exports as NativeBinding
})()
const kernels = Object.keys(binding.variants).map((isa) => [isa, createNativeKernel(binding, { isa })] as const)
const exp = quantumFor(-1000, 1000).exp

function request(rows: number, groups: number, seed: number, nulls: boolean, masked: boolean): AggregateRequest {
  const r = rng(seed)
  const x = f64(
    Array.from({ length: rows }, () => -1500 + r() * 3000),
    nulls ? bitmap(rows, () => r() < 0.2) : null,
  )
  const codes = Uint8Array.from({ length: rows }, () => int(r, groups))
  return {
    rows,
    selection: masked ? selectionOf(r, rows, 0.6) : null,
    grouping: { codes, count: groups },
    measures: [{ kind: 'moments', column: x, lower: -1000, upper: 1000, quantum: { exp }, squares: false }],
  }
}

const attempt = (fn: () => unknown): unknown => {
  try {
    return fn()
  } catch (e) {
    return e
  }
}

for (const [isa, kernel] of kernels) {
  t.test(`${isa}: few groups equal the TypeScript kernel`, async (t) => {
    for (let groups = 1; groups <= 9; groups++) {
      for (const rows of [1, 7, 8, 9, 2047, 2049, 16_385, 40_000]) {
        for (const [nulls, masked] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ] as const) {
          const req = request(rows, groups, rows * 31 + groups, nulls, masked)
          t.same(kernel.aggregate(req), tsKernel.aggregate(req), `${groups} groups, ${rows} rows, ${nulls} ${masked}`)
        }
      }
    }
  })

  t.test(`${isa}: few groups refuse what the TypeScript kernel refuses`, async (t) => {
    for (const groups of [1, 7, 8]) {
      const req = request(5000, groups, groups, false, true)
      const codes = new Uint8Array(req.grouping!.codes)
      codes[4321] = groups
      const bad = { ...req, grouping: { codes, count: groups } }
      t.same(
        attempt(() => kernel.aggregate(bad)),
        attempt(() => tsKernel.aggregate(bad)),
        'the validator refuses it',
      )
      // Vouched, the validator does not scan it: the native pass itself must refuse it.
      vouchForGrouping(bad.grouping)
      t.match(
        attempt(() => kernel.aggregate(bad)),
        {
          code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
          message: new RegExp(`holds code ${groups}, not below grouping.count = ${groups}`),
        },
      )
      const m = req.measures[0]!
      if (m.kind !== 'moments') throw new Error('moments')
      const values = Float64Array.from(m.column.values)
      const sel = new Uint8Array(req.selection!)
      values[77] = Number.NaN
      sel[77] = 1
      const nan = { ...req, selection: sel, measures: [{ ...m, column: f64(values) }] }
      t.same(
        attempt(() => kernel.aggregate(nan)),
        attempt(() => tsKernel.aggregate(nan)),
      )
      t.match(
        attempt(() => kernel.aggregate(nan)),
        { message: /NaN/ },
      )
    }
  })
}
