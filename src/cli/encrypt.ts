import fs from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'
import cliProgress from 'cli-progress'
import { InvalidArgumentError, type Command } from 'commander'
import { ENCRYPTED_CONTENT_TYPE } from '../engine/he/upload.js'
import { encryptCsv } from '../owner/encrypt.js'

/** `veilbox encrypt`: the data owner's tool, on the owner's machine (src/owner/encrypt.ts does the work). */
export function registerEncrypt(program: Command): void {
  program
    .command('encrypt')
    .description(
      "the data owner's side: encrypt a CSV's he columns with the custodian's keys into an upload for the service",
    )
    .requiredOption('--dataset <id>', 'dataset the file is for (its keys must exist in --keys)')
    .requiredOption('--keys <dir>', "the custodian's key directory (holds the dataset's secret key)")
    .requiredOption(
      '-o, --output <file>',
      `where to write the encrypted upload (${ENCRYPTED_CONTENT_TYPE}; by convention .vhe)`,
    )
    .argument('<input>', 'CSV with a header row naming every column')
    .option('--no-progress', 'do not draw a progress bar')
    .option(
      '--workers <n>',
      'encryption worker threads (0: encrypt in the main thread); default: one per core',
      (v) => {
        const n = Number(v)
        if (!Number.isSafeInteger(n) || n < 0 || n > 64) throw new InvalidArgumentError('a whole number from 0 to 64')
        return n
      },
    )
    .action(
      async (
        input: string,
        opts: { dataset: string; keys: string; output: string; progress: boolean; workers?: number },
      ) => {
        const total = fs.statSync(input).size
        const bar = opts.progress
          ? new cliProgress.SingleBar(
              {
                format: 'encrypting {bar} {percentage}% | {rows} rows | {rate} rows/s',
                hideCursor: true,
                etaBuffer: 50,
              },
              cliProgress.Presets.shades_classic,
            )
          : null
        const tmp = `${opts.output}.${process.pid}.tmp`
        // Written under a temporary name and renamed at the end: a half-written file never has the final name.
        const out = fs.createWriteStream(tmp, { mode: 0o600 })
        const started = Date.now()
        bar?.start(total, 0, { rows: 0, rate: 0 })
        try {
          const stats = await encryptCsv(path.resolve(opts.keys), opts.dataset, fs.createReadStream(input), out, {
            ...(opts.workers === undefined ? {} : { workers: opts.workers }),
            onRow: (rows, read) => {
              if (rows % 1000 === 0)
                bar?.update(read, { rows, rate: Math.round(rows / Math.max(0.001, (Date.now() - started) / 1000)) })
            },
          })
          out.end()
          await once(out, 'finish')
          fs.renameSync(tmp, opts.output)
          bar?.update(total, { rows: stats.rows, rate: Math.round(stats.rows / Math.max(0.001, stats.seconds)) })
          bar?.stop()
          process.stdout.write(
            `${opts.output}: ${stats.rows} rows of ${opts.dataset} in ${stats.seconds.toFixed(1)} s (${Math.round(stats.rows / Math.max(0.001, stats.seconds))} rows/s), ${(stats.bytesOut / 1e6).toFixed(1)} MB\n` +
              `HE profile ${stats.profileId}\nupload it with: veilbox ingest ${opts.dataset} ${opts.output}\n`,
          )
        } catch (err) {
          bar?.stop()
          out.destroy()
          fs.rmSync(tmp, { force: true })
          throw err
        }
      },
    )
}
