import type { Command } from 'commander'
import { VeilboxError } from '../errors/index.js'
import { readSecret, sealerFromSecret } from '../sealed.js'
import { resealStoredKeys } from '../store/receipt-keys.js'
import { configFrom, databaseUrlOption, withStore } from './store.js'

/**
 * The cluster's sealing secret (PostgreSQL): the signing key every node
 * shares is stored sealed under it. Rotation seals the stored key again
 * under a new secret in one transaction; nodes then restart with the new
 * file (docs/deploy.md).
 */
export function registerSecret(program: Command): void {
  const secret = program.command('secret').description("the cluster's sealing secret (PostgreSQL only)")
  secret
    .command('rotate')
    .description(
      'seal the stored signing key under a new secret, in one transaction; the current one comes from $VEILBOX_SECRET_FILE',
    )
    .addOption(databaseUrlOption())
    .requiredOption(
      '--new-secret-file <file>',
      'the new secret: a file of at least 32 random bytes (e.g. openssl rand -hex 32 > new-secret)',
    )
    .action(async (opts: { databaseUrl?: string; newSecretFile: string }) => {
      const config = configFrom(opts)
      if (config.databaseUrl === null) {
        throw new VeilboxError(
          'VEILBOX_ERR_CONFIG_INVALID',
          'secret rotate works on a PostgreSQL store: give --database-url or VEILBOX_DATABASE_URL (a single node keeps its key in a file, not sealed)',
          {
            problems: ['--database-url: missing'],
          },
        )
      }
      const from = sealerFromSecret(readSecret({ file: config.secretFile, value: config.secret })!)
      const to = sealerFromSecret(readSecret({ file: opts.newSecretFile })!)
      const n = await withStore(config, (db) => resealStoredKeys(db, from, to))
      process.stdout.write(
        `resealed ${n} stored key${n === 1 ? '' : 's'} under ${opts.newSecretFile}; restart every node with VEILBOX_SECRET_FILE=${opts.newSecretFile}\n`,
      )
    })
}
