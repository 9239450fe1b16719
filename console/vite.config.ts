import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'
import { defineConfig, type Plugin } from 'vite'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

/**
 * Brotli and gzip copies of every text file, made once at build time:
 * @fastify/static (preCompressed) sends them to browsers that accept them, so
 * veilbox needs no compression at run time.
 */
function precompress(outDir: string): Plugin {
  return {
    name: 'veilbox-precompress',
    apply: 'build',
    closeBundle() {
      const walk = (dir: string): string[] =>
        fs
          .readdirSync(dir, { withFileTypes: true })
          .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
      for (const file of walk(outDir).filter((f) => /\.(js|css|html|svg)$/.test(f))) {
        const data = fs.readFileSync(file)
        fs.writeFileSync(
          `${file}.br`,
          zlib.brotliCompressSync(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }),
        )
        fs.writeFileSync(`${file}.gz`, zlib.gzipSync(data, { level: 9 }))
      }
    },
  }
}

const outDir = here('../dist/console')

/**
 * The console is built into dist/console and served by veilbox itself at
 * /console (src/api/plugins/console.ts). Everything it needs is in the
 * bundle: no CDN, no web font, no inline script (the service's CSP allows
 * scripts from 'self' only).
 */
export default defineConfig({
  root: here('.'),
  base: '/console/',
  publicDir: here('public'),
  plugins: [precompress(outDir)],
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be injected as an inline <script>, which the CSP refuses; every browser we target has modulepreload.
    modulePreload: { polyfill: false },
    // Small enough to read in one file; a source map is not shipped (it would double the download for nobody).
    sourcemap: false,
    reportCompressedSize: true,
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run console:dev`: the console on Vite's dev server against a running veilbox.
    proxy: { '/v1': process.env.VEILBOX_URL ?? 'http://127.0.0.1:8080' },
  },
})
