"""The chain as an OpenID Connect provider for its custom apps (Authlib's server, joserfc JWTs):
clients, signing keys, claims, the provider's endpoints and the service that ends access at once."""
