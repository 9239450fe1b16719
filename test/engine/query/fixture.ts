import type { Test } from 'tap'
import { isVeilboxError, type VeilboxError } from '../../../src/errors/index.js'
import type { TextPos } from '../../../src/engine/query/index.js'
import { datasetSpecSchema, type DatasetSpec } from '../../../src/schema.js'

/** The demo dataset's schema, validated by the real schema so the fixture cannot drift from the rules. */
export const households: DatasetSpec = datasetSpecSchema.parse({
  id: 'binzhou_households',
  title: 'Binzhou household survey',
  classification: 'sensitive',
  privacyUnit: 'household_id',
  maxRowsPerUnit: 1,
  columns: [
    { name: 'household_id', type: 'id', protection: 'public' },
    {
      name: 'district',
      type: 'category',
      protection: 'public',
      categories: ['滨城区', '沾化区', '惠民县', '阳信县', '无棣县', '博兴县', '邹平市'],
    },
    { name: 'insured', type: 'boolean', protection: 'public' },
    { name: 'age_band', type: 'category', protection: 'public', categories: ['0-17', '18-34', '35-59', '60+'] },
    { name: 'age', type: 'integer', protection: 'dp', lower: 0, upper: 100 },
    { name: 'income', type: 'number', protection: 'dp', lower: 0, upper: 1_000_000 },
    { name: 'medical_spending', type: 'number', protection: 'he', lower: 0, upper: 200_000, scale: 2 },
  ],
})

/** The demo schema plus the column kinds it lacks, for the binder's refusals. */
export const extended: DatasetSpec = datasetSpecSchema.parse({
  ...households,
  columns: [
    ...households.columns,
    { name: 'rooms', type: 'integer', protection: 'public', nullable: true },
    { name: 'floor_area', type: 'number', protection: 'public', lower: 0, upper: 500 },
    { name: 'village', type: 'category', protection: 'public' },
    { name: 'occupation', type: 'category', protection: 'dp', categories: ['farmer', 'worker', 'retired'] },
  ],
})

/** Position of the first (or nth) occurrence of `needle` in a one-line, BMP-only query. */
export function at(sql: string, needle: string, nth = 1): TextPos {
  let i = -1
  for (let k = 0; k < nth; k++) {
    i = sql.indexOf(needle, i + 1)
    if (i < 0) throw new Error(`"${needle}" does not occur ${nth} times in ${sql}`)
  }
  if (sql.slice(0, i).includes('\n')) throw new Error('at() is for one-line queries')
  return { offset: i, line: 1, column: i + 1 }
}

/**
 * Asserts that fn throws a VeilboxError with this code, status 400, a detail,
 * and (when given) this position or JSON path. Returns the error for more checks.
 */
export function refuses(
  tt: Test,
  fn: () => unknown,
  code: string,
  where?: TextPos | { path: string },
  message?: string,
): VeilboxError {
  try {
    fn()
  } catch (e) {
    if (!isVeilboxError(e)) {
      tt.fail(`${message ?? code}: threw a non-VeilboxError: ${String(e)}`)
      throw e
    }
    tt.equal(e.code, code, message ?? `code ${code}`)
    tt.equal(e.status, 400, `${message ?? code}: status 400`)
    tt.ok(e.detail.length > 20, `${message ?? code}: detail explains (${e.detail})`)
    if (where !== undefined) {
      if ('path' in where) tt.equal(e.extra.path, where.path, `${message ?? code}: path`)
      else tt.same(e.extra.position, where, `${message ?? code}: position`)
    }
    return e
  }
  tt.fail(`${message ?? code}: did not throw`)
  throw new Error('did not throw')
}
