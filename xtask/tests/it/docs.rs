//! The README and docs/ link to each other and into the code: every relative link (and image)
//! must name a file or directory of this repository, and every `#anchor` into a markdown file
//! must name one of its headings, as GitHub slugs them, or an `<a id>`/`<a name>` in it. A link
//! whose text is one `identifier` into a Rust file names a function there (the guarantees name
//! their tests that way), so a renamed test breaks the link. A page of docs/ that the README does
//! not link is a page nobody finds.
//!
//! Read from the files only: nothing is built or run. Links with a scheme (`https:`,
//! `mailto:`) are not followed; a `#L10` into a source file is GitHub's line anchor and is not
//! checked.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::support::repo_root;

/// The pages people read: README.md and docs/*.md.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    docs.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "md"));
    docs.sort();
    pages.extend(docs);
    pages
}

#[test]
fn every_relative_link_and_anchor_in_the_readme_and_docs_resolves() {
    let root = repo_root();
    let broken = broken_links(&root, &pages(&root));
    assert!(broken.is_empty(), "broken links in README.md or docs/ (file:line: link: why):\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_docs_is_linked_from_the_readme() {
    let root = repo_root();
    let readme = root.join("README.md");
    let text = fs::read_to_string(&readme).unwrap();
    let linked: BTreeSet<PathBuf> = links(&text)
        .into_iter()
        .filter_map(|link| match resolve(&root, &readme, &link.target) {
            Ok(Target::Path { path, .. }) => Some(path),
            _ => None,
        })
        .collect();
    let orphans: Vec<String> = pages(&root)
        .iter()
        .skip(1)
        .filter(|page| !linked.contains(*page))
        .map(|page| page.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    assert!(
        orphans.is_empty(),
        "pages of docs/ the README does not link (add them to its Documentation list): {orphans:?}"
    );
}

/// The checker itself: a page with one link of each kind, good and broken, in a repository
/// of its own; only the broken ones are reported, each with its line.
#[test]
fn the_checker_reports_each_broken_link_with_its_line_and_nothing_else() {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    fs::create_dir_all(root.join("docs")).unwrap();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("src/lib.rs"), "fn a_test_that_exists() {}\nfn a_test_renamed_since_v2() {}\n").unwrap();
    fs::write(
        root.join("docs/guide.md"),
        "# Guide\n\n## `cargo xtask lambda-deploy --env <env>`\n\n## Step 1: *copy*\n\n## Step 1: *copy*\n\n<a id=\"kept\"></a>\n",
    )
    .unwrap();
    let readme = [
        "# Title",                                                                         // 1
        "",                                                                                // 2
        "[guide](docs/guide.md) and [dir](src/) and [code](src/lib.rs#L3)",                // 3
        "[deploy](docs/guide.md#cargo-xtask-lambda-deploy---env-env)",                     // 4
        "[second](docs/guide.md#step-1-copy-1) [kept](docs/guide.md#kept) [self](#title)", // 5
        "[web](https://example.com/nothing) `[code span](nowhere.md)`",                    // 6
        "```sh",                                                                           // 7
        "[in a fence](nowhere.md)",                                                        // 8
        "```",                                                                             // 9
        "[missing](docs/nowhere.md) and ![image](img/none.png)",                           // 10
        "[bad anchor](docs/guide.md#step-1-copy-2) [bad self](#nothing)",                  // 11
        "[outside](../elsewhere.md)",                                                      // 12
        "[ref]: docs/gone.md",                                                             // 13
        "[`a_test_that_exists`](src/lib.rs) [`a_test_renamed`](src/lib.rs)",               // 14
    ]
    .join("\n");
    fs::write(root.join("README.md"), readme).unwrap();
    let broken = broken_links(root, &pages(root));
    assert_eq!(
        broken,
        [
            "README.md:10: docs/nowhere.md: no such file or directory",
            "README.md:10: img/none.png: no such file or directory",
            "README.md:11: docs/guide.md#step-1-copy-2: docs/guide.md has no heading or <a id> with that anchor",
            "README.md:11: #nothing: README.md has no heading or <a id> with that anchor",
            "README.md:12: ../elsewhere.md: leaves the repository",
            "README.md:13: docs/gone.md: no such file or directory",
            "README.md:14: src/lib.rs: no fn a_test_renamed in it",
        ]
    );
}

#[test]
fn anchors_are_githubs_slugs_of_the_rendered_heading() {
    let cases = [
        ("## Quick start: two commands", "quick-start-two-commands"),
        ("### `cargo xtask lambda-deploy --env <env>`", "cargo-xtask-lambda-deploy---env-env"),
        ("### `cargo xtask lambda-audit verify|show [FILE]`", "cargo-xtask-lambda-audit-verifyshow-file"),
        ("## What lambda-build and lambda-deploy guarantee", "what-lambda-build-and-lambda-deploy-guarantee"),
        ("#### Rehearse it locally: no AWS account needed", "rehearse-it-locally-no-aws-account-needed"),
        ("## The JSON report: `--json FILE` ##", "the-json-report---json-file"),
        ("## See [the guards](guards.md) <sup>new</sup>", "see-the-guards-new"),
        ("## lambda_xtask and _emphasis_ and __init__.py", "lambda_xtask-and-emphasis-and-initpy"),
        ("## Évidence, 100% ✓", "évidence-100-"),
    ];
    for (heading, slug) in cases {
        assert_eq!(anchors(heading).into_iter().next().as_deref(), Some(slug), "{heading}");
    }
    let repeated = anchors("# A\n## A\n```\n# A\n```\n## A-1\n## A");
    assert_eq!(repeated, ["a", "a-1", "a-1-1", "a-2"]);
}

/// A link as written: the line it is on, its text (none for a reference definition or an
/// HTML attribute) and its destination.
#[derive(Debug)]
struct Link {
    line: usize,
    text: Option<String>,
    target: String,
}

/// Where a link points, once resolved against its page.
enum Target {
    /// A scheme (`https:`, `mailto:`) or `//host`: not checked here.
    External,
    /// A file or directory of the repository, and the anchor into it ("" for none).
    Path { path: PathBuf, anchor: String },
}

/// Every broken link of the pages, as `page:line: link: why`, in page and line order.
fn broken_links(root: &Path, pages: &[PathBuf]) -> Vec<String> {
    let mut anchors_of: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    for page in pages {
        let text = fs::read_to_string(page).unwrap();
        let shown = page.strip_prefix(root).unwrap().display().to_string();
        for link in links(&text) {
            if let Some(why) = why_broken(root, page, &link, &mut anchors_of) {
                broken.push(format!("{shown}:{}: {}: {why}", link.line, link.target));
            }
        }
    }
    broken
}

/// Why a link of `page` does not resolve, or `None` when it does. `anchors_of` keeps each
/// markdown file's anchors once read.
fn why_broken(
    root: &Path,
    page: &Path,
    link: &Link,
    anchors_of: &mut BTreeMap<PathBuf, Vec<String>>,
) -> Option<String> {
    let (path, anchor) = match resolve(root, page, &link.target) {
        Err(why) => return Some(why),
        Ok(Target::External) => return None,
        Ok(Target::Path { path, anchor }) => (path, anchor),
    };
    if fs::metadata(&path).is_err() {
        return Some("no such file or directory".to_string());
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    if extension == "rs" {
        let name = link.text.as_deref().and_then(function_named)?;
        let code = fs::read_to_string(&path).unwrap_or_default();
        return (!defines_function(&code, name)).then(|| format!("no fn {name} in it"));
    }
    if anchor.is_empty() || extension != "md" {
        return None;
    }
    let known =
        anchors_of.entry(path.clone()).or_insert_with(|| anchors(&fs::read_to_string(&path).unwrap_or_default()));
    let shown = path.strip_prefix(root).unwrap().display();
    (!known.contains(&anchor)).then(|| format!("{shown} has no heading or <a id> with that anchor"))
}

/// A link's destination against the page it is on: relative to the page's directory, or to
/// the repository root when it starts with `/` (as GitHub resolves it), never out of the root.
fn resolve(root: &Path, page: &Path, target: &str) -> Result<Target, String> {
    let has_scheme = target.split_once(':').is_some_and(|(scheme, _)| {
        scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    if has_scheme || target.starts_with("//") {
        return Ok(Target::External);
    }
    if target.is_empty() {
        return Err("empty link".into());
    }
    let (path_part, anchor) = target.split_once('#').unwrap_or((target, ""));
    let path_part = path_part.split('?').next().unwrap_or_default();
    if path_part.is_empty() {
        return Ok(Target::Path { path: page.to_path_buf(), anchor: percent_decoded(anchor) });
    }
    let decoded = percent_decoded(path_part);
    let (base, relative) = match decoded.strip_prefix('/') {
        Some(rest) => (root.to_path_buf(), rest.to_string()),
        None => (page.parent().unwrap().to_path_buf(), decoded),
    };
    let mut path = base;
    for component in Path::new(&relative).components() {
        match component {
            Component::Normal(name) => path.push(name),
            Component::ParentDir => {
                path.pop();
            }
            _ => {}
        }
        if !path.starts_with(root) {
            return Err("leaves the repository".into());
        }
    }
    Ok(Target::Path { path, anchor: percent_decoded(anchor) })
}

/// `%20` and the like, as a browser decodes them; anything else stays as written.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `name` when a link's text is one identifier in a code span, as a test's name is written.
fn function_named(text: &str) -> Option<&str> {
    let name = text.strip_prefix('`')?.strip_suffix('`')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

/// Whether the Rust source defines `fn name` (a whole identifier, not a prefix of a longer one).
fn defines_function(code: &str, name: &str) -> bool {
    let needle = format!("fn {name}");
    code.match_indices(&needle)
        .any(|(at, _)| code[at + needle.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_')))
}

/// The page's text with fenced code blocks blanked (their lines kept empty, so line numbers
/// hold): a `[x](y)` or a `# comment` in a code block is neither a link nor a heading.
fn outside_fences(text: &str) -> Vec<&str> {
    let mut fence: Option<(char, usize)> = None;
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start_matches(' ');
            let indent = line.len() - trimmed.len();
            let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
            let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
            match (fence, marker) {
                (None, Some(m)) if indent <= 3 && run >= 3 => {
                    fence = Some((m, run));
                    ""
                }
                (Some((m, open)), Some(c)) if c == m && run >= open && trimmed[run..].trim().is_empty() => {
                    fence = None;
                    ""
                }
                (Some(_), _) => "",
                (None, _) => line,
            }
        })
        .collect()
}

/// The end of the code span opening at `start` (a run of backticks), when a run of the same
/// length closes it within the paragraph; `None` for a literal backtick run.
fn code_span_end(chars: &[char], start: usize) -> Option<usize> {
    let run = chars[start..].iter().take_while(|c| **c == '`').count();
    let mut i = start + run;
    while i < chars.len() {
        if chars[i] == '\n' && chars[i + 1..].iter().take_while(|c| **c != '\n').all(|c| c.is_whitespace()) {
            return None;
        }
        if chars[i] == '`' {
            let closing = chars[i..].iter().take_while(|c| **c == '`').count();
            if closing == run {
                return Some(i + closing);
            }
            i += closing;
        } else {
            i += 1;
        }
    }
    None
}

/// Every link destination of the page outside code: inline links and images (`](dest)`),
/// reference definitions (`[label]: dest`), and `href`/`src` of HTML tags.
fn links(text: &str) -> Vec<Link> {
    let prose = outside_fences(text);
    let mut found = Vec::new();
    for (index, line) in prose.iter().enumerate() {
        let trimmed = line.trim_start_matches(' ');
        if line.len() - trimmed.len() <= 3 && trimmed.starts_with('[') {
            if let Some((_, rest)) = trimmed.split_once("]:") {
                if let Some(dest) = rest.split_whitespace().next() {
                    let dest = dest.trim_start_matches('<').trim_end_matches('>');
                    found.push(Link { line: index + 1, text: None, target: dest.to_string() });
                }
            }
        }
    }
    let joined = prose.join("\n");
    let chars: Vec<char> = joined.chars().collect();
    let mut line = 1;
    let mut opened = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\n' => line += 1,
            '[' => opened.push(i),
            '\\' if chars.get(i + 1).is_some_and(|c| c.is_ascii_punctuation()) => i += 1,
            '`' => {
                if let Some(end) = code_span_end(&chars, i) {
                    line += chars[i..end].iter().filter(|c| **c == '\n').count();
                    i = end;
                    continue;
                }
                i += chars[i..].iter().take_while(|c| **c == '`').count();
                continue;
            }
            ']' if chars.get(i + 1) == Some(&'(') => {
                let (dest, end) = destination(&chars, i + 2);
                let text = opened.pop().map(|open| chars[open + 1..i].iter().collect());
                found.push(Link { line, text, target: dest });
                line += chars[i..end].iter().filter(|c| **c == '\n').count();
                i = end;
                continue;
            }
            '<' => {
                let end = chars[i..].iter().position(|c| *c == '>' || *c == '\n').map_or(chars.len(), |p| i + p);
                let tag: String = chars[i..end].iter().collect();
                for attribute in ["href=\"", "src=\""] {
                    if let Some((_, rest)) = tag.split_once(attribute) {
                        let target = rest.split('"').next().unwrap_or_default().to_string();
                        found.push(Link { line, text: None, target });
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    found.sort_by_key(|link| link.line);
    found
}

/// The destination of an inline link starting at `start` (just past `](`): `<...>`, or up to
/// whitespace or the `)` that balances; and where the link ends.
fn destination(chars: &[char], start: usize) -> (String, usize) {
    let mut i = start;
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    if chars.get(i) == Some(&'<') {
        let end = chars[i..].iter().position(|c| *c == '>').map_or(chars.len(), |p| i + p);
        return (chars[i + 1..end].iter().collect(), end + 1);
    }
    let mut depth = 0;
    let from = i;
    while let Some(&c) = chars.get(i) {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => break,
            ')' => depth -= 1,
            c if c.is_whitespace() => break,
            '\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    (chars[from..i.min(chars.len())].iter().collect(), i)
}

/// The anchors a page offers, in order: its ATX headings' slugs (repeats numbered `-1`, `-2`,
/// as GitHub does) and the ids of its `<a id="...">`/`<a name="...">` tags.
fn anchors(text: &str) -> Vec<String> {
    let mut occurrences: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = Vec::new();
    for line in outside_fences(text) {
        for attribute in [" id=\"", " name=\""] {
            for (_, rest) in line.match_indices(attribute).map(|(at, _)| line.split_at(at + attribute.len())) {
                anchors.push(rest.split('"').next().unwrap_or_default().to_string());
            }
        }
        let trimmed = line.trim_start_matches(' ');
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        let heading = &trimmed[level..];
        if line.len() - trimmed.len() > 3
            || !(1..=6).contains(&level)
            || !(heading.is_empty() || heading.starts_with([' ', '\t']))
        {
            continue;
        }
        // An optional closing sequence of #s, after a space, is not part of the heading.
        let heading = heading.trim();
        let heading = match heading.trim_end_matches('#') {
            rest if rest.is_empty() || rest.ends_with([' ', '\t']) => rest.trim_end(),
            _ => heading,
        };
        let base = slug(&rendered_text(heading));
        let mut candidate = base.clone();
        while occurrences.contains_key(&candidate) {
            let count = occurrences.get_mut(&base).unwrap();
            *count += 1;
            candidate = format!("{base}-{count}");
        }
        occurrences.insert(candidate.clone(), 0);
        anchors.push(candidate);
    }
    anchors
}

/// GitHub's slug (github-slugger): lower case; letters, digits, `-` and `_` kept, every other
/// character dropped; each space becomes a `-`.
fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A heading's text as rendered, which is what GitHub slugs: a code span's content as written
/// (`<env>` included), a link's text without its destination, no image, no HTML tag, no
/// emphasis marker, backslash escapes resolved.
fn rendered_text(heading: &str) -> String {
    let chars: Vec<char> = heading.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '`' => match code_span_end(&chars, i) {
                Some(end) => {
                    let run = chars[i..].iter().take_while(|c| **c == '`').count();
                    out.extend(&chars[i + run..end - run]);
                    i = end;
                    continue;
                }
                None => out.push(c),
            },
            '\\' if chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) => {
                out.push(chars[i + 1]);
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'[') => {
                // An image renders no text: skip its alt text and destination.
                let close = chars[i..].iter().position(|c| *c == ']').map_or(chars.len(), |p| i + p);
                i = if chars.get(close + 1) == Some(&'(') { destination(&chars, close + 2).1 } else { close };
            }
            ']' if chars.get(i + 1) == Some(&'(') => i = destination(&chars, i + 2).1,
            '<' if chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == '/') => {
                i = chars[i..].iter().position(|c| *c == '>').map_or(chars.len(), |p| i + p);
            }
            '[' | '*' => {}
            // A run of `_` inside a word (`lambda_xtask`) or between spaces is text; touching a
            // word on one side only (`_emphasis_`, `__init__.py`) it marks emphasis.
            '_' => {
                let run = chars[i..].iter().take_while(|c| **c == '_').count();
                let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
                let (before, after) = (i.checked_sub(1).and_then(|p| chars.get(p)), chars.get(i + run));
                if word(before) == word(after) {
                    out.extend(&chars[i..i + run]);
                }
                i += run;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}
