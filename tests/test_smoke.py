def test_it_serves_the_openapi_schema(alice_client):
    response = alice_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/triggers" in response.content
