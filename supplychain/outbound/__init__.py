"""Everything that leaves the service on its own: the delivery worker and its channels."""
