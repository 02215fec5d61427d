//! Prints the OpenAPI 3.1 document of the tsmd API (the same as `GET /v1/openapi.json`):
//! `cargo run -p api --example openapi > openapi.json`.

fn main() -> Result<(), serde_json::Error> {
    println!("{}", api::openapi().to_pretty_json()?);
    Ok(())
}
