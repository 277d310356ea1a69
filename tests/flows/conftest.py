import pytest

from flows import services


@pytest.fixture
def flow(acme, acme_project):
    return services.flow_create(
        tenant=acme,
        app=acme_project,
        name="Search Products",
        tool_name="search_products",
        tool_description="Search for products in the catalog",
    )


@pytest.fixture
def add_node(flow):
    def add(node_type="Interface", name=None, x=0, y=0, parameters=None, on=None):
        return services.node_create(
            flow=on or flow,
            type=node_type,
            name=name or node_type,
            position={"x": x, "y": y},
            parameters=parameters or {},
        )

    return add
