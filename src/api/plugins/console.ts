import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { VeilboxError } from '../../errors/index.js'
import { sendProblem } from '../../http/problem.js'

/**
 * Serves the web console (console/, built by `npm run build` into
 * dist/console) at /console. The console is a static bundle that talks to the
 * same public API as any client: this plugin adds no route under /v1 and
 * grants nothing.
 *
 * - Hashed assets (/console/assets/*) never change under their name: cached
 *   for a year, immutable. index.html and other unhashed files are
 *   revalidated on every load, so a new build is picked up at once.
 * - Its own Content-Security-Policy, stricter than the API's: no inline
 *   script or style at all (the bundle has none), no framing, no form posts,
 *   and no upgrade-insecure-requests, which would break a console served
 *   over plain HTTP on a LAN address.
 * - Brotli and gzip copies made at build time are sent when the browser
 *   accepts them.
 */

/** The repository root seen from src/api/plugins (tsx) and dist/api/plugins (built) alike. */
export const DEFAULT_CONSOLE_ROOT = fileURLToPath(new URL('../../../dist/console/', import.meta.url))

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

export const IMMUTABLE = 'public, max-age=31536000, immutable'
export const REVALIDATE = 'no-cache'

export interface ConsoleOptions {
  /** The built console; tests point it at a fixture. */
  readonly root?: string
}

function secure(reply: FastifyReply, cacheControl: string): void {
  reply.header('content-security-policy', CONSOLE_CSP)
  reply.header('cache-control', cacheControl)
  // The API key lives in this page's session storage: no Referer leaves it, no other site frames it.
  reply.header('referrer-policy', 'no-referrer')
  reply.header('x-frame-options', 'DENY')
}

export default async function consolePlugin(app: FastifyInstance, opts: ConsoleOptions = {}) {
  const root = path.resolve(opts.root ?? DEFAULT_CONSOLE_ROOT)
  const index = path.join(root, 'index.html')

  // /console without the slash: the bundle's URLs are absolute, but one canonical address keeps history and bookmarks tidy.
  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/', 308))

  if (!fs.existsSync(index)) {
    // A checkout that was never built (or a build that failed): say how to fix it instead of a bare 404.
    const notBuilt = async (_request: unknown, reply: FastifyReply) =>
      sendProblem(
        reply,
        new VeilboxError(
          'VEILBOX_ERR_REQUEST_NOT_FOUND',
          `the web console is not built (no ${index}); run \`npm run build\` (or \`npm install\`) and restart veilbox`,
        ),
      )
    app.get('/console/', { schema: { hide: true } }, notBuilt)
    app.get('/console/*', { schema: { hide: true } }, notBuilt)
    return
  }

  await app.register(fastifyStatic, {
    root,
    prefix: '/console/',
    // @fastify/swagger-ui registers @fastify/static too; only one may decorate the reply.
    decorateReply: false,
    index: ['index.html'],
    wildcard: true,
    preCompressed: true,
    cacheControl: false,
    // 'ignore' answers 404 through the app's not-found handler ('deny' would surface as an internal error).
    dotfiles: 'ignore',
    schemaHide: true,
    setHeaders: (reply, filePath) => {
      const rel = path.relative(root, filePath).split(path.sep)
      secure(reply, rel[0] === 'assets' ? IMMUTABLE : REVALIDATE)
    },
  })
}
