// Sign-in: OAuth 2.0 authorization code with PKCE (S256) through chrome.identity.launchWebAuthFlow,
// against the configured issuer. The token lives in chrome.storage.session (memory only, gone
// when the browser closes); a token within a minute of its expiry counts as expired, and the
// extension signs in again (silently first: a provider with a live session answers at once).
import { loadSettings, trimSlash } from "./settings";

const SESSION_KEY = "signIn";
const EXPIRY_MARGIN_MS = 60_000;
const TOKEN_REQUEST_TIMEOUT_MS = 15_000;

interface StoredToken { token: string; expiresAt: number; issuer: string }

export class SignInError extends Error {}

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  return { verifier, challenge: base64url(digest) };
}

async function stored(issuer: string): Promise<StoredToken | null> {
  const value = (await chrome.storage.session.get(SESSION_KEY))[SESSION_KEY] as StoredToken | undefined;
  // Within a minute of its expiry a token counts as expired: sign in again before calls fail.
  if (!value || value.issuer !== issuer || value.expiresAt - EXPIRY_MARGIN_MS <= Date.now()) return null;
  return value;
}

export async function signIn(interactive: boolean): Promise<string> {
  const { issuer: configured } = await loadSettings();
  const issuer = trimSlash(configured);
  const { verifier, challenge } = await pkcePair();
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const redirectUri = chrome.identity.getRedirectURL("oauth2");
  const authorize = new URL(`${issuer}/authorize`);
  authorize.search = new URLSearchParams({
    response_type: "code", client_id: chrome.runtime.id, redirect_uri: redirectUri, state,
    code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  let answered: string | undefined;
  try {
    answered = await chrome.identity.launchWebAuthFlow({ url: authorize.toString(), interactive });
  } catch (err) {
    throw new SignInError(`sign-in at ${issuer} did not finish (${(err as Error).message ?? err})`);
  }
  if (!answered) throw new SignInError("sign-in was cancelled");
  const reply = new URL(answered).searchParams;
  if (reply.get("error")) throw new SignInError(`the sign-in server said: ${reply.get("error")}`);
  // The state ties this answer to this request (no one else's code is accepted).
  if (reply.get("state") !== state || !reply.get("code")) throw new SignInError("the sign-in answer does not match the request");
  let response: Response;
  try {
    response = await fetch(`${issuer}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "authorization_code", code: reply.get("code")!, code_verifier: verifier,
        redirect_uri: redirectUri, client_id: chrome.runtime.id }),
      signal: AbortSignal.timeout(TOKEN_REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new SignInError(`the sign-in server at ${issuer} is unreachable`);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.access_token !== "string") {
    throw new SignInError(`the sign-in server refused: ${body.error_description ?? response.status}`);
  }
  const expiresIn = Number(body.expires_in) > 0 ? Number(body.expires_in) : 3600;
  const token: StoredToken = { token: body.access_token, expiresAt: Date.now() + expiresIn * 1000, issuer };
  await chrome.storage.session.set({ [SESSION_KEY]: token });
  return token.token;
}

/** A valid token and when to stop using it: the stored one, or a fresh sign-in (silent unless interactive). */
export async function getTokenUntil({ interactive = false, refresh = false } = {}): Promise<{ token: string; useUntil: number }> {
  const { issuer } = await loadSettings();
  if (!refresh) {
    const current = await stored(trimSlash(issuer));
    if (current) return { token: current.token, useUntil: current.expiresAt - EXPIRY_MARGIN_MS };
  }
  await signIn(interactive);
  const fresh = await stored(trimSlash(issuer));
  if (!fresh) throw new SignInError("the sign-in server gave a token that is already expiring");
  return { token: fresh.token, useUntil: fresh.expiresAt - EXPIRY_MARGIN_MS };
}

export async function getToken(options: { interactive?: boolean; refresh?: boolean } = {}): Promise<string> {
  return (await getTokenUntil(options)).token;
}

export async function signedIn(): Promise<boolean> {
  return (await stored(trimSlash((await loadSettings()).issuer))) !== null;
}

export async function signOut(): Promise<void> {
  await chrome.storage.session.remove(SESSION_KEY);
}
