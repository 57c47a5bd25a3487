// RadaAPIClient: a Swift client generated at build time from Docs/openapi.yaml (the
// OpenAPIGenerator plugin reads the symlinked openapi.yaml beside this file). Tests drive a live
// server with it, so a document that stops describing the server, or stops generating, fails
// `make test`. Nothing is written by hand here.
