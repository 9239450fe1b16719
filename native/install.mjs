// The root package's "install" script: installs the native kernel addon with
// `node-pre-gyp install --fallback-to-build`, run in native/ (where
// binding.gyp and the node-pre-gyp "binary" config live).
//
// No prebuilt binary is published: the configured host is a local directory
// (native/prebuilt/, empty unless someone drops a tarball made by
// `node-pre-gyp package` there), so node-pre-gyp falls back to compiling
// with node-gyp, the system's C++ compiler and the Node headers, without
// touching the network. An operator can point it at a real mirror with
// npm_config_veilbox_native_binary_host_mirror.
//
// It never fails the install: if the build fails, veilbox runs the TypeScript
// kernels (src/engine/exec/loader.ts says why at start and in /healthz), so
// this script logs a warning and exits 0. VEILBOX_NATIVE=0 skips the build.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

function warn(message) {
  process.stderr.write(`veilbox: ${message}\n`)
  process.stderr.write('veilbox: the TypeScript kernels will run instead (slower, same results); see docs/native.md\n')
}

/**
 * node-gyp downloads the Node headers unless told where they are, and these
 * machines reach no download server. npm passes its `nodedir` setting on as
 * npm_config_nodedir; without one (a bare `node native/install.mjs`), use the
 * headers that ship with the running Node itself, when they are there.
 */
function withNodeHeaders(env) {
  if (env.npm_config_nodedir) return env
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  if (!existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return env
  return { ...env, npm_config_nodedir: prefix }
}

function main() {
  const off = new Set(['0', 'false', 'off', 'no'])
  if (
    off.has(
      String(process.env.VEILBOX_NATIVE ?? '')
        .trim()
        .toLowerCase(),
    )
  ) {
    process.stderr.write('veilbox: VEILBOX_NATIVE is off; not building the native kernel\n')
    return
  }
  let bin
  try {
    bin = require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp')
  } catch (e) {
    warn(`cannot find node-pre-gyp (${e instanceof Error ? e.message : String(e)}); the native kernel was not built`)
    return
  }
  const started = Date.now()
  const result = spawnSync(process.execPath, [bin, 'install', '--fallback-to-build'], {
    cwd: here,
    env: withNodeHeaders(process.env),
    stdio: 'inherit',
    // A compiler that hangs must not hang the install forever.
    timeout: 15 * 60 * 1000,
  })
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (result.error !== undefined) {
    warn(`the native kernel build did not run: ${result.error.message}`)
  } else if (result.status !== 0) {
    warn(`the native kernel build failed (${result.signal ?? `exit ${result.status}`}) after ${seconds} s`)
  } else {
    process.stderr.write(`veilbox: native kernel ready (${seconds} s)\n`)
  }
}

try {
  main()
} catch (e) {
  warn(`the native kernel install step failed: ${e instanceof Error ? e.message : String(e)}`)
}
process.exitCode = 0
