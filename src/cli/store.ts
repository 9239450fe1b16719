import { Option } from 'commander'
import { loadConfig, type Config } from '../config/index.js'
import { VeilboxError } from '../errors/index.js'
import { readSecret, sealerFromSecret } from '../sealed.js'
import { openStore, type Store } from '../store/db.js'
import { serviceSigningKey, type SigningKey } from '../store/receipt-keys.js'

/** What the commands that open the store themselves share: its options, the configuration, the store, the signing key. */

/** --data-dir, shared by the commands that open the database directly. */
export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'data directory (default: $VEILBOX_DATA_DIR or ./data)')
}

export function databaseUrlOption(): Option {
  return new Option(
    '--database-url <url>',
    'postgres://... : the PostgreSQL database a cluster shares (default: $VEILBOX_DATABASE_URL); without it, SQLite in the data directory',
  )
}

export function configFrom(opts: { dataDir?: string; databaseUrl?: string }) {
  if (opts.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(opts.databaseUrl)) {
    throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', 'invalid option: --database-url must be a postgres:// URL', {
      problems: ['--database-url: must be a postgres:// URL'],
    })
  }
  return loadConfig(process.env, {
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
  })
}

/** The store the configuration names (SQLite in the data directory, or PostgreSQL), for fn; closed after. */
export async function withStore<T>(config: Config, fn: (db: Store) => Promise<T>): Promise<T> {
  const db = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, { poolSize: 2 })
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

/** The service's signing key as this deployment keeps it (a file in the data directory, or sealed in PostgreSQL). */
export function signingKeyFor(config: Config, db: Store): Promise<SigningKey> {
  return serviceSigningKey(config, db, () => {
    const secret = readSecret({ file: config.secretFile, value: config.secret })
    if (secret === null)
      throw new VeilboxError(
        'VEILBOX_ERR_CONFIG_INVALID',
        "the signing key is sealed in the database: give the cluster's secret (VEILBOX_SECRET_FILE)",
        { problems: ['VEILBOX_SECRET_FILE: missing'] },
      )
    return sealerFromSecret(secret)
  })
}
