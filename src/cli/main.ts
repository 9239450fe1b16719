import { Command } from 'commander'
import { isVeilboxError } from '../errors/index.js'
import { VERSION } from '../version.js'
import { registerAudit } from './audit.js'
import { registerCustodian } from './custodian.js'
import { registerEncrypt } from './encrypt.js'
import { registerIngest } from './ingest.js'
import { registerKeys } from './keys.js'
import { registerMarket } from './market.js'
import { registerSecret } from './secret.js'
import { registerServe } from './serve.js'

export function program(): Command {
  const cmd = new Command('veilbox')
    .description('veilbox: aggregate queries over private public data, usable but invisible')
    .version(VERSION)
    .showHelpAfterError()
  registerServe(cmd)
  registerKeys(cmd)
  registerIngest(cmd)
  registerAudit(cmd)
  registerCustodian(cmd)
  registerEncrypt(cmd)
  registerSecret(cmd)
  registerMarket(cmd)
  return cmd
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await program().parseAsync(argv)
  } catch (err) {
    if (isVeilboxError(err)) {
      process.stderr.write(`veilbox: ${err.detail} (${err.code})\n`)
    } else {
      process.stderr.write(`veilbox: ${(err as Error).stack ?? String(err)}\n`)
    }
    process.exitCode = 1
  }
}
