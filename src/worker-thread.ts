import { fileURLToPath } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * Starts a worker thread on a module beside the caller: `name` is the
 * module's file name without its extension, resolved against `from` (the
 * caller's import.meta.url). Built, that is the compiled .js. From source
 * (tsx), the worker registers tsx before it imports the .ts: Node loads a .ts
 * entry, or one imported at once after --import tsx, before tsx's hooks
 * apply.
 */
export function startWorker(from: string, name: string, options: WorkerOptions = {}): Worker {
  if (!from.endsWith('.ts')) return new Worker(fileURLToPath(new URL(`./${name}.js`, from)), options)
  const entry = new URL(`./${name}.ts`, from).href
  return new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}) })`,
    { ...options, eval: true },
  )
}
