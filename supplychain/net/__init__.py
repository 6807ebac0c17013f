"""Where outbound HTTP may go, and the transport that holds it there (core: used by the outbound
channels, the webhook services and the company sign-in alike)."""
