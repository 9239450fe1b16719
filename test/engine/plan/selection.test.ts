/**
 * DP partition selection (issue 21): GROUP BY a public category column whose
 * keys are not declared. Planned with an even share of epsilon and the
 * request's delta; each unit counts in at most maxGroupsContributed keys; a
 * key is released when its noisy count of units passes the threshold.
 *
 * The empirical test releases, many times over, a key that one unit alone
 * holds, and checks the release rate against the per-key delta with a
 * binomial bound whose false-failure rate is below one in a million.
 */
import t from 'tap'

import { SCALE } from '../../../src/engine/dp/budget.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import { firstKeysPerUnit } from '../../../src/engine/exec/distinct.js'
import { perKeyDelta } from '../../../src/engine/plan/selection.js'
import { isVeilboxError } from '../../../src/errors/index.js'
import { below, exactOf, keepFirst, plan, releaseOf, seeded, spec } from '../fixtures.js'

const ds = (l0: number, m = 2) =>
  spec({
    id: 'firms',
    title: 'firms',
    classification: 'internal',
    privacyUnit: 'firm_id',
    maxRowsPerUnit: m,
    maxGroupsContributed: l0,
    columns: [
      { name: 'firm_id', type: 'id', protection: 'public' },
      { name: 'industry', type: 'category', protection: 'public', maxKeys: 50, nullable: true },
      { name: 'staff', type: 'integer', protection: 'dp', lower: 0, upper: 1000 },
    ],
  })

interface Data {
  readonly units: string[]
  readonly keys: (string | null)[]
  readonly staff: number[]
}

/** Column arrays as ingest would store them: dictionaries in order of first appearance, 0 under nulls. */
function columns(d: Data, m: number) {
  const dict = (values: readonly (string | null)[]) => {
    const codes = new Map<string, number>()
    const out = new Uint32Array(values.length)
    values.forEach((v, i) => {
      if (v === null) return
      if (!codes.has(v)) codes.set(v, codes.size)
      out[i] = codes.get(v)!
    })
    return { codes: out, dictionary: [...codes.keys()] }
  }
  const u = dict(d.units)
  const k = dict(d.keys)
  const nulls = new Uint8Array(Math.ceil(d.keys.length / 8))
  d.keys.forEach((v, i) => {
    if (v === null) nulls[i >> 3]! |= 1 << (i & 7)
  })
  const cols = new Map<string, ColumnArray>([
    ['firm_id', { kind: 'code', values: u.codes, dictionary: u.dictionary, nulls: null }],
    ['industry', { kind: 'code', values: k.codes, dictionary: k.dictionary, nulls }],
    ['staff', { kind: 'i32', values: Int32Array.from(d.staff), nulls: null }],
  ])
  return { rows: d.units.length, keep: keepFirst(d.units, m), columns: cols }
}

/** `n` units in each of `common` keys, plus one unit alone in the key 'rare'. */
function data(common: number, n: number): Data {
  const out: Data = { units: [], keys: [], staff: [] }
  for (let k = 0; k < common; k++)
    for (let u = 0; u < n; u++) {
      out.units.push(`f${k}_${u}`)
      out.keys.push(`c${k}`)
      out.staff.push(10)
    }
  out.units.push('loner')
  out.keys.push('rare')
  out.staff.push(1000)
  return out
}

const SQL = 'SELECT industry, COUNT(*) AS n, SUM(staff) AS staff FROM firms GROUP BY industry'

t.test('the plan: an even share of epsilon, the delta charged, the threshold stated', async (t) => {
  const p = plan(ds(2), SQL, { epsilon: 0.3, delta: 1e-6 })
  t.ok(p.selection !== null)
  t.equal(p.groups, 50, 'one slot per possible key (maxKeys)')
  t.same(p.exec.groupBy[0], {
    column: 'industry',
    dictionary: Array.from({ length: 50 }, () => ''),
    nullable: false,
    selected: { maxGroupsContributed: 2 },
  })
  t.same(p.exec.where, { kind: 'isNull', column: 'industry', negated: true }, 'nulls are no key')
  t.equal(p.epsilon, 300_000n, 'the whole epsilon is charged')
  t.equal(p.selectionDelta, parseDelta(1e-6))
  const sel = p.selectionPrivacy!
  t.equal(sel.epsilon, 0.1, 'the selection takes one share of three')
  t.equal(sel.maxGroupsContributed, 2)
  t.equal(sel.noise, 20, 'Laplace scale L0 / epsilon = 2 / 0.1')
  // One unit alone: released when 1 + Z >= threshold, P(Z >= threshold - 1) <= delta_k.
  const dk = perKeyDelta(1e-6, 2)
  const b = 20
  const q = Math.exp(-1 / b)
  const tail = Math.exp(-(sel.threshold - 1) / b) / (1 + q)
  t.ok(tail <= dk, `P(release of a lone key) ${tail} <= ${dk}`)
  t.ok(tail > dk * Math.exp(-2 / b), 'and the threshold is no higher than it needs to be')
  const micro = (x: number) => Math.round(x * 1e6)
  t.equal(
    p.perAggregate.reduce((s, a) => s + micro(a.epsilon ?? 0), 0) + micro(sel.epsilon),
    300_000,
    'the parts add up',
  )
})

t.test('refusals: gaussian, no delta, another GROUP BY key, an undeclared column without maxKeys', async (t) => {
  const refuses = (f: () => unknown, code: string, detail: RegExp) => {
    try {
      f()
      t.fail('accepted')
    } catch (e) {
      if (!isVeilboxError(e)) throw e
      t.equal(e.code, code)
      t.match(e.detail, detail)
    }
  }
  refuses(
    () => plan(ds(1), SQL, { mechanism: 'gaussian', epsilon: 1, delta: 1e-6 }),
    'VEILBOX_ERR_DP_INVALID_PARAMETER',
    /laplace/,
  )
  refuses(() => plan(ds(1), SQL, { epsilon: 1, delta: 0 }), 'VEILBOX_ERR_DP_INVALID_PARAMETER', /needs a delta/)
  const two = spec({
    ...ds(1),
    columns: [...ds(1).columns, { name: 'big', type: 'boolean', protection: 'public' }],
  })
  refuses(
    () => plan(two, 'SELECT industry, big, COUNT(*) FROM firms GROUP BY industry, big', { delta: 1e-6 }),
    'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
    /only GROUP BY key/,
  )
  const plainCol = spec({
    ...ds(1),
    columns: [
      { name: 'firm_id', type: 'id', protection: 'public' },
      { name: 'industry', type: 'category', protection: 'public' },
    ],
  })
  refuses(
    () => plan(plainCol, 'SELECT industry, COUNT(*) FROM firms GROUP BY industry', { delta: 1e-6 }),
    'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
    /maxKeys/,
  )
})

t.test('common keys are released in key order, a lone key almost never, nulls never', async (t) => {
  const d = data(5, 200)
  d.units.push('nully')
  d.keys.push(null)
  d.staff.push(5)
  const p0 = plan(ds(1), SQL, { epsilon: 3, delta: 1e-6 })
  const exact = exactOf(p0, columns(d, 2))
  t.same(exact.keys, ['c0', 'c1', 'c2', 'c3', 'c4', 'rare'])
  let rare = 0
  for (let i = 0; i < 200; i++) {
    const p = plan(ds(1), SQL, { epsilon: 3, delta: 1e-6 })
    const a = await releaseOf(p, exact)
    const keys = a.rows.map((r) => r[0])
    if (keys.includes('rare')) rare++
    const common = keys.filter((k) => k !== 'rare')
    if (JSON.stringify(common) !== JSON.stringify(['c0', 'c1', 'c2', 'c3', 'c4'])) {
      t.fail(`run ${i}: ${JSON.stringify(keys)}`)
      return
    }
    if (keys.includes(null) || keys.includes('')) t.fail('a null or an empty slot was released')
  }
  t.equal(rare, 0, 'the lone key was never released (delta 1e-6)')
})

t.test('empirical privacy: a key one unit holds is released with probability at most delta_k', async (t) => {
  // A large delta makes the rate measurable: delta 0.2 with L0 = 2 gives delta_k = 1 - 0.8^(1/2) = 0.1056.
  const delta = 0.2
  const l0 = 2
  const dk = perKeyDelta(delta, l0)
  const runs = 20_000
  const d = data(2, 3)
  // The lone unit also has rows in two more keys: only its first two (in row order) count.
  d.units.push('loner', 'loner')
  d.keys.push('rare2', 'rare3')
  d.staff.push(1, 1)
  const exact = exactOf(plan(ds(l0, 3), SQL, { epsilon: 1, delta }), columns(d, 3))
  const keys = exact.keys!
  const units = exact.measures.find((m) => m.kind === 'nonNull' && m.nonNull.length === 50)
  t.ok(units, 'the distinct units per key are computed')
  const at = (k: string) => keys.indexOf(k)
  if (units?.kind === 'nonNull') {
    t.equal(units.nonNull[at('rare')], 1)
    t.equal(units.nonNull[at('rare2')], 1, "the loner's second key counts")
    t.equal(units.nonNull[at('rare3')], 0, 'its third key does not (maxGroupsContributed 2)')
  }
  let released = 0
  let third = 0
  for (let i = 0; i < runs; i++) {
    const p = plan(ds(l0, 3), SQL, { epsilon: 1, delta })
    const a = await releaseOf(p, exact)
    const names = a.rows.map((r) => r[0])
    if (names.includes('rare')) released++
    if (names.includes('rare3')) third++
  }
  // Binomial(runs, dk): mean + 5.3 sd exceeds the count with probability below 1e-7.
  const bound = runs * dk + 5.3 * Math.sqrt(runs * dk * (1 - dk))
  t.ok(released <= bound, `lone key released ${released} times in ${runs}, at most ${bound.toFixed(0)} (delta_k ${dk})`)
  t.ok(released > 0, 'and released sometimes: the test can see a release')
  t.ok(third <= bound, `a key whose only unit's rows were bounded away: ${third} releases`)
})

t.test('firstKeysPerUnit keeps each unit to its first L0 keys in row order, before any WHERE', async (t) => {
  const units = { values: Uint8Array.from([0, 0, 0, 1, 0, 1]), dictionary: ['a', 'b'] }
  const keys = { values: Uint8Array.from([0, 1, 2, 2, 1, 0]), nulls: null }
  const keep = new Uint8Array([1, 1, 1, 1, 1, 1])
  t.same([...firstKeysPerUnit(keep, units, keys, 6, 2)], [1, 1, 0, 1, 1, 1])
  t.same([...firstKeysPerUnit(keep, units, keys, 6, 1)], [1, 0, 0, 1, 0, 0])
  const cut = new Uint8Array([0, 1, 1, 1, 1, 1])
  t.same(
    [...firstKeysPerUnit(cut, units, keys, 6, 1)],
    [0, 1, 0, 1, 1, 0],
    'rows the contribution bound cut do not count',
  )
})

function parseDelta(x: number): bigint {
  return BigInt(Math.round(x * Number(SCALE.delta)))
}

t.test(
  'neighbouring datasets: the units-per-key vector moves by at most L0 in L1, and by at most 1 per key',
  async (t) => {
    const r = seeded(0x5e1ec7)
    const pool = ['A', 'B', 'C', 'D', 'E', 'F']
    let pairs = 0
    let attained = 0
    for (const l0 of [1, 2, 3]) {
      for (const m of [1, 2, 4]) {
        for (let trial = 0; trial < 60; trial++) {
          const d: Data = { units: [], keys: [], staff: [] }
          const units = 1 + below(r, 12)
          const rows = below(r, 40)
          for (let i = 0; i < rows; i++) {
            d.units.push(`u${below(r, units)}`)
            d.keys.push(r() < 0.1 ? null : pool[below(r, pool.length)]!)
            d.staff.push(below(r, 1000))
          }
          // The neighbour: one more unit with up to 2m rows over random keys, interleaved at random places.
          const n: Data = { units: [...d.units], keys: [...d.keys], staff: [...d.staff] }
          for (let k = 0; k < 1 + below(r, 2 * m); k++) {
            const at = below(r, n.units.length + 1)
            n.units.splice(at, 0, 'newcomer')
            n.keys.splice(at, 0, pool[below(r, pool.length)]!)
            n.staff.splice(at, 0, 1000)
          }
          const byKey = (x: Data): Map<string, number> => {
            const p = plan(ds(l0, m), SQL, { epsilon: 1, delta: 1e-6 })
            const e = exactOf(p, columns(x, m))
            const counts = e.measures[p.selection!.measure]!
            const out = new Map<string, number>()
            if (counts.kind !== 'nonNull') throw new Error('units per key')
            e.keys!.forEach((k, g) => {
              out.set(k, counts.nonNull[g]!)
            })
            return out
          }
          const a = byKey(d)
          const b = byKey(n)
          let l1 = 0
          let worst = 0
          for (const k of new Set([...a.keys(), ...b.keys()])) {
            const diff = Math.abs((a.get(k) ?? 0) - (b.get(k) ?? 0))
            l1 += diff
            worst = Math.max(worst, diff)
          }
          pairs++
          if (l1 === Math.min(l0, m)) attained++
          if (l1 > l0 || worst > 1) {
            t.fail(`L0 ${l0}, m ${m}, trial ${trial}: L1 ${l1}, Linf ${worst}`)
            return
          }
        }
      }
    }
    t.pass(`${pairs} neighbouring pairs within L1 <= L0 and Linf <= 1`)
    t.ok(attained > 0, `the bound is attained (${attained} pairs at min(L0, m))`)
  },
)
