import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isVeilboxError, VeilboxError, type ErrorCode } from '../../errors/index.js'

/**
 * Every error leaves as application/problem+json with a stable VEILBOX_ERR_
 * code. Known client errors say exactly what to change; anything unexpected is
 * logged with its stack and answered with a generic 500 that names only the
 * request id.
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

export function problemBody(err: VeilboxError, requestId: string): ProblemBody {
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

function fromFastify(err: FastifyError): VeilboxError | null {
  if (err.validation) {
    const errors = err.validation.map((v) => ({
      path: `${err.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.').replace(/^\.$/, '')}`,
      message: v.message ?? 'invalid',
    }))
    return new VeilboxError(
      'VEILBOX_ERR_REQUEST_VALIDATION',
      errors.map((e) => `${e.path}: ${e.message}`).join('; '),
      { errors },
    )
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new VeilboxError('VEILBOX_ERR_REQUEST_TOO_LARGE', 'the request body is larger than the limit of this route (1 MiB for JSON)')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new VeilboxError('VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE', 'this route does not accept that content type: JSON routes take application/json, uploads take text/csv or application/x-ndjson')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new VeilboxError('VEILBOX_ERR_REQUEST_BAD_JSON', 'the body is empty, cut short or not valid JSON')
  }
  return null
}

export function sendProblem(reply: FastifyReply, err: VeilboxError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v)
  return reply.code(err.status).type('application/problem+json').send(problemBody(err, String(reply.request.id)))
}

export default fp(
  async function errors(app: FastifyInstance) {
    app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      let err: VeilboxError
      if (isVeilboxError(error)) {
        err = error
      } else {
        err =
          fromFastify(error) ??
          new VeilboxError('VEILBOX_ERR_INTERNAL', `an internal error stopped this request; it changed nothing. Quote request id ${request.id} when reporting it.`)
      }
      if (err.status >= 500) {
        request.log.error({ err: error, code: err.code }, 'request failed')
      } else {
        request.log.info({ code: err.code }, 'request refused')
      }
      return sendProblem(reply, err)
    })
    app.setNotFoundHandler((request, reply) =>
      sendProblem(
        reply,
        new VeilboxError('VEILBOX_ERR_REQUEST_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; GET /openapi.json lists the routes`),
      ),
    )
  },
  { name: 'errors' },
)
