import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { emptyLedger, runAuthLoad, verifyLedger } from '../helpers/auth-load.ts'
import { parseRawResponse, rawExchange } from '../helpers/raw-http.ts'
import { startServer } from '../helpers/server-process.ts'
import { scaled, soakReport } from '../helpers/soak.ts'

const LOAD_MS = scaled(2500, 60_000)
const WORKERS = scaled(6, 12)

describe('sustained load while hostile clients misbehave', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-faults-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('honest clients get no 5xx and lose nothing while slowloris, header bombs and garbage hit the same server', async () => {
    const server = await startServer({
      DATABASE_URL: `sqlite:${join(dir, 'store.db')}`,
      KEYS_DIR: join(dir, 'keys'),
      RATE_LIMIT_ENABLED: 'false',
      ARGON2_MEMORY_KIB: '8192',
      ARGON2_TIME_COST: '1',
      REFRESH_GRACE_PERIOD: '0',
      HEADERS_TIMEOUT: '1',
      REQUEST_TIMEOUT: '2',
      MAX_HEADER_SIZE: '4096',
    })
    const port = Number(new URL(server.url).port)
    const ledger = emptyLedger()
    const stop = new AbortController()
    const faults = { slowloris: 0, slowlorisClosedInTime: 0, headerBombs: 0, headerBomb431: 0, garbage: 0, garbage400: 0 }

    const slowloris = async () => {
      while (!stop.signal.aborted) {
        faults.slowloris++
        const chunks = ['GET /me HTTP/1.1\r\n', 'Host: x\r\n', ...Array.from({ length: 100 }, (_, i) => `X-${i}: y\r\n`)]
        const out = await rawExchange(port, chunks, { intervalMs: 200, waitMs: 4000 })
        if (out.closed && out.elapsedMs < 2500) faults.slowlorisClosedInTime++
      }
    }
    const headerBomb = async () => {
      while (!stop.signal.aborted) {
        faults.headerBombs++
        const out = await rawExchange(port, [`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(8000)}\r\n\r\n`], { waitMs: 2000 })
        if (parseRawResponse(out.data).status === 431) faults.headerBomb431++
      }
    }
    const garbage = async () => {
      while (!stop.signal.aborted) {
        faults.garbage++
        const out = await rawExchange(port, ['\u0000\u0001GARBAGE / HTTP/9.9\r\n\r\n'], { waitMs: 2000 })
        if (parseRawResponse(out.data).status === 400) faults.garbage400++
      }
    }
    const attackers = [...Array.from({ length: 8 }, slowloris), headerBomb(), garbage()]
    const load = runAuthLoad(server.url, ledger, { workers: WORKERS, stop: stop.signal })
    await new Promise((r) => setTimeout(r, LOAD_MS))
    stop.abort()
    await Promise.all([load, ...attackers])

    const check = await verifyLedger(server.url, ledger)
    server.child.kill('SIGTERM')
    const { code } = await server.exited
    soakReport('load-under-faults', { heldMs: LOAD_MS, workers: WORKERS, operations: ledger.operations, statuses: ledger.statuses, faults, verified: check.loginsChecked + check.rotatedChecked + check.revokedChecked + check.liveChecked })

    expect(Object.keys(ledger.statuses).filter((s) => Number(s) >= 500), JSON.stringify(ledger.statuses)).toEqual([])
    expect(ledger.connectionErrors).toBe(0)
    expect(check.failures).toEqual([])
    expect(ledger.registered.length).toBeGreaterThan(0)
    expect(faults.slowlorisClosedInTime).toBe(faults.slowloris)
    expect(faults.headerBomb431).toBe(faults.headerBombs)
    expect(faults.garbage400).toBe(faults.garbage)
    expect(code).toBe(0)
  }, scaled(60_000, 180_000))
})
