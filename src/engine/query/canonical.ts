import { createHash } from 'node:crypto'
import {
  aggregateSql,
  groupKeySql,
  outputName,
  refSql,
  type From,
  type CompareOp,
  type Condition,
  type Literal,
  type LiteralValue,
  type ParsedPredicate,
  type Query,
  type SelectItem,
} from './ast.js'
import { RESERVED } from './keywords.js'

/**
 * One text per query meaning. Two spellings of a query (case, spacing,
 * quoting, comments, `!=` or `<>`, a literal on either side, `1.0` or `1`,
 * MEDIAN(x) or QUANTILE(x, 0.5) AS median_x, `NOT a IN (...)` or
 * `a NOT IN (...)`, repeated or reordered IN values, nested ANDs) give the same
 * text, and the text is itself a query that parses back to the same meaning.
 *
 * Every rewrite here is an exact equivalence under SQL's three-valued logic,
 * because answers are cached by this text: two queries that share it must
 * select the same rows. AND/OR operands keep their written order.
 */
export function canonicalSql(q: Query): string {
  const parts = [`SELECT ${q.select.map(item).join(', ')}`, `FROM ${fromSql(q.from)}`]
  if (q.where !== undefined) parts.push(`WHERE ${predicate(normalize(q.where, false), 'top')}`)
  if (q.groupBy.length > 0) parts.push(`GROUP BY ${q.groupBy.map((g) => groupKeySql(g, quoteName)).join(', ')}`)
  // HAVING's names are output names, written as such: the text parses back to the same condition.
  if (q.having !== undefined) parts.push(`HAVING ${predicate(normalize(q.having, false), 'top')}`)
  if (q.orderBy.length > 0) {
    parts.push(`ORDER BY ${q.orderBy.map((o) => `${quoteName(o.name)} ${o.direction.toUpperCase()}`).join(', ')}`)
  }
  if (q.limit !== undefined) parts.push(`LIMIT ${q.limit}`)
  return parts.join(' ')
}

/** sha256 (hex) of the canonical text: the key for repeats and the audit chain. */
export function queryHash(q: Query): string {
  // ASTs are frozen, so the hash of one is computed once (a parsed query is reused for the same text).
  let h = hashes.get(q)
  if (h === undefined) {
    h = createHash('sha256').update(canonicalSql(q), 'utf8').digest('hex')
    hashes.set(q, h)
  }
  return h
}

const hashes = new WeakMap<Query, string>()

const PLAIN_NAME = /^[a-z_][a-z0-9_]*$/

/** A name as it must be written to read back as itself: bare when it can be, else in double quotes. */
export function quoteName(name: string): string {
  return PLAIN_NAME.test(name) && !RESERVED.has(name) ? name : `"${name.replace(/"/g, '""')}"`
}

export function formatLiteral(v: LiteralValue): string {
  if (typeof v === 'string') return `'${v.replace(/'/g, "''")}'`
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE'
  // Shortest round-trip form: 1.0 and 1e0 print as 1. Negative zero never gets here (see `literal`).
  return String(v)
}

function item(i: SelectItem): string {
  // Aggregates always state their output name, so MEDIAN(x) and QUANTILE(x, 0.5) AS median_x agree.
  if (i.kind === 'aggregate') {
    const sql = aggregateSql({ ...i, display: undefined }, quoteName)
    return `${sql} AS ${quoteName(outputName(i))}`
  }
  const col = groupKeySql(i.column, quoteName)
  return i.alias === undefined || i.alias === i.column.name ? col : `${col} AS ${quoteName(i.alias)}`
}

/** Canonical predicates: NOT pushed into conditions where SQL has a negated form, AND/OR flattened. */
type Norm = { kind: 'cond'; c: Condition } | { kind: 'and' | 'or'; operands: Norm[] } | { kind: 'not'; operand: Norm }

const NEGATE: Record<CompareOp, CompareOp> = { '=': '<>', '<>': '=', '<': '>=', '>=': '<', '>': '<=', '<=': '>' }

function normalize(p: ParsedPredicate, negate: boolean): Norm {
  switch (p.kind) {
    case 'not':
      return normalize(p.operand, !negate)
    case 'and':
    case 'or': {
      const operands: Norm[] = []
      for (const o of p.operands) {
        const n = normalize(o, false)
        if (n.kind === p.kind) operands.push(...n.operands)
        else operands.push(n)
      }
      const n: Norm = { kind: p.kind, operands }
      return negate ? { kind: 'not', operand: n } : n
    }
    case 'compare':
      return { kind: 'cond', c: negate ? { ...p, op: NEGATE[p.op] } : p }
    case 'in':
    case 'between':
    case 'isNull':
      return { kind: 'cond', c: negate ? { ...p, negated: !p.negated } : p }
  }
}

function predicate(n: Norm, parent: 'top' | 'and' | 'or' | 'not'): string {
  switch (n.kind) {
    case 'cond':
      return condition(n.c)
    case 'not':
      return `NOT (${predicate(n.operand, 'not')})`
    case 'and':
    case 'or': {
      const text = n.operands.map((o) => predicate(o, n.kind)).join(` ${n.kind.toUpperCase()} `)
      return parent === 'top' || parent === 'not' ? text : `(${text})`
    }
  }
}

/** FROM as written, aliases and joins included: `a AS x JOIN b AS y USING (unit)`. */
function fromSql(f: From): string {
  const named = (name: string, alias: string | undefined): string =>
    alias === undefined || alias === name ? quoteName(name) : `${quoteName(name)} AS ${quoteName(alias)}`
  let out = named(f.name, f.alias)
  for (const j of f.joins ?? []) {
    out += ` JOIN ${named(j.dataset, j.alias)}`
    out +=
      j.using !== undefined
        ? ` USING (${quoteName(j.using)})`
        : ` ON ${refSql(j.on![0], quoteName)} = ${refSql(j.on![1], quoteName)}`
  }
  return out
}

function condition(c: Condition): string {
  const col = refSql(c.column, quoteName)
  switch (c.kind) {
    case 'compare':
      return `${col} ${c.op} ${formatLiteral(c.value.value)}`
    case 'in':
      return `${col} ${c.negated ? 'NOT IN' : 'IN'} (${sortedDistinct(c.values).map(formatLiteral).join(', ')})`
    case 'between':
      return `${col} ${c.negated ? 'NOT BETWEEN' : 'BETWEEN'} ${formatLiteral(c.low.value)} AND ${formatLiteral(c.high.value)}`
    case 'isNull':
      return `${col} IS ${c.negated ? 'NOT NULL' : 'NULL'}`
  }
}

const TYPE_RANK = { boolean: 0, number: 1, string: 2 } as const

/** IN-list values in a fixed order, each once: a set, whatever order it was written in. */
function sortedDistinct(values: readonly Literal[]): LiteralValue[] {
  const out = [...new Set(values.map((v) => v.value))]
  return out.sort((a, b) => {
    const ta = TYPE_RANK[typeof a as keyof typeof TYPE_RANK]
    const tb = TYPE_RANK[typeof b as keyof typeof TYPE_RANK]
    if (ta !== tb) return ta - tb
    return a < b ? -1 : a > b ? 1 : 0
  })
}
