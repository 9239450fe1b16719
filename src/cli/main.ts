import { Command } from 'commander'
import { isVeilboxError } from '../errors/index.js'
import { VERSION } from '../version.js'

type Register = (program: Command) => void

/**
 * The commands, in the order help lists them, each loaded only when needed:
 * the modules behind `serve` (Fastify, the API, the store) took about a
 * second to load, which every `veilbox encrypt` paid before reading a byte.
 */
const COMMANDS: readonly (readonly [string, () => Promise<Register>])[] = [
  ['serve', async () => (await import('./serve.js')).registerServe],
  ['keys', async () => (await import('./keys.js')).registerKeys],
  ['ingest', async () => (await import('./ingest.js')).registerIngest],
  ['query', async () => (await import('./query.js')).registerQuery],
  ['preview', async () => (await import('./query.js')).registerPreview],
  ['audit', async () => (await import('./audit.js')).registerAudit],
  ['custodian', async () => (await import('./custodian.js')).registerCustodian],
  ['encrypt', async () => (await import('./encrypt.js')).registerEncrypt],
  ['secret', async () => (await import('./secret.js')).registerSecret],
  ['market', async () => (await import('./market.js')).registerMarket],
]

/** The program with the command `argv` names, or with every command (help, a typo, no command). */
export async function program(argv: readonly string[] = process.argv): Promise<Command> {
  const cmd = new Command('veilbox')
    .description('veilbox: aggregate queries over private public data, usable but invisible')
    .version(VERSION)
    .showHelpAfterError()
  const named = argv.slice(2).find((a) => !a.startsWith('-'))
  const one = COMMANDS.filter(([name]) => name === named)
  for (const [, load] of one.length === 1 ? one : COMMANDS) (await load())(cmd)
  return cmd
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await (await program(argv)).parseAsync(argv)
  } catch (err) {
    if (isVeilboxError(err)) {
      process.stderr.write(`veilbox: ${err.detail} (${err.code})\n`)
    } else {
      process.stderr.write(`veilbox: ${(err as Error).stack ?? String(err)}\n`)
    }
    process.exitCode = 1
  }
}
