import {
  aggregateSql,
  groupKeySql,
  outputName,
  sameGroupKey,
  type From,
  type GroupRef,
  type OrderItem,
  type ParsedPredicate,
  type Query,
  type SelectItem,
  type SourcePos,
} from './ast.js'
import { queryError, tooLarge } from './query-error.js'
import { QUERY_LIMITS } from './limits.js'
import { didYouMean, nearest } from './suggest.js'

export interface QueryParts {
  readonly select: readonly SelectItem[]
  readonly from: From
  readonly where?: ParsedPredicate | undefined
  readonly groupBy: readonly GroupRef[]
  readonly orderBy: readonly OrderItem[]
  readonly having?: ParsedPredicate | undefined
  readonly limit?: number | undefined
  readonly pos?: SourcePos | undefined
}

/**
 * Builds the frozen Query after checking the rules that need the whole query
 * but not the dataset: something is aggregated, every selected column is
 * grouped, output names are distinct, ORDER BY names outputs, and the size
 * limits hold. Both the parser and the JSON reader go through here, so a
 * query is valid in the same way whichever form it arrived in.
 */
export function buildQuery(parts: QueryParts): Query {
  const { select, from, where, groupBy, orderBy, having, limit, pos } = parts
  if (select.length === 0)
    throw queryError('VEILBOX_ERR_QUERY_SYNTAX', 'the select list is empty; select at least one aggregate', pos)
  if (select.length > QUERY_LIMITS.maxSelectItems)
    throw tooLarge('maxSelectItems', select[QUERY_LIMITS.maxSelectItems]!.pos)
  if (groupBy.length > QUERY_LIMITS.maxGroupBy) throw tooLarge('maxGroupBy', groupBy[QUERY_LIMITS.maxGroupBy]!.pos)
  if (where !== undefined) checkPredicateSize(where)
  checkGrouping(select, groupBy, pos)
  const names = checkOutputNames(select)
  checkOrderBy(orderBy, names, select)
  if (having !== undefined) {
    checkPredicateSize(having)
    checkHaving(having, names, select)
  }
  if (limit !== undefined) checkLimit(limit, pos)
  const q: Query = {
    kind: 'query',
    select: Object.freeze([...select]),
    from,
    ...(where === undefined ? {} : { where }),
    groupBy: Object.freeze([...groupBy]),
    orderBy: Object.freeze([...orderBy]),
    ...(having === undefined ? {} : { having }),
    ...(limit === undefined ? {} : { limit }),
    ...(pos === undefined ? {} : { pos }),
  }
  return Object.freeze(q)
}

/** Depth, condition count and IN-list length, walked without recursion. */
function checkPredicateSize(root: ParsedPredicate): void {
  let conditions = 0
  const stack: { p: ParsedPredicate; depth: number }[] = [{ p: root, depth: 0 }]
  while (stack.length > 0) {
    const { p, depth } = stack.pop()!
    if (depth > QUERY_LIMITS.maxDepth) throw tooLarge('maxDepth', p.pos)
    switch (p.kind) {
      case 'and':
      case 'or':
        for (let k = p.operands.length - 1; k >= 0; k--) stack.push({ p: p.operands[k]!, depth: depth + 1 })
        break
      case 'not':
        stack.push({ p: p.operand, depth: depth + 1 })
        break
      case 'in':
        if (p.values.length > QUERY_LIMITS.maxInList)
          throw tooLarge('maxInList', p.values[QUERY_LIMITS.maxInList]!.pos ?? p.pos)
        conditions++
        break
      default:
        conditions++
    }
    if (conditions > QUERY_LIMITS.maxConditions) throw tooLarge('maxConditions', p.pos)
  }
}

function checkGrouping(select: readonly SelectItem[], groupBy: readonly GroupRef[], pos: SourcePos | undefined): void {
  // Keys are told apart by their SQL: a column, or one column's buckets with their edges.
  const grouped = new Set<string>()
  for (const g of groupBy) {
    const key = groupKeySql(g)
    if (grouped.has(key)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
        `${key} appears twice in GROUP BY; list each key once`,
        g.pos,
        { column: g.name },
      )
    }
    grouped.add(key)
  }
  const aggregates = select.filter((i) => i.kind === 'aggregate')
  const firstColumn = select.find((i) => i.kind === 'columnItem')
  if (aggregates.length === 0 && groupBy.length === 0 && firstColumn !== undefined) {
    const name = firstColumn.column.name
    throw queryError(
      'VEILBOX_ERR_QUERY_NOT_AGGREGATE',
      `selecting the column ${name} without aggregating would release individual rows, and only aggregates leave veilbox; ` +
        `aggregate it (for example COUNT(*) or AVG(${name})), or GROUP BY a column with a declared domain`,
      firstColumn.pos,
      { column: name },
    )
  }
  for (const item of select) {
    if (item.kind !== 'columnItem' || groupBy.some((g) => sameGroupKey(g, item.column))) continue
    const name = groupKeySql(item.column)
    const bucketed = groupBy.find((g) => g.name === item.column.name && g.bucket !== undefined)
    const byAlias =
      item.alias !== undefined && grouped.has(item.alias)
        ? ` (GROUP BY names columns, not output names: write GROUP BY ${name})`
        : bucketed !== undefined && item.column.bucket === undefined
          ? ` (GROUP BY has ${groupKeySql(bucketed)}: select that)`
          : item.column.bucket !== undefined
            ? ` (write GROUP BY ${name}, with the same edges and width)`
            : ''
    throw queryError(
      'VEILBOX_ERR_QUERY_UNGROUPED_COLUMN',
      `the column ${name} is neither aggregated nor in GROUP BY, so it would release row values; add it to GROUP BY or aggregate it${byAlias}`,
      item.pos,
      { column: name },
    )
  }
  if (aggregates.length === 0) {
    throw queryError(
      'VEILBOX_ERR_QUERY_NOT_AGGREGATE',
      'the query selects no aggregate; add one, such as COUNT(*), so there is something to release for each group',
      pos,
    )
  }
}

function checkOutputNames(select: readonly SelectItem[]): Map<string, SelectItem> {
  const names = new Map<string, SelectItem>()
  for (const item of select) {
    const name = outputName(item)
    const earlier = names.get(name)
    if (earlier !== undefined) {
      const what = (i: SelectItem) => (i.kind === 'aggregate' ? aggregateSql(i) : i.column.name)
      throw queryError(
        'VEILBOX_ERR_QUERY_DUPLICATE_NAME',
        `two output columns are named ${name} (${what(earlier)} and ${what(item)}); give one a different name with AS`,
        item.pos,
        { name },
      )
    }
    names.set(name, item)
  }
  return names
}

function checkOrderBy(
  orderBy: readonly OrderItem[],
  names: Map<string, SelectItem>,
  select: readonly SelectItem[],
): void {
  const seen = new Set<string>()
  for (const o of orderBy) {
    if (!names.has(o.name)) {
      const renamed = select.find((i) => i.kind === 'columnItem' && i.alias !== undefined && i.column.name === o.name)
      const hint =
        renamed !== undefined
          ? ` (it is selected as ${outputName(renamed)}: order by that)`
          : didYouMean(nearest(o.name, [...names.keys()]))
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_ORDER_BY',
        `ORDER BY ${o.name}: there is no output column of that name${hint}; the output columns are ${[...names.keys()].join(', ')}`,
        o.pos,
        { name: o.name },
      )
    }
    if (seen.has(o.name)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_ORDER_BY',
        `${o.name} appears twice in ORDER BY; list each output column once`,
        o.pos,
        { name: o.name },
      )
    }
    seen.add(o.name)
  }
}

/** Every name in HAVING is an output column's (aggregates are named through the select list). */
function checkHaving(having: ParsedPredicate, names: Map<string, SelectItem>, select: readonly SelectItem[]): void {
  const stack: ParsedPredicate[] = [having]
  while (stack.length > 0) {
    const p = stack.pop()!
    if (p.kind === 'and' || p.kind === 'or') {
      stack.push(...p.operands)
      continue
    }
    if (p.kind === 'not') {
      stack.push(p.operand)
      continue
    }
    const ref = p.column
    if (names.has(ref.name)) continue
    const renamed = select.find((i) => i.kind === 'columnItem' && i.alias !== undefined && i.column.name === ref.name)
    const hint =
      renamed !== undefined
        ? ` (it is selected as ${outputName(renamed)}: use that)`
        : didYouMean(nearest(ref.name, [...names.keys()]))
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_HAVING',
      `HAVING ${ref.name}: there is no output column of that name${hint}; HAVING filters the released rows by their output columns, which are ${[...names.keys()].join(', ')}`,
      ref.pos,
      { name: ref.name },
    )
  }
}

function checkLimit(limit: number, pos: SourcePos | undefined): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > QUERY_LIMITS.maxLimit) {
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_LIMIT',
      `LIMIT takes a whole number from 1 to ${QUERY_LIMITS.maxLimit}, got ${limit}`,
      pos,
      { limit },
    )
  }
}
