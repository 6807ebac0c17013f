"""The chain as an OpenID Connect provider for its custom apps (Authlib's server, joserfc JWTs):
clients, signing keys, claims and the service that ends access at once. Its HTTP endpoints, which
answer people with the pages' sign-in and error pages, stand above the pages in
`supplychain.identity_routes`."""
