import path from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../config/index.js'
import { startServer } from '../api/server.js'

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP service (first start creates an operator key; --demo also the demo dataset and keys)')
    .option('--demo', 'create the demo dataset binzhou_households and demo keys on first start')
    .option('--host <host>', 'address to listen on (default: $VEILBOX_HOST or 127.0.0.1)')
    .option('--port <port>', 'port (default: $VEILBOX_PORT or 8080)')
    .option('--data-dir <dir>', 'data directory (default: $VEILBOX_DATA_DIR or ./data)')
    .option(
      '--database-url <url>',
      'postgres://... : keep all state in this PostgreSQL database, shared with other nodes (default: $VEILBOX_DATABASE_URL; needs VEILBOX_SECRET_FILE)',
    )
    .option(
      '--custodian-url <url>',
      'a separate `veilbox custodian` process (default: $VEILBOX_CUSTODIAN_URL; its token in $VEILBOX_CUSTODIAN_TOKEN)',
    )
    .option(
      '--custodian-dir <dir>',
      'key directory of the in-process custodian, outside the data directory (default: $VEILBOX_CUSTODIAN_DIR or ./custodian)',
    )
    .action(
      async (opts: {
        demo?: boolean
        host?: string
        port?: string
        dataDir?: string
        databaseUrl?: string
        custodianUrl?: string
        custodianDir?: string
      }) => {
        const env = { ...process.env }
        if (opts.host) env.VEILBOX_HOST = opts.host
        if (opts.port) env.VEILBOX_PORT = opts.port
        if (opts.dataDir) env.VEILBOX_DATA_DIR = path.resolve(opts.dataDir)
        if (opts.databaseUrl) env.VEILBOX_DATABASE_URL = opts.databaseUrl
        if (opts.custodianUrl) env.VEILBOX_CUSTODIAN_URL = opts.custodianUrl
        if (opts.custodianDir) env.VEILBOX_CUSTODIAN_DIR = path.resolve(opts.custodianDir)
        const config = loadConfig(env, { demo: opts.demo === true })
        await startServer(config, { handleSignals: true })
      },
    )
}
