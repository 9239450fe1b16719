import { parentPort, workerData } from 'node:worker_threads'
import { VeilboxError } from '../errors/index.js'
import type { DatasetSpec } from '../schema.js'
import { ColumnarSink, endOfCsv } from './columnar.js'
import { CsvScanner } from './csv-scan.js'
import { Utf8Checker, type IngestLimits } from './lines.js'
import type { FromParser, ToParser } from './parser-messages.js'

/**
 * The CSV fast path's worker (fast.ts): bytes in, packed column chunks out,
 * so that parsing, checking and packing a large upload use a core of their
 * own and never hold the event loop that answers queries. Ids (and
 * undeclared categories without maxKeys) go back as bytes: fast.ts codes
 * them on its thread, which has time to spare while this one parses.
 */
const { spec, limits } = workerData as { spec: DatasetSpec; limits: IngestLimits }
const port = parentPort!
const sink = new ColumnarSink(spec, limits.maxFieldChars, true)
const scanner = new CsvScanner(sink, limits.maxLineBytes)
const utf8 = new Utf8Checker()

function send(message: FromParser, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer)
}

function sendChunks(): void {
  if (sink.ready.length === 0) return
  const chunks = sink.ready
  sink.ready = []
  const transfer: ArrayBuffer[] = []
  for (const c of chunks) {
    transfer.push(c.chunkData.data.buffer as ArrayBuffer)
    if (c.chunkData.nulls) transfer.push(c.chunkData.nulls.buffer as ArrayBuffer)
    if (c.raw) transfer.push(c.raw.bytes.buffer as ArrayBuffer, c.raw.ends.buffer as ArrayBuffer)
  }
  send({ type: 'chunks', chunks }, transfer)
}

port.on('message', (m: ToParser) => {
  try {
    if (m.type === 'bytes') {
      scanner.push(utf8.check(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength), false))
      sendChunks()
      send({ type: 'consumed', bytes: m.bytes.byteLength })
      return
    }
    const { sha256, dictionaries } = endOfCsv(scanner, utf8, sink)
    sendChunks()
    send({ type: 'done', rows: sink.rows, sha256, dictionaries })
  } catch (err) {
    send({
      type: 'refused',
      error:
        err instanceof VeilboxError
          ? { code: err.code, detail: err.detail, extra: { ...err.extra } }
          : { code: null, detail: String((err as Error)?.stack ?? err), extra: {} },
    })
  }
})
