use super::*;

#[test]
fn use_trees_expand_to_every_path() {
    let paths = use_paths("crate::store::{items::{timer_key, OutboxItem}, memory as m, *}");
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        ["crate::store::items::timer_key", "crate::store::items::OutboxItem", "crate::store::memory", "crate::store"]
    );
}

#[test]
fn comments_and_strings_are_not_code() {
    let code = code_only("let a = \"crate::x\"; // use crate::y;\n/* super::z */ let c = 'q'; fn f<'a>() {}");
    assert!(!code.contains("crate::") && !code.contains("super::"), "{code}");
    assert!(code.contains("<'a>"));
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_circle_between_two_modules_is_found_and_a_facade_is_not_one() {
    let dir = std::env::temp_dir().join(format!("partnerops-modules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir, "lib.rs", "mod store;\npub use store::Thing;\npub fn f() { store::make(); }\n");
    write(&dir, "store/mod.rs", "mod items;\nmod memory;\npub use items::Thing;\npub fn make() {}\n");
    write(&dir, "store/items.rs", "pub struct Thing;\n#[cfg(test)]\nmod tests { use crate::store::memory::M; }\n");
    write(&dir, "store/memory.rs", "use super::items::Thing;\npub struct M(Thing);\n");
    assert!(cycles(&graph(&dir)).is_empty(), "{:?}", graph(&dir));
    // Now items names memory back: a circle.
    write(&dir, "store/items.rs", "pub struct Thing;\nfn g(_: crate::store::memory::M) {}\n");
    let found = cycles(&graph(&dir));
    assert_eq!(found, vec![vec!["store::items".to_owned(), "store::memory".to_owned()]]);
    // A child naming the module whose code names it back is one too.
    write(&dir, "store/items.rs", "pub struct Thing;\nfn g() { super::make(); }\n");
    write(&dir, "store/mod.rs", "mod items;\nmod memory;\npub use items::Thing;\npub fn make() { items::h(); }\n");
    assert_eq!(cycles(&graph(&dir)), vec![vec!["store".to_owned(), "store::items".to_owned()]]);
    // A name taken through a facade depends on the module it comes from:
    // items naming memory's type as `super::M` is still a circle.
    write(&dir, "store/mod.rs", "mod items;\nmod memory;\npub use items::Thing;\npub use memory::M;\n");
    write(&dir, "store/items.rs", "pub struct Thing;\nfn g(_: super::M) {}\n");
    assert_eq!(cycles(&graph(&dir)), vec![vec!["store::items".to_owned(), "store::memory".to_owned()]]);
    // And an inline module's code counts as that module's.
    write(
        &dir,
        "store/items.rs",
        "pub struct Thing;\npub mod inner { pub struct I; pub fn h(_: crate::store::memory::M) {} }\n",
    );
    write(&dir, "store/memory.rs", "pub struct M(super::items::inner::I);\n");
    assert_eq!(cycles(&graph(&dir)), vec![vec!["store::items::inner".to_owned(), "store::memory".to_owned()]]);
    let _ = std::fs::remove_dir_all(&dir);
}
