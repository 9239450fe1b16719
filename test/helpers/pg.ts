/**
 * A real, throwaway PostgreSQL 15 for tests: initdb into a temporary
 * directory, pg_ctl start with a unix socket in that directory and no TCP
 * listener, one database per caller, stopped and removed in teardown.
 * PostgreSQL refuses to run as root, so as root the server runs as the
 * `postgres` user (runuser). Nothing is mocked.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'

const BIN_DIRS = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/local/pgsql/bin']

export function postgresBin(): string | null {
  for (const d of BIN_DIRS) if (fs.existsSync(path.join(d, 'pg_ctl'))) return d
  return null
}

export interface PgCluster {
  readonly dir: string
  readonly socketDir: string
  readonly port: number
  /** A connection URL for `database` (node-postgres form, over the unix socket). */
  url(database: string): string
  /** A fresh, empty database; its URL. */
  createDatabase(prefix?: string): Promise<string>
  stop(): void
}

function asPostgres(args: readonly string[]): readonly string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...args] : args
}

function run(bin: string, args: readonly string[]): void {
  const [cmd, ...rest] = asPostgres([bin, ...args])
  const r = spawnSync(cmd!, rest, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${path.basename(bin)} failed (${r.status}): ${r.stderr || r.stdout}`)
}

/** Starts a cluster of its own; stopped and removed when `t` tears down. */
export async function startPostgres(t: { teardown(fn: () => unknown): void }): Promise<PgCluster> {
  const bin = postgresBin()
  if (bin === null)
    throw new Error('PostgreSQL server binaries not found (apt-get install -y postgresql); .ci/run installs them')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-pg-'))
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    fs.chownSync(dir, uid, gid)
  }
  const data = path.join(dir, 'data')
  const socketDir = dir
  // The port only names the socket file (no TCP listener): any free-looking number will do.
  const port = 20_000 + (randomBytes(2).readUInt16BE(0) % 40_000)
  run(path.join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--locale=C.UTF-8',
    '--no-sync',
  ])
  run(path.join(bin, 'pg_ctl'), [
    'start',
    '-D',
    data,
    '-w',
    '-l',
    path.join(dir, 'server.log'),
    '-o',
    `-p ${port} -k ${socketDir} -c listen_addresses='' -c fsync=off -c max_connections=200`,
  ])
  let stopped = false
  const stop = (): void => {
    if (stopped) return
    stopped = true
    try {
      run(path.join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w'])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  t.teardown(stop)
  const url = (database: string) =>
    `postgres://postgres@/${database}?host=${encodeURIComponent(socketDir)}&port=${port}`
  return {
    dir,
    socketDir,
    port,
    url,
    async createDatabase(prefix = 't') {
      const name = `${prefix}_${randomBytes(6).toString('hex')}`
      const client = new pg.Client({ connectionString: url('postgres') })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${name}`)
      } finally {
        await client.end()
      }
      return url(name)
    },
    stop,
  }
}
