"""Webhook delivery, end to end: one package to read to follow a delivery.

- ``views``: the endpoints (``/hooks/<token>``, ``/hooks/p/<path>``), problem+json errors;
- ``delivery``: the database side — find the trigger, run its pipeline, fire it;
- ``pipeline``: a trigger's webhook settings compiled, and the steps a request goes through
  (no database): ``authentication``, ``signatures`` (with ``presets``), ``parsing``,
  ``input_schema``, ``idempotency``, ``transforms`` (one module a step; ``headers`` for
  them all), with RE2 patterns (``patterns``);
- ``errors``: every refusal, with its status and code;
- ``receivers``: a trigger's webhook settings must compile when it is saved.

docs/webhooks.md describes the pipeline step by step.
"""
