"""Marshmallow schemas, used by the API and the pages alike: the shared fields and helpers in
`common`, then one module per feature with its input and output schemas."""
