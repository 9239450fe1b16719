import fs from 'node:fs'
import type { Command } from 'commander'
import { verifyCsv, verifyDocument, type DocumentCheck } from '../engine/market/documents.js'
import { VeilboxError } from '../errors/index.js'
import { clientOptions, requestJson, type ClientOptions } from './client.js'
import { publicKeyPem } from './audit.js'

/**
 * The data market from the terminal (docs/market.md): verify certificates,
 * statements and settlements offline; apply, decide and withdraw, and fetch
 * statements and settlements, through a running service.
 */
export function registerMarket(program: Command): void {
  for (const [name, what] of [
    ['certificate', 'registration certificates'],
    ['statement', 'statements'],
    ['settlement', 'settlements'],
  ] as const) {
    const cmd = program
      .command(name)
      .description(`${what}: verify offline${name === 'certificate' ? '' : ', or fetch'}`)
    cmd
      .command('verify')
      .description(
        `check a ${name}'s Ed25519 signature with the published public key (JSON${name === 'certificate' ? '' : ' or CSV'})`,
      )
      .argument('<file>', `the ${name} as downloaded`)
      .option('--public-key <file>', 'the public key: a PEM file, or the JSON of GET /v1/receipts/keys')
      .option(
        '--data-dir <dir>',
        "the service's data directory, whose receipt key is used when --public-key is not given",
      )
      .action((file: string, opts: { publicKey?: string; dataDir?: string }) => {
        const text = fs.readFileSync(file, 'utf8')
        const pem = publicKeyPem(opts.dataDir ?? process.env.VEILBOX_DATA_DIR ?? './data', opts.publicKey)
        const check = checkDocument(text, pem, `veilbox.${name}`)
        if (check.ok) process.stdout.write(`ok: ${check.kind} signed by the key given\n`)
        else {
          process.stdout.write(`INVALID: ${check.problem}\n`)
          process.exitCode = 1
        }
      })
    if (name === 'certificate') continue
    clientOptions(
      cmd
        .command('get')
        .description(`fetch a signed ${name} for a period (JSON, or CSV with --csv)`)
        .requiredOption('--from <time>', 'start, inclusive (ISO 8601)')
        .requiredOption('--to <time>', 'end, exclusive (ISO 8601)')
        .option(name === 'statement' ? '--organization <name>' : '--owner <name>', 'only this one (operators)')
        .option('--csv', 'CSV instead of JSON')
        .option('--out <file>', 'write to a file instead of stdout'),
    ).action(
      async (
        opts: ClientOptions & {
          from: string
          to: string
          organization?: string
          owner?: string
          csv?: boolean
          out?: string
        },
      ) => {
        const q = new URLSearchParams({ from: opts.from, to: opts.to, format: opts.csv ? 'csv' : 'json' })
        if (opts.organization) q.set('organization', opts.organization)
        if (opts.owner) q.set('owner', opts.owner)
        const text = await fetchText(opts, `/v1/${name}s?${q}`)
        if (opts.out) fs.writeFileSync(opts.out, text)
        else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
      },
    )
  }

  const apps = program.command('applications').description('applications for a use of data (through a running service)')
  clientOptions(
    apps.command('list').description('the applications you may see').option('--state <state>', 'only this state'),
  ).action(async (opts: ClientOptions & { state?: string }) => {
    const res = await requestJson<{
      applications: {
        id: string
        state: string
        scenario: string
        organization: string
        purpose: string
        parties: { party: string; owner: { name: string } | null; decision: string | null }[]
      }[]
    }>(opts, 'GET', `/v1/applications${opts.state ? `?state=${encodeURIComponent(opts.state)}` : ''}`)
    for (const a of res.applications) {
      const parties = a.parties.map((p) => `${p.owner?.name ?? p.party}:${p.decision ?? 'waiting'}`).join(' ')
      process.stdout.write(
        `${a.id}  ${a.state.padEnd(9)}  ${a.scenario.padEnd(14)}  ${a.organization}  [${parties}]  ${a.purpose}\n`,
      )
    }
  })
  clientOptions(
    apps
      .command('submit')
      .description('apply for a use: the request as JSON (docs/market.md, POST /v1/applications)')
      .argument('<file>', 'the application JSON, or - for stdin'),
  ).action(async (file: string, opts: ClientOptions) => {
    const body = fs.readFileSync(file === '-' ? 0 : file, 'utf8')
    printJson(await requestJson(opts, 'POST', '/v1/applications', { body, contentType: 'application/json' }))
  })
  for (const verb of ['approve', 'deny'] as const) {
    const cmd = apps
      .command(verb)
      .description(`${verb} an application, with a reason${verb === 'approve' ? ' (and optionally a narrowing)' : ''}`)
      .argument('<id>', 'the application id (a_...)')
      .requiredOption('--reason <text>', 'why, for the record')
    if (verb === 'approve') cmd.option('--narrow <json>', 'a narrowing as JSON, e.g. {"epsilon": 1}')
    clientOptions(cmd).action(
      async (id: string, opts: ClientOptions & { reason: string; narrow?: string | boolean }) => {
        const body: Record<string, unknown> = { reason: opts.reason }
        if (typeof opts.narrow === 'string') body.narrow = JSON.parse(opts.narrow)
        printJson(
          await requestJson(opts, 'POST', `/v1/applications/${encodeURIComponent(id)}/${verb}`, {
            body: JSON.stringify(body),
            contentType: 'application/json',
          }),
        )
      },
    )
  }
  clientOptions(
    apps
      .command('withdraw')
      .description('withdraw your application (an approved one: its grants are revoked)')
      .argument('<id>'),
  ).action(async (id: string, opts: ClientOptions) => {
    printJson(
      await requestJson(opts, 'POST', `/v1/applications/${encodeURIComponent(id)}/withdraw`, {
        body: '{}',
        contentType: 'application/json',
      }),
    )
  })
}

/** JSON or CSV, whichever the text is; `kind` must match. */
export function checkDocument(text: string, pem: string, kind: string): DocumentCheck {
  let check: DocumentCheck
  if (text.trimStart().startsWith('{')) {
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      return { ok: false, problem: 'the file is neither valid JSON nor a signed CSV' }
    }
    check = verifyDocument(doc, pem)
  } else check = verifyCsv(text, pem)
  if (check.ok && check.kind !== kind) return { ok: false, problem: `the file is a ${check.kind}, not a ${kind}` }
  return check
}

async function fetchText(opts: ClientOptions, route: string): Promise<string> {
  const key = opts.key ?? process.env.VEILBOX_API_KEY
  if (!key) throw new VeilboxError('VEILBOX_ERR_AUTH_MISSING_KEY', 'no API key: pass --key or set VEILBOX_API_KEY')
  const res = await fetch(new URL(route, opts.url), { headers: { authorization: `Bearer ${key}` } })
  const text = await res.text()
  if (!res.ok) {
    let detail = text.slice(0, 300)
    try {
      detail = (JSON.parse(text) as { detail?: string }).detail ?? detail
    } catch {}
    throw new VeilboxError('VEILBOX_ERR_INTERNAL', `HTTP ${res.status}: ${detail}`)
  }
  return text
}

function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`)
}
