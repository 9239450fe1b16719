import fs from 'node:fs'
import path from 'node:path'
import type { FastifyServerOptions } from 'fastify'
import { DEMO_KEYS_FILE, OPERATOR_KEY_FILE } from '../demo/bootstrap.js'

/**
 * How the service logs, and what it says when it starts (docs/operations:
 * README "Logs"). In a terminal, human-readable lines through pino-pretty;
 * anywhere else (a pipe, a file, a container's log collector) one JSON
 * object a line, as before.
 */

/** Whether logs are pretty-printed: only when standard output is a terminal. */
export function prettyLogs(isTTY: boolean | undefined): boolean {
  return isTTY === true
}

/** The Fastify logger options for a log level, pretty or JSON by `isTTY`; redaction applies to both. */
export function loggerOptions(level: string, isTTY: boolean | undefined): FastifyServerOptions['logger'] {
  return {
    level,
    // Keys travel in the Authorization header; it never reaches a log line.
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    ...(prettyLogs(isTTY)
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
          },
        }
      : {}),
  }
}

/** `s` as one shell word (POSIX sh): bare when it is plain, else single-quoted. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`
}

/**
 * What `veilbox serve` prints once it listens: where the console is, where
 * the keys file is, and a first curl to try. The curl reads the key from the
 * keys file when it runs (with node, which any machine running veilbox has),
 * so no key is printed. `keysFile` is null when there is none to point at.
 */
export function startLines(url: string, keysFile: { path: string; field: string; route: string } | null): string[] {
  const base = url.replace(/\/$/, '')
  const lines = [`console  ${base}/console/`]
  if (keysFile) {
    const read = `node -p 'require(process.argv[1]).${keysFile.field}' ${shellQuote(keysFile.path)}`
    lines.push(`keys     ${keysFile.path} (mode 0600)`)
    lines.push(`try      curl -s -H "authorization: Bearer $(${read})" ${base}${keysFile.route}`)
  } else {
    lines.push(`try      curl -s ${base}/healthz`)
  }
  return lines
}

/**
 * The keys file of a data directory and the first request to try with it: the
 * demo analyst's catalog, or the operator's `/v1/me` on a service without the
 * demo; null when the file is not there (a key made some other way).
 */
export function keysFileOf(dataDir: string, demo: boolean): { path: string; field: string; route: string } | null {
  const file = path.resolve(dataDir, demo ? DEMO_KEYS_FILE : OPERATOR_KEY_FILE)
  if (!fs.existsSync(file)) return null
  return demo
    ? { path: file, field: 'analyst', route: '/v1/datasets' }
    : { path: file, field: 'operator', route: '/v1/me' }
}
