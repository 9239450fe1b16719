import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/index.js'
import { bootstrap } from '../demo/bootstrap.js'
import { buildApp } from './app.js'

export interface RunningServer {
  readonly app: FastifyInstance
  readonly url: string
  close(): Promise<void>
}

/**
 * The standalone entry point: builds the app, runs the first-start bootstrap,
 * listens, and closes gracefully on SIGINT/SIGTERM (in-flight requests finish,
 * new ones get 503).
 */
export async function startServer(config: Config, options: { handleSignals?: boolean } = {}): Promise<RunningServer> {
  const app = await buildApp({ config })
  app.server.requestTimeout = 0 // uploads may take minutes; per-route deadlines apply instead
  app.server.headersTimeout = 60_000
  app.server.keepAliveTimeout = 72_000
  const report = await bootstrap(app.db, config.dataDir, { demo: config.demo })
  if (report.createdDataset) app.log.info('created the demo dataset binzhou_households')
  for (const file of report.keyFiles) {
    // The path only: the keys themselves never reach a log.
    app.log.info({ file }, 'wrote new API keys (mode 0600)')
    process.stdout.write(`veilbox: API keys written to ${file}\n`)
  }
  const url = await app.listen({ host: config.host, port: config.port })
  process.stdout.write(`veilbox: listening on ${url} (data in ${config.dataDir})\n`)
  let closing: Promise<void> | null = null
  const close = () => (closing ??= app.close())
  if (options.handleSignals) {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        app.log.info({ signal: sig }, 'shutting down')
        close().then(
          () => process.exit(0),
          () => process.exit(1),
        )
      })
    }
  }
  return { app, url, close }
}
