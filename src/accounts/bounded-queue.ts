import { AppError } from '../errors.ts'

/**
 * Runs at most `concurrency` tasks at once and queues up to `queueLimit` more; beyond that a task is
 * refused at once with a 503, so a login storm is shed instead of piling up unbounded work.
 */
export class BoundedQueue {
  readonly #concurrency: number
  readonly #queueLimit: number
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor(concurrency: number, queueLimit: number) {
    this.#concurrency = Math.max(1, concurrency)
    this.#queueLimit = Math.max(0, queueLimit)
  }

  get running(): number {
    return this.#running
  }

  get queued(): number {
    return this.#waiting.length
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#queueLimit) {
        throw new AppError('server_busy', 'too many password operations in progress; retry shortly', {
          headers: { 'retry-after': '1' },
        })
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    } else {
      this.#running++
    }
    try {
      return await task()
    } finally {
      const next = this.#waiting.shift()
      if (next) next()
      else this.#running--
    }
  }
}
