import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import type { Config } from '../config/index.js'
import { VERSION } from '../version.js'
import auth from './plugins/auth.js'
import consolePlugin from './plugins/console.js'
import db from './plugins/db.js'
import engine from './plugins/engine.js'
import metrics from './plugins/metrics.js'
import problem, { clientErrorHandler, frameworkErrors } from '../http/problem.js'
import openapi from './plugins/openapi.js'
import { headers, rateLimits } from '../http/security.js'
import { loggerOptions } from './logging.js'
import requests from './plugins/requests.js'
import accountRoutes from './routes/accounts.js'
import applicationRoutes from './routes/applications.js'
import auditRoutes from './routes/audit.js'
import budgetRoutes from './routes/budgets.js'
import datasetRoutes from './routes/datasets.js'
import grantRoutes from './routes/grants.js'
import healthRoutes from './routes/health.js'
import keyRoutes from './routes/keys.js'
import marketRoutes from './routes/market.js'
import queryRoutes from './routes/queries.js'
import previewBatchRoutes from './routes/preview-batch.js'
import usageRoutes from './routes/usage.js'
import sourceRoutes from './routes/sources.js'
import templateRoutes from './routes/templates.js'
import versionRoutes from './routes/versions.js'

declare module 'fastify' {
  interface FastifyInstance {
    appVersion: string
  }
}

export interface BuildOptions {
  readonly config: Config
  /** Fastify logger options; tests pass false. */
  readonly logger?: FastifyServerOptions['logger']
  /** The sandbox worker module; tests substitute fixtures that misbehave on purpose. */
  readonly sandboxWorker?: string
  /** The clock the engine and the budget windows read (tests inject one); default: the system's. */
  readonly now?: () => Date
}

/** The Fastify server options veilbox runs with (the HTTP benchmark's bare baseline uses them too). */
export function serverOptions(config: Config, logger?: FastifyServerOptions['logger']): FastifyServerOptions {
  return {
    // Pretty lines in a terminal, JSON lines elsewhere; both redact the Authorization header (logging.ts).
    logger: logger ?? loggerOptions(config.logLevel, process.stdout.isTTY),
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    frameworkErrors,
    clientErrorHandler,
  }
}

/** Builds the veilbox HTTP app; `server.ts` is what listens. */
export async function buildApp(options: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(options.config, options.logger))
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.decorate('appVersion', VERSION)
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  try {
    // External first, then veilbox's own plugins, then routes.
    // Security headers before authentication, so that every refusal carries them.
    await app.register(problem)
    await app.register(headers)
    await app.register(openapi, { version: VERSION })
    await app.register(db, { config: options.config })
    await app.register(auth, { failuresPerMinute: options.config.authFailuresPerMinute })
    await app.register(metrics, { config: options.config })
    await app.register(engine, {
      ...(options.sandboxWorker ? { sandboxWorker: options.sandboxWorker } : {}),
      ...(options.now ? { now: options.now } : {}),
    })
    await app.register(rateLimits, { rateLimitPerMinute: options.config.rateLimitPerMinute })
    await app.register(requests, {
      bodyIdleTimeoutMs: options.config.bodyIdleTimeoutMs,
      maxOpenRequests: options.config.maxOpenRequests,
    })

    await app.register(healthRoutes)
    await app.register(keyRoutes)
    await app.register(datasetRoutes)
    await app.register(versionRoutes)
    await app.register(sourceRoutes)
    await app.register(budgetRoutes)
    await app.register(grantRoutes)
    await app.register(queryRoutes)
    await app.register(previewBatchRoutes)
    await app.register(auditRoutes)
    await app.register(usageRoutes)
    await app.register(templateRoutes)
    await app.register(marketRoutes)
    await app.register(applicationRoutes)
    await app.register(accountRoutes)
    await app.register(consolePlugin)
  } catch (err) {
    // A plugin that failed (a store that cannot be reached, a secret that does not open the signing key) leaves
    // nothing open behind it: the pool, workers and timers of the plugins before it are closed, and the process can end.
    await app.close().catch(() => {})
    throw err
  }
  return app
}
