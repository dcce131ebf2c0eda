import { describe, expect, it } from 'vitest'
import { DependencyUnavailableError } from '../../src/dependency-unavailable.ts'
import { isPostgresUnavailable, withUnavailableErrors } from '../../src/store/postgres-unavailable.ts'

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code })

describe('isPostgresUnavailable', () => {
  it('recognises refused, reset and cut connections, pool timeouts and shutdown states', () => {
    for (const err of [
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('read ECONNRESET', 'ECONNRESET'),
      new Error('Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      new Error('timeout exceeded when trying to connect'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('sorry, too many clients already', '53300'),
      withCode('connection failure', '08006'),
      new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], 'all failed'),
    ]) {
      expect(isPostgresUnavailable(err), err.message).toBe(true)
    }
  })

  it('leaves query and constraint errors alone: they are bugs or conflicts, not outages', () => {
    for (const err of [
      withCode('duplicate key value violates unique constraint', '23505'),
      withCode('syntax error at or near "SELEC"', '42601'),
      withCode('could not serialize access', '40001'),
      new Error('boom'),
      'not an error',
    ]) {
      expect(isPostgresUnavailable(err)).toBe(false)
    }
  })
})

describe('withUnavailableErrors', () => {
  it('turns a connection failure into DependencyUnavailableError and passes other errors through', async () => {
    const store = withUnavailableErrors(
      {
        kind: 'test',
        async down() {
          throw withCode('connect ECONNREFUSED', 'ECONNREFUSED')
        },
        async broken() {
          throw withCode('duplicate key', '23505')
        },
        async fine() {
          return 42
        },
      },
      isPostgresUnavailable,
    )
    expect(store.kind).toBe('test')
    await expect(store.fine()).resolves.toBe(42)
    await expect(store.down()).rejects.toBeInstanceOf(DependencyUnavailableError)
    await expect(store.down()).rejects.toMatchObject({ dependency: 'store' })
    await expect(store.broken()).rejects.toMatchObject({ code: '23505' })
  })
})
