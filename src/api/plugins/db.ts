import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import fs from 'node:fs'
import { checkServerSecret, type Config } from '../../config/index.js'
import { describeLocation, lockDataDir, openStore, type Store } from '../../store/db.js'
import { discardStaleUploads } from '../../ingest/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    db: Store
  }
}

/**
 * An upload still staging after this long, on a shared PostgreSQL store, is
 * taken for one a killed node left behind (another node may be in the middle
 * of a younger one). SQLite has one server per data directory: every staging
 * upload at start is left over.
 */
const SHARED_STALE_UPLOAD_MS = 6 * 3600_000

export default fp(
  async function db(app: FastifyInstance, opts: { config: Config }) {
    app.decorate('config', opts.config)
    const c = opts.config
    const shared = c.databaseUrl !== null
    checkServerSecret(c)
    // The node's own files (key files written at first start, the in-process custodian's neighbour) live here, on either store.
    fs.mkdirSync(c.dataDir, { recursive: true, mode: 0o700 })
    // One server per data directory (SQLite mode): taken before anything is migrated or created.
    const lock = shared ? null : lockDataDir(c.dataDir)
    let db: Store
    try {
      db = await openStore({ dataDir: c.dataDir, databaseUrl: c.databaseUrl }, { poolSize: c.databasePoolSize })
    } catch (err) {
      lock?.unlock()
      throw err
    }
    app.log.info({ store: describeLocation({ dataDir: c.dataDir, databaseUrl: c.databaseUrl }) }, 'store opened')
    const stale = await discardStaleUploads(db, shared ? SHARED_STALE_UPLOAD_MS : 0)
    if (stale > 0) app.log.warn({ uploads: stale }, 'discarded uploads left unfinished by an earlier process')
    app.decorate('db', db)
    app.addHook('onClose', async () => {
      await db.close()
      lock?.unlock()
    })
  },
  { name: 'db' },
)
