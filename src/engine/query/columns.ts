import type { Aggregate, AggregateFn, ColumnRef, ParsedPredicate, Query } from './ast.js'

/**
 * Every column the query reads (aggregated, selected, filtered or grouped on),
 * each once, in order of first appearance. COUNT(*) reads none.
 */
export function queryColumns(q: Query): string[] {
  const seen = new Set<string>()
  for (const item of q.select) {
    if (item.column !== null) seen.add(item.column.name)
  }
  if (q.where !== undefined) for (const c of predicateColumns(q.where)) seen.add(c.name)
  for (const g of q.groupBy) seen.add(g.name)
  return [...seen]
}

/** Every column reference the query makes (select, WHERE, GROUP BY), as written, repeats included. */
export function queryRefs(q: Query): ColumnRef[] {
  const refs: ColumnRef[] = []
  for (const item of q.select) if (item.column !== null) refs.push(item.column)
  if (q.where !== undefined) refs.push(...predicateColumns(q.where))
  refs.push(...q.groupBy)
  return refs
}

/** The aggregate functions a query uses, each once, in select order (MEDIAN counts as quantile). */
export function queryAggregates(q: Query): AggregateFn[] {
  return [...new Set(q.select.filter((i): i is Aggregate => i.kind === 'aggregate').map((a) => a.fn))]
}

function predicateColumns(p: ParsedPredicate): ColumnRef[] {
  switch (p.kind) {
    case 'and':
    case 'or':
      return p.operands.flatMap(predicateColumns)
    case 'not':
      return predicateColumns(p.operand)
    default:
      return [p.column]
  }
}
