import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { calendarCodes, calendarTaskSchema } from './calendar.js'
import { encodeGroups, groupLayout, type CodeColumn } from './grouping.js'
import { tsLoops, type Loops } from './loops.js'
import { andMask, compilePredicate, type ColumnPredicate } from './predicate.js'
import { entries } from './dictionary.js'
import { distinctUnitCounts, firstKeysPerUnit } from './distinct.js'
import type { Kernel } from './kernel.js'
import type {
  AggregateRequest,
  AggregateResult,
  CodeArray,
  ColumnArray,
  Measure,
  MeasureResult,
  NumericColumn,
} from './types.js'

/**
 * What a sandbox is asked to compute: a plan of exact aggregates over one
 * dataset version, naming columns by name. It carries no key, no budget and no
 * secret; the answer is exact aggregates only. Noise and release stay with the
 * caller. Both sides validate it with `execTaskSchema`.
 */

const literal = z.union([z.number().finite(), z.string(), z.boolean()])
const op = z.enum(['=', '<>', '<', '<=', '>', '>='])
const name = z.string().min(1).max(128)

/**
 * A WHERE clause as a task states it: column names and plain values, nothing
 * else of the schema. A predicate goes through four stages, each a type of
 * its own:
 *   1. ParsedPredicate (query/ast.ts): the syntax tree of the SQL text or the
 *      JSON form, with source positions, column references as written and
 *      literal nodes.
 *   2. BoundPredicate (query/binder.ts): checked against the dataset's
 *      schema: each column resolved to its ColumnSpec, each literal checked
 *      against the column's type and declared categories.
 *   3. TaskPredicate (here): what the plan hands the sandbox
 *      (plan/predicate.ts, toTaskPredicate), validated on both sides by
 *      execTaskSchema.
 *   4. ColumnPredicate (exec/predicate.ts): the same tree over the loaded
 *      version's column arrays (toColumnPredicate, below), which
 *      compilePredicate turns into a selection.
 */
export type TaskPredicate =
  | {
      readonly kind: 'cmp'
      readonly column: string
      readonly op: z.infer<typeof op>
      readonly value: z.infer<typeof literal>
    }
  | {
      readonly kind: 'in'
      readonly column: string
      readonly values: readonly z.infer<typeof literal>[]
      readonly negated: boolean
    }
  | {
      readonly kind: 'between'
      readonly column: string
      readonly low: number
      readonly high: number
      readonly negated: boolean
    }
  | { readonly kind: 'isNull'; readonly column: string; readonly negated: boolean }
  | { readonly kind: 'and' | 'or'; readonly operands: readonly TaskPredicate[] }
  | { readonly kind: 'not'; readonly operand: TaskPredicate }

const predicateSchema: z.ZodType<TaskPredicate> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('cmp'), column: name, op, value: literal }),
    z.strictObject({ kind: z.literal('in'), column: name, values: z.array(literal).max(10_000), negated: z.boolean() }),
    z.strictObject({
      kind: z.literal('between'),
      column: name,
      low: z.number().finite(),
      high: z.number().finite(),
      negated: z.boolean(),
    }),
    z.strictObject({ kind: z.literal('isNull'), column: name, negated: z.boolean() }),
    z.strictObject({ kind: z.literal('and'), operands: z.array(predicateSchema).max(1024) }),
    z.strictObject({ kind: z.literal('or'), operands: z.array(predicateSchema).max(1024) }),
    z.strictObject({ kind: z.literal('not'), operand: predicateSchema }),
  ]),
)

const measureSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('moments'),
    column: name,
    lower: z.number().finite(),
    upper: z.number().finite(),
    exp: z.number().int(),
    squares: z.boolean(),
  }),
  z.strictObject({ kind: z.literal('nonNull'), column: name }),
  /**
   * COUNT(DISTINCT unit): per group, the privacy units with a selected row
   * (exec/distinct.ts), computed beside the kernel and returned as a
   * nonNull result in this measure's place. `column` is the unit.
   */
  z.strictObject({
    kind: z.literal('distinctUnits'),
    column: name,
    maxRowsPerUnit: z.number().int().min(1).max(1000),
  }),
  z.strictObject({
    kind: z.literal('histogram'),
    column: name,
    lower: z.number().finite(),
    upper: z.number().finite(),
    bins: z.number().int().min(1).max(65_536),
  }),
])

/**
 * An encrypted (he) column's masked sums per group, computed on ciphertexts
 * (src/engine/he/aggregate.ts) with the same selection and grouping as the
 * plaintext measures; `squares` adds the sums of squares (VAR, STDDEV).
 */
const encryptedMeasureSchema = z.strictObject({ column: name, squares: z.boolean() })

export const execTaskSchema = z.strictObject({
  dataset: name,
  version: z.number().int().min(1),
  where: predicateSchema.nullable(),
  groupBy: z
    .array(
      z.strictObject({
        column: name,
        dictionary: z.array(z.string()).max(65_536),
        nullable: z.boolean(),
        /**
         * A numeric column's equal-width buckets of [lower, upper], one per dictionary entry, computed as histogram
         * bins are (exec/types.ts); the plan's WHERE keeps only rows within the edges.
         */
        bucket: z
          .strictObject({ lower: z.number().finite(), upper: z.number().finite() })
          .refine((b) => b.lower < b.upper && Number.isFinite(b.upper - b.lower), 'lower < upper, finite range')
          .optional(),
        /**
         * DP partition selection: the dictionary is a layout of empty slots,
         * which the loaded column's keys fill (at most as many as its maxKeys);
         * each unit's rows count in at most maxGroupsContributed keys
         * (exec/distinct.ts firstKeysPerUnit). The result names the keys.
         */
        selected: z.strictObject({ maxGroupsContributed: z.number().int().min(1).max(100) }).optional(),
        calendar: calendarTaskSchema.optional(), // a date or timestamp column's periods (exec/calendar.ts)
      }),
    )
    .max(4),
  measures: z.array(measureSchema).max(256),
  /** Present only when the query aggregates he columns. */
  encrypted: z.array(encryptedMeasureSchema).min(1).max(64).optional(),
  /**
   * A unit join or a public table's lookup (exec/join.ts): the joined dataset's version, both units (or keys),
   * the bound on joined rows per unit, and where each column the task names
   * comes from. `dataset` and `version` above are the left side's.
   */
  join: z
    .strictObject({
      dataset: name,
      version: z.number().int().min(1),
      leftUnit: name,
      rightUnit: name,
      maxRowsPerUnit: z.number().int().min(1).max(1000),
      columns: z.array(z.strictObject({ name, side: z.enum(['left', 'right']), column: name })).max(512),
      /** A join with a public table: the "units" are the two key columns, and each left row meets one right row at most. */
      lookup: z.literal(true).optional(),
    })
    .optional(),
})

export type ExecTask = z.infer<typeof execTaskSchema>
export type TaskMeasure = ExecTask['measures'][number]
export type EncryptedTaskMeasure = NonNullable<ExecTask['encrypted']>[number]

/** The column views a task reads, looked up by name. */
export interface TaskColumns {
  readonly rows: number
  readonly columns: ReadonlyMap<string, ColumnArray>
  /** The contribution bound: 1 for rows that count, 0 for a unit's extra rows. */
  readonly keep: Uint8Array
}

export function column(src: TaskColumns, n: string): ColumnArray {
  const c = src.columns.get(n)
  if (!c)
    throw new VeilboxError(
      'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
      `the task names column "${n}", which the loaded version does not have`,
    )
  return c
}

export function numeric(src: TaskColumns, n: string): NumericColumn {
  const c = column(src, n)
  if (c.kind === 'code') throw new VeilboxError('VEILBOX_ERR_EXEC_BAD_ARGUMENT', `column "${n}" is not numeric`)
  return c
}

export function toColumnPredicate(src: TaskColumns, p: TaskPredicate): ColumnPredicate {
  switch (p.kind) {
    case 'cmp':
      return { kind: 'cmp', column: column(src, p.column), op: p.op, value: p.value }
    case 'in':
      return { kind: 'in', column: column(src, p.column), values: p.values, negated: p.negated }
    case 'between':
      return { kind: 'between', column: column(src, p.column), low: p.low, high: p.high, negated: p.negated }
    case 'isNull':
      return { kind: 'isNull', column: column(src, p.column), negated: p.negated }
    case 'and':
    case 'or':
      return { kind: p.kind, operands: p.operands.map((o) => toColumnPredicate(src, o)) }
    case 'not':
      return { kind: 'not', operand: toColumnPredicate(src, p.operand) }
  }
}

export type KernelMeasure = Exclude<TaskMeasure, { kind: 'distinctUnits' }>

export function toMeasure(src: TaskColumns, m: KernelMeasure): Measure {
  switch (m.kind) {
    case 'moments':
      return {
        kind: 'moments',
        column: numeric(src, m.column),
        lower: m.lower,
        upper: m.upper,
        quantum: { exp: m.exp },
        squares: m.squares,
      }
    case 'nonNull':
      return { kind: 'nonNull', column: column(src, m.column) }
    case 'histogram':
      return { kind: 'histogram', column: numeric(src, m.column), lower: m.lower, upper: m.upper, bins: m.bins }
  }
}

/**
 * Turns a task into the kernel's request over loaded columns: the WHERE clause
 * compiled once into a selection, the contribution bound folded in, the group
 * codes combined. Only the selection and group codes are allocated; columns are
 * read in place. `loops` runs the per-row loops (loops.ts): pass the loader's
 * `KernelChoice.loops`, native with the native kernel; the request is the same.
 */
export function buildAggregateRequest(task: ExecTask, src: TaskColumns, loops: Loops = tsLoops): AggregateRequest {
  const rows = src.rows
  const keep = selectionKeep(task, src)
  // The contribution bound is always applied as a mask, even when it cuts no
  // row: skipping it then (the kernels' unmasked loops are faster) would make
  // the running time tell whether some unit owns more than maxRowsPerUnit
  // rows. Which loops run depends on the plan only (docs/privacy-model.md).
  const selection =
    task.where === null
      ? new Uint8Array(keep)
      : andMask(compilePredicate(toColumnPredicate(src, task.where), rows, loops), keep, loops)
  let grouping = null
  if (task.groupBy.length > 0) {
    const layout = groupLayout(task.groupBy.map((g) => ({ dictionary: g.dictionary, nullable: g.nullable })))
    const cols = task.groupBy.map((g) => {
      if (g.bucket !== undefined) return bucketCodes(numeric(src, g.column), g.bucket, g.dictionary, rows)
      if (g.calendar !== undefined) return calendarCodes(numeric(src, g.column), g.calendar, g.dictionary, rows)
      if (g.selected !== undefined) return selectedCodes(src, g.column, g.dictionary)
      const c = column(src, g.column)
      if (c.kind !== 'code')
        throw new VeilboxError('VEILBOX_ERR_EXEC_BAD_ARGUMENT', `group column "${g.column}" is not dictionary-encoded`)
      return c as CodeColumn
    })
    grouping = encodeGroups(layout, cols, rows, loops)
  }
  const measures = task.measures.filter((m): m is KernelMeasure => m.kind !== 'distinctUnits')
  return { rows, selection, grouping, measures: measures.map((m) => toMeasure(src, m)) }
}

/**
 * The kernel's result with the measures the kernels do not compute
 * (COUNT(DISTINCT unit)) put back in their places, so that result.measures
 * lines up with task.measures.
 */
export function completeResult(
  task: ExecTask,
  request: AggregateRequest,
  result: AggregateResult,
  src: TaskColumns,
): AggregateResult {
  const key = task.groupBy.find((g) => g.selected !== undefined)
  const keys = key === undefined ? {} : { keys: dictionaryOf(src, key.column) }
  if (!task.measures.some((m) => m.kind === 'distinctUnits')) return { ...result, ...keys }
  let k = 0
  const measures = task.measures.map((m): MeasureResult => {
    if (m.kind !== 'distinctUnits') return result.measures[k++]!
    const units = column(src, m.column)
    if (units.kind !== 'code')
      throw new VeilboxError('VEILBOX_ERR_EXEC_BAD_ARGUMENT', `the unit column "${m.column}" is not dictionary-encoded`)
    const counts = distinctUnitCounts(
      request.selection ?? src.keep,
      request.grouping,
      units,
      src.keep,
      src.rows,
      m.maxRowsPerUnit,
    )
    return { kind: 'nonNull', nonNull: counts }
  })
  return { ...result, ...keys, measures }
}

function dictionaryOf(src: TaskColumns, name: string): readonly string[] {
  const c = column(src, name)
  if (c.kind !== 'code')
    throw new VeilboxError('VEILBOX_ERR_EXEC_BAD_ARGUMENT', `column "${name}" is not dictionary-encoded`)
  return [...entries(c.dictionary)]
}

/** A task's exact aggregates: the request built, the kernel run, the result completed. */
export function aggregateTask(
  kernel: Kernel,
  task: ExecTask,
  src: TaskColumns,
  loops: Loops = tsLoops,
): { readonly request: AggregateRequest; readonly result: AggregateResult } {
  const request = buildAggregateRequest(task, src, loops)
  return { request, result: completeResult(task, request, kernel.aggregate(request), src) }
}

/**
 * A numeric column's bucket codes, computed for every row as a histogram bin
 * is: bin = min(n - 1, floor((clamp(x) - lower) / (upper - lower) * n)).
 * Nulls and NaN get a valid code; the selection (the plan's range in WHERE)
 * keeps them out of every bucket. The same work is done for every row,
 * whatever its value.
 */
export function bucketCodes(
  c: NumericColumn,
  b: { readonly lower: number; readonly upper: number },
  dictionary: readonly string[],
  rows: number,
): CodeColumn {
  const n = dictionary.length
  const codes: CodeArray = n <= 256 ? new Uint8Array(rows) : n <= 65536 ? new Uint16Array(rows) : new Uint32Array(rows)
  const { lower, upper } = b
  const range = upper - lower
  const last = n - 1
  const v = c.values
  for (let i = 0; i < rows; i++) {
    const x = Math.min(Math.max(v[i]!, lower), upper)
    const k = Math.floor(((x - lower) / range) * n)
    codes[i] = k < last ? k : last
  }
  return { kind: 'code', values: codes, dictionary, nulls: null }
}

/** The contribution bound, and partition selection's bound on keys per unit when the task selects keys. */
function selectionKeep(task: ExecTask, src: TaskColumns): Uint8Array {
  const key = task.groupBy.find((g) => g.selected !== undefined)
  const distinct = task.measures.find((m) => m.kind === 'distinctUnits')
  if (key === undefined || distinct === undefined) return src.keep
  const units = column(src, distinct.column)
  const keys = column(src, key.column)
  if (units.kind !== 'code' || keys.kind !== 'code')
    throw new VeilboxError(
      'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
      'partition selection needs dictionary-encoded unit and key columns',
    )
  return firstKeysPerUnit(src.keep, units, keys, src.rows, key.selected!.maxGroupsContributed)
}

/** A selected key's codes over the layout's slots: the version's keys, at most as many as the slots. */
function selectedCodes(src: TaskColumns, name: string, slots: readonly string[]): CodeColumn {
  const c = column(src, name)
  if (c.kind !== 'code')
    throw new VeilboxError('VEILBOX_ERR_EXEC_BAD_ARGUMENT', `group column "${name}" is not dictionary-encoded`)
  if (c.dictionary.length > slots.length)
    throw new VeilboxError(
      'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
      `column "${name}" holds ${c.dictionary.length} keys in this version, more than its ${slots.length} declared maxKeys`,
    )
  // Null rows hold code 0 (ingest writes it); the plan's WHERE leaves them unselected.
  return { kind: 'code', values: c.values, dictionary: slots, nulls: null }
}

/** Column names a task reads (WHERE, GROUP BY, measures). */
export function taskColumns(task: ExecTask): string[] {
  const names = new Set<string>()
  const walk = (p: NonNullable<ExecTask['where']>): void => {
    if ('operands' in p) p.operands.forEach(walk)
    else if ('operand' in p) walk(p.operand)
    else names.add(p.column)
  }
  if (task.where) walk(task.where)
  for (const g of task.groupBy) names.add(g.column)
  for (const m of task.measures) names.add(m.column)
  for (const m of task.encrypted ?? []) names.add(m.column)
  return [...names]
}
