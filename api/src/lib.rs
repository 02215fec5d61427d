//! The HTTP API contract of tsmd: request and response types, routes, and a client.
