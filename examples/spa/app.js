import { API_URL } from './config.js'
import { createLatchkeyClient } from './latchkey-client.js'

const $ = (selector) => document.querySelector(selector)
const client = createLatchkeyClient({ baseUrl: API_URL, onChange: render })

function render() {
  const state = client.signedIn ? 'signed-in' : 'signed-out'
  document.body.dataset.state = state
  $('#signed-in').hidden = state !== 'signed-in'
  $('#signed-out').hidden = state !== 'signed-out'
  $('#status').textContent = state === 'signed-in' ? 'Signed in' : 'Signed out'
  $('#refresh-count').textContent = String(client.refreshes)
  $('#token-expiry').textContent = client.signedIn ? new Date(client.expiresAt).toLocaleTimeString() : ''
  if (!client.signedIn) {
    $('#me-email').textContent = ''
    $('#sessions').replaceChildren()
  }
}

function showError(err) {
  $('#error').textContent = err ? `${err.code ?? 'error'}: ${err.message}` : ''
}

// Every action clears the last error, runs, and shows what went wrong instead of throwing.
function action(fn) {
  return async (event) => {
    event?.preventDefault()
    showError(null)
    try {
      await fn()
    } catch (err) {
      showError(err)
    }
  }
}

async function loadMe() {
  const me = await client.me()
  $('#me-email').textContent = me.email
  $('#me-scope').textContent = me.scope
}

async function loadSessions() {
  const sessions = await client.listSessions()
  $('#sessions').replaceChildren(
    ...sessions.map((s) => {
      const li = document.createElement('li')
      li.dataset.sessionId = s.id
      if (s.current) li.classList.add('current')
      li.textContent = `${s.current ? 'This browser' : s.user_agent ?? 'unknown client'} — since ${new Date(s.created_at).toLocaleString()}, last used ${new Date(s.last_used_at).toLocaleString()} `
      const revoke = document.createElement('button')
      revoke.type = 'button'
      revoke.className = 'revoke'
      revoke.textContent = s.current ? 'Sign out here' : 'Revoke'
      revoke.addEventListener(
        'click',
        action(async () => {
          await client.revokeSession(s.id)
          // Revoking this browser's own session ends it here too: drop the cookie and the token.
          if (s.current) await client.signOut()
          else await loadSessions()
        }),
      )
      li.append(revoke)
      return li
    }),
  )
}

const credentials = () => [$('#email').value, $('#password').value]

$('#credentials').addEventListener('submit', action(async () => {
  await client.signIn(...credentials())
  await loadMe()
}))
$('#sign-up').addEventListener('click', action(async () => {
  await client.signUp(...credentials())
  await loadMe()
}))
$('#reload-me').addEventListener('click', action(loadMe))
$('#refresh').addEventListener('click', action(() => client.refresh()))
$('#sign-out').addEventListener('click', action(() => client.signOut()))
$('#load-sessions').addEventListener('click', action(loadSessions))

// After a page load the access token is gone (it was only in memory): the cookie brings it back.
action(async () => {
  try {
    if (await client.restore()) await loadMe()
  } finally {
    render()
  }
})()
