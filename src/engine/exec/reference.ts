import { badArgument } from './contract.js'
import { quantize, squareUnits } from './quantum.js'
import type { AggregateRequest, AggregateResult, ColumnArray, MeasureResult } from './types.js'

/**
 * The reference kernel: the obvious implementation of the kernel contract,
 * for tests only, one row at a time, every sum a BigInt, no specialization,
 * no folding. The production kernels (the TypeScript one, kernel-ts.ts, and
 * the native one) are checked against it; if they and this disagree, this
 * is right. It deliberately does not validate
 * beyond what it needs, so parity tests exercise the kernels' own guard.
 */
export function aggregateReference(request: AggregateRequest): AggregateResult {
  const { rows, selection, grouping, measures } = request
  const groups = grouping === null ? 1 : grouping.count
  const count = new Float64Array(groups)
  const results = measures.map((m): MeasureResult => {
    switch (m.kind) {
      case 'moments':
        return {
          kind: 'moments',
          nonNull: new Float64Array(groups),
          sum: new Array<bigint>(groups).fill(0n),
          sumSquares: m.squares ? new Array<bigint>(groups).fill(0n) : null,
        }
      case 'nonNull':
        return { kind: 'nonNull', nonNull: new Float64Array(groups) }
      case 'histogram':
        return { kind: 'histogram', counts: new Float64Array(groups * m.bins), bins: m.bins }
      default:
        throw new Error(`unknown measure ${String((m as { kind: unknown }).kind)}`)
    }
  })

  for (let row = 0; row < rows; row++) {
    if (selection !== null && selection[row] === 0) continue
    const g = grouping === null ? 0 : grouping.codes[row]!
    count[g]!++
    measures.forEach((m, i) => {
      if (isNull(m.column, row)) return
      const r = results[i]!
      if (m.kind === 'nonNull' && r.kind === 'nonNull') {
        r.nonNull[g]!++
      } else if (m.kind === 'moments' && r.kind === 'moments') {
        const x = m.column.values[row]!
        if (Number.isNaN(x)) throw badArgument(`measures[${i}].column holds NaN in a selected non-null row`)
        const q = quantize(x, m.lower, m.upper, m.quantum)
        r.nonNull[g]!++
        r.sum[g] = r.sum[g]! + BigInt(q)
        if (r.sumSquares !== null) r.sumSquares[g] = r.sumSquares[g]! + BigInt(squareUnits(q))
      } else if (m.kind === 'histogram' && r.kind === 'histogram') {
        const x = m.column.values[row]!
        if (Number.isNaN(x)) throw badArgument(`measures[${i}].column holds NaN in a selected non-null row`)
        const clamped = Math.min(Math.max(x, m.lower), m.upper)
        const bin = Math.min(m.bins - 1, Math.max(0, Math.floor(((clamped - m.lower) / (m.upper - m.lower)) * m.bins)))
        r.counts[g * m.bins + bin]!++
      }
    })
  }
  return { count, measures: results }
}

function isNull(column: ColumnArray, row: number): boolean {
  return column.nulls !== null && ((column.nulls[row >> 3]! >> (row & 7)) & 1) === 1
}
