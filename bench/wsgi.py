"""bench/webhooks.py ``--ceiling``: the service's WSGI application plus a raw WSGI endpoint
that stores one execution without Django's request, response or URL resolution — the
most any Python endpoint under the same gunicorn could do, for the webhook to be measured
against. Never served in production.

``POST /bench/raw/<trigger id>``: the JSON body parsed and inserted as the execution's
input with the service's own prepared INSERT (executions/inserts.py), in autocommit, then
202 with the execution id.
"""

import json

from config.wsgi import application as service
from executions.inserts import prepared_insert

RAW_PREFIX = "/bench/raw/"
_inserts = {}


def raw_insert(environ, start_response):
    trigger_id = int(environ["PATH_INFO"].removeprefix(RAW_PREFIX))
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if trigger_id not in _inserts:
        from triggers.models import Trigger

        constant = {
            "tenant_id": Trigger.objects.values_list("tenant_id", flat=True).get(pk=trigger_id),
            "trigger_id": trigger_id,
            "execution_type": "webhook",
        }
        _inserts[trigger_id] = prepared_insert(constant, ["input_data"])
    execution_id = _inserts[trigger_id].insert([json.loads(body)])
    answer = json.dumps({"execution_id": str(execution_id)}).encode()
    start_response(
        "202 Accepted",
        [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))],
    )
    return [answer]


def application(environ, start_response):
    if environ.get("PATH_INFO", "").startswith(RAW_PREFIX):
        return raw_insert(environ, start_response)
    return service(environ, start_response)
