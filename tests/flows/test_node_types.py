"""What each node type requires, without the database."""

import pytest

from flows.node_types import NODE_TYPES, ParameterError, node_type_get


def test_a_call_flow_node_without_flow_id_has_one_issue():
    call_flow = node_type_get("CallFlow")

    assert call_flow.issues({}) == [{"field": "parameters.flowId", "message": "is required"}]
    assert call_flow.issues({"flowId": None, "input": {}}) == call_flow.issues({})
    assert call_flow.issues({"flowId": "3f1c…"}) == []


@pytest.mark.parametrize("node_type", [t for t in NODE_TYPES if t.name != "CallFlow"])
def test_the_other_node_types_are_complete_without_parameters(node_type):
    assert node_type.required == ()
    assert node_type.issues({}) == []


def test_clean_accepts_a_missing_flow_id_and_drops_a_null_one():
    clean = node_type_get("CallFlow").clean

    assert clean({}) == {}
    assert clean({"flowId": None, "input": {"q": 1}}) == {"input": {"q": 1}}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"flowId": 5}, "parameters.flowId: must be a string"),
        ({"flowId": "x" * 65}, "parameters.flowId: must be at most 64 characters"),
        ({"target": "x"}, "parameters.target: unknown parameter"),
    ],
)
def test_clean_still_refuses_given_parameters_that_are_wrong(parameters, message):
    with pytest.raises(ParameterError, match=message):
        node_type_get("CallFlow").clean(parameters)
