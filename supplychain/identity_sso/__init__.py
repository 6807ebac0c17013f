"""Company sign-in, the client side: an org's people sign in here through the org's own OpenID
Connect provider (Authlib's OAuth 2 client over a guarded httpx client; ID and logout tokens
verified with joserfc against the IdP's JWKS). The rules (who may sign in as whom) live in
`supplychain.services.sso` and `supplychain.services.sso_signin`."""
