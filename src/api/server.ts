import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/index.js'
import { bootstrap } from '../demo/bootstrap.js'
import { buildApp } from './app.js'
import { keysFileOf, prettyLogs, startLines } from './logging.js'

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
  let report: Awaited<ReturnType<typeof bootstrap>>
  try {
    report = await bootstrap(app.db, config.dataDir, {
      demo: config.demo,
      he: { custodian: app.custodian, keysDir: config.custodianUrl === null ? config.custodianDir : null },
    })
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  if (report.createdDataset) app.log.info('created the demo dataset binzhou_households')
  if (report.createdHeDataset) app.log.info('created the encrypted demo dataset binzhou_subsidies')
  if (report.createdClaimsDataset) app.log.info('created the demo claims dataset binzhou_claims (a second owner)')
  if (report.heProblem !== undefined)
    app.log.warn(
      { problem: report.heProblem },
      'the encrypted demo dataset could not be made; the rest of the demo is there',
    )
  // In a terminal these lines go through the pretty log, in order with it; elsewhere plain lines on stdout beside the JSON.
  const pretty = prettyLogs(process.stdout.isTTY) && ['trace', 'debug', 'info'].includes(app.log.level)
  const say = (line: string) => (pretty ? app.log.info(line) : process.stdout.write(`veilbox: ${line}\n`))
  for (const file of report.keyFiles) {
    // The path only: the keys themselves never reach a log.
    app.log.info({ file }, 'wrote new API keys (mode 0600)')
    if (!pretty) say(`API keys written to ${file}`)
  }
  const url = await app.listen({ host: config.host, port: config.port })
  say(`listening on ${url} (data in ${config.dataDir})`)
  // Where to go next: the console, the keys file, a first curl (which reads the key from the file; none is printed).
  for (const line of startLines(url, keysFileOf(config.dataDir, config.demo))) say(line)
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
