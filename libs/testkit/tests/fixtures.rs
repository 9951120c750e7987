//! Invariant: the fixtures are found inside the repository and parse as the kit describes them.
#![allow(clippy::unwrap_used)]

use miroir_testkit::{
    fixtures_dir, load_recordings, npm_corpus_path, npm_documents, recordings_dir,
};

#[test]
fn fixture_paths_exist_inside_the_crate() {
    assert!(fixtures_dir().starts_with(env!("CARGO_MANIFEST_DIR")));
    assert!(recordings_dir().join("README.md").is_file());
    assert!(npm_corpus_path().is_file());
}

#[test]
fn every_recording_parses_as_exchanges() {
    let mut files: Vec<String> = std::fs::read_dir(recordings_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && !name.starts_with("10-"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 10, "{files:?}");
    for file in files {
        let exchanges = load_recordings(&file).unwrap();
        assert!(!exchanges.is_empty(), "{file}");
        assert!(
            exchanges.iter().all(|e| e.request.path.starts_with('/')),
            "{file}"
        );
    }
    let basics = load_recordings("01-basics.json").unwrap();
    assert_eq!(basics[0].request.path, "/health");
    assert_eq!(basics[0].response.status, 200);
}

#[test]
fn npm_corpus_reads_in_order() {
    let docs = npm_documents(5).unwrap();
    assert_eq!(docs.len(), 5);
    assert_eq!(docs[0]["id"], 0);
    assert_eq!(docs[4]["id"], 4);
    assert_eq!(npm_documents(usize::MAX).unwrap().len(), 10_000);
}
