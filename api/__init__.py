"""The API layer every surface shares (docs/api.md, "One API layer").

Plumbing only, below every app: it imports no project app, and each surface (an app's
``api/<surface>.py``) is a thin module of serializers and views built on it.

- ``views``: tenant-scoped base views, and how a surface declares its error format;
- ``errors``: the one exception handler and the three error formats;
- ``pagination``: ``limit``/``offset`` with ``X-Total-Count``, and ``page``/``limit`` with a
  ``pagination`` object;
- ``strict``: JSON values must have the JSON type the API documents;
- ``filtering``, ``routers``, ``openapi``: query-parameter forms, routes with an optional
  trailing slash, and the OpenAPI error responses of each surface.

Authentication (Bearer tokens, the session cookie with CSRF) and the tenant a caller acts
for are accounts' (they read its tokens and memberships); settings install them for every
surface (``REST_FRAMEWORK``), so no view names them.
"""
