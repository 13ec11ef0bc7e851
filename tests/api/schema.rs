#[test]
fn schema_graphql_at_the_repo_root_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists at the repo root");
    let generated = agora::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}
