import fs from 'node:fs'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { Option, type Command } from 'commander'
import cliProgress from 'cli-progress'
import { VeilboxError } from '../errors/index.js'
import { ENCRYPTED_CONTENT_TYPE } from '../engine/he/upload.js'
import { clientOptions, requestJson, type ClientOptions } from './client.js'

const FORMATS: Record<string, string> = {
  csv: 'text/csv',
  ndjson: 'application/x-ndjson',
  encrypted: ENCRYPTED_CONTENT_TYPE,
}

function formatOf(file: string, explicit?: string): string {
  if (explicit) return FORMATS[explicit]!
  const ext = path.extname(file).toLowerCase()
  if (ext === '.csv') return FORMATS.csv!
  if (ext === '.ndjson' || ext === '.jsonl') return FORMATS.ndjson!
  if (ext === '.vhe') return FORMATS.encrypted!
  throw new VeilboxError(
    'VEILBOX_ERR_REQUEST_VALIDATION',
    `cannot tell the format of ${file} from its extension; pass --format csv, ndjson or encrypted`,
  )
}

/** Uploads a file as a new dataset version, with a progress bar of rows, bytes and rate. */
export function registerIngest(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('upload a CSV or NDJSON file as a new version of a dataset (all or nothing)')
    .argument('<dataset>', 'dataset id')
    .argument('<file>', 'CSV (with header row), NDJSON, or an encrypted upload (.vhe, from veilbox encrypt)')
    .addOption(
      new Option('--format <format>', 'file format (default: from the extension)').choices(Object.keys(FORMATS)),
    )
    .option('--no-progress', 'do not draw a progress bar')
  clientOptions(cmd).action(
    async (dataset: string, file: string, opts: ClientOptions & { format?: string; progress: boolean }) => {
      const contentType = formatOf(file, opts.format)
      const total = fs.statSync(file).size
      const started = Date.now()
      let bytes = 0
      let lines = 0
      const bar = opts.progress
        ? new cliProgress.SingleBar(
            {
              format: 'uploading {bar} {percentage}% | {rows} rows | {mb}/{totalMb} MB | {rate} MB/s',
              hideCursor: true,
              etaBuffer: 50,
            },
            cliProgress.Presets.shades_classic,
          )
        : null
      bar?.start(total, 0, { rows: 0, mb: '0.0', totalMb: (total / 1e6).toFixed(1), rate: '0.0' })
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1
          const secs = Math.max(0.001, (Date.now() - started) / 1000)
          bar?.update(bytes, {
            rows: Math.max(0, contentType === 'text/csv' ? lines - 1 : lines),
            mb: (bytes / 1e6).toFixed(1),
            rate: (bytes / 1e6 / secs).toFixed(1),
          })
          done(null, chunk)
        },
      })
      const body = fs.createReadStream(file).pipe(counter)
      try {
        const result = await requestJson<{ version: number; rows: number; sha256: string }>(
          opts,
          'POST',
          `/v1/datasets/${encodeURIComponent(dataset)}/versions`,
          {
            body: Readable.toWeb(body) as ReadableStream,
            contentType,
          },
        )
        bar?.stop()
        const secs = (Date.now() - started) / 1000
        process.stdout.write(
          `${dataset} version ${result.version}: ${result.rows} rows in ${secs.toFixed(1)} s (${Math.round(result.rows / secs)} rows/s)\nsha256 ${result.sha256}\n`,
        )
      } finally {
        bar?.stop()
      }
    },
  )
}
