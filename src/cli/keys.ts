import { Option, type Command } from 'commander'
import { createKey, listKeys, revokeKey, ROLES, rotateKey, type Role } from '../store/keys.js'
import { cliActor } from './actor.js'
import { configFrom, databaseUrlOption, dataDirOption, withStore } from './store.js'

/**
 * Key management on the machine that holds the database (no server needed):
 * the way in when no operator key is at hand.
 */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys (works on the database directly)')

  keys
    .command('create')
    .description('create a key and print it once')
    .addOption(new Option('--role <role>', 'role of the key').choices(ROLES).makeOptionMandatory())
    .requiredOption('--name <name>', 'principal the key belongs to, e.g. alice')
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .option('--json', 'print JSON')
    .action(async (opts: { role: Role; name: string; dataDir?: string; databaseUrl?: string; json?: boolean }) => {
      await withStore(configFrom(opts), async (db) => {
        const created = await createKey(db, { name: opts.name, role: opts.role }, cliActor())
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(created)}\n`
            : `${created.key}\n(key ${created.keyId} for ${created.name}, role ${created.role}; it is shown only now)\n`,
        )
      })
    })

  keys
    .command('list')
    .description('list active keys (never their secrets)')
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .option('--json', 'print JSON')
    .action(async (opts: { dataDir?: string; databaseUrl?: string; json?: boolean }) => {
      await withStore(configFrom(opts), async (db) => {
        const list = await listKeys(db)
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(list)}\n`)
        } else {
          for (const k of list) process.stdout.write(`${k.name}\t${k.role}\t${k.keyId}\t${k.createdAt}\n`)
        }
      })
    })

  keys
    .command('rotate')
    .description(
      'a new key for the same principal (grants and answers stay); the old key is revoked; prints the new key once',
    )
    .argument('<name>', 'principal name')
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { dataDir?: string; databaseUrl?: string; json?: boolean }) => {
      await withStore(configFrom(opts), async (db) => {
        const k = await rotateKey(db, name, cliActor())
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(k)}\n`
            : `${k.key}\n(new key ${k.keyId} for ${k.name}, principal ${k.principalId}; the old key is revoked; it is shown only now)\n`,
        )
      })
    })

  keys
    .command('revoke')
    .description('revoke the active key of a principal')
    .argument('<name>', 'principal name')
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .action(async (name: string, opts: { dataDir?: string; databaseUrl?: string }) => {
      await withStore(configFrom(opts), async (db) => {
        const k = await revokeKey(db, name, cliActor())
        process.stdout.write(`revoked ${k.name} (${k.role}, key ${k.keyId})\n`)
      })
    })
}
