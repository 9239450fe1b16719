import type { Statement } from 'better-sqlite3'
import type { Db } from './db.js'

const caches = new WeakMap<Db, Map<string, Statement>>()

/**
 * How a statement returns rows: objects (the default), arrays (`raw`, cheaper
 * to build on hot paths) or the first column alone (`pluck`). better-sqlite3
 * keeps the mode on the statement itself, so each mode of one SQL text is a
 * statement of its own here: setting it on a shared statement would change
 * what every other caller of that text reads.
 */
export type RowMode = 'object' | 'raw' | 'pluck'

/** A prepared statement, compiled once per connection and mode: the hot paths run the same SQL many times. */
export function stmt(db: Db, sql: string, mode: RowMode = 'object'): Statement {
  let cache = caches.get(db)
  if (!cache) {
    cache = new Map()
    caches.set(db, cache)
  }
  const key = mode === 'object' ? sql : `${mode}\u0000${sql}`
  let s = cache.get(key)
  if (!s) {
    s = db.prepare(sql)
    if (mode === 'raw') s.raw()
    else if (mode === 'pluck') s.pluck()
    cache.set(key, s)
  }
  return s
}
