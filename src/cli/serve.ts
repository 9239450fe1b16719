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
    .action(async (opts: { demo?: boolean; host?: string; port?: string; dataDir?: string }) => {
      const env = { ...process.env }
      if (opts.host) env.VEILBOX_HOST = opts.host
      if (opts.port) env.VEILBOX_PORT = opts.port
      if (opts.dataDir) env.VEILBOX_DATA_DIR = path.resolve(opts.dataDir)
      const config = loadConfig(env, { demo: opts.demo === true })
      await startServer(config, { handleSignals: true })
    })
}
