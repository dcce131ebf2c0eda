import { $, action } from './ui.js'

// @simplewebauthn/browser, served by serve.ts; loaded on first use so the rest of the page never depends on it.
const webauthn = () => import('/simplewebauthn/index.js')

/** Passkeys on the account page: sign in with one when signed out; add, list and delete them when signed in. */
export function startPasskeys(latchkey, { onSignedIn }) {
  const notice = (text) => ($('#notice').textContent = text)

  async function loadPasskeys() {
    const passkeys = await latchkey.listPasskeys()
    $('#passkeys').replaceChildren(...passkeys.map(passkeyItem))
  }

  function passkeyItem(p) {
    const li = document.createElement('li')
    li.dataset.passkeyId = p.id
    const used = p.last_used_at ? `last used ${new Date(p.last_used_at).toLocaleString()}` : 'never used'
    li.textContent = `${p.name} — ${p.backed_up ? 'synced' : 'this device only'}, added ${new Date(p.created_at).toLocaleString()}, ${used} `
    const remove = document.createElement('button')
    remove.type = 'button'
    remove.className = 'delete-passkey'
    remove.textContent = 'Delete'
    remove.addEventListener('click', action(async () => {
      await stepUpIfAsked(() => latchkey.deletePasskey(p.id))
      notice(`Passkey "${p.name}" deleted.`)
      await loadPasskeys()
    }))
    li.append(remove)
    return li
  }

  // Sensitive actions want a recent sign-in (RFC 9470 step-up): confirm with a passkey, then retry once.
  async function stepUpIfAsked(run) {
    try {
      return await run()
    } catch (err) {
      if (err?.code !== 'insufficient_user_authentication') throw err
      notice('Confirm it is you with a passkey…')
      const { startAuthentication } = await webauthn()
      await latchkey.signInWithPasskey((optionsJSON) => startAuthentication({ optionsJSON }), $('#me-email').textContent || undefined)
      return run()
    }
  }

  $('#passkey-sign-in').addEventListener('click', action(async () => {
    const { startAuthentication } = await webauthn()
    const email = $('#email').value.trim()
    // Email-first when an address is typed (security keys need it); otherwise any passkey of this site.
    await latchkey.signInWithPasskey((optionsJSON) => startAuthentication({ optionsJSON }), email || undefined)
    await onSignedIn()
  }))

  $('#add-passkey').addEventListener('click', action(async () => {
    const { startRegistration } = await webauthn()
    const name = $('#passkey-name').value.trim()
    const passkey = await stepUpIfAsked(() => latchkey.registerPasskey((optionsJSON) => startRegistration({ optionsJSON }), name || undefined))
    $('#passkey-name').value = ''
    notice(`Passkey "${passkey.name}" added.`)
    await loadPasskeys()
  }))

  $('#load-passkeys').addEventListener('click', action(loadPasskeys))

  return { loadPasskeys, clear: () => $('#passkeys').replaceChildren() }
}
