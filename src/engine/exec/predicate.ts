// Long on purpose: the WHERE compiler, its three-valued logic and its folding rules read as one piece.
import { badArgument as bad, describe } from './contract.js'
import { tsLoops, type CompareOp, type Loops, type NumericValues, type Store } from './loops.js'
import { entries } from './dictionary.js'
import type { CodeArray, ColumnArray, Dictionary, NullBitmap, Selection } from './types.js'
import { validateColumn } from './validate.js'

/**
 * WHERE clauses, compiled once per query into a selection: one tight loop per
 * leaf over its column, then AND / OR over whole masks, 4 rows per 32-bit word.
 * Nothing walks the predicate per row and nothing is allocated per row.
 *
 * Three-valued logic. SQL gives every row TRUE, FALSE or UNKNOWN (a comparison
 * with a null value), and WHERE keeps only TRUE rows. Each subexpression is
 * compiled into two masks: `t` (rows where it is TRUE) and `f` (rows where it
 * is FALSE); a row in neither is UNKNOWN. Then
 *   NOT p:      t = f(p),          f = t(p)            (a swap: no work at all)
 *   p AND q:    t = t(p) & t(q),   f = f(p) | f(q)
 *   p OR q:     t = t(p) | t(q),   f = f(p) & f(q)
 *   comparison: t = known & cmp,   f = known & !cmp    (known = not null)
 *   IS NULL:    t = null,          f = !null           (never UNKNOWN)
 * which is Kleene's logic, SQL's. So `NOT (x > 5)` keeps no null x, and
 * `x > 5 OR x IS NULL` keeps them all. Only the masks an ancestor needs are
 * built: the root needs `t`; a NOT asks its operand for the other one.
 *
 * The operands of an AND or OR after the first are folded straight into the
 * first one's mask when they are comparison leaves: `x > 5` under an AND is
 * `acc &= (x > 5)` then the null rows cleared, with no mask of its own. Under
 * an OR that is only right for a column without nulls (a null row is UNKNOWN,
 * in neither mask, and an OR cannot take it back out), and a numeric leaf's
 * `f` mask (a NOT of the comparison) is not folded; those leaves take the
 * ordinary way: a mask of their own, then AND / OR over whole masks.
 *
 * Category columns (kind 'code') compare on dictionary codes: the literal is
 * looked up once and each leaf becomes a lookup table over codes, so `=`, IN,
 * ordering and BETWEEN all cost one table read per row. A literal that is not
 * in the dictionary matches no row for = and IN, and every non-null row for <>
 * and NOT IN. Ordering compares the dictionary strings by UTF-16 code units
 * (JavaScript's `<`). A boolean literal stands for its dictionary entry
 * 'true' / 'false'. A code with no dictionary entry is treated like a null
 * (neither TRUE nor FALSE), which the column cache never produces.
 *
 * The per-row loops (compare, lookup, null clearing, AND / OR / NOT) are a
 * `Loops` (loops.ts): the TypeScript ones by default, the native ones when
 * the caller passes the loader's `KernelChoice.loops`. They give the same
 * bytes; everything else here is the same either way.
 */

export type { CompareOp } from './loops.js'

/** Numbers for f64 and i32 columns; strings (or booleans) for code columns. */
export type Literal = number | string | boolean

/** A WHERE clause over loaded columns: stage 4 of the four a predicate goes through (TaskPredicate, task.ts). */
export type ColumnPredicate =
  | { readonly kind: 'cmp'; readonly column: ColumnArray; readonly op: CompareOp; readonly value: Literal }
  | {
      readonly kind: 'in'
      readonly column: ColumnArray
      readonly values: readonly Literal[]
      readonly negated: boolean
    }
  /** low <= x AND x <= high; NOT BETWEEN when negated. low > high matches nothing. */
  | {
      readonly kind: 'between'
      readonly column: ColumnArray
      readonly low: Literal
      readonly high: Literal
      readonly negated: boolean
    }
  | { readonly kind: 'isNull'; readonly column: ColumnArray; readonly negated: boolean }
  /** AND of no operands is TRUE, OR of none is FALSE. */
  | { readonly kind: 'and' | 'or'; readonly operands: readonly ColumnPredicate[] }
  | { readonly kind: 'not'; readonly operand: ColumnPredicate }

/** Deeper trees are refused; the parser's own nesting limit is far below this. */
export const MAX_PREDICATE_DEPTH = 256

const OPS: readonly CompareOp[] = ['=', '<>', '<', '<=', '>', '>=']

/** The rows for which `predicate` is TRUE, as a fresh selection of `rows` bytes (0/1). */
export function compilePredicate(predicate: ColumnPredicate, rows: number, loops: Loops = tsLoops): Selection {
  return new PredicateProgram(predicate, rows, loops).run(0, rows)
}

/**
 * A predicate over whole columns of `rows` rows, evaluated one row range at a
 * time (exec/chunked.ts): each range's selection is built while its columns
 * are still in cache, into masks of a `MaskArena` reused from range to range.
 * What depends on the predicate alone (dictionary lookup tables, sorted IN
 * lists) is made once for all ranges. The bytes are those compilePredicate
 * gives for the same rows.
 */
export class PredicateProgram {
  /** Per leaf: its lookup tables or sorted IN list, made on the first range. */
  readonly memo = new Map<object, unknown>()

  constructor(
    readonly predicate: ColumnPredicate,
    readonly rows: number,
    readonly loops: Loops = tsLoops,
  ) {
    if (!Number.isInteger(rows) || rows < 0) throw bad(`rows must be a non-negative integer, got ${String(rows)}`)
  }

  /** Rows [start, end) (start a multiple of 8); the masks come from `arena` when given, else fresh. */
  run(start: number, end: number, arena?: MaskArena): Selection {
    const c = new Compiler(this, start, end, arena)
    return c.evaluate(this.predicate, NEED_T, 'predicate', 0).t!.subarray(0, end - start)
  }
}

/**
 * Masks reused from one row range to the next: `take` hands out a buffer of
 * the arena's capacity (zeroed only when asked), `reset` takes them all back.
 * Whoever holds a mask from before a reset must not read it again.
 */
export class MaskArena {
  private readonly free: Uint8Array[] = []
  private readonly used: Uint8Array[] = []

  constructor(private readonly capacity: number) {}

  take(bytes: number, zeroed: boolean): Uint8Array {
    if (bytes > this.capacity) throw bad(`a mask of ${bytes} bytes does not fit the arena's ${this.capacity}`)
    const m = this.free.pop() ?? new Uint8Array(this.capacity)
    this.used.push(m)
    const view = m.subarray(0, bytes)
    if (zeroed) view.fill(0)
    return view
  }

  reset(): void {
    while (this.used.length > 0) this.free.push(this.used.pop()!)
  }
}

/**
 * Folds the contribution-bounding keep mask into a selection, in place, and
 * returns it. Both are 0/1 masks; a stray byte other than 1 in either drops
 * the row rather than keeping it, the safe way round for a contribution bound.
 */
export function andMask(selection: Selection, keep: Selection, loops: Loops = tsLoops): Selection {
  if (!(selection instanceof Uint8Array) || !(keep instanceof Uint8Array)) {
    throw bad('andMask needs two Uint8Array masks')
  }
  if (selection.length !== keep.length) {
    throw bad(`andMask needs masks of one length, got ${selection.length} and ${keep.length}`)
  }
  loops.and(selection, keep)
  return selection
}

interface Need {
  readonly t: boolean
  readonly f: boolean
}

const NEED_T: Need = { t: true, f: false }

/** Masks of `padded` bytes (a multiple of 8), so 32-bit views cover them whole. */
interface Truth {
  readonly t: Uint8Array | null
  readonly f: Uint8Array | null
}

/** Where an operand may put its one wanted mask: folded into its AND / OR's accumulator. */
interface Into {
  readonly mask: Uint8Array
  readonly store: 'and' | 'or'
}

/** What evaluate returns for an operand it folded into the accumulator it was given. */
const FOLDED: Truth = Object.freeze({ t: null, f: null })

type Values = NumericValues

class Compiler {
  private readonly padded: number
  /** Rows in this range. */
  private readonly rows: number
  private readonly loops: Loops

  constructor(
    private readonly program: PredicateProgram,
    private readonly start: number,
    end: number,
    private readonly arena: MaskArena | undefined,
  ) {
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(end) ||
      start < 0 ||
      end > program.rows ||
      start > end ||
      start % 8 !== 0
    )
      throw bad(`a predicate range must be [start, end) within ${program.rows} rows, start a multiple of 8`)
    this.rows = end - start
    this.loops = program.loops
    this.padded = Math.ceil(this.rows / 8) * 8
  }

  /** The range's part of a column's values and null bitmap. */
  private values<T extends ColumnArray['values']>(values: T): T {
    return (
      this.start === 0 && values.length === this.rows ? values : values.subarray(this.start, this.start + this.rows)
    ) as T
  }

  private nulls(nulls: NullBitmap | null): NullBitmap | null {
    if (nulls === null || this.start === 0) return nulls
    return nulls.subarray(this.start >> 3)
  }

  /** What a leaf makes once for every range (tables, lists). */
  private memo<T>(key: object, make: () => T): T {
    const m = this.program.memo
    if (m.has(key)) return m.get(key) as T
    const v = make()
    m.set(key, v)
    return v
  }

  /** The masks of `p` that `need` asks for; FOLDED when it folded its one wanted mask into `into` instead. */
  evaluate(p: ColumnPredicate, need: Need, at: string, depth: number, into?: Into): Truth {
    if (depth > MAX_PREDICATE_DEPTH) throw bad(`${at} nests deeper than ${MAX_PREDICATE_DEPTH} levels`)
    if (p === null || typeof p !== 'object') throw bad(`${at} must be a predicate object, got ${describe(p)}`)
    switch (p.kind) {
      case 'not': {
        const r = this.evaluate(p.operand, { t: need.f, f: need.t }, `${at}.operand`, depth + 1, into)
        return r === FOLDED ? FOLDED : { t: r.f, f: r.t }
      }
      case 'and':
      case 'or':
        return this.combine(p.kind, p.operands, need, at, depth)
      case 'isNull': {
        this.column(p.column, at)
        const r = this.isNull(this.nulls(p.column.nulls), {
          t: p.negated ? need.f : need.t,
          f: p.negated ? need.t : need.f,
        })
        return p.negated ? { t: r.f, f: r.t } : r
      }
      case 'cmp':
        if (!OPS.includes(p.op)) throw bad(`${at}.op must be one of ${OPS.join(' ')}, got ${describe(p.op)}`)
        return this.leaf(
          p,
          p.column,
          at,
          need,
          false,
          (v, out, store) => this.loops.compare(v, p.op, this.number(p.value, `${at}.value`, p.column), out, store),
          () => {
            const lit = this.text(p.value, `${at}.value`, p.column)
            return (s: string) => compareText(s, p.op, lit)
          },
          into,
        )
      case 'in': {
        if (!Array.isArray(p.values)) throw bad(`${at}.values must be an array, got ${describe(p.values)}`)
        this.negatedFlag(p.negated, at)
        const values = p.values
        return this.leaf(
          p,
          p.column,
          at,
          need,
          p.negated,
          // The list deduplicated (SameValueZero: one zero) and sorted, so strictly increasing.
          (v, out, store) =>
            this.loops.in(
              v,
              this.memo(values, () =>
                Float64Array.from(new Set(values.map((x, i) => this.number(x, `${at}.values[${i}]`, p.column)))).sort(),
              ),
              out,
              store,
            ),
          () => {
            const set = new Set(values.map((x, i) => this.text(x, `${at}.values[${i}]`, p.column)))
            return (s: string) => set.has(s)
          },
          into,
        )
      }
      case 'between': {
        this.negatedFlag(p.negated, at)
        return this.leaf(
          p,
          p.column,
          at,
          need,
          p.negated,
          (v, out, store) =>
            this.loops.between(
              v,
              this.number(p.low, `${at}.low`, p.column),
              this.number(p.high, `${at}.high`, p.column),
              out,
              store,
            ),
          () => {
            const low = this.text(p.low, `${at}.low`, p.column)
            const high = this.text(p.high, `${at}.high`, p.column)
            return (s: string) => low <= s && s <= high
          },
          into,
        )
      }
      default:
        throw bad(
          `${at}.kind must be one of cmp in between isNull and or not, got ${describe((p as { kind: unknown }).kind)}`,
        )
    }
  }

  private combine(
    kind: 'and' | 'or',
    operands: readonly ColumnPredicate[],
    need: Need,
    at: string,
    depth: number,
  ): Truth {
    if (!Array.isArray(operands)) throw bad(`${at}.operands must be an array, got ${describe(operands)}`)
    if (operands.length === 0) {
      const empty = kind === 'and' ? { t: 1, f: 0 } : { t: 0, f: 1 }
      return { t: need.t ? this.constant(empty.t) : null, f: need.f ? this.constant(empty.f) : null }
    }
    const acc = this.evaluate(operands[0], need, `${at}.operands[0]`, depth + 1)
    // One wanted mask (always so below the root): later operands may fold into it.
    // t of an AND and f of an OR are ANDs of the operands' masks; the other two are ORs.
    const into: Into | undefined =
      need.t === need.f
        ? undefined
        : { mask: need.t ? acc.t! : acc.f!, store: (kind === 'and') === need.t ? 'and' : 'or' }
    for (let i = 1; i < operands.length; i++) {
      const r = this.evaluate(operands[i], need, `${at}.operands[${i}]`, depth + 1, into)
      if (r === FOLDED) continue
      if (kind === 'and') {
        if (need.t) this.loops.and(acc.t!, r.t!)
        if (need.f) this.loops.or(acc.f!, r.f!)
      } else {
        if (need.t) this.loops.or(acc.t!, r.t!)
        if (need.f) this.loops.and(acc.f!, r.f!)
      }
    }
    return acc
  }

  /**
   * A comparison-like leaf. Numeric columns: `numeric` stores the raw result
   * for every row (nulls included) into a mask, `f` is its complement, and
   * null rows are then cleared from both. Code columns: `text` gives the test
   * for one dictionary entry, evaluated once per entry into tables. With
   * `into`, the one wanted mask is folded into it when that is exact (see the
   * top of the file), and FOLDED returned.
   */
  private leaf(
    key: object,
    column: ColumnArray,
    at: string,
    need: Need,
    negated: boolean,
    numeric: (values: Values, out: Uint8Array, store: Store) => void,
    text: () => (entry: string) => boolean,
    into: Into | undefined,
  ): Truth {
    this.column(column, at)
    const want = negated ? { t: need.f, f: need.t } : need
    const nulls = this.nulls(column.nulls)
    const values = this.values(column.values)
    const tables = () =>
      this.memo(key, () =>
        lookupTables(column.values as CodeArray, entries((column as { dictionary: Dictionary }).dictionary), text()),
      )
    if (
      into !== undefined &&
      want.t !== want.f &&
      (into.store === 'and' || nulls === null) &&
      (column.kind === 'code' || want.t)
    ) {
      if (column.kind === 'code') {
        const { yes, no } = tables()
        this.loops.lookup(values as CodeArray, want.t ? yes : no, into.mask, into.store)
      } else {
        numeric(values as Values, into.mask, into.store)
      }
      // Only under 'and' (an 'or' has no nulls): mask & leaf & not-null.
      if (nulls !== null) this.loops.clearNulls(into.mask, nulls, this.rows)
      return FOLDED
    }
    let t: Uint8Array | null = null
    let f: Uint8Array | null = null
    if (column.kind === 'code') {
      const { yes, no } = tables()
      if (want.t) t = this.lookup(values as CodeArray, yes)
      if (want.f) f = this.lookup(values as CodeArray, no)
    } else {
      const raw = this.alloc(false)
      numeric(values as Values, raw, 'set')
      if (want.f) {
        f = want.t ? this.alloc(false) : raw
        this.loops.not(f, raw)
      }
      if (want.t) t = raw
    }
    if (nulls !== null) {
      if (t !== null) this.loops.clearNulls(t, nulls, this.rows)
      if (f !== null) this.loops.clearNulls(f, nulls, this.rows)
    }
    return negated ? { t: f, f: t } : { t, f }
  }

  private isNull(nulls: NullBitmap | null, need: Need): Truth {
    const t = this.alloc()
    if (nulls !== null) this.loops.markNulls(t, nulls, this.rows)
    let f: Uint8Array | null = null
    if (need.f) {
      f = need.t ? this.alloc(false) : t
      this.loops.not(f, t)
    }
    return { t: need.t ? t : null, f }
  }

  private lookup(codes: CodeArray, table: Uint8Array): Uint8Array {
    const out = this.alloc(false)
    this.loops.lookup(codes, table, out)
    return out
  }

  private constant(bit: number): Uint8Array {
    const m = this.alloc()
    if (bit === 1) m.fill(1)
    return m
  }

  /** A mask of `padded` bytes; `zeroed` false when the caller writes every row itself. */
  private alloc(zeroed = true): Uint8Array {
    return this.arena === undefined ? new Uint8Array(this.padded) : this.arena.take(this.padded, zeroed)
  }

  private column(column: ColumnArray, at: string): void {
    validateColumn(column, `${at}.column`, this.program.rows, false)
  }

  private negatedFlag(negated: unknown, at: string): void {
    if (typeof negated !== 'boolean') throw bad(`${at}.negated must be a boolean, got ${describe(negated)}`)
  }

  private number(value: Literal, at: string, column: ColumnArray): number {
    if (typeof value !== 'number')
      throw bad(`${at} must be a number for an ${column.kind} column, got ${describe(value)}`)
    if (Number.isNaN(value)) throw bad(`${at} must not be NaN`)
    return value
  }

  private text(value: Literal, at: string, column: ColumnArray): string {
    if (typeof value === 'boolean') return value ? 'true' : 'false'
    if (typeof value !== 'string')
      throw bad(`${at} must be a string or boolean for a ${column.kind} column, got ${describe(value)}`)
    return value
  }
}

export function compareText(s: string, op: CompareOp, lit: string): boolean {
  switch (op) {
    case '=':
      return s === lit
    case '<>':
      return s !== lit
    case '<':
      return s < lit
    case '<=':
      return s <= lit
    case '>':
      return s > lit
    case '>=':
      return s >= lit
  }
}

/**
 * Tables over every code the array type can hold (or the dictionary, for
 * 32-bit codes): `yes` is 1 where the entry passes, `no` where it fails; codes
 * past the dictionary are 0 in both, so they are UNKNOWN like a null.
 */
function lookupTables(
  codes: CodeArray,
  dictionary: readonly string[],
  test: (entry: string) => boolean,
): { yes: Uint8Array; no: Uint8Array } {
  const size = codes instanceof Uint8Array ? 256 : codes instanceof Uint16Array ? 65536 : dictionary.length
  const yes = new Uint8Array(Math.max(size, dictionary.length))
  const no = new Uint8Array(yes.length)
  dictionary.forEach((entry, k) => {
    if (test(entry)) yes[k] = 1
    else no[k] = 1
  })
  return { yes, no }
}
