// panva's openid-client (strict, certified relying party library) against the provider:
// discovery, code flow with PKCE S256 (state, nonce, RFC 9207 iss), userinfo, refresh,
// introspection, revocation. The person's page session comes in as a cookie (signed in by the
// Python test); prints one JSON document of what it saw. Any failed check throws: exit 1.
import * as client from "openid-client";

const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, COOKIE } = process.env;

const config = await client.discovery(
  new URL(ISSUER),
  CLIENT_ID,
  undefined,
  client.ClientSecretBasic(CLIENT_SECRET),
  { execute: [client.allowInsecureRequests] },
);
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT_URI,
  scope: "openid profile email chain",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  state,
  nonce,
});
const answer = await fetch(url, { redirect: "manual", headers: { cookie: COOKIE } });
const callback = answer.headers.get("location");
if (answer.status !== 302 || !callback.startsWith(REDIRECT_URI)) {
  throw new Error(`authorization answered ${answer.status} ${callback}`);
}
const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
const introspected = await client.tokenIntrospection(config, refreshed.access_token);
let reuse = "accepted";
try {
  await client.refreshTokenGrant(config, tokens.refresh_token);
} catch (error) {
  reuse = error.error || error.code || String(error);
}
const fresh = await client.refreshTokenGrant(config, (await login()).refresh_token);
await client.tokenRevocation(config, fresh.refresh_token);
const revoked = await client.tokenIntrospection(config, fresh.access_token);

// max_age: the page sign-in is fresh, so the code comes at once, and openid-client checks the
// ID token's auth_time against it. prompt=none without the page session: login_required (with
// iss, RFC 9207), which openid-client reads off the redirect.
const aged = (await login({ max_age: "300" }, { maxAge: 300 })).claims();
let silent = "accepted";
try {
  await login({ prompt: "none" }, {}, "");
} catch (error) {
  silent = error.error || error.code || String(error);
}

async function login(extra = {}, checks = {}, cookie = COOKIE) {
  // Another sign-in of the same page session, for a family the reuse above did not touch.
  const v = client.randomPKCECodeVerifier();
  const s = client.randomState();
  const n = client.randomNonce();
  const u = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid profile email chain",
    code_challenge: await client.calculatePKCECodeChallenge(v),
    code_challenge_method: "S256",
    state: s,
    nonce: n,
    ...extra,
  });
  const a = await fetch(u, { redirect: "manual", headers: { cookie } });
  return client.authorizationCodeGrant(config, new URL(a.headers.get("location")), {
    pkceCodeVerifier: v,
    expectedState: s,
    expectedNonce: n,
    idTokenExpected: true,
    ...checks,
  });
}

console.log(
  JSON.stringify({
    issuer: config.serverMetadata().issuer,
    claims,
    userinfo,
    expires_in: tokens.expires_in,
    refreshed: { rotated: refreshed.refresh_token !== tokens.refresh_token },
    introspected,
    reuse,
    revoked,
    aged: { auth_time: aged.auth_time, iat: aged.iat },
    silent,
  }),
);
