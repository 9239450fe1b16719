import { parentPort, workerData } from 'node:worker_threads'
import BetterSqlite3 from 'better-sqlite3'

/**
 * The SQLite checkpointer's thread (checkpoint.ts): a connection of its own
 * to the database file, moving committed frames from the write-ahead log
 * into the database on request. PASSIVE: it takes no lock a writer or
 * reader waits on, and leaves frames a reader still needs for later.
 */
const { file, busyTimeoutMs } = workerData as { file: string; busyTimeoutMs: number }
const db = new BetterSqlite3(file)
db.pragma(`busy_timeout = ${busyTimeoutMs}`)
// This connection never commits, so it never checkpoints on its own; its checkpoints sync as the writer's commits do.
db.pragma('synchronous = FULL')

parentPort!.on('message', (m: 'checkpoint' | 'close') => {
  if (m === 'close') {
    db.close()
    parentPort!.close()
    return
  }
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[]
    parentPort!.postMessage({ ok: true, ...row })
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: String(err) })
  }
})
