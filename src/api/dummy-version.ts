import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { dummyCsv, dummyTable } from '../engine/dummy.js'
import { loadVersion } from '../engine/exec/column-cache.js'
import type { TaskColumns } from '../engine/exec/task.js'
import { DRY_RUN_ROWS, DRY_RUN_SEED, type DummyColumns } from '../engine/pipeline/dry-run.js'
import { ingest } from '../ingest/index.js'
import type { DatasetSpec } from '../schema.js'
import { createDataset } from '../store/datasets.js'
import { openStore } from '../store/db.js'
import { SYSTEM_ACTOR } from '../store/keys.js'

/**
 * Dry runs' dummy versions (engine/pipeline/dry-run.ts): the dummy rows of a
 * dataset's spec (engine/dummy.ts) ingested into a throwaway SQLite store in
 * a temporary directory, and loaded as the column cache loads a version, so
 * the plan reads columns encoded exactly as a real version's. The service's
 * store never sees them. Kept per spec (its canonical JSON), a few at a time.
 */

const KEEP = 8

async function load(spec: DatasetSpec): Promise<TaskColumns> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'veilbox-dummy-'))
  try {
    const db = await openStore({ dataDir: dir, databaseUrl: null })
    try {
      // The spec without a source or an owner binding: its rows are uploaded here, and nobody holds it.
      const { source: _source, owner: _owner, ...local } = spec
      await createDataset(db, local, SYSTEM_ACTOR)
      const csv = dummyCsv(dummyTable(spec, DRY_RUN_ROWS, DRY_RUN_SEED))
      await ingest(db, spec.id, 'text/csv', Readable.from([csv]), SYSTEM_ACTOR, undefined, Buffer.byteLength(csv))
      const v = await loadVersion(db, spec.id, 1)
      return { rows: v.rows, columns: v.columns, keep: v.keep }
    } finally {
      await db.close()
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

export function dummyColumns(): DummyColumns {
  const kept = new Map<string, Promise<TaskColumns>>()
  return (spec) => {
    const key = createHash('sha256').update(JSON.stringify(spec)).digest('hex')
    let columns = kept.get(key)
    if (columns === undefined) {
      columns = load(spec)
      // A failed load is not kept: the next dry run tries again.
      columns.catch(() => kept.delete(key))
      if (kept.size >= KEEP) kept.delete(kept.keys().next().value ?? '')
      kept.set(key, columns)
    }
    return columns
  }
}
