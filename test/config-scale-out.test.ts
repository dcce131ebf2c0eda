import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.ts'

describe('scale-out configuration', () => {
  it('defaults to in-process limits of 10 logins per account and 100 per IP a minute, and no Redis', () => {
    const config = loadConfig({})
    expect(config.redisUrl).toBeUndefined()
    expect(config.redisKeyPrefix).toBe('latchkey:')
    expect(config.databaseSchema).toBeUndefined()
    expect(config.rateLimits).toMatchObject({ windowSeconds: 60, login: { perAccount: 10, perIp: 100 }, refresh: { perToken: 30 } })
  })

  it('reads DATABASE_SCHEMA, REDIS_URL and every RATE_LIMIT_* variable', () => {
    const config = loadConfig({
      DATABASE_SCHEMA: 'latchkey', REDIS_URL: 'redis://cache:6379', REDIS_KEY_PREFIX: 'lk:', RATE_LIMIT_WINDOW: '30',
      RATE_LIMIT_REGISTER_PER_IP: '1', RATE_LIMIT_REGISTER_PER_ACCOUNT: '2', RATE_LIMIT_LOGIN_PER_IP: '3',
      RATE_LIMIT_LOGIN_PER_ACCOUNT: '4', RATE_LIMIT_REFRESH_PER_IP: '5', RATE_LIMIT_REFRESH_PER_TOKEN: '6',
      RATE_LIMIT_PASSWORD_PER_IP: '7', RATE_LIMIT_PASSWORD_PER_ACCOUNT: '8',
      RATE_LIMIT_MAIL_WINDOW: '900', RATE_LIMIT_MAIL_PER_ADDRESS: '9', RATE_LIMIT_MAIL_PER_IP: '10',
    })
    expect(config).toMatchObject({ databaseSchema: 'latchkey', redisUrl: 'redis://cache:6379', redisKeyPrefix: 'lk:' })
    expect(config.rateLimits).toEqual({
      windowSeconds: 30,
      register: { perIp: 1, perAccount: 2 },
      login: { perIp: 3, perAccount: 4 },
      refresh: { perIp: 5, perToken: 6 },
      passwordChange: { perIp: 7, perAccount: 8 },
      mail: { windowSeconds: 900, perAddress: 9, perIp: 10 },
    })
  })

  it('names the variable when a value is invalid', () => {
    expect(() => loadConfig({ RATE_LIMIT_LOGIN_PER_ACCOUNT: '0' })).toThrow(/RATE_LIMIT_LOGIN_PER_ACCOUNT="0": must be at least 1/)
    expect(() => loadConfig({ DATABASE_SCHEMA: 'x; DROP TABLE users' })).toThrow(/DATABASE_SCHEMA=/)
    expect(() => loadConfig({ REDIS_URL: 'http://cache' })).toThrow(/REDIS_URL=/)
  })
})
