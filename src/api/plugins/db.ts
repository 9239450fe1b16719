import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config/index.js'
import { lockDataDir, openDb, type Db } from '../../store/db.js'
import { discardStaleUploads } from '../../ingest/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    db: Db
  }
}

export default fp(
  async function db(app: FastifyInstance, opts: { config: Config }) {
    app.decorate('config', opts.config)
    // One server per data directory (SQLite mode): taken before anything is migrated or created.
    const lock = lockDataDir(opts.config.dataDir)
    let db: Db
    try {
      db = openDb(opts.config.dataDir)
    } catch (err) {
      lock.release()
      throw err
    }
    const stale = discardStaleUploads(db)
    if (stale > 0) app.log.warn({ uploads: stale }, 'discarded uploads left unfinished by an earlier process')
    app.decorate('db', db)
    app.addHook('onClose', async () => {
      db.close()
      lock.release()
    })
  },
  { name: 'db' },
)
