import { badArgument as bad } from './contract.js'
import { calendarCodes } from './calendar.js'
import { checkGroupColumns, encodeGroups, groupLayout, type CodeColumn } from './grouping.js'
import type { Kernel, KernelParts, RowFilter } from './kernel.js'
import { tsLoops, type Loops } from './loops.js'
import { MaskArena, PredicateProgram } from './predicate.js'
import {
  aggregateTask,
  bucketCodes,
  column,
  numeric,
  taskColumns,
  toColumnPredicate,
  toMeasure,
  type ExecTask,
  type KernelMeasure,
  type TaskColumns,
} from './task.js'
import type { AggregateRequest, AggregateResult, ColumnArray, Grouping, MeasureResult } from './types.js'

/**
 * A task's exact aggregates one row range at a time: for each range of
 * CHUNK_ROWS rows, the WHERE's selection, the group codes and the kernel,
 * while the range's columns are still in cache, so that each column is read
 * from memory once however many passes touch it (a WHERE on the measured
 * column used to read it twice). Nothing row-sized is allocated: the masks
 * come from one MaskArena for the whole task, a lone group column is read in
 * place, and the kernel's results are added up exactly (int64 sums, integer
 * counts) by the kernel itself when it can (Kernel.parts, the native one) or
 * here. The results are those of aggregateTask (task.ts), bit for bit, and so
 * are the refusals: everything that checks whole columns (the columns a task
 * names, every group code against its dictionary, with the row it is at) runs
 * once over whole columns before the first range.
 *
 * Tasks that need every row at once keep aggregateTask: COUNT(DISTINCT unit)
 * and partition selection (both look across units), and encrypted measures
 * (which read the whole request's selection and groups).
 */

/** Rows per range: 64 Ki rows of a Float64 column are 512 KiB, within a core's L2 (1 MiB here) with the masks and codes. */
export const CHUNK_ROWS = 65_536

/** Whether chunked.ts computes the task by row ranges; otherwise it runs aggregateTask. */
export function chunkable(task: ExecTask): boolean {
  return (
    task.encrypted === undefined &&
    !task.measures.some((m) => m.kind === 'distinctUnits') &&
    !task.groupBy.some((g) => g.selected !== undefined)
  )
}

export function aggregateChunked(
  kernel: Kernel,
  task: ExecTask,
  src: TaskColumns,
  loops: Loops = tsLoops,
  chunkRows: number = CHUNK_ROWS,
): AggregateResult {
  if (!Number.isInteger(chunkRows) || chunkRows < 8 || chunkRows % 8 !== 0)
    throw bad(`chunkRows must be a positive multiple of 8, got ${String(chunkRows)}`)
  const rows = src.rows
  // Every chunkable task takes the ranges, however few its rows: which loops run must not depend on the
  // exact row count (docs/privacy-model.md), only on the plan.
  if (!chunkable(task)) return aggregateTask(kernel, task, src, loops).result
  // Checked once, over whole columns, in buildAggregateRequest's order: the WHERE's columns, then the groups'.
  const parts: KernelParts = kernel.parts?.() ?? new MergedParts(kernel)
  const whole = task.where === null ? null : toColumnPredicate(src, task.where)
  const fused = parts.filters ? fusedFilter(task, src) : null
  // The rest of the WHERE, with the fused comparison taken out; all of it is checked first, as before.
  if (fused !== null && whole !== null) new PredicateProgram(whole, rows, loops).run(0, 0)
  const rest = fused === null ? task.where : fused.rest
  const program = rest === null ? null : new PredicateProgram(toColumnPredicate(src, rest), rows, loops)
  const layout =
    task.groupBy.length === 0
      ? null
      : groupLayout(task.groupBy.map((g) => ({ dictionary: g.dictionary, nullable: g.nullable })))
  if (layout !== null) {
    const whole = task.groupBy.map((g): CodeColumn | null => {
      if (g.bucket !== undefined || g.calendar !== undefined) {
        numeric(src, g.column)
        return null
      }
      const c = column(src, g.column)
      if (c.kind !== 'code') throw bad(`group column "${g.column}" is not dictionary-encoded`)
      return c
    })
    checkGroupColumns(layout, whole, rows, loops)
  }
  const measures = task.measures.filter((m): m is KernelMeasure => m.kind !== 'distinctUnits')
  const names = taskColumns(task)
  for (const n of names) column(src, n)
  const arena = new MaskArena(Math.ceil(chunkRows / 8) * 8)
  // An empty version is one empty range.
  for (let start = 0; start < rows || start === 0; start += chunkRows) {
    const end = Math.min(rows, start + chunkRows)
    const n = end - start
    const part = slice(src, names, start, end)
    arena.reset()
    const keep = part.keep
    let selection = keep
    if (program !== null) {
      selection = program.run(start, end, arena)
      loops.and(selection, keep)
    }
    let grouping: Grouping | null = null
    if (layout !== null) {
      const cols = task.groupBy.map((g) =>
        g.bucket !== undefined
          ? bucketCodes(numeric(part, g.column), g.bucket, g.dictionary, n)
          : g.calendar !== undefined
            ? calendarCodes(numeric(part, g.column), g.calendar, g.dictionary, n)
            : (column(part, g.column) as CodeColumn),
      )
      grouping = encodeGroups(layout, cols, n, loops, true)
    }
    const request: AggregateRequest = {
      rows: n,
      selection,
      grouping,
      measures: measures.map((m) => toMeasure(part, m)),
    }
    if (fused === null) parts.add(request)
    else parts.add(request, fused.filter)
  }
  return parts.result()
}

type Where = NonNullable<ExecTask['where']>

/**
 * A comparison the kernel can apply in its own pass instead of a mask: a
 * numeric <, <=, >, >=, = or BETWEEN on a number, at the root of the WHERE or
 * ANDed there, on the one column every measure sums (moments only), which has
 * no nulls, so COUNT(*) is that measure's non-null count and sees the same
 * rows. The result is the same as with the mask: the row takes part iff the
 * comparison holds, NaN failing it. Which comparisons fuse depends on the plan
 * and the schema only.
 */
function fusedFilter(task: ExecTask, src: TaskColumns): { filter: RowFilter; rest: Where | null } | null {
  const where = task.where
  if (where === null || task.measures.length === 0) return null
  const name = task.measures[0]!.column
  if (!task.measures.every((m) => m.kind === 'moments' && m.column === name)) return null
  const c = src.columns.get(name)
  if (c === undefined || c.kind === 'code' || c.nulls !== null) return null
  const operands = where.kind === 'and' ? where.operands : [where]
  const at = operands.findIndex((p) => filterOf(p, name) !== null)
  if (at < 0) return null
  const left = operands.filter((_, i) => i !== at)
  const rest: Where | null = left.length === 0 ? null : left.length === 1 ? left[0]! : { kind: 'and', operands: left }
  return { filter: filterOf(operands[at]!, name)!, rest }
}

function filterOf(p: Where, name: string): RowFilter | null {
  const open = { gt: -Infinity, ge: -Infinity, lt: Infinity, le: Infinity }
  if (p.kind === 'between' && p.column === name && !p.negated) return { ...open, ge: p.low, le: p.high }
  if (p.kind !== 'cmp' || p.column !== name || typeof p.value !== 'number' || Number.isNaN(p.value)) return null
  const v = p.value
  switch (p.op) {
    case '>':
      return { ...open, gt: v }
    case '>=':
      return { ...open, ge: v }
    case '<':
      return { ...open, lt: v }
    case '<=':
      return { ...open, le: v }
    case '=':
      return { ...open, ge: v, le: v }
    default:
      return null
  }
}

/** The named columns' rows [start, end) (start a multiple of 8), as views. */
function slice(src: TaskColumns, names: readonly string[], start: number, end: number): TaskColumns {
  const columns = new Map<string, ColumnArray>()
  for (const name of names) {
    const c = src.columns.get(name)!
    const nulls = c.nulls === null ? null : c.nulls.subarray(start >> 3, (end + 7) >> 3)
    columns.set(name, { ...c, values: c.values.subarray(start, end), nulls } as ColumnArray)
  }
  return { rows: end - start, columns, keep: src.keep.subarray(start, end) }
}

/** Parts for a kernel without its own (the TypeScript one): each range's result added to the last, exactly. */
class MergedParts implements KernelParts {
  readonly filters = false
  private acc: AggregateResult | null = null

  constructor(private readonly kernel: Kernel) {}

  add(request: AggregateRequest): void {
    const r = this.kernel.aggregate(request)
    this.acc = this.acc === null ? r : merge(this.acc, r)
  }

  result(): AggregateResult {
    if (this.acc === null) throw bad('no part was added')
    return this.acc
  }
}

function addInto(a: Float64Array, b: Float64Array): Float64Array {
  for (let i = 0; i < a.length; i++) a[i]! += b[i]!
  return a
}

function addSums(a: bigint[], b: readonly bigint[]): bigint[] {
  for (let i = 0; i < a.length; i++) a[i]! += b[i]!
  return a
}

function merge(a: AggregateResult, b: AggregateResult): AggregateResult {
  const measures = a.measures.map((m, i): MeasureResult => {
    const o = b.measures[i]!
    if (m.kind === 'moments' && o.kind === 'moments')
      return {
        kind: 'moments',
        nonNull: addInto(m.nonNull, o.nonNull),
        sum: addSums(m.sum, o.sum),
        sumSquares: m.sumSquares === null || o.sumSquares === null ? null : addSums(m.sumSquares, o.sumSquares),
      }
    if (m.kind === 'histogram' && o.kind === 'histogram')
      return { kind: 'histogram', counts: addInto(m.counts, o.counts), bins: m.bins }
    if (m.kind === 'nonNull' && o.kind === 'nonNull') return { kind: 'nonNull', nonNull: addInto(m.nonNull, o.nonNull) }
    throw bad('every part of a request needs the same measures')
  })
  return { count: addInto(a.count, b.count), measures }
}
