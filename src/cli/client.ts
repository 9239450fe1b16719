import type { Command } from 'commander'
import { ERROR_CODES, VeilboxError, type ErrorCode } from '../errors/index.js'

export interface ClientOptions {
  url: string
  key?: string
}

/** --url and --key for commands that talk to a running service. */
export function clientOptions(cmd: Command): Command {
  return cmd
    .option(
      '--url <url>',
      'service URL (default: $VEILBOX_URL or http://127.0.0.1:8080)',
      process.env.VEILBOX_URL ?? 'http://127.0.0.1:8080',
    )
    .option('--key <key>', 'API key (default: $VEILBOX_API_KEY)')
}

/** Calls the service; a problem+json answer becomes a VeilboxError with the service's code and detail. */
export async function requestJson<T>(
  opts: ClientOptions,
  method: string,
  route: string,
  init: { body?: ReadableStream | string; contentType?: string } = {},
): Promise<T> {
  const key = opts.key ?? process.env.VEILBOX_API_KEY
  if (!key) {
    throw new VeilboxError('VEILBOX_ERR_AUTH_MISSING_KEY', 'no API key: pass --key or set VEILBOX_API_KEY')
  }
  const headers: Record<string, string> = { authorization: `Bearer ${key}` }
  if (init.contentType) headers['content-type'] = init.contentType
  const res = await fetch(new URL(route, opts.url), {
    method,
    headers,
    ...(init.body === undefined ? {} : { body: init.body, duplex: 'half' }),
  } as RequestInit)
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = null
  }
  if (!res.ok) {
    const p = (json ?? {}) as { code?: string; detail?: string }
    const code = (p.code && p.code in ERROR_CODES ? p.code : 'VEILBOX_ERR_INTERNAL') as ErrorCode
    throw new VeilboxError(
      code,
      p.detail ?? `HTTP ${res.status}: ${text.slice(0, 200)}`,
      json && typeof json === 'object' ? (json as Record<string, unknown>) : {},
    )
  }
  return json as T
}
