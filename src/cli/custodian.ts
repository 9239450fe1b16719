import path from 'node:path'
import type { Command } from 'commander'
import { VeilboxError } from '../errors/index.js'
import { KeyHolder } from '../engine/he/key-holder.js'
import { KeyStore } from '../engine/he/keystore.js'
import { buildCustodianApp } from '../custodian/server.js'

/**
 * `veilbox custodian`: the key custodian as its own process. The compute
 * service reaches it with `serve --custodian-url` (VEILBOX_CUSTODIAN_URL) and
 * the same token (VEILBOX_CUSTODIAN_TOKEN). The key directory should live on
 * the data owner's side, never in the service's data directory.
 */
export function registerCustodian(program: Command): void {
  program
    .command('custodian')
    .description(
      'run the HE key custodian as its own HTTP process (holds the secret keys; decrypts only released aggregates)',
    )
    .option('--port <port>', 'port (default 8081)', '8081')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)', '127.0.0.1')
    .requiredOption('--keys <dir>', 'key directory (created 0700 if missing)')
    .option(
      '--token <token>',
      'shared bearer token, at least 32 characters (default: $VEILBOX_CUSTODIAN_TOKEN; prefer the variable: arguments show in ps)',
    )
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
    .action(async (opts: { port: string; host: string; keys: string; token?: string; logLevel: string }) => {
      const token = opts.token ?? process.env.VEILBOX_CUSTODIAN_TOKEN
      if (token === undefined || token.length < 32) {
        throw new VeilboxError(
          'VEILBOX_ERR_CONFIG_INVALID',
          'the custodian needs a token of at least 32 characters: set VEILBOX_CUSTODIAN_TOKEN (or --token), and give the service the same one',
        )
      }
      const port = Number(opts.port)
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', `--port must be 0 to 65535, got ${opts.port}`)
      const keystore = await KeyStore.open(path.resolve(opts.keys))
      const app = await buildCustodianApp({ custodian: new KeyHolder(keystore), token, logLevel: opts.logLevel })
      const url = await app.listen({ host: opts.host, port })
      process.stdout.write(`veilbox custodian: listening on ${url} (keys in ${keystore.dir})\n`)
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () => {
          app.close().then(
            () => process.exit(0),
            () => process.exit(1),
          )
        })
      }
    })
}
