import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import type { DatasetSpec } from '../schema.js'
import { DEMO_CSV_HEADER, DEMO_SPEC, demoRows, toCsvLine } from './binzhou.js'

/**
 * The demo households in the owner's own PostgreSQL: the table, its rows
 * (the same synthetic rows the embedded demo uploads), the read-only role
 * veilbox connects as, and the dataset registered with that table as its
 * source. `npm run demo:postgres` (scripts/demo-postgres.ts) and the tests use it.
 */

export const SOURCED_DEMO_ID = 'binzhou_households_pg'
export const DEMO_TABLE = 'public.households'
export const READER_ROLE = 'veilbox_reader'

/** The demo dataset, its rows read from `connection`'s households table. */
export function sourcedDemoSpec(connection: string): DatasetSpec {
  return {
    ...DEMO_SPEC,
    id: SOURCED_DEMO_ID,
    title: "Binzhou households, in the bureau's PostgreSQL (synthetic demo)",
    source: { kind: 'postgres', connection, table: DEMO_TABLE, unitBounded: true },
  }
}

/** The demo households' columns as PostgreSQL types (the unit's key added where the table is created). */
export const HOUSEHOLDS_COLUMNS = `(
  household_id      text NOT NULL,
  district          text NOT NULL,
  insured           boolean NOT NULL,
  age_band          text NOT NULL,
  age               integer NOT NULL,
  household_size    integer NOT NULL,
  income            double precision NOT NULL,
  medical_spending  double precision NOT NULL
)`

const TABLE_SQL = `CREATE TABLE ${DEMO_TABLE} ${HOUSEHOLDS_COLUMNS.replace(/\)$/, ',\n  PRIMARY KEY (household_id)\n)')}`

/**
 * Creates the households table in the database at `adminUrl` (a role that
 * may create tables and roles), loads `rows` demo rows into it with COPY
 * (server-side, from a file the server can read), and creates the
 * read-only login role veilbox uses, with SELECT on the table and nothing
 * else. Returns the role's name.
 */
export async function loadHouseholds(adminUrl: string, rows: number, seed?: number): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-households-'))
  fs.chmodSync(dir, 0o755)
  const file = path.join(dir, 'households.csv')
  const out = fs.createWriteStream(file, { mode: 0o644 })
  out.write(DEMO_CSV_HEADER)
  for (const r of demoRows(rows, seed))
    if (!out.write(toCsvLine(r))) await new Promise<void>((ok) => out.once('drain', () => ok()))
  await new Promise<void>((ok, fail) => out.end((err?: Error | null) => (err ? fail(err) : ok())))
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    await client.query(TABLE_SQL)
    await client.query(`COPY ${DEMO_TABLE} FROM '${file}' WITH (FORMAT csv, HEADER true)`)
    await client.query(`ANALYZE ${DEMO_TABLE}`)
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [READER_ROLE])
    if (exists.rowCount === 0) await client.query(`CREATE ROLE ${READER_ROLE} LOGIN`)
    await client.query(`GRANT USAGE ON SCHEMA public TO ${READER_ROLE}`)
    await client.query(`GRANT SELECT ON ${DEMO_TABLE} TO ${READER_ROLE}`)
  } finally {
    await client.end()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return READER_ROLE
}
