import type { TaskPredicate } from '../exec/task.js'
import type { BoundPredicate } from '../query/binder.js'

/** A bound WHERE as the sandbox's task states it: column names and literal values, nothing else of the schema. */
export function toTaskPredicate(p: BoundPredicate): TaskPredicate {
  switch (p.kind) {
    case 'compare':
      return { kind: 'cmp', column: p.column.name, op: p.op, value: p.value as number | string | boolean }
    case 'in':
      return {
        kind: 'in',
        column: p.column.name,
        values: p.values as (number | string | boolean)[],
        negated: p.negated,
      }
    case 'between':
      return { kind: 'between', column: p.column.name, low: p.low, high: p.high, negated: p.negated }
    case 'isNull':
      return { kind: 'isNull', column: p.column.name, negated: p.negated }
    case 'and':
    case 'or':
      return { kind: p.kind, operands: p.operands.map(toTaskPredicate) }
    case 'not':
      return { kind: 'not', operand: toTaskPredicate(p.operand) }
  }
}
