import type { VeilboxError } from '../../errors/index.js'
import type { ColumnSpec, DatasetSpec } from '../../schema.js'
import type { SourceParam } from '../../sources/types.js'
import { badArgument, describe } from '../exec/contract.js'
import { compareText } from '../exec/predicate.js'
import { pow2 } from '../exec/quantum.js'
import type { TaskMeasure, TaskPredicate } from '../exec/task.js'
import type { Dialect, ListType } from './dialect.js'

/**
 * The pieces of a pushed-down statement (compile.ts puts them together):
 * quoted identifiers, bound parameters, the WHERE in three-valued logic,
 * the declaration checks, and the clamp, quantization and histogram bins,
 * each the SQL form of the kernels' definition (exec/types.ts, exec/quantum.ts).
 */

/** The most a quantum's exponent may be for the underflow guards below to be exact. */
const EXP_RANGE = { min: -70, max: 60 } as const
/** |c| below this quantizes to 0 at any admitted exponent: |c| * 2^70 < 2^-925. */
const TINY = 1e-300
/** A clamped distance above lower this small lands in bin 0 at any admitted range and bin count. */
const TINY_BIN = 1e-290

export function bad(detail: string): VeilboxError {
  return badArgument(`pushdown: ${detail}`)
}

export function quote(identifier: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(identifier)) throw bad(`not a declared identifier: ${describe(identifier)}`)
  return `"${identifier}"`
}

/** schema.table as two quoted identifiers. */
export function quoteRelation(name: string): string {
  return name.split('.').map(quote).join('.')
}

function isNumeric(c: ColumnSpec): boolean {
  return c.type === 'integer' || c.type === 'number'
}

function codeDictionary(c: ColumnSpec): readonly string[] {
  if (c.type === 'boolean') return ['false', 'true']
  if (c.type === 'category' && c.categories !== undefined) return c.categories
  throw bad(`column ${c.name} (${c.type}) has no declared values to compare with`)
}

export function listType(c: ColumnSpec): ListType {
  return c.type === 'boolean' ? 'boolean' : 'text'
}

/** Declared entries as the source holds them: booleans as booleans. */
export function entryValues(c: ColumnSpec, entries: readonly string[]): (string | boolean)[] {
  return c.type === 'boolean' ? entries.map((e) => e === 'true') : [...entries]
}

export class Builder {
  readonly params: SourceParam[] = []
  constructor(
    readonly d: Dialect,
    readonly spec: DatasetSpec,
  ) {}

  param(v: SourceParam): string {
    this.params.push(v)
    return `$${this.params.length}`
  }

  double(v: number): string {
    if (!Number.isFinite(v)) throw bad(`a non-finite constant ${v}`)
    return this.d.doubleParam(this.param(v))
  }

  column(name: string): ColumnSpec {
    const c = this.spec.columns.find((x) => x.name === name)
    if (c === undefined) throw bad(`the task names column ${describe(name)}, which the dataset does not declare`)
    return c
  }

  /** expr IN values, NULL for a null expr; an empty list is FALSE (NULL for a null expr) too. */
  inList(expr: string, values: readonly (number | string | boolean)[], type: ListType): string {
    if (values.length === 0) return `(CASE WHEN ${expr} IS NULL THEN NULL ELSE FALSE END)`
    return this.d.inList(expr, this.param({ list: values, type }), type)
  }

  /** The condition as SQL, in three-valued logic. */
  where(p: TaskPredicate): string {
    switch (p.kind) {
      case 'and':
      case 'or':
        if (p.operands.length === 0) return p.kind === 'and' ? 'TRUE' : 'FALSE'
        return `(${p.operands.map((o) => this.where(o)).join(p.kind === 'and' ? ' AND ' : ' OR ')})`
      case 'not':
        return `(NOT ${this.where(p.operand)})`
      case 'isNull':
        return `(${quote(p.column)} IS ${p.negated ? 'NOT ' : ''}NULL)`
      default:
        break
    }
    const c = this.column(p.column)
    const x = quote(c.name)
    if (c.type === 'id') throw bad(`conditions on id column ${c.name}`)
    if (isNumeric(c)) {
      const v = this.d.double(x)
      switch (p.kind) {
        case 'cmp':
          if (typeof p.value !== 'number') throw bad(`a ${describe(p.value)} compared with number column ${c.name}`)
          return `(${v} ${p.op} ${this.double(p.value)})`
        case 'in': {
          const values = p.values.map((n) => {
            if (typeof n !== 'number') throw bad(`a ${describe(n)} in the list of number column ${c.name}`)
            return n
          })
          const test = this.inList(v, [...new Set(values)], 'float8')
          return p.negated ? `(NOT ${test})` : test
        }
        case 'between': {
          const test = `(${this.double(p.low)} <= ${v} AND ${v} <= ${this.double(p.high)})`
          return p.negated ? `(NOT ${test})` : test
        }
      }
    }
    if (c.type === 'category' && c.categories === undefined) return this.undeclaredCondition(p, c)
    // Category and boolean columns: the declared entries that pass, by JavaScript's comparison.
    const dictionary = codeDictionary(c)
    const text = (v: unknown): string => {
      if (typeof v === 'boolean') return v ? 'true' : 'false'
      if (typeof v === 'string') return v
      throw bad(`a ${describe(v)} compared with ${c.type} column ${c.name}`)
    }
    let pass: (entry: string) => boolean
    let negated = false
    switch (p.kind) {
      case 'cmp': {
        const lit = text(p.value)
        pass = (e) => compareText(e, p.op, lit)
        break
      }
      case 'in': {
        const set = new Set(p.values.map(text))
        pass = (e) => set.has(e)
        negated = p.negated
        break
      }
      case 'between': {
        const low = text(p.low)
        const high = text(p.high)
        pass = (e) => low <= e && e <= high
        negated = p.negated
        break
      }
    }
    const test = this.inList(x, entryValues(c, dictionary.filter(pass)), listType(c))
    return negated ? `(NOT ${test})` : test
  }

  /**
   * A category without declared categories (keys found by partition
   * selection): only = and <> and IN reach here (the binder allows no
   * ordering of categories), and text equality is exact in every collation.
   */
  private undeclaredCondition(p: TaskPredicate, c: ColumnSpec): string {
    const x = quote(c.name)
    const text = (v: unknown): string => {
      if (typeof v !== 'string') throw bad(`a ${describe(v)} compared with category column ${c.name}`)
      return v
    }
    if (p.kind === 'cmp' && (p.op === '=' || p.op === '<>')) return `(${x} ${p.op} ${this.param(text(p.value))})`
    if (p.kind === 'in') {
      const test = this.inList(x, [...new Set(p.values.map(text))], 'text')
      return p.negated ? `(NOT ${test})` : test
    }
    throw bad(`an ordering condition on category column ${c.name}, which has no declared order`)
  }

  /**
   * TRUE for a row whose value breaks the column's declaration; FALSE or
   * NULL otherwise (FILTER counts only TRUE). A bounded number's test is
   * NOT (lower <= x AND x <= upper): NaN sorts above every number in both
   * engines, so it fails the upper bound, as the infinities fail one.
   */
  violation(c: ColumnSpec): string | null {
    const x = quote(c.name)
    const parts: string[] = []
    if (c.nullable !== true) parts.push(`${x} IS NULL`)
    if (isNumeric(c)) {
      const v = this.d.double(x)
      const broken =
        c.lower !== undefined && c.upper !== undefined
          ? [`NOT (${v} >= ${this.double(c.lower)} AND ${v} <= ${this.double(c.upper)})`]
          : [
              this.d.notFinite(v),
              ...(c.lower === undefined ? [] : [`${v} < ${this.double(c.lower)}`]),
              ...(c.upper === undefined ? [] : [`${v} > ${this.double(c.upper)}`]),
            ]
      if (c.type === 'integer') broken.push(`${v} <> floor(${v})`)
      parts.push(...broken)
    } else if (c.type === 'category' && c.categories !== undefined) {
      parts.push(`NOT ${this.inList(x, c.categories, 'text')}`)
    }
    return parts.length === 0 ? null : parts.join(' OR ')
  }

  /**
   * The clamped value as a double (NULL for null), as min(max(x, lower),
   * upper) is for every value but NaN (a NaN breaks the declaration, and the
   * query is refused). A CASE rather than LEAST/GREATEST, which postgres_fdw
   * does not send to a shard.
   */
  clamped(column: string, lower: number, upper: number): string {
    const x = this.d.double(quote(column))
    const lo = this.double(lower)
    const hi = this.double(upper)
    return `(CASE WHEN ${x} < ${lo} THEN ${lo} WHEN ${x} > ${hi} THEN ${hi} ELSE ${x} END)`
  }

  /** q, as a double holding an integer; NULL for null. */
  quantized(m: Extract<TaskMeasure, { kind: 'moments' }>): string {
    if (!Number.isInteger(m.exp) || m.exp < EXP_RANGE.min || m.exp > EXP_RANGE.max)
      throw bad(`quantum exponent ${m.exp} outside [${EXP_RANGE.min}, ${EXP_RANGE.max}]`)
    const c = this.clamped(m.column, m.lower, m.upper)
    const q = `floor(${c} * ${this.double(pow2(-m.exp))} + ${this.double(0.5)})`
    // Scaling by 2^-exp >= 1 cannot underflow; below 1 it can, for the tiny values that quantize to 0.
    if (m.exp <= 0) return q
    const tiny = this.double(TINY)
    return `CASE WHEN ${c} > -${tiny} AND ${c} < ${tiny} THEN ${this.double(0)} ELSE ${q} END`
  }

  /** A bucket key's code, as a double holding an integer: the bin of the clamped value; 0 for null. */
  bucketCode(column: string, bucket: { readonly lower: number; readonly upper: number }, count: number): string {
    const bin = this.bin({ kind: 'histogram', column, lower: bucket.lower, upper: bucket.upper, bins: count })
    return `COALESCE(${bin}, ${this.double(0)})`
  }

  /** The histogram bin, as a double holding an integer; NULL for null. */
  bin(m: Extract<TaskMeasure, { kind: 'histogram' }>): string {
    const range = m.upper - m.lower
    if (!(range > 0) || !Number.isFinite(range)) throw bad(`histogram range ${range}`)
    const c = this.clamped(m.column, m.lower, m.upper)
    const offset = `(${c} - ${this.double(m.lower)})`
    const raw = `floor((${offset} / ${this.double(range)}) * ${this.double(m.bins)})`
    const last = this.double(m.bins - 1)
    const zero = this.double(0)
    return `CASE WHEN ${quote(m.column)} IS NULL THEN NULL WHEN ${offset} < ${this.double(TINY_BIN)} THEN ${zero} WHEN ${raw} > ${last} THEN ${last} WHEN ${raw} < ${zero} THEN ${zero} ELSE ${raw} END`
  }
}
