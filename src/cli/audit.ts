import fs from 'node:fs'
import type { Command } from 'commander'
import { createPublicKey } from 'node:crypto'
import { signCurrentHead, type SignedHead } from '../store/audit-heads.js'
import { verifyAudit } from '../store/audit-verify.js'
import { verifyReceipt, type Receipt, type ReleasedResult } from '../engine/receipts.js'
import { loadOrCreateSigningKey, RECEIPT_KEY_FILE } from '../store/receipt-keys.js'
import { configFrom, databaseUrlOption, dataDirOption, signingKeyFor, withStore } from './store.js'
import path from 'node:path'

/** Offline checks on the machine that holds the data: the audit chain, and receipts. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('check the audit chain offline')

  audit
    .command('verify')
    .description(
      'verify the chain: hash links, signed heads, and every ledger and stored answer against the chain; exit 0 when all hold, 1 naming the first problem',
    )
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .option(
      '--head <hash|file>',
      'a head published earlier (a hash, or the JSON veilbox audit head printed): also detect a chain cut back below it, and check its signature',
    )
    .option(
      '--public-key <file>',
      "the service's public key (PEM, or the JSON of GET /v1/receipts/keys); default: the service's own (the key file in the data directory, or with PostgreSQL the sealed key, opened with VEILBOX_SECRET_FILE)",
    )
    .option('--json', 'print JSON')
    .action(
      async (opts: { dataDir?: string; databaseUrl?: string; head?: string; publicKey?: string; json?: boolean }) => {
        const config = configFrom(opts)
        await withStore(config, async (db) => {
          const key =
            opts.publicKey !== undefined || config.databaseUrl === null
              ? createPublicKey(publicKeyPem(config.dataDir, opts.publicKey))
              : (await signingKeyFor(config, db)).publicKey
          const head =
            opts.head === undefined
              ? undefined
              : /^[0-9a-f]{64}$/.test(opts.head)
                ? opts.head
                : (JSON.parse(fs.readFileSync(opts.head, 'utf8')) as SignedHead)
          const result = await verifyAudit(db, key, {
            ...(head === undefined ? {} : { expectedHead: head }),
            signIntervalMs: config.auditSignIntervalMs,
          })
          if (opts.json)
            process.stdout.write(`${JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}\n`)
          else if (result.ok) {
            const h = result.chain.ok ? result.chain.head : null
            const signed = result.heads.ok ? result.heads : null
            process.stdout.write(
              `ok: ${result.chain.records} records, head ${h ? `${h.seq} ${h.hash}` : '(empty)'}; ${signed?.signedHeads ?? 0} signed heads (${signed?.unsignedTail ?? 0} records after the last); ` +
                `${result.ledgers.grants} grant and ${result.ledgers.datasets} dataset ledgers and ${result.ledgers.answers} answers agree with the chain\n`,
            )
          } else process.stdout.write(`BROKEN: ${result.problem}\n`)
          if (!result.ok) process.exitCode = 1
        })
      },
    )

  audit
    .command('head')
    .description(
      "sign the current head with the service's key and print it {seq, hash, signedAt, keyId, signature}, to publish elsewhere",
    )
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .action(async (opts: { dataDir?: string; databaseUrl?: string }) => {
      const config = configFrom(opts)
      await withStore(config, async (db) => {
        process.stdout.write(`${JSON.stringify(await signCurrentHead(db, await signingKeyFor(config, db)))}\n`)
      })
    })

  const receipt = program.command('receipt').description('check answer receipts offline')
  receipt
    .command('verify')
    .description("check a receipt's signature with the published public key, and that an answer matches it")
    .argument('<receipt>', 'a receipt JSON file, or a whole answer JSON (then the answer is checked too)')
    .option('--result <answer>', 'the answer JSON the receipt was issued for')
    .option('--public-key <file>', 'the public key: a PEM file, or the JSON of GET /v1/receipts/keys')
    .addOption(dataDirOption())
    .action((file: string, opts: { result?: string; publicKey?: string; dataDir?: string }) => {
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>
      const rec = (doc.receipt ?? doc) as Receipt
      const answerDoc = opts.result
        ? (JSON.parse(fs.readFileSync(opts.result, 'utf8')) as ReleasedResult)
        : doc.receipt
          ? (doc as unknown as ReleasedResult)
          : undefined
      const pem = publicKeyFor(rec, opts)
      const check = verifyReceipt(rec, pem, answerDoc)
      if (check.ok) {
        process.stdout.write(
          `ok: receipt ${rec.queryId} signed by key ${rec.keyId}${answerDoc ? '; the answer matches it' : ''}\n`,
        )
      } else {
        process.stdout.write(`INVALID: ${check.problem}\n`)
        process.exitCode = 1
      }
    })
}

function publicKeyFor(rec: Receipt, opts: { publicKey?: string; dataDir?: string }): string {
  if (opts.publicKey) {
    const text = fs.readFileSync(opts.publicKey, 'utf8')
    if (text.trimStart().startsWith('{')) {
      const keys = (JSON.parse(text) as { keys?: { keyId: string; publicKey: string }[] }).keys ?? []
      const match = keys.find((k) => k.keyId === rec.keyId)
      if (!match) throw new Error(`the key file holds no key ${rec.keyId}`)
      return match.publicKey
    }
    return text
  }
  const dir = configFrom(opts).dataDir
  if (!fs.existsSync(path.join(dir, RECEIPT_KEY_FILE))) {
    throw new Error(`no public key: pass --public-key (GET /v1/receipts/keys gives it), or --data-dir of the service`)
  }
  return loadOrCreateSigningKey(dir).publicKeyPem
}

/** The service's public key: from --public-key (PEM, or GET /v1/receipts/keys JSON with one key), or from the key in the data directory. */
export function publicKeyPem(dataDir: string, file: string | undefined): string {
  if (file !== undefined) {
    const text = fs.readFileSync(file, 'utf8')
    if (!text.trimStart().startsWith('{')) return text
    const keys = (JSON.parse(text) as { keys?: { publicKey: string }[] }).keys ?? []
    if (keys.length === 0) throw new Error(`${file} holds no key`)
    return keys[0]!.publicKey
  }
  if (!fs.existsSync(path.join(dataDir, RECEIPT_KEY_FILE)))
    throw new Error('no public key: pass --public-key (GET /v1/receipts/keys gives it), or --data-dir of the service')
  return loadOrCreateSigningKey(dataDir).publicKeyPem
}
