//! The cost model against the real schema.

use super::*;

const INTROSPECTION: &str = include_str!("../../../tests/fixtures/introspection.graphql");

fn model() -> CostModel {
    CostModel::from_sdl(&crate::graphql::sdl(), 50_000)
}

fn price_with(model: &CostModel, query: &str, variables: serde_json::Value) -> u64 {
    let document = async_graphql::parser::parse_query(query).expect("a valid query");
    model
        .price(&document, None, &Variables::from_json(variables))
        .requested
}

fn price(query: &str) -> u64 {
    price_with(&model(), query, serde_json::json!({}))
}

#[test]
fn scalars_cost_nothing_and_objects_one_each() {
    assert_eq!(price("{ __typename }"), 1, "the floor is 1");
    assert_eq!(price("{ viewer { id username } }"), 1);
    assert_eq!(
        price("{ viewer { id } post(id: \"p\") { id author { id } } }"),
        3
    );
}

#[test]
fn a_connection_multiplies_its_items_by_first() {
    // connection 1 + 10 × (edge 1 + node 1)
    assert_eq!(
        price("{ posts(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } } }"),
        1 + 10 * 2 + 1
    );
    assert_eq!(
        price("{ posts(first: 10) { nodes { id } totalCount } }"),
        1 + 10
    );
}

#[test]
fn an_absent_first_is_the_default_page_and_a_large_one_the_maximum() {
    assert_eq!(price("{ posts { nodes { id } } }"), 1 + 20);
    assert_eq!(price("{ posts(first: 5000) { nodes { id } } }"), 1 + 100);
    assert_eq!(price("{ posts(first: -3) { nodes { id } } }"), 1);
}

#[test]
fn nesting_multiplies() {
    let query = "{ user(id: \"u\") { followers(first: 20) { nodes { \
                 followers(first: 20) { nodes { id } } } } } }";
    // user 1 + followers 1 + 20 × (node 1 + followers 1 + 20 × node 1)
    assert_eq!(price(query), 1 + 1 + 20 * (1 + 1 + 20));
}

#[test]
fn the_fan_out_attack_costs_millions() {
    let attack = include_str!("../../../tests/fixtures/fan-out.attack.graphql");
    assert!(price(attack) > 3_000_000, "{}", price(attack));
}

#[test]
fn variables_give_page_sizes_and_unknown_ones_the_maximum() {
    let model = model();
    let query = "query($n: Int) { posts(first: $n) { nodes { id } } }";
    assert_eq!(price_with(&model, query, serde_json::json!({ "n": 7 })), 8);
    assert_eq!(price_with(&model, query, serde_json::json!({})), 101);
    assert_eq!(
        price_with(&model, query, serde_json::json!({ "n": null })),
        21
    );
    let defaulted = "query($n: Int = 4) { posts(first: $n) { nodes { id } } }";
    assert_eq!(price_with(&model, defaulted, serde_json::json!({})), 5);
    assert_eq!(
        price_with(&model, defaulted, serde_json::json!({ "n": 2 })),
        3
    );
}

#[test]
fn aliases_and_fragments_count_in_full() {
    let one = price("{ posts(first: 10) { nodes { id author { id } } } }");
    assert_eq!(one, 1 + 10 * 2);
    let aliased = price(
        "{ a: posts(first: 10) { nodes { id author { id } } } \
           b: posts(first: 10) { nodes { id author { id } } } }",
    );
    assert_eq!(aliased, 2 * one);
    let spread = price(
        "{ posts(first: 10) { ...Page } } \
         fragment Page on PostConnection { nodes { ...P } edges { node { ...P } } } \
         fragment P on Post { id author { id } }",
    );
    // 1 + 10 × (node 1 + author 1) + 10 × (edge 1 + node 1 + author 1)
    assert_eq!(spread, 1 + 10 * 2 + 10 * 3);
    let inline = price("{ posts(first: 10) { nodes { ... on Post { author { id } } } } }");
    assert_eq!(inline, one);
}

#[test]
fn exponential_fragment_spreads_saturate_instead_of_hanging() {
    let mut query = String::from("query { viewer { ...F0 } }");
    for i in 0..80 {
        query.push_str(&format!(
            " fragment F{i} on User {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    query.push_str(" fragment F80 on User { followers { nodes { id } } }");
    assert_eq!(price(&query), u64::MAX);
    assert_eq!(
        price("{ viewer { ...A } } fragment A on User { id ...A }"),
        1
    );
}

#[test]
fn introspection_is_priced_by_the_schema_size() {
    let types = price("{ __schema { types { name } } }");
    assert!(types > 50, "{types}");
    let full = price(INTROSPECTION);
    let thirty_one = price(&format!(
        "{{ {} }}",
        (0..31)
            .map(|i| format!(
                "a{i}: __schema {{ types {{ fields {{ args {{ type {{ name }} }} }} }} }}"
            ))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    assert!(full < 50_000, "{full}");
    assert!(thirty_one > 31 * 1000, "{thirty_one}");
}

#[test]
fn thirty_one_aliased_schema_selections_cost_more_than_the_limit() {
    let attack = include_str!("../../../tests/fixtures/aliased-schema.attack.graphql");
    let cost = price(attack);
    assert!(cost > 50_000, "{cost}");
}

#[test]
fn lists_are_bounded_by_their_rules() {
    assert_eq!(price("{ cart { items { post { id } } } }"), 1 + 50 * 2);
    assert_eq!(price("{ trendingTags { tag } }"), 10);
    assert_eq!(price("{ trendingTags(limit: 3) { tag } }"), 3);
}

#[test]
fn the_operation_named_is_the_one_priced() {
    let model = model();
    let document = async_graphql::parser::parse_query(
        "query A { viewer { id } } query B { posts(first: 10) { nodes { id } } }",
    )
    .unwrap();
    let vars = Variables::default();
    assert_eq!(model.price(&document, Some("A"), &vars).requested, 1);
    assert_eq!(model.price(&document, Some("B"), &vars).requested, 11);
    assert_eq!(model.price(&document, None, &vars).requested, 11);
}

#[test]
fn every_list_of_objects_has_a_documented_bound() {
    let model = model();
    let mut missing = Vec::new();
    for (type_name, costs) in &model.types {
        for (field, cost) in &costs.fields {
            let key = format!("{type_name}.{field}");
            if let Size::Bounded(UNLISTED_BOUND) = cost.size
                && !type_name.starts_with("__")
                && bound_of(&key).is_none()
            {
                missing.push(key);
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "add these lists to LIST_BOUNDS (or give them a page argument): {missing:?}"
    );
    for (key, _) in LIST_BOUNDS {
        let (type_name, field) = key.split_once('.').unwrap();
        assert!(
            model
                .types
                .get(type_name)
                .is_some_and(|t| t.fields.contains_key(field)),
            "LIST_BOUNDS names {key}, which the schema does not have"
        );
    }
}

/// Every GraphQL document written in the README, the tests and the benches, with where it
/// was found: README ```graphql blocks, `.graphql` fixtures, and Rust string literals that
/// parse as an executable document (format strings with their `{{ }}` undoubled and their
/// placeholders filled in).
fn documents_in_repo() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for (i, block) in readme.split("```graphql").skip(1).enumerate() {
        let text = block.split("```").next().unwrap_or_default();
        for (j, operation) in top_level_chunks(text).into_iter().enumerate() {
            found.push((format!("README.md block {} #{}", i + 1, j + 1), operation));
        }
    }
    let mut files = Vec::new();
    for dir in ["tests", "benches"] {
        collect_files(&root.join(dir), &mut files);
    }
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a readable file");
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if name.ends_with(".attack.graphql") {
            // Hostile documents, priced over the limit on purpose.
        } else if name.ends_with(".graphql") {
            found.push((name, text));
        } else if name.ends_with(".rs") {
            for (line, literal) in rust_string_literals(&text) {
                let literal = fill_format_string(&literal);
                if literal.contains('{')
                    && async_graphql::parser::parse_query(&literal)
                        .is_ok_and(|d| d.operations.iter().next().is_some())
                {
                    found.push((format!("{name}:{line}"), literal));
                }
            }
        }
    }
    found
}

/// A README block may show several operations one after another, anonymous ones among them:
/// each top-level `{ … }` with what precedes it is one document.
fn top_level_chunks(text: &str) -> Vec<String> {
    let (mut depth, mut chunk, mut chunks) = (0usize, String::new(), Vec::new());
    for c in text.chars() {
        chunk.push(c);
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    chunks.push(std::mem::take(&mut chunk));
                }
            }
            _ => {}
        }
    }
    chunks
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The string literals of Rust source, unescaped, with the line each starts on. Comments and
/// char literals are skipped so their quotes do not start strings.
fn rust_string_literals(source: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '\'' {
            // A char literal ('"', '\'', '\u{..}'), or a lifetime: skip just past it.
            match (chars.get(i + 1), chars.get(i + 2)) {
                (Some('\\'), _) => {
                    i += 2;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                }
                (Some(_), Some('\'')) => i += 3,
                _ => i += 1,
            }
        } else if c == 'r' && matches!(chars.get(i + 1), Some('"' | '#')) {
            let start_line = line;
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                i += 1;
                continue;
            }
            j += 1;
            let mut text = String::new();
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    break;
                }
                if chars[j] == '\n' {
                    line += 1;
                }
                text.push(chars[j]);
                j += 1;
            }
            out.push((start_line, text));
            i = j + 1 + hashes;
        } else if c == '"' {
            let start_line = line;
            let mut j = i + 1;
            let mut text = String::new();
            while j < chars.len() && chars[j] != '"' {
                match chars[j] {
                    '\\' => {
                        j += 1;
                        match chars.get(j) {
                            Some('n') => text.push('\n'),
                            Some('t') => text.push('\t'),
                            Some('\n') => {
                                line += 1;
                                j += 1;
                                while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                                    j += 1;
                                }
                                continue;
                            }
                            Some(other) => text.push(*other),
                            None => {}
                        }
                    }
                    '\n' => {
                        line += 1;
                        text.push('\n');
                    }
                    other => text.push(other),
                }
                j += 1;
            }
            out.push((start_line, text));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// A `format!` string as the document it formats to: `{{`/`}}` undoubled and each `{name}`
/// placeholder replaced by a number (they stand for ids inside quotes, or page sizes).
fn fill_format_string(literal: &str) -> String {
    if !literal.contains("{{") && !literal.contains("}}") {
        return literal.to_owned();
    }
    let chars: Vec<char> = literal.chars().collect();
    let (mut i, mut out) = (0, String::new());
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('{', Some('{')) | ('}', Some('}')) => {
                out.push(chars[i]);
                i += 2;
            }
            ('{', _) => {
                let end = chars[i..].iter().position(|c| *c == '}').map(|p| i + p);
                match end {
                    Some(end) => {
                        out.push('1');
                        i = end + 1;
                    }
                    None => i += 1,
                }
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[test]
fn the_catalogue_fits_its_bound() {
    assert!(domain::categories().len() as u64 <= CATEGORY_BOUND);
}

#[test]
fn every_document_in_the_readme_and_the_tests_is_under_the_default_limit() {
    let model = model();
    let limit = crate::config::GraphqlConfig::default().max_cost;
    let documents = documents_in_repo();
    assert!(
        documents.len() > 200,
        "the scan found only {} documents: is it still reading the tests?",
        documents.len()
    );
    let mut priced: Vec<(u64, String)> = documents
        .iter()
        .map(|(place, text)| {
            let document = async_graphql::parser::parse_query(text)
                .unwrap_or_else(|err| panic!("{place} does not parse: {err}"));
            let cost = document
                .operations
                .iter()
                .map(|(name, _)| {
                    model
                        .price(&document, name.map(|n| n.as_str()), &Variables::default())
                        .requested
                })
                .max()
                .unwrap_or(0);
            (cost, place.clone())
        })
        .collect();
    priced.sort();
    let over: Vec<_> = priced.iter().filter(|(cost, _)| *cost > limit).collect();
    assert!(
        over.is_empty(),
        "over the default max_cost of {limit}: {over:?}"
    );
    eprintln!(
        "{} documents; the costliest: {:?}",
        priced.len(),
        &priced[priced.len().saturating_sub(8)..]
    );
}
