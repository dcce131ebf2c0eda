import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.ts'

describe('configuration', () => {
  it('defaults serve one developer on one machine', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      databaseUrl: 'sqlite:./data/latchkey.db',
      redisUrl: undefined,
      keysDir: './keys',
      accessTokenTtl: 600,
      clockTolerance: 30,
      refreshIdleTtl: 30 * 86400,
      refreshAbsoluteTtl: 90 * 86400,
      refreshGracePeriod: 10,
      logLevel: 'info',
      metricsPort: undefined,
      corsOrigins: [],
      rateLimitEnabled: true,
      argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
    })
  })

  it('retention: ended sessions kept 30 days, purged hourly in batches of 1,000; 0 turns the timer off', () => {
    expect(loadConfig({}).retention).toEqual({ sessionRetentionDays: 30, purgeIntervalMs: 3_600_000, batchSize: 1000 })
    expect(loadConfig({ RETENTION_DAYS: '90', PURGE_INTERVAL_SECONDS: '0', PURGE_BATCH_SIZE: '500' }).retention).toEqual({ sessionRetentionDays: 90, purgeIntervalMs: 0, batchSize: 500 })
    const refused: Array<[Record<string, string>, RegExp]> = [
      [{ RETENTION_DAYS: '0' }, /RETENTION_DAYS="0": must be at least 1/],
      [{ RETENTION_DAYS: '1.5' }, /RETENTION_DAYS="1.5": must be a whole number of days/],
      [{ PURGE_INTERVAL_SECONDS: '30' }, /PURGE_INTERVAL_SECONDS="30": must be 0 \(off\) or at least 60/],
      [{ PURGE_BATCH_SIZE: '1000000' }, /PURGE_BATCH_SIZE="1000000": must be at most 10000/],
    ]
    for (const [env, message] of refused) expect(() => loadConfig(env), JSON.stringify(env)).toThrow(message)
  })

  it('parses every documented variable', () => {
    const c = loadConfig({ PORT: '8080', ACCESS_TOKEN_TTL: '120', CORS_ORIGINS: 'http://a.test, https://b.test', RATE_LIMIT_ENABLED: 'false', DATABASE_URL: 'postgres://u@h/db' })
    expect(c).toMatchObject({ port: 8080, accessTokenTtl: 120, corsOrigins: ['http://a.test', 'https://b.test'], rateLimitEnabled: false, databaseUrl: 'postgres://u@h/db' })
  })

  it('an invalid value names the variable and what is allowed', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ PORT: 'eighty' }, /PORT="eighty": must be a port number/],
      [{ ACCESS_TOKEN_TTL: '7200' }, /ACCESS_TOKEN_TTL="7200": must be at most 3600/],
      [{ ACCESS_TOKEN_TTL: '10' }, /ACCESS_TOKEN_TTL="10": must be at least 60/],
      [{ DATABASE_URL: 'mysql://user:secret@x' }, /DATABASE_URL=<not shown>: must be sqlite:<path>, sqlite::memory: or postgres/],
      [{ RATE_LIMIT_ENABLED: 'maybe' }, /RATE_LIMIT_ENABLED="maybe": must be true or false/],
      [{ CORS_ORIGINS: 'not a url' }, /CORS_ORIGINS/],
      [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud"/],
      [{ REFRESH_IDLE_TTL: '864000', REFRESH_ABSOLUTE_TTL: '86400' }, /REFRESH_IDLE_TTL=864000: must not exceed REFRESH_ABSOLUTE_TTL/],
      [{ PORT: '3000', METRICS_PORT: '3000' }, /METRICS_PORT=3000: the metrics listener needs a port of its own; PORT is 3000 too/],
      [{ CLIENT_IDS: 'web-app, ios app' }, /CLIENT_IDS/],
    ]
    for (const [env, message] of cases) {
      let error: unknown
      try {
        loadConfig(env)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as Error).message).toMatch(message)
    }
  })

  it('CLIENT_IDS lists the clients a sign-in may name; none by default', () => {
    expect(loadConfig({}).clientIds).toEqual([])
    expect(loadConfig({ CLIENT_IDS: 'web-app, ios-app,,com.example.app:v2' }).clientIds).toEqual(['web-app', 'ios-app', 'com.example.app:v2'])
  })

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' }).port).toBe(3000)
  })

  it('connection and parsing limits default to bounded values and read seconds, fractions allowed', () => {
    expect(loadConfig({}).limits).toEqual({
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 72_000,
      connectionTimeoutMs: 0,
      maxHeaderSize: 16384,
      maxConnections: 4096,
      maxRequestsPerSocket: 0,
      jsonMaxDepth: 32,
      shutdownTimeoutMs: 10_000,
    })
    const c = loadConfig({ HEADERS_TIMEOUT: '0.5', REQUEST_TIMEOUT: '2', SHUTDOWN_TIMEOUT: '1.25', JSON_MAX_DEPTH: '8', DATABASE_SCHEMA: 'tenant_a' })
    expect(c.limits).toMatchObject({ headersTimeoutMs: 500, requestTimeoutMs: 2000, shutdownTimeoutMs: 1250, jsonMaxDepth: 8 })
    expect(c.databaseSchema).toBe('tenant_a')
  })

  it('refuses limits Node would refuse, naming them', () => {
    expect(() => loadConfig({ HEADERS_TIMEOUT: '60', REQUEST_TIMEOUT: '30' })).toThrow(/HEADERS_TIMEOUT=60: must not exceed REQUEST_TIMEOUT \(30\)/)
    expect(() => loadConfig({ MAX_HEADER_SIZE: '10' })).toThrow(/MAX_HEADER_SIZE="10": /)
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT: 'soon' })).toThrow(/SHUTDOWN_TIMEOUT="soon": must be a number of seconds/)
    expect(() => loadConfig({ DATABASE_SCHEMA: 'x; drop table users' })).toThrow(/DATABASE_SCHEMA/)
  })
})

describe('TRUST_PROXY', () => {
  it('accepts a hop count or proxy addresses, and refuses true', () => {
    expect(loadConfig({}).trustProxy).toBe(false)
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1)
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toBe('10.0.0.0/8,127.0.0.1')
    expect(loadConfig({ TRUST_PROXY: 'loopback, fd00::/8' }).trustProxy).toBe('loopback,fd00::/8')
    for (const bad of ['true', 'abc', '::/200', '10.0.0.0/8/1', '100', 'a,b']) {
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY=".*": must be false, the number of proxy hops/)
    }
  })
})

describe('public URL and issuer', () => {
  it('the issuer follows where the server runs: http://HOST:PORT unless PUBLIC_URL or ISSUER says otherwise', () => {
    expect(loadConfig({ PORT: '3911' })).toMatchObject({ publicUrl: 'http://127.0.0.1:3911', publicUrlDerived: true, issuer: 'http://127.0.0.1:3911' })
    expect(loadConfig({ HOST: '0.0.0.0', PORT: '8080' })).toMatchObject({ publicUrl: 'http://127.0.0.1:8080', issuer: 'http://127.0.0.1:8080' })
    expect(loadConfig({ HOST: '::1', PORT: '8080' }).publicUrl).toBe('http://[::1]:8080')
    expect(loadConfig({ PUBLIC_URL: 'https://auth.example.com/' })).toMatchObject({ publicUrl: 'https://auth.example.com', publicUrlDerived: false, issuer: 'https://auth.example.com' })
    expect(loadConfig({ PUBLIC_URL: 'https://auth.example.com', ISSUER: 'https://issuer.example.com' }).issuer).toBe('https://issuer.example.com')
  })

  it('refuses a PUBLIC_URL that is not a plain http(s) URL, naming it', () => {
    for (const value of ['auth.example.com', 'ftp://auth.example.com', 'https://auth.example.com/?x=1', 'https://auth.example.com/#top']) {
      expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(/PUBLIC_URL=/)
    }
  })
})

describe('CORS_ORIGINS', () => {
  it('accepts origins and normalises them as browsers send them', () => {
    expect(loadConfig({ CORS_ORIGINS: 'http://localhost:5173, https://app.example.com/ ,HTTPS://B.example.com:443' }).corsOrigins).toEqual([
      'http://localhost:5173',
      'https://app.example.com',
      'https://b.example.com',
    ])
  })

  it('an entry that is not an origin stops the start with a message naming it', () => {
    for (const entry of ['localhost:5173', 'app.example.com', 'https://app.example.com/path', 'ftp://app.example.com', 'https://user@app.example.com', '*']) {
      expect(() => loadConfig({ CORS_ORIGINS: `https://ok.example.com,${entry}` })).toThrow(`CORS_ORIGINS="https://ok.example.com,${entry}": ${JSON.stringify(entry)} is not an origin`)
    }
  })
})
