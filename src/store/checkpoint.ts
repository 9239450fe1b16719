import type { Worker } from 'node:worker_threads'
import { startWorker } from '../worker-thread.js'

/**
 * SQLite checkpoints off the event loop. By default SQLite checkpoints in the
 * connection that commits once the write-ahead log passes 1,000 pages: the
 * frames are copied into the database file and the file is synced, on the
 * main thread, in the middle of whichever request committed. During a large
 * upload that was a stall of a hundred milliseconds or more every few
 * megabytes. The writer now has wal_autocheckpoint off, and a thread of its
 * own checkpoints (PASSIVE) once a second while there were commits; a
 * checkpoint that is still running when the next is due is not doubled.
 * Checkpoints change where committed data sits, never whether it is durable:
 * a commit is durable once its frames are synced in the log.
 */
export class Checkpointer {
  private worker: Worker | null = null
  private running = false
  private dirty = false
  private readonly timer: NodeJS.Timeout
  private closed = false

  constructor(
    private readonly file: string,
    private readonly busyTimeoutMs: number,
    everyMs = 1000,
  ) {
    this.timer = setInterval(() => this.tick(), everyMs)
    this.timer.unref()
  }

  /** A commit happened: the next tick checkpoints. */
  committed(): void {
    this.dirty = true
  }

  private tick(): void {
    if (!this.dirty || this.running || this.closed) return
    this.dirty = false
    this.running = true
    this.worker ??= this.start()
    this.worker.postMessage('checkpoint')
  }

  private start(): Worker {
    const w = startWorker(import.meta.url, 'checkpoint-worker', {
      workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs },
    })
    w.on('message', () => {
      this.running = false
    })
    // A checkpointer that died costs a larger log until the next start, never data: start a new one next time.
    w.on('error', () => {
      this.running = false
      if (this.worker === w) this.worker = null
    })
    w.on('exit', () => {
      this.running = false
      if (this.worker === w) this.worker = null
    })
    // After the listeners: adding a 'message' listener refs the thread's port again.
    w.unref()
    return w
  }

  /** Lets a running checkpoint finish, then closes the thread's connection and the thread. */
  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.timer)
    const w = this.worker
    this.worker = null
    if (w === null) return
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()))
    w.postMessage('close')
    // The thread closes its connection first; one that is stuck past a generous wait is stopped.
    const stuck = setTimeout(() => void w.terminate(), 30_000)
    await exited
    clearTimeout(stuck)
  }
}
