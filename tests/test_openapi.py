"""The OpenAPI document is generated without warnings and describes the surfaces accurately."""

import pytest
import yaml
from django.core.management import call_command


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--file", str(path), "--validate", "--fail-on-warn")
    return yaml.safe_load(path.read_text())


def test_every_frontend_api_endpoint_is_documented(schema):
    paths = schema["paths"]
    for path, method in [
        ("/api/triggers", "get"),
        ("/api/triggers", "post"),
        ("/api/triggers/{id}", "get"),
        ("/api/triggers/{id}", "patch"),
        ("/api/triggers/{id}", "delete"),
        ("/api/triggers/{id}/duplicate", "post"),
        ("/api/triggers/{id}/test", "post"),
        ("/api/triggers/{id}/executions", "get"),
        ("/api/executions/{id}", "get"),
    ]:
        assert method in paths[path], (path, method)


def test_integer_enums_and_nullability_are_declared(schema):
    components = schema["components"]["schemas"]
    assert components["TriggerStatusEnum"] == {
        **components["TriggerStatusEnum"],
        "enum": [0, 1, 2, 3],
        "type": "integer",
    }
    assert components["ExecutionStatusEnum"]["enum"] == [0, 1, 2, 3, 4]
    trigger = components["Trigger"]
    assert trigger["properties"]["webhook_url"]["nullable"] is True
    assert "id" in trigger["required"] and "status" in trigger["required"]
    trigger_input = components["TriggerInputRequest"]
    assert set(trigger_input["required"]) == {"name", "trigger_type"}


def test_list_parameters_are_documented(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/triggers"]["get"]["parameters"]}
    assert {"sort_by", "order", "status", "trigger_type", "limit", "offset"} <= set(parameters)
    assert parameters["status"]["schema"]["enum"] == [0, 1, 2, 3]


def test_each_surface_documents_its_own_error_body(schema):
    def error_ref(path, method, status):
        content = schema["paths"][path][method]["responses"][status]["content"]
        return content["application/json"]["schema"]["$ref"]

    assert error_ref("/api/triggers/{id}", "patch", "400") == "#/components/schemas/Error"
    assert error_ref("/api/flows/{flow_id}", "patch", "404") == "#/components/schemas/FlowError"
    assert set(schema["components"]["schemas"]["FlowError"]["required"]) == {
        "statusCode", "message", "error",
    }  # fmt: skip


def test_the_alert_channels_are_documented(schema):
    paths = schema["paths"]
    for path, methods in [
        ("/api/alert-channels", {"get", "post"}),
        ("/api/alert-channels/{id}", {"get", "patch", "delete"}),
        ("/api/alert-channels/{id}/test", {"post"}),
    ]:
        assert methods <= set(paths[path]), path
    assert "502" in paths["/api/alert-channels/{id}/test"]["post"]["responses"]
    channel = schema["components"]["schemas"]["AlertChannel"]["properties"]
    assert "url" not in channel and channel["secret"]["nullable"] is True


def test_the_alert_episodes_are_documented_read_only(schema):
    paths = schema["paths"]
    assert set(paths["/api/alert-episodes"]) == {"get"}
    assert set(paths["/api/alert-episodes/{id}"]) == {"get"}
    parameters = {p["name"]: p for p in paths["/api/alert-episodes"]["get"]["parameters"]}
    assert {"open", "event", "limit", "offset"} <= set(parameters)
    assert parameters["open"]["schema"]["enum"] == ["false", "true"]
    assert "scheduler_lost" not in parameters["event"]["schema"]["enum"]
    episode = schema["components"]["schemas"]["AlertEpisode"]["properties"]
    assert episode["trigger_id"]["nullable"] is True and episode["open"]["type"] == "boolean"


@pytest.mark.parametrize(
    "path",
    [
        "/api/executions",
        "/api/triggers/{id}/executions",
        "/manage/tenants/{tenantId}/projects/{projectId}/agents/{agentId}/triggers/{id}/invocations",
    ],
)
def test_every_list_of_executions_documents_how_far_history_goes(schema, path):
    headers = schema["paths"][path]["get"]["responses"]["200"]["headers"]

    assert headers["X-History-Retention-Days"]["schema"]["type"] == "integer"
    assert headers["X-History-Since"]["schema"]["format"] == "date-time"


def test_what_a_firing_rule_refuses_and_what_may_be_null_are_declared(schema):
    manage = "/manage/tenants/{tenantId}/projects/{projectId}/agents/{agentId}/triggers/{id}"
    rerun = schema["paths"][f"{manage}/rerun"]["post"]["responses"]
    backfill = schema["paths"]["/api/triggers/{id}/backfill"]["post"]["responses"]
    assert {"409", "429"} <= set(rerun) and "application/problem+json" in rerun["409"]["content"]
    assert "409" in backfill
    paused = schema["components"]["schemas"]["ManageTrigger"]["properties"]
    assert paused["pausedAt"]["nullable"] is True and paused["pausedUntil"]["nullable"] is True
    (execution_id,) = [p for p in schema["paths"]["/api/executions/{id}"]["get"]["parameters"]
                       if p["name"] == "id"]  # fmt: skip
    assert execution_id["schema"]["pattern"].startswith("^(?:")  # anchored on both ids
