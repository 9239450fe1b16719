import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { QueryEngine } from '../../engine/queries.js'
import type { Executor } from '../../sandbox/executor.js'
import { InlineExecutor } from '../../sandbox/inline.js'
import { ColumnStore } from '../../store/column-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    columnStore: ColumnStore
    executor: Executor
    queries: QueryEngine
  }
}

/** The query engine and where it computes; routes reach them through these decorators. */
export default fp(
  async function engine(app: FastifyInstance) {
    const store = new ColumnStore(app.db, app.config.columnCacheBytes)
    const executor: Executor = new InlineExecutor(store)
    app.decorate('columnStore', store)
    app.decorate('executor', executor)
    app.decorate('queries', new QueryEngine(app.db, executor))
    app.addHook('onClose', async () => {
      await executor.close()
    })
  },
  { name: 'engine', dependencies: ['db'] },
)
