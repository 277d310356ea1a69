"""The provider API: the provider catalog and project triggers (docs/provider-api.md).

- ``api``: ``/projects/{project_id}/triggers``, ``/triggers`` (shared with the agent API:
  one object carries the fields of both), ``/providers/…``, test samples;
- ``services``: a project trigger made from a catalog entry, its config checked against the
  entry's JSON Schema and its connection against the tenant.

Deliveries (``/v1/webhooks/{id}``, the deprecated key endpoints) are the webhooks app's.
"""
