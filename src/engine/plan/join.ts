import { taskColumns, type ExecTask } from '../exec/task.js'
import type { BoundQuery } from '../query/binder.js'

/**
 * The join part of a task (exec/task.ts `join`): for a query bound to a unit
 * join, the joined dataset's version, both units, the bound on joined rows per
 * unit, and the side and own name of every column the task reads. Undefined
 * for a query over one dataset.
 */
export function joinPart(
  bound: BoundQuery,
  exec: Omit<ExecTask, 'dataset' | 'version'>,
  rightVersion: number,
): ExecTask['join'] {
  const join = bound.tables.join
  if (join === null) return undefined
  const names = taskColumns({ dataset: join.left.dataset, version: 1, ...exec })
  const columns = names.map((name) => {
    const source = bound.tables.sourceOf(name)
    return {
      name,
      side: source.dataset === join.left.dataset ? ('left' as const) : ('right' as const),
      column: source.column,
    }
  })
  return {
    dataset: join.right.dataset,
    version: rightVersion,
    leftUnit: join.left.unit,
    rightUnit: join.right.unit,
    maxRowsPerUnit: join.maxRowsPerUnit,
    columns,
    ...(join.lookup === true ? { lookup: true as const } : {}),
  }
}
