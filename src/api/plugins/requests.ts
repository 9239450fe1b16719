import { Transform } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { VeilboxError } from '../../errors/index.js'

/**
 * Two bounds on what one client can hold open:
 *
 * - An idle timeout between body chunks. Node's requestTimeout bounds the
 *   whole request, which no fixed number suits for a 4 GiB upload; a body
 *   that stops arriving for `bodyIdleTimeoutMs` is ended instead, with 408
 *   and `Connection: close`. Time the service itself spends not reading
 *   (back-pressure from an ingest writing to disk) does not count.
 * - A cap on the requests one principal has in flight (`maxOpenRequests`):
 *   past it, 429 with Retry-After, before the body is read.
 */
export interface RequestLimits {
  readonly bodyIdleTimeoutMs: number
  readonly maxOpenRequests: number
}

function hasBody(request: FastifyRequest): boolean {
  const h = request.headers
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')
}

/** A pass-through that fails once no chunk has arrived for `ms` while the reader was waiting for one. */
export function idleGuard(ms: number): Transform {
  let timer: NodeJS.Timeout | undefined
  const guard: Transform = new Transform({
    transform(chunk, _enc, done) {
      arm()
      done(null, chunk)
    },
    flush(done) {
      clearTimeout(timer)
      done()
    },
    destroy(err, done) {
      clearTimeout(timer)
      done(err)
    },
  })
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      // Data waiting on our side: the reader is slow, not the client.
      if (guard.readableLength > 0 || guard.writableLength > 0) return arm()
      guard.destroy(
        new VeilboxError(
          'VEILBOX_ERR_REQUEST_TIMEOUT',
          `the request body stopped arriving for ${ms} ms (VEILBOX_BODY_IDLE_TIMEOUT_MS); the request was ended and nothing was stored`,
          {
            idleMs: ms,
          },
        ),
      )
    }, ms)
  }
  arm()
  return guard
}

export default fp(
  async function requests(app: FastifyInstance, opts: RequestLimits) {
    const open = new Map<string, number>()
    app.addHook('onRequest', async (request, reply) => {
      // Routes of plugins registered before auth (the OpenAPI UI) never got the decorator: undefined there.
      const p = request.principal ?? null
      if (p === null) return
      const n = (open.get(p.id) ?? 0) + 1
      if (n > opts.maxOpenRequests) {
        throw new VeilboxError(
          'VEILBOX_ERR_REQUEST_TOO_MANY_OPEN',
          `principal ${p.name} already has ${opts.maxOpenRequests} requests in flight (VEILBOX_MAX_OPEN_REQUESTS); wait for one to finish`,
          { max: opts.maxOpenRequests },
          { headers: { 'retry-after': '1' } },
        )
      }
      open.set(p.id, n)
      // 'close' fires once, whether the answer was sent or the client went away.
      reply.raw.once('close', () => {
        const left = (open.get(p.id) ?? 1) - 1
        if (left <= 0) open.delete(p.id)
        else open.set(p.id, left)
      })
    })
    app.addHook('preParsing', async (request, reply, payload) => {
      if (!hasBody(request)) return payload
      const guard = idleGuard(opts.bodyIdleTimeoutMs)
      payload.on('error', (err) => guard.destroy(err))
      // Once the exchange is over (answered, refused before the body was read, or the client gone),
      // nobody waits for the body any more: the guard goes with it, timer included.
      reply.raw.once('close', () => guard.destroy())
      return payload.pipe(guard)
    })
  },
  { name: 'requests', dependencies: ['auth'] },
)
