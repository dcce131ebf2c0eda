import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { startServer, type ServerProcess } from '../helpers/server-process.ts'

const root = new URL('../..', import.meta.url).pathname
const ALERTS = join(root, 'deploy/prometheus/alerts.yml')
const ALERT_TESTS = join(root, 'deploy/prometheus/alerts.test.yml')
const DASHBOARD = join(root, 'deploy/grafana/latchkey.json')

/** Series Prometheus makes itself for every target; no server exports them. */
const FROM_PROMETHEUS = new Set(['up'])
/** Labels Prometheus attaches to every scraped series. */
const TARGET_LABELS = new Set(['job', 'instance'])

interface Selector {
  metric: string
  matchers: Array<{ label: string; op: string; value: string }>
}

/** The metric selectors of a PromQL expression: `name{label="v", …}` (with or without braces). */
export function selectors(expr: string): Selector[] {
  const found: Selector[] = []
  // A name followed by `(` is a function; `by (…)`/`without (…)` hold label names, not metrics.
  const cleaned = expr.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  for (const m of cleaned.matchAll(/(?<![\w:."$])([a-zA-Z_:][\w:]*)(?![\w:])\s*(\{([^}]*)\})?(?!\s*\()/g)) {
    const metric = m[1]!
    if (!metric.startsWith('latchkey_') && !FROM_PROMETHEUS.has(metric)) {
      if (m[2] !== undefined || /^[a-z_]+_(total|seconds|bytes|bucket|count|sum)$/.test(metric)) found.push({ metric, matchers: [] })
      continue
    }
    const matchers = [...(m[3] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map((x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }))
    found.push({ metric, matchers })
  }
  return found
}

interface Exposition {
  /** Every sample name a scrape may hold: counters and gauges as named, histograms with their suffixes. */
  names: Set<string>
  /** label name → values seen, per sample name. */
  labels: Map<string, Map<string, Set<string>>>
}

function parseExposition(text: string): Exposition {
  const names = new Set<string>()
  const labels = new Map<string, Map<string, Set<string>>>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type) {
      names.add(type[1]!)
      if (type[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(type[1]! + s)
      continue
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? /.exec(line)
    if (!sample) continue
    const byLabel = labels.get(sample[1]!) ?? new Map<string, Set<string>>()
    labels.set(sample[1]!, byLabel)
    for (const l of (sample[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) {
      const values = byLabel.get(l[1]!) ?? new Set<string>()
      values.add(l[2]!)
      byLabel.set(l[1]!, values)
    }
  }
  return { names, labels }
}

/** Checks one expression against a scrape; returns what is missing, for a readable failure. */
function missingFrom(expo: Exposition, expr: string, optionalValues: Set<string>): string[] {
  const missing: string[] = []
  const found = selectors(expr)
  if (found.length === 0) missing.push(`no metric in: ${expr}`)
  for (const { metric, matchers } of found) {
    if (FROM_PROMETHEUS.has(metric)) continue
    if (!expo.names.has(metric)) {
      missing.push(`metric ${metric}`)
      continue
    }
    const seen = expo.labels.get(metric)
    for (const { label, op, value } of matchers) {
      if (TARGET_LABELS.has(label)) continue
      // a histogram's buckets carry the labels; a metric with no sample yet has none to show
      if (seen === undefined || !seen.has(label)) {
        missing.push(`label ${metric}{${label}}`)
        continue
      }
      if (op === '=' && !seen.get(label)!.has(value) && !optionalValues.has(`${label}="${value}"`)) missing.push(`value ${metric}{${label}="${value}"}`)
    }
  }
  return missing
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function promtool(): { available: true } | { available: false; reason: string } {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  if (probe.status === 0) return { available: true }
  const reason = 'promtool not found (apt-get install prometheus)'
  if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`)
  return { available: false, reason }
}

const tool = promtool()
if (!tool.available) console.warn(`promtool tests SKIPPED: ${tool.reason}`)

describe.skipIf(!tool.available)('alert rules under promtool', () => {
  it('promtool check rules accepts deploy/prometheus/alerts.yml', () => {
    const res = spawnSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' })
    expect(res.status, res.stdout + res.stderr).toBe(0)
    expect(res.stdout).toMatch(/SUCCESS: \d+ rules found/)
  })

  it('promtool test rules passes deploy/prometheus/alerts.test.yml', () => {
    const res = spawnSync('promtool', ['test', 'rules', ALERT_TESTS], { encoding: 'utf8' })
    expect(res.status, res.stdout + res.stderr).toBe(0)
    expect(res.stdout).toContain('SUCCESS')
  })

  it('every alert has a unit test that expects it to fire', () => {
    const rules = (parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((g) => g.rules)
    const tests = parseYaml(readFileSync(ALERT_TESTS, 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }> }
    const fired = new Set(tests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => (c.exp_alerts ?? []).length > 0).map((c) => c.alertname))
    const quiet = new Set(tests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => (c.exp_alerts ?? []).length === 0).map((c) => c.alertname))
    for (const rule of rules) {
      expect(fired.has(rule.alert), `${rule.alert} fires in a test`).toBe(true)
      expect(quiet.has(rule.alert), `${rule.alert} stays quiet in a test`).toBe(true)
    }
  })
})

describe('the selector parser', () => {
  it('finds metrics and their matchers, not functions or grouping labels', () => {
    const s = selectors('histogram_quantile(0.99, sum by (job, le) (rate(latchkey_x_bucket{route!~"/a|/b", job="j"}[5m]))) > 0.1 and up == 0')
    expect(s.map((x) => x.metric)).toEqual(['latchkey_x_bucket', 'up'])
    expect(s[0]!.matchers).toEqual([
      { label: 'route', op: '!~', value: '/a|/b' },
      { label: 'job', op: '=', value: 'j' },
    ])
  })
})

/** The real server, scraped after the traffic that makes every labelled series appear. */
describe('every metric the alerts and the dashboard query is exported by the running server', () => {
  let server: ServerProcess
  let expo: Exposition
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-monitoring-'))
  const redis = process.env.TEST_REDIS_URL
  // Without Redis the server has no Redis check: only then may that one value be absent.
  const optional = new Set(redis ? [] : ['dependency="redis"'])

  beforeAll(async () => {
    const metricsPort = await freePort()
    server = await startServer({
      KEYS_DIR: join(dir, 'keys'),
      DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
      METRICS_PORT: String(metricsPort),
      ...(redis ? { REDIS_URL: redis, REDIS_KEY_PREFIX: `monitoring-${process.pid}:` } : {}),
    })
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const registered = await post('/auth/register', { email: 'ops@example.com', password: 'correct horse battery staple' })
    expect(registered.status).toBe(201)
    expect((await post('/auth/login', { email: 'ops@example.com', password: 'not the password!!' })).status).toBe(401)
    expect((await post('/auth/login', { email: 'ops@example.com', password: 'correct horse battery staple' })).status).toBe(200)
    expect((await fetch(`${server.url}/no-such-route`)).status).toBe(404)
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(res.status).toBe(200)
    expo = parseExposition(await res.text())
  }, 60_000)

  afterAll(async () => {
    if (server) {
      server.child.kill('SIGTERM')
      await server.exited
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('the alert rules', () => {
    const rules = (parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap((g) => g.rules)
    expect(rules.length).toBeGreaterThanOrEqual(10)
    const missing = rules.flatMap((r) => missingFrom(expo, r.expr, optional).map((m) => `${r.alert}: ${m}`))
    expect(missing).toEqual([])
  })

  it('the Grafana dashboard parses and queries only exported metrics, covering every alerted one', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; uid: string; panels: unknown[]; templating: { list: Array<{ query?: unknown }> } }
    expect(dashboard.uid).toBe('latchkey')
    const exprs: string[] = []
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk)
      if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'expr' && typeof v === 'string') exprs.push(v)
          else walk(v)
        }
      }
    }
    walk(dashboard.panels)
    for (const t of dashboard.templating.list) {
      const m = typeof t.query === 'string' ? /^label_values\((.*),\s*\w+\)$/.exec(t.query) : null
      if (m) exprs.push(m[1]!)
    }
    expect(exprs.length).toBeGreaterThanOrEqual(15)
    // Grafana variables are not PromQL: `$job` becomes any value before the check.
    const missing = exprs.flatMap((e) => missingFrom(expo, e.replaceAll(/=~"\$\w+"/g, '=~".*"'), optional).map((m) => `${m} in ${e}`))
    expect(missing).toEqual([])

    const alerted = new Set(
      (parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> }).groups.flatMap((g) => g.rules).flatMap((r) => selectors(r.expr).map((s) => s.metric)),
    )
    const charted = new Set(exprs.flatMap((e) => selectors(e).map((s) => s.metric)))
    expect([...alerted].filter((m) => !charted.has(m))).toEqual([])
  })
})
