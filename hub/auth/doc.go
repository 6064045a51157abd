// Package auth says who is calling the hub and keeps them honest: the
// people's passwords (argon2id), their browser sessions (a random id in
// an HttpOnly cookie, kept hashed), the CSRF token of every request a
// cookie authenticates, the integrations' bearer tokens and the wall
// screens' kiosk tokens, and the rate limits of logging in.
//
// What each role may do is not decided here: hub/httpapi's route rules
// take the Principal this package gives and say which roles may call
// each route, and for which township.
//
// # Passwords
//
// A password is hashed with argon2id (RFC 9106) into a PHC string,
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<key>: 64 MiB of memory, two
// passes, two lanes, a 16-byte random salt and a 32-byte key. That costs
// about a tenth of a second on the hub's class of machine, and an
// attacker with the stored hashes the same for every guess, on every
// core. The parameters travel in the string, so raising them later
// leaves old hashes readable. At most two hashes are computed at once
// (128 MiB), whatever the number of login attempts; a login for an
// unknown name verifies a dummy hash, so the answer's time does not say
// whether the name exists. The comparison of the derived key is constant
// time.
//
// # Sessions and CSRF
//
// Logging in gives a session: 32 random bytes, base64url, in the cookie
// countylink_session (HttpOnly, SameSite=Lax, Path=/, Secure when the hub
// is reached over TLS or Config.CookieSecure says so). The store keeps
// only its SHA-256, so a copy of the database opens no session. A session
// ends when its user logs out, after Config.SessionIdle without a request,
// at Config.SessionMax after the login, when its user is disabled or its
// password changes, and (a kiosk session) when its kiosk token is
// revoked.
//
// Every unsafe request (POST, PUT, PATCH, DELETE) authenticated by the
// cookie must carry the session's CSRF token in the X-CSRF-Token header:
// the SHA-256 of a label and the session id, which the hub can recompute
// and a page of another site cannot read. The token comes in the readable
// cookie countylink_csrf (a double submit tied to the session) and in
// the login's answer. Requests with a bearer token send no cookie a
// browser could attach on its own, and need none.
//
// # Tokens
//
// An API token (an integration: a courier's manifest import, the demo's
// bots) is "clk_" and 32 random bytes, sent as Authorization: Bearer. A
// kiosk token has the same form, is bound to a named screen with the
// viewer role, and is only exchanged for a session (the wall screen's
// URL carries it in its fragment, which no server log sees). Both are
// kept by their SHA-256 and can be revoked; revoking a kiosk token ends
// the sessions made with it.
//
// # Rate limits
//
// Logins (and kiosk exchanges) are limited per client address
// (Config.LoginPerIPPerMinute attempts a minute) and failures per account
// (Config.LoginFailures in Config.LoginWindow). An account over its limit
// is refused without checking its password, so a guesser learns nothing
// more; the refusal is counted and logged. The limits are per hub: hubs
// sharing a store each keep their own.
package auth
