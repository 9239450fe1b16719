import type { Sql } from './sql.js'

/**
 * The catalog epoch (migration 11): a counter that triggers move, in the
 * same transaction, on every change to datasets, their versions and
 * snapshots, settings, HE keys and uploads' encryption, principals, and
 * grants' terms (not their spending). A node may keep what it read of those
 * for as long as the epoch it read *before* reading them is still the one it
 * reads now: a change commits a new epoch with it, on this node or another.
 * One point read per request in place of the several it saves.
 */
export async function catalogEpoch(db: Sql): Promise<number> {
  const n = await db.value<number | string | bigint>('SELECT n FROM catalog_epoch WHERE id = 1')
  if (n === undefined) throw new Error('catalog_epoch has no row: the store was not migrated')
  return Number(n)
}

/**
 * Values read from the store, kept while the catalog epoch stays where it was
 * when they were read. `at(epoch)` gives the memo for that epoch: a newer one
 * drops everything kept; an older one (a request that read the epoch before
 * another moved it) gets a memo of its own that keeps nothing. A load that
 * fails is not kept.
 */
export class EpochMemo<T> {
  private epoch = -1
  private readonly kept = new Map<string, Promise<T>>()

  constructor(private readonly max = 1_000) {}

  get(epoch: number, key: string, load: () => Promise<T>): Promise<T> {
    if (epoch < this.epoch) return load()
    if (epoch > this.epoch) {
      this.kept.clear()
      this.epoch = epoch
    }
    let found = this.kept.get(key)
    if (found === undefined) {
      found = load()
      if (this.kept.size >= this.max) this.kept.delete(this.kept.keys().next().value!)
      this.kept.set(key, found)
      found.catch(() => {
        if (this.epoch === epoch && this.kept.get(key) === found) this.kept.delete(key)
      })
    }
    return found
  }
}
