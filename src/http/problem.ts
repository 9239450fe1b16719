import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { detailIsPublic, ERROR_CODES, isVeilboxError, VeilboxError, type ErrorCode } from '../errors/index.js'
import { applySecurityHeaders } from './security.js'

/**
 * Every error leaves as application/problem+json with a stable VEILBOX_ERR_
 * code. Known client errors say exactly what to change; anything unexpected is
 * logged with its stack and answered with a generic 500 that names only the
 * request id. A 5xx shows its own detail only if its code is marked
 * `publicDetail` in the registry (src/errors/codes.ts); any other 5xx gets the
 * fixed sentence of `hiddenDetail`, and the log keeps the real detail.
 */
export interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  code: ErrorCode
  instance: string
  [extra: string]: unknown
}

/**
 * What a client reads instead of a 5xx's own detail when its code is not
 * marked `publicDetail`: the detail may hold a library's message (SEAL's, the
 * native addon's), a path or a value taken from the data. Fixed per code.
 */
export function hiddenDetail(code: ErrorCode, requestId: string): string {
  const what = code === 'VEILBOX_ERR_INTERNAL' ? 'an internal error' : `an internal error (${ERROR_CODES[code].title})`
  return `${what} stopped this request; it changed nothing. Quote request id ${requestId} when reporting it.`
}

export function problemBody(err: VeilboxError, requestId: string): ProblemBody {
  if (!detailIsPublic(err.code)) {
    // Neither the detail nor the extra fields: both were written for the log.
    return {
      type: `https://veilbox.dev/errors/${err.code}`,
      title: err.title,
      status: err.status,
      detail: hiddenDetail(err.code, requestId),
      code: err.code,
      instance: requestId,
    }
  }
  return {
    ...err.extra,
    type: `https://veilbox.dev/errors/${err.code}`,
    title: err.title,
    status: err.status,
    detail: err.detail,
    code: err.code,
    instance: requestId,
  }
}

/** A request stream that ended because the client went away (not an error of the service). */
export function isClientAbort(err: unknown, request?: FastifyRequest): boolean {
  const e = err as { code?: string; message?: string } | null
  if (e === null || typeof e !== 'object') return false
  if (e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_PREMATURE_CLOSE' || e.message === 'aborted') return true
  return request?.raw.destroyed === true && request.raw.complete === false
}

function fromFastify(err: FastifyError, request: FastifyRequest): VeilboxError | null {
  if (err.validation) {
    const errors = err.validation.map((v) => ({
      path: `${err.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.').replace(/^\.$/, '')}`,
      message: v.message ?? 'invalid',
    }))
    return new VeilboxError('VEILBOX_ERR_REQUEST_VALIDATION', errors.map((e) => `${e.path}: ${e.message}`).join('; '), {
      errors,
    })
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new VeilboxError(
        'VEILBOX_ERR_REQUEST_TOO_LARGE',
        'the request body is larger than the limit of this route (1 MiB for JSON)',
      )
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new VeilboxError(
        'VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE',
        'this route does not accept that content type: JSON routes take application/json, uploads take text/csv or application/x-ndjson',
      )
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new VeilboxError('VEILBOX_ERR_REQUEST_BAD_JSON', 'the body is empty, cut short or not valid JSON')
  }
  if (isClientAbort(err, request)) {
    return new VeilboxError(
      'VEILBOX_ERR_REQUEST_ABORTED',
      'the client closed the connection before the request was complete; nothing was stored or charged',
    )
  }
  // Any other error that carries a client status (a static file path refused, a method a route lacks) is
  // the client's, whatever plugin raised it: its own code, never INTERNAL, never an error-level stack.
  const status = typeof err.statusCode === 'number' ? err.statusCode : 500
  if (status >= 400 && status < 500) return byStatus(status, request)
  return null
}

/** The request problem a plain HTTP client status stands for. */
export function byStatus(status: number, request: FastifyRequest): VeilboxError {
  const route = `${request.method} ${request.url.split('?')[0]}`
  switch (status) {
    case 403:
      return new VeilboxError(
        'VEILBOX_ERR_REQUEST_FORBIDDEN_PATH',
        `the path of ${route} is not allowed (it leaves its folder or names a hidden file); nothing was read`,
      )
    case 404:
      return new VeilboxError('VEILBOX_ERR_REQUEST_NOT_FOUND', `no route ${route}; GET /openapi.json lists the routes`)
    case 405:
      return new VeilboxError(
        'VEILBOX_ERR_REQUEST_METHOD_NOT_ALLOWED',
        `${request.method} is not allowed on ${request.url.split('?')[0]}; GET /openapi.json lists the methods of each route`,
      )
    case 408:
      return new VeilboxError(
        'VEILBOX_ERR_REQUEST_TIMEOUT',
        'the request body stopped arriving and the request was ended; nothing was stored',
      )
    case 413:
      return new VeilboxError('VEILBOX_ERR_REQUEST_TOO_LARGE', 'the request is larger than this route accepts')
    case 415:
      return new VeilboxError(
        'VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE',
        'this route does not accept that content type',
      )
    default:
      return new VeilboxError(
        'VEILBOX_ERR_REQUEST_MALFORMED',
        `the request ${route} could not be taken as sent (HTTP ${status})`,
      )
  }
}

export function sendProblem(reply: FastifyReply, err: VeilboxError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v)
  return reply
    .code(err.status)
    .type('application/problem+json')
    .send(problemBody(err, String(reply.request.id)))
}

export default fp(
  async function problem(app: FastifyInstance) {
    app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      let err: VeilboxError
      if (isVeilboxError(error)) {
        err = error
      } else {
        err =
          fromFastify(error, request) ??
          new VeilboxError('VEILBOX_ERR_INTERNAL', hiddenDetail('VEILBOX_ERR_INTERNAL', String(request.id)))
      }
      if (err.status >= 500) {
        // The real detail (err.message) goes to the log, whatever the client is shown (problemBody).
        request.log.error({ err: error, code: err.code }, 'request failed')
      } else {
        request.log.info({ code: err.code }, 'request refused')
      }
      // A refusal before the body was read (a stalled or refused upload): the rest of the body would be
      // read as the next request on this connection, so the connection ends with this answer.
      if (!request.raw.complete) reply.header('connection', 'close')
      return sendProblem(reply, err)
    })
    app.setNotFoundHandler((request, reply) =>
      sendProblem(
        reply,
        new VeilboxError(
          'VEILBOX_ERR_REQUEST_NOT_FOUND',
          `no route ${request.method} ${request.url.split('?')[0]}; GET /openapi.json lists the routes`,
        ),
      ),
    )
  },
  { name: 'problem' },
)

/**
 * Fastify's own refusals before routing (a URL that does not decode, a
 * failed route constraint) as problem+json, not Fastify's JSON shape.
 * Passed as the server's `frameworkErrors` option.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const err =
    error.code === 'FST_ERR_BAD_URL'
      ? new VeilboxError(
          'VEILBOX_ERR_REQUEST_BAD_URL',
          `the URL cannot be decoded (${JSON.stringify(request.url.slice(0, 200))}): a "%" must start a two-digit hex escape such as %2F`,
        )
      : byStatus(typeof error.statusCode === 'number' ? error.statusCode : 400, request)
  request.log.info({ code: err.code }, 'request refused')
  applySecurityHeaders(request.raw, reply.raw)
  void sendProblem(reply, err)
}

/**
 * What Node's HTTP parser refuses before any request exists (headers over
 * 16 KiB, a request line that does not parse): problem+json too, written to
 * the socket, which is then closed. Passed as the server's
 * `clientErrorHandler` option.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: import('node:stream').Duplex): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW'
  const e = tooLarge
    ? new VeilboxError(
        'VEILBOX_ERR_REQUEST_HEADERS_TOO_LARGE',
        'the request line and headers are larger than 16 KiB; send fewer or shorter headers',
      )
    : new VeilboxError('VEILBOX_ERR_REQUEST_MALFORMED', 'the HTTP request could not be parsed; nothing was done')
  const body = JSON.stringify(problemBody(e, 'none'))
  socket.end(
    `HTTP/1.1 ${e.status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  )
}
