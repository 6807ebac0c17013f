"""Company sign-in (SSO): an org's connection to its IdP, and the start of a sign-in."""
