//! The route table (`maas::server::routes::ROUTES`) is the one list of the API's routes: the
//! README's table and the fuzz target's seeds must say the same, route for route. (The SAM
//! template's API routes are checked against it in `tests/infra.rs`.)
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use maas::server::routes::{markdown_rows, ROUTES};

/// The README's route rows: the lines of the table under "### Routes" naming a method.
fn readme_rows() -> String {
    let readme = include_str!("../README.md");
    let section = readme
        .split("### Routes\n")
        .nth(1)
        .expect("the README has a Routes section");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| l.starts_with("| `GET ") || l.starts_with("| `POST "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_readme_lists_every_route_of_the_table_in_order() {
    let rows = readme_rows();
    assert_eq!(rows.lines().count(), ROUTES.len(), "{rows}");
    assert_eq!(rows, markdown_rows());
}

#[test]
fn the_fuzz_seeds_use_the_route_table_in_its_order() {
    let seeds = include_str!("fuzz/seeds.py");
    let table = seeds
        .split("ROUTES = [\n")
        .nth(1)
        .and_then(|rest| rest.split("\n]").next())
        .expect("seeds.py has a ROUTES list");
    let listed: Vec<(String, String)> = table
        .lines()
        .map(|line| {
            let quoted: Vec<&str> = line.split('"').collect();
            assert_eq!(quoted.len(), 5, "not a (method, path) pair: {line}");
            (quoted[1].to_string(), quoted[3].to_string())
        })
        .collect();
    let expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path_for("digits", 1)))
        .collect();
    assert_eq!(listed, expected);
    // the fuzz target picks a route with the low 5 bits of its first byte
    assert!(ROUTES.len() <= 32);
}
