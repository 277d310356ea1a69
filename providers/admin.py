"""The provider catalog in the admin: a read-only page of every provider's trigger types
(/admin/catalog/, linked from the admin's home). Connections are credentials with a
provider (accounts' admin); provider triggers are triggers of origin "provider"."""

from django.contrib import admin
from django.template.response import TemplateResponse

from triggers import catalog


def catalog_view(request):
    providers: dict[str, list] = {}
    for entry in catalog.trigger_types():
        if entry.listed:
            providers.setdefault(entry.provider_id, []).append(entry)
    context = {
        **admin.site.each_context(request),
        "title": "Trigger catalog",
        "providers": sorted(providers.items()),
    }
    return TemplateResponse(request, "admin/catalog.html", context)
