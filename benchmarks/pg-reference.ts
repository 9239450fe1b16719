/**
 * PostgreSQL as a reference measured in the same run (issue 22): a
 * throwaway cluster (test/helpers/pg.ts), durable as veilbox is (fsync on),
 * and COPY of a CSV file into an equivalent table.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { postgresBin, type PgCluster } from '../test/helpers/pg.js'

/**
 * The harness starts PostgreSQL with fsync=off, from its command line, which
 * no configuration file or ALTER SYSTEM overrides: restart it with the same
 * options but fsync=on (as the postgres user when root, like the harness).
 */
export function restartWithFsync(cluster: PgCluster): void {
  const bin = postgresBin()!
  const data = path.join(cluster.dir, 'data')
  const options = `-p ${cluster.port} -k ${cluster.socketDir} -c listen_addresses='' -c fsync=on -c max_connections=200`
  const cmd = [
    path.join(bin, 'pg_ctl'),
    'restart',
    '-D',
    data,
    '-w',
    '-m',
    'fast',
    '-l',
    path.join(cluster.dir, 'server.log'),
    '-o',
    options,
  ]
  const argv = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...cmd] : cmd
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`pg_ctl restart failed (${r.status}): ${r.stderr || r.stdout}`)
}

export { HOUSEHOLDS_COLUMNS as HOUSEHOLDS_TABLE } from '../src/demo/households-source.js'

/**
 * Server-side COPY of `file` (CSV with a header) into a fresh table of
 * `columns`, timed from the statement's start to its commit, as one
 * transaction. The file is made readable by the server's user first.
 */
export async function copyReference(
  cluster: PgCluster,
  file: string,
  columns: string,
): Promise<{ rows: number; seconds: number }> {
  fs.chmodSync(path.dirname(file), 0o755)
  fs.chmodSync(file, 0o644)
  const c = new pg.Client({ connectionString: cluster.url('postgres') })
  await c.connect()
  try {
    await c.query('DROP TABLE IF EXISTS copy_reference')
    await c.query(`CREATE TABLE copy_reference ${columns}`)
    const started = process.hrtime.bigint()
    const res = await c.query(`COPY copy_reference FROM '${file.replaceAll("'", "''")}' WITH (FORMAT csv, HEADER true)`)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    return { rows: res.rowCount ?? 0, seconds }
  } finally {
    await c.end()
  }
}
