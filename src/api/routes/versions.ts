import { issueCertificate } from './certify.js'
import { pipeline, Readable, Transform } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { identifierSchema } from '../../schema.js'
import { getDataset } from '../../store/datasets.js'
import { ENCRYPTED_CONTENT_TYPE } from '../../engine/he/upload.js'
import { ingestEncrypted } from '../../ingest/encrypted.js'
import { ingest, INGEST_FORMATS } from '../../ingest/index.js'
import { actorOf } from '../plugins/auth.js'
import { problems } from '../schemas.js'

/** Counts bytes through a stream and fails it once they pass `limit`. */
function byteLimit(limit: number): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length
      if (seen > limit) {
        done(
          new VeilboxError(
            'VEILBOX_ERR_REQUEST_TOO_LARGE',
            `the upload is larger than ${limit} bytes (VEILBOX_UPLOAD_MAX_MB); nothing was stored`,
          ),
        )
      } else {
        done(null, chunk)
      }
    },
  })
}

/**
 * Uploads live in a scope of their own: only here do text/csv and NDJSON
 * bodies reach a handler, as streams that are never held whole in memory.
 */
export default async function versionRoutes(app: FastifyInstance) {
  app.addContentTypeParser([...INGEST_FORMATS, ENCRYPTED_CONTENT_TYPE], (_request, payload, done) =>
    done(null, payload),
  )

  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/datasets/:id/versions',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Load a new version of a dataset from CSV (header row), NDJSON or an encrypted upload, all or nothing',
        description:
          'The body is streamed. Every row is checked against the schema; one bad row refuses the whole upload with VEILBOX_ERR_INGEST_BAD_ROW naming the data row (1-based, header not counted), line and column, and nothing is stored. ' +
          `A dataset with encrypted (he) columns takes the data owner's encrypted file (${ENCRYPTED_CONTENT_TYPE}, written by veilbox encrypt: only ciphertexts of the he columns reach the service), or, as the weaker convenience path, plain CSV/NDJSON whose he values the service encrypts on arrival with the dataset's public key (docs/he.md).`,
        tags: ['datasets'],
        params: z.object({ id: identifierSchema }),
        requestBodyDoc: {
          content: {
            'text/csv': { schema: { type: 'string', description: 'CSV with a header row naming every column once' } },
            'application/x-ndjson': {
              schema: { type: 'string', description: 'one JSON object per line, every column present' },
            },
            [ENCRYPTED_CONTENT_TYPE]: {
              schema: {
                type: 'string',
                description: 'veilbox encrypt output: header, plain rows, he ciphertexts, end line (docs/he.md)',
              },
            },
          },
        },
        response: {
          201: z.object({
            version: z.number().int(),
            rows: z.number().int(),
            sha256: z.string().regex(/^[0-9a-f]{64}$/),
            commitment: z.string().regex(/^[0-9a-f]{64}$/),
          }),
          ...problems(400, 401, 403, 404, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const mediaType = String(request.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim()
        .toLowerCase()
      const format = INGEST_FORMATS.find((f) => f === mediaType)
      if (format === undefined && mediaType !== ENCRYPTED_CONTENT_TYPE) {
        throw new VeilboxError(
          'VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE',
          `uploads take ${[...INGEST_FORMATS, ENCRYPTED_CONTENT_TYPE].join(' or ')}, not ${mediaType || 'no content type'}`,
        )
      }
      // The content-type parser of this scope hands every upload body over as the stream it is (no body schema).
      const upload = request.body
      if (!(upload instanceof Readable)) throw new Error(`the ${mediaType} body reached the route as no stream`)
      await getDataset(app.db, request.params.id)
      // pipeline, not pipe: an error on either side (over the limit, the client gone) ends both and is kept for
      // the reader, however long the ingest takes to start reading (a store round trip or two): never thrown unheard.
      const body = byteLimit(app.config.uploadMaxBytes)
      pipeline(upload, body, () => {})
      const actor = actorOf(request)
      const limits = { maxLineBytes: app.config.ingestMaxLineBytes, maxFieldChars: app.config.ingestMaxFieldChars }
      // Past the check above, a media type that is no ingest format is the encrypted upload's.
      const result =
        format === undefined
          ? await ingestEncrypted(app.db, request.params.id, body, actor, limits, declaredLength(request.headers))
          : await ingest(app.db, request.params.id, format, body, actor, limits, declaredLength(request.headers))
      app.metrics.ingested(result.rows)
      await issueCertificate(app, request.params.id, result.version, actor)
      return reply.code(201).send(result)
    },
  )
}

/** The body's declared size, when the client sent one (a chunked upload has none). */
function declaredLength(headers: { 'content-length'?: string }): number | null {
  const n = Number(headers['content-length'])
  return Number.isSafeInteger(n) && n >= 0 ? n : null
}
