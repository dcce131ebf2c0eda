import { $, action } from './ui.js'

/**
 * Two-factor authentication on the account page: the second sign-in step, TOTP enrolment with a QR
 * code, and the step-up prompt that sensitive actions show when the server asks for a recent,
 * stronger sign-in (RFC 9470 `insufficient_user_authentication`).
 */
export function startMfa(latchkey, { onSignedIn }) {
  const notice = (text) => ($('#notice').textContent = text)
  let mfaToken = null
  let retry = null

  /** signIn rejected with MfaRequiredError: ask for the code. */
  function askForCode(err) {
    mfaToken = err.mfaToken
    $('#mfa-form').hidden = false
    $('#mfa-code').focus()
    notice('Enter the 6-digit code from your authenticator app.')
  }

  $('#mfa-form').addEventListener('submit', action(async () => {
    await latchkey.completeMfaSignIn(mfaToken, { code: $('#mfa-code').value.trim() })
    mfaToken = null
    $('#mfa-form').reset()
    $('#mfa-form').hidden = true
    notice('')
    await onSignedIn()
  }))

  $('#enable-totp').addEventListener('click', action(async () => {
    const enrolment = await stepUpIfAsked(() => latchkey.startTotpEnrolment())
    $('#totp-qr').src = enrolment.qr_code
    $('#totp-secret').textContent = enrolment.secret
    $('#totp-enrol').hidden = false
  }))

  $('#totp-confirm').addEventListener('submit', action(async () => {
    const codes = await latchkey.confirmTotp($('#totp-code').value.trim())
    $('#totp-confirm').reset()
    $('#totp-enrol').hidden = true
    $('#recovery-codes').replaceChildren(...codes.map((c) => Object.assign(document.createElement('li'), { textContent: c })))
    notice('Two-factor authentication is on. Keep the recovery codes somewhere safe: they are shown only now.')
  }))

  $('#disable-totp').addEventListener('click', action(async () => {
    await stepUpIfAsked(() => latchkey.removeTotp())
    notice('Two-factor authentication is off.')
  }))

  // A sensitive action the server refused for want of a recent, stronger sign-in: prompt, step up, retry once.
  async function stepUpIfAsked(run) {
    try {
      return await run()
    } catch (err) {
      if (err?.code !== 'insufficient_user_authentication') throw err
      return new Promise((resolve, reject) => {
        retry = { run, resolve, reject }
        $('#step-up').hidden = false
        $('#step-up-code').focus()
        notice('Confirm it is you: enter a code from your authenticator app (or your password if you have none).')
      })
    }
  }

  $('#step-up').addEventListener('submit', action(async () => {
    const code = $('#step-up-code').value.trim()
    const proof = /^[0-9]{6}$/.test(code) ? { code } : { password: code }
    await latchkey.stepUp(proof)
    $('#step-up').reset()
    $('#step-up').hidden = true
    const pending = retry
    retry = null
    if (pending) await pending.run().then(pending.resolve, pending.reject)
  }))

  return { askForCode }
}
