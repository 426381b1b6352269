"""Read API tests: real publish, real app through TestClient, real JWTs."""
