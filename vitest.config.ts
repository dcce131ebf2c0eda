import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // node:sqlite is stable enough for us; its ExperimentalWarning is noise in every test file.
    execArgv: ['--disable-warning=ExperimentalWarning'],
    globalSetup: ['test/global-setup.ts'],
  },
})
