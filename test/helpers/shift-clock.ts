/**
 * Test-only preload (`node --import`): moves Date.now by LATCHKEY_TEST_CLOCK_OFFSET_MS so a CLI run
 * can act "an hour later" — past a key's safe-to-retire time — without the test waiting an hour.
 */
const offset = Number(process.env.LATCHKEY_TEST_CLOCK_OFFSET_MS ?? 0)
const realNow = Date.now
Date.now = () => realNow() + offset
