import type { DatasetSpec } from '../../schema.js'
import type { GrantRecord } from '../../store/grants.js'
import { answerScopes } from '../../store/market.js'
import type { Sql } from '../../store/sql.js'
import { GRANT_AGGREGATES } from '../policy/grant.js'

/**
 * Minimum necessary, measured (docs/market.md): what a grant allows beside
 * what its fresh answers used. Unused columns and aggregates are what a
 * renewal should leave out.
 */
export interface ScopeReview {
  readonly grant: string
  readonly answers: number
  readonly columns: readonly { name: string; used: boolean; answers: number }[]
  readonly aggregates: readonly { name: string; used: boolean; answers: number }[]
  readonly unused: { readonly columns: readonly string[]; readonly aggregates: readonly string[] }
}

interface StoredScope {
  readonly columns: readonly string[]
  readonly aggregates: readonly string[]
}

export async function scopeReview(db: Sql, grant: GrantRecord, spec: DatasetSpec): Promise<ScopeReview> {
  const scopes = (await answerScopes(db, grant.id)).map((s) => JSON.parse(s) as StoredScope)
  const count = (names: readonly string[], pick: (s: StoredScope) => readonly string[]) =>
    names.map((name) => {
      const answers = scopes.filter((s) => pick(s).includes(name)).length
      return { name, used: answers > 0, answers }
    })
  const columns = count(grant.columns ?? spec.columns.map((c) => c.name), (s) => s.columns)
  const aggregates = count(grant.aggregates ?? GRANT_AGGREGATES, (s) => s.aggregates)
  return {
    grant: grant.id,
    answers: scopes.length,
    columns,
    aggregates,
    unused: {
      columns: columns.filter((c) => !c.used).map((c) => c.name),
      aggregates: aggregates.filter((a) => !a.used).map((a) => a.name),
    },
  }
}
