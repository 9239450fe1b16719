/**
 * Analyst bounds in the pushdown compiler (issue 24, point 1): a sourced
 * dataset's statement clamps to the analyst's range, which the plan's
 * measure carries, not to the declared one.
 */
import t from 'tap'

import { DEMO_SPEC } from '../../../src/demo/binzhou.js'
import type { ExecTask } from '../../../src/engine/exec/task.js'
import { compileTask, type SourceRelation } from '../../../src/engine/pushdown/compile.js'
import { duckdb, postgres } from '../../../src/engine/pushdown/dialect.js'
import { plan } from '../fixtures.js'

const T = DEMO_SPEC.id
const RELATION: SourceRelation = {
  from: { kind: 'table', name: 'public.t' },
  filter: null,
  rowOrder: ['seq'],
  unitBounded: false,
}

function statementOf(sql: string, dialect: typeof postgres): string {
  const task: ExecTask = { ...plan(DEMO_SPEC, sql).exec, dataset: T, version: 1 }
  const s = compileTask(task, DEMO_SPEC, RELATION, dialect)
  // The constants are parameters: the clamp's CASE compares with them.
  return `${s.sql}\n${JSON.stringify(s.params)}`
}

t.test('SUM and MEDIAN with BOUNDS clamp to the analyst range in the compiled statement', async (t) => {
  for (const dialect of [postgres, duckdb]) {
    for (const agg of ['SUM', 'MEDIAN']) {
      const bounded = statementOf(`SELECT ${agg}(income BOUNDS 1234, 200000) FROM ${T}`, dialect)
      const declared = statementOf(`SELECT ${agg}(income) FROM ${T}`, dialect)
      t.match(bounded, /THEN (CAST\(\$\d+ AS DOUBLE\)|\$\d+::float8)/, `${dialect.name} ${agg}: a clamp`)
      t.match(bounded, /\b1234\b/, `${dialect.name} ${agg}: clamped below at 1234`)
      t.match(bounded, /\b200000\b/, `${dialect.name} ${agg}: and above at 200000`)
      t.notMatch(declared, /\b1234\b|\b200000\b/, `${dialect.name} ${agg}: the declared statement does not`)
    }
  }
})
