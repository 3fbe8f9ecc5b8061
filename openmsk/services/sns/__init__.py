"""An embedded `sns` subset: topics, subscriptions (http/https with SNS's confirmation handshake,
email/email-json to a maildir or SMTP server, openmsk's own `file`), signed messages, retried delivery.

* `provider` -- the API (query protocol) and the unsigned cert/confirm/unsubscribe pages
* `backend`  -- topics, subscriptions, publishing (`publish`, `ensure_topic`: what other services call)
* `delivery` -- background delivery with SNS's retry policy, bounded in flight
* `signing`  -- SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA)
"""
from .backend import SnsBackend
from .provider import SnsProvider

__all__ = ["SnsBackend", "SnsProvider"]
