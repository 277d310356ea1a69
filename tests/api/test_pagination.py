"""The two paging styles, on real rows: limit/offset with X-Total-Count, page/limit with an
envelope; a bad parameter is a 400 naming it."""

import pytest
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import Project
from accounts.services import project_create
from api.pagination import ArrayLimitOffsetPagination, PageEnvelopePagination


@pytest.fixture
def projects(acme):
    for n in range(23):
        project_create(tenant=acme, name=f"p{n:02}", public_id=f"p{n:02}")
    return Project.objects.filter(tenant=acme).order_by("public_id")


def page(paginator, projects, query: str):
    request = Request(APIRequestFactory().get(f"/x?{query}"))
    rows = paginator.paginate_queryset(projects, request)
    return paginator.get_paginated_response([p.public_id for p in rows])


def test_page_envelope_defaults_to_the_first_ten(projects):
    response = page(PageEnvelopePagination(), projects, "")

    assert response.data["data"] == [f"p{n:02}" for n in range(10)]
    assert response.data["pagination"] == {"page": 1, "limit": 10, "total": 23, "pages": 3}


def test_page_envelope_last_and_past_the_last_page(projects):
    last = page(PageEnvelopePagination(), projects, "page=3&limit=10")
    past = page(PageEnvelopePagination(), projects, "page=9&limit=10")

    assert last.data["data"] == ["p20", "p21", "p22"]
    assert past.data == {"data": [], "pagination": {"page": 9, "limit": 10, "total": 23,
                                                     "pages": 3}}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page=0", "page"),
        ("page=x", "page"),
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=1&limit=2", "limit"),
        ("limit=1_0", "limit"),  # int() takes it; a query parameter does not
        ("page=%D9%A3", "page"),  # an Arabic-Indic 3
        ("page=99999999999999999999", "page"),
    ],
)
def test_page_envelope_refuses_bad_parameters_naming_them(projects, query, named):
    with pytest.raises(serializers.ValidationError) as refused:
        page(PageEnvelopePagination(), projects, query)

    assert list(refused.value.detail) == [named]


def test_limit_offset_keeps_a_plain_array_and_the_total_in_a_header(projects):
    response = page(ArrayLimitOffsetPagination(), projects, "limit=5&offset=20")

    assert response.data == ["p20", "p21", "p22"]
    assert response["X-Total-Count"] == "23"


def test_an_empty_tenant_has_zero_pages(acme):
    response = page(PageEnvelopePagination(), Project.objects.filter(tenant=acme), "")

    assert response.data["pagination"] == {"page": 1, "limit": 10, "total": 0, "pages": 0}


def test_a_total_above_the_exact_limit_is_an_estimate_that_says_so(projects, settings):
    settings.LIST_EXACT_COUNT_LIMIT = 5

    first = page(ArrayLimitOffsetPagination(), projects, "limit=3")
    past_the_estimate = page(ArrayLimitOffsetPagination(), projects, "limit=3&offset=20")
    envelope = page(PageEnvelopePagination(), projects, "limit=3&page=8")

    assert first["X-Total-Count-Estimated"] == "true"
    assert int(first["X-Total-Count"]) >= 6
    assert first.data == ["p00", "p01", "p02"]
    assert past_the_estimate.data == ["p20", "p21", "p22"]  # an estimate never hides rows
    assert envelope.data["data"] == ["p21", "p22"] and envelope.data["pagination"]["total"] >= 6


def test_an_exact_total_says_nothing_more(projects, settings):
    settings.LIST_EXACT_COUNT_LIMIT = 23

    response = page(ArrayLimitOffsetPagination(), projects, "limit=3")

    assert response["X-Total-Count"] == "23" and "X-Total-Count-Estimated" not in response


def test_a_deep_page_reads_keys_first_and_keeps_the_order(projects, monkeypatch):
    from api import pagination

    monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", 5)  # 23 rows make no deep page
    descending = projects.order_by("-public_id")

    deep = page(ArrayLimitOffsetPagination(), descending, "limit=4&offset=6")
    envelope = page(PageEnvelopePagination(), descending, "limit=4&page=6")

    assert deep.data == ["p16", "p15", "p14", "p13"]
    assert envelope.data["data"] == ["p02", "p01", "p00"]


def test_a_page_of_a_joined_list_reads_keys_first_from_the_first_page(projects):
    """With select_related, one query would make PostgreSQL hash and sort every row of the
    join; the page's keys come first from the order's index, then those rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    joined = projects.select_related("tenant").order_by("-public_id")

    with CaptureQueriesContext(connection) as queries:
        first = page(ArrayLimitOffsetPagination(), joined, "limit=3")

    assert first.data == ["p22", "p21", "p20"]
    selects = [q["sql"] for q in queries.captured_queries if "COUNT" not in q["sql"]]
    assert "JOIN" not in selects[0] and "LIMIT 3" in selects[0]  # the keys, from the index
    assert "JOIN" in selects[1]  # then those rows, with their tenant
