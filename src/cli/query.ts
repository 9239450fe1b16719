import fs from 'node:fs'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { clientOptions, type ClientOptions } from './client.js'
import {
  type AnswerView,
  type PreviewView,
  type ProblemView,
  clean,
  renderCsv,
  renderPreview,
  renderRefusal,
  renderTable,
} from './render.js'

/**
 * `veilbox query` and `veilbox preview`: a query from the terminal, through a
 * running service (docs/cli.md). Exit codes: 0 answered (for preview: the
 * query is affordable), 1 refused (by the service, or a preview the service
 * says would be refused, or before sending: no key, bad SQL file),
 * 3 the service could not be reached or did not answer as veilbox.
 */
export const EXIT_REFUSED = 1
export const EXIT_UNREACHABLE = 3

/** How long to wait for an answer before giving up (a query's own deadline is shorter). */
const TIMEOUT_MS = 300_000

interface QueryOptions extends ClientOptions {
  grant: string
  epsilon: number
  mechanism?: 'laplace' | 'gaussian'
  confidence?: number
  delta?: number
  weights?: number[]
  datasetVersion?: number
  json?: boolean
  csv?: boolean
}

/** What went wrong talking to the service, for the command to print and exit on. */
export type Outcome<T> =
  | { readonly kind: 'ok'; readonly body: T }
  | { readonly kind: 'refused'; readonly problem: ProblemView; readonly raw: unknown }
  | { readonly kind: 'unreachable'; readonly message: string }

const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  UND_ERR_SOCKET: 'connection closed',
}

/** A network failure in words: fetch's TypeError hides the reason in `cause.code`. */
export function networkReason(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return `no answer within ${TIMEOUT_MS / 1000} s`
  const cause = err instanceof Error ? err.cause : undefined
  const code = cause && typeof cause === 'object' && 'code' in cause ? String(cause.code) : ''
  if (code) return `${REASONS[code] ?? code} (${code})`
  if (cause instanceof Error) return cause.message
  return err instanceof Error ? err.message : String(err)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** POSTs `body` to `route`; a problem+json answer is a refusal, anything not veilbox's JSON is unreachable. */
export async function post<T>(opts: ClientOptions, route: string, body: unknown): Promise<Outcome<T>> {
  const key = opts.key ?? process.env.VEILBOX_API_KEY
  if (!key) {
    return {
      kind: 'refused',
      problem: {
        status: 401,
        title: 'No API key',
        code: 'VEILBOX_ERR_AUTH_MISSING_KEY',
        detail: 'no API key: pass --key or set VEILBOX_API_KEY',
      },
      raw: null,
    }
  }
  let url: URL
  try {
    url = new URL(route, opts.url)
  } catch {
    return { kind: 'unreachable', message: `${opts.url} is not a URL; set VEILBOX_URL or pass --url` }
  }
  let res: Response
  let text: string
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
    text = await res.text()
  } catch (err) {
    return {
      kind: 'unreachable',
      message: `cannot reach the veilbox service at ${url.origin}: ${networkReason(err)}. Is it running? Set VEILBOX_URL or pass --url.`,
    }
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  if (res.ok && isObject(json)) return { kind: 'ok', body: json as T }
  if (isObject(json) && typeof json.code === 'string' && typeof json.detail === 'string') {
    const problem: ProblemView = {
      ...json,
      status: typeof json.status === 'number' ? json.status : res.status,
      title: typeof json.title === 'string' ? json.title : `HTTP ${res.status}`,
      code: json.code,
      detail: json.detail,
    }
    return { kind: 'refused', problem, raw: json }
  }
  return {
    kind: 'unreachable',
    message: `${url.origin} answered HTTP ${res.status} with something that is not veilbox's JSON: ${clean(text.slice(0, 200))}`,
  }
}

function number(what: string, check: (n: number) => boolean = () => true) {
  return (v: string): number => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || !check(n)) throw new InvalidArgumentError(`${what}, got ${v}`)
    return n
  }
}

/** The options both commands take, after --url and --key. */
function queryCommand(program: Command, name: string, description: string): Command {
  return clientOptions(
    program
      .command(name)
      .description(description)
      .argument('<sql>', 'the query in the SQL subset (docs/query-language.md), or - to read it from stdin')
      .requiredOption('--grant <id>', 'the grant the query runs in (g_...)')
      .requiredOption(
        '--epsilon <n>',
        'the privacy budget of this answer',
        number('epsilon must be a number > 0', (n) => n > 0),
      )
      .option('--mechanism <name>', 'laplace (default) or gaussian', (v: string) => {
        if (v !== 'laplace' && v !== 'gaussian') throw new InvalidArgumentError('laplace or gaussian')
        return v
      })
      .option(
        '--confidence <c>',
        'level of the intervals (default 0.95)',
        number('confidence must be between 0 and 1', (n) => n > 0 && n < 1),
      )
      .option('--delta <d>', "gaussian, or partition selection: the delta (default the grant's)", number('delta'))
      .option('--weights <w,...>', 'how the epsilon is split across the aggregates, e.g. 1,3,3', (v: string) =>
        v.split(',').map((w) => number('weights are numbers > 0', (n) => n > 0)(w)),
      )
      .option(
        '--dataset-version <n>',
        'dataset version (default the latest)',
        number('the version is a whole number', Number.isInteger),
      )
      .addOption(new Option('--json', "print the service's JSON").conflicts('csv')),
  )
}

function requestBody(sql: string, opts: QueryOptions): Record<string, unknown> {
  return {
    sql,
    grant: opts.grant,
    epsilon: opts.epsilon,
    ...(opts.mechanism === undefined ? {} : { mechanism: opts.mechanism }),
    ...(opts.confidence === undefined ? {} : { confidence: opts.confidence }),
    ...(opts.delta === undefined ? {} : { delta: opts.delta }),
    ...(opts.weights === undefined ? {} : { weights: opts.weights }),
    ...(opts.datasetVersion === undefined ? {} : { version: opts.datasetVersion }),
  }
}

function readSql(arg: string): string {
  return arg === '-' ? fs.readFileSync(0, 'utf8') : arg
}

/** Prints a refusal or a connection failure and sets the exit code; true when there is a body to print. */
function settle<T>(outcome: Outcome<T>, sql: string, json: boolean | undefined): outcome is { kind: 'ok'; body: T } {
  if (outcome.kind === 'ok') return true
  if (outcome.kind === 'refused') {
    if (json && outcome.raw !== null) process.stdout.write(`${JSON.stringify(outcome.raw, null, 2)}\n`)
    process.stderr.write(renderRefusal(outcome.problem, sql))
    process.exitCode = EXIT_REFUSED
  } else {
    process.stderr.write(`veilbox: ${outcome.message}\n`)
    process.exitCode = EXIT_UNREACHABLE
  }
  return false
}

export function registerQuery(program: Command): void {
  queryCommand(
    program,
    'query',
    'run an aggregate query in a grant: a table of noisy values with intervals, the charge and the remaining budget',
  )
    .addOption(
      new Option('--csv', 'print CSV (RFC 4180): each aggregate with <name>_lo and <name>_hi').conflicts('json'),
    )
    .action(async (sqlArg: string, opts: QueryOptions) => {
      const sql = readSql(sqlArg)
      const outcome = await post<AnswerView>(opts, '/v1/queries', requestBody(sql, opts))
      if (!settle(outcome, sql, opts.json)) return
      if (opts.json) process.stdout.write(`${JSON.stringify(outcome.body, null, 2)}\n`)
      else if (opts.csv) process.stdout.write(renderCsv(outcome.body))
      else process.stdout.write(renderTable(outcome.body))
    })
}

export function registerPreview(program: Command): void {
  queryCommand(
    program,
    'preview',
    'price a query: the charge, the expected errors and the remaining budget; computes and spends nothing',
  ).action(async (sqlArg: string, opts: QueryOptions) => {
    const sql = readSql(sqlArg)
    const outcome = await post<PreviewView>(opts, '/v1/queries/preview', requestBody(sql, opts))
    if (!settle(outcome, sql, opts.json)) return
    if (opts.json) process.stdout.write(`${JSON.stringify(outcome.body, null, 2)}\n`)
    else process.stdout.write(renderPreview(outcome.body))
    if (!outcome.body.affordable) process.exitCode = EXIT_REFUSED
  })
}
