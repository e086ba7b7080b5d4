"""schemathesis hooks for scripts/test (loaded through SCHEMATHESIS_HOOKS)."""

import re
import uuid

import schemathesis

# The OpenAPI pattern of Idempotency-Key (framework/src/http/openapi/document.rs) and its
# length limit (framework/src/http/idempotency.rs MAX_KEY_LEN).
VALID_KEY = re.compile(r'^([!#-\[\]-~]+|"[!#-\[\]-~]+")$')
MAX_KEY_LEN = 255


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Gives every request that carries a valid Idempotency-Key a key of its own.

    A client sends a fresh key per operation (draft-ietf-httpapi-idempotency-key-header
    §2.2); the fuzzer draws the same few keys over and over. A repeated key with the same
    body is a retry, answered with the first response: after a DELETE of that article, the
    stateful phase then reads the replayed 201 as a created resource that is gone (ST302).
    Malformed keys are left as drawn, so the 400 answer is still exercised.
    """
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() != "idempotency-key" or not isinstance(value, str):
            continue
        if len(value) <= MAX_KEY_LEN and VALID_KEY.match(value):
            headers[name] = str(uuid.uuid4())
