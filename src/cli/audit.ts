import fs from 'node:fs'
import type { Command } from 'commander'
import { auditHead, verifyChain } from '../store/audit.js'
import { openDb } from '../store/db.js'
import { verifyReceipt, type Receipt, type ReleasedResult } from '../engine/receipts.js'
import { loadOrCreateSigningKey, RECEIPT_KEY_FILE } from '../store/receipt-keys.js'
import { configFrom, dataDirOption } from './main.js'
import path from 'node:path'

/** Offline checks on the machine that holds the data: the audit chain, and receipts. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('check the audit chain offline')

  audit
    .command('verify')
    .description('recompute the whole chain; exit 0 when it holds, 1 naming the first bad record')
    .addOption(dataDirOption())
    .option('--head <hash>', 'a head exported earlier (veilbox audit head): also detect a chain cut back below it')
    .option('--json', 'print JSON')
    .action((opts: { dataDir?: string; head?: string; json?: boolean }) => {
      const db = openDb(configFrom(opts).dataDir, { readonly: true })
      try {
        const result = verifyChain(db, opts.head)
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`)
        else if (result.ok) process.stdout.write(`ok: ${result.records} records, head ${result.head ? `${result.head.seq} ${result.head.hash}` : '(empty)'}\n`)
        else process.stdout.write(`BROKEN at record ${result.badSeq}: ${result.problem} (${result.records} records verified before it)\n`)
        if (!result.ok) process.exitCode = 1
      } finally {
        db.close()
      }
    })

  audit
    .command('head')
    .description('print the current head {seq, hash}, to publish elsewhere')
    .addOption(dataDirOption())
    .action((opts: { dataDir?: string }) => {
      const db = openDb(configFrom(opts).dataDir, { readonly: true })
      try {
        process.stdout.write(`${JSON.stringify(auditHead(db))}\n`)
      } finally {
        db.close()
      }
    })

  const receipt = program.command('receipt').description('check answer receipts offline')
  receipt
    .command('verify')
    .description('check a receipt\'s signature with the published public key, and that an answer matches it')
    .argument('<receipt>', 'a receipt JSON file, or a whole answer JSON (then the answer is checked too)')
    .option('--result <answer>', 'the answer JSON the receipt was issued for')
    .option('--public-key <file>', 'the public key: a PEM file, or the JSON of GET /v1/receipts/keys')
    .addOption(dataDirOption())
    .action((file: string, opts: { result?: string; publicKey?: string; dataDir?: string }) => {
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>
      const rec = (doc.receipt ?? doc) as Receipt
      const answerDoc = opts.result ? (JSON.parse(fs.readFileSync(opts.result, 'utf8')) as ReleasedResult) : doc.receipt ? (doc as unknown as ReleasedResult) : undefined
      const pem = publicKeyFor(rec, opts)
      const check = verifyReceipt(rec, pem, answerDoc)
      if (check.ok) {
        process.stdout.write(`ok: receipt ${rec.queryId} signed by key ${rec.keyId}${answerDoc ? '; the answer matches it' : ''}\n`)
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
