import { startMfa } from './mfa.js'
import { startPasskeys } from './passkeys.js'
import { $, action } from './ui.js'

/** The main page: sign in / sign up when signed out; profile, sessions and sign-out when signed in. */
export function startAccountPage(latchkey) {
  let refreshes = 0

  function render() {
    const session = latchkey.session
    const state = session ? 'signed-in' : 'signed-out'
    document.body.dataset.state = state
    $('#signed-in').hidden = state !== 'signed-in'
    $('#signed-out').hidden = state !== 'signed-out'
    $('#status').textContent = session ? 'Signed in' : 'Signed out'
    $('#refresh-count').textContent = String(refreshes)
    $('#token-expiry').textContent = session ? new Date(session.expiresAt).toLocaleTimeString() : ''
    $('#token-type').textContent = session ? session.tokenType : ''
    if (!session) {
      $('#me-email').textContent = ''
      $('#sessions').replaceChildren()
      $('#passkeys').replaceChildren()
    }
  }

  latchkey.onAuthStateChange((event) => {
    if (event === 'token_refreshed') refreshes += 1
    render()
    // Signed in in another tab: show who.
    if (event === 'signed_in' && !$('#me-email').textContent) void loadMe().catch(() => {})
  })

  async function loadMe() {
    const me = await latchkey.me()
    $('#me-email').textContent = me.email
    $('#me-scope').textContent = me.scope
    $('#me-verified').textContent = me.email_verified ? 'verified' : 'not verified yet'
    $('#resend-verification').hidden = me.email_verified !== false
  }

  async function loadSessions() {
    const sessions = await latchkey.listSessions()
    $('#sessions').replaceChildren(...sessions.map(sessionItem))
  }

  function sessionItem(s) {
    const li = document.createElement('li')
    li.dataset.sessionId = s.id
    if (s.current) li.classList.add('current')
    li.textContent = `${s.current ? 'This browser' : (s.user_agent ?? 'unknown client')} — since ${new Date(s.created_at).toLocaleString()}, last used ${new Date(s.last_used_at).toLocaleString()} `
    const revoke = document.createElement('button')
    revoke.type = 'button'
    revoke.className = 'revoke'
    revoke.textContent = s.current ? 'Sign out here' : 'Revoke'
    revoke.addEventListener(
      'click',
      action(async () => {
        // This browser's own session is ended through sign-out, which also drops the cookie.
        if (s.current) return latchkey.signOut()
        await latchkey.revokeSession(s.id)
        await loadSessions()
      }),
    )
    li.append(revoke)
    return li
  }

  const credentials = () => [$('#email').value, $('#password').value]
  const notice = (text) => ($('#notice').textContent = text)

  const mfa = startMfa(latchkey, { onSignedIn: loadMe })
  $('#credentials').addEventListener('submit', action(async () => {
    try {
      await latchkey.signIn(...credentials())
    } catch (err) {
      // The password was right; the account has a second factor: ask for its code.
      if (err?.name === 'MfaRequiredError') return mfa.askForCode(err)
      throw err
    }
    await loadMe()
  }))
  $('#sign-up').addEventListener('click', action(async () => {
    const { verificationRequired } = await latchkey.signUp(...credentials())
    if (verificationRequired) return notice('Check your mail: open the verification link, then sign in.')
    await loadMe()
  }))
  startPasskeys(latchkey, { onSignedIn: loadMe })
  $('#reload-me').addEventListener('click', action(loadMe))
  $('#refresh').addEventListener('click', action(() => latchkey.refresh()))
  $('#sign-out').addEventListener('click', action(() => latchkey.signOut()))
  $('#sign-out-others').addEventListener('click', action(async () => {
    await latchkey.signOut({ scope: 'others' })
    await loadSessions()
  }))
  $('#sign-out-all').addEventListener('click', action(() => latchkey.signOut({ scope: 'global' })))
  $('#load-sessions').addEventListener('click', action(loadSessions))
  $('#resend-verification').addEventListener('click', action(async () => {
    await latchkey.resendVerification()
    notice('A new verification link is on its way.')
  }))
  $('#change-password').addEventListener('submit', action(async () => {
    await latchkey.changePassword($('#current-password').value, $('#new-password').value)
    $('#change-password').reset()
    notice('Password changed; your other devices were signed out.')
  }))

  // After a page load the access token is gone (it was only in memory): the cookie brings it back.
  action(async () => {
    try {
      if (await latchkey.restore()) await loadMe()
    } finally {
      render()
    }
  })()
}
