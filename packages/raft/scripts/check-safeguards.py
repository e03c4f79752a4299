#!/usr/bin/env python3
"""Removes each safeguard in turn and confirms its scenario test fails.

For every (file, safeguard code, replacement, test name) below: patch the
source, rebuild, run the named scenario test, expect FAILURE, restore.
Run from anywhere: python3 packages/raft/scripts/check-safeguards.py
Exit code 1 if any test still passes without its safeguard.
"""
import os
import subprocess
import sys

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(PKG))

MUTATIONS = [
    ("Figure 8 commit rule: only current-term entries are committed by counting",
     "src/raft-log.ts",
     "this.termOrZero(quorumIndex) === currentTerm",
     "(void currentTerm, true)",
     "does not commit index 7"),
    ("ReadIndex waits for the leader's first commit in its term",
     "src/raft.ts",
     "if (!this.committedEntryInCurrentTerm()) {",
     "if (false) {",
     "a new leader answers only after committing"),
    ("PreVote (campaign without PreVote)",
     "src/raft.ts",
     "this.hup(m.leaderTransfer ? 'transfer' : 'preElection');",
     "this.hup(m.leaderTransfer ? 'transfer' : 'election');",
     "partitioned from the leader only"),
    ("CheckQuorum lease: ignore (pre)votes while hearing from a leader",
     "src/raft.ts",
     "if (inLease && !m.leaderTransfer) {",
     "if (false && inLease) {",
     "partitioned from the leader only"),
    ("CheckQuorum step-down of a leader without quorum",
     "src/raft.ts",
     "if (!this.tracker.quorumActive(this.id)) {",
     "if (false) {",
     "lost its quorum"),
    ("At most one pending conf change",
     "src/raft.ts",
     "if (this.pendingConfIndex > this.log.applied || confIndex !== 0) {",
     "if (false) {",
     "refuses a second conf change"),
    ("New leader blocks conf changes until its first entry is applied",
     "src/raft.ts",
     "    this.pendingConfIndex = this.log.lastIndex();\n  }",
     "  }",
     "a new leader proposes no conf change"),
    ("Removed leader steps down",
     "src/raft.ts",
     "if (!this.tracker.voters.has(this.id)) {\n        // Removed",
     "if (false) {\n        // Removed",
     "steps down once it applies its own removal"),
    ("Snapshot sent when the follower needs compacted entries",
     "src/raft.ts",
     "if (e instanceof CompactedError) return this.sendSnapshot(to);",
     "if (e instanceof CompactedError) return false && this.sendSnapshot(to);",
     "is caught up by a snapshot"),
]


def build():
    r = subprocess.run(["npx", "tsc", "-b", "packages/raft"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("build failed:\n" + r.stdout + r.stderr)


def run_test(name):
    r = subprocess.run(
        ["node", "--test", "--test-name-pattern", name, os.path.join(PKG, "dist/test/scenarios.test.js")],
        cwd=ROOT, capture_output=True, text=True)
    return r.returncode == 0


def main():
    build()
    ok = True
    for title, rel, old, new, test in MUTATIONS:
        if not run_test(test):
            print(f"BROKEN  {title}: test '{test}' fails even with the safeguard")
            ok = False
            continue
        path = os.path.join(PKG, rel)
        original = open(path).read()
        if original.count(old) != 1:
            print(f"MISSING {title}: safeguard code not found exactly once in {rel}")
            ok = False
            continue
        try:
            open(path, "w").write(original.replace(old, new))
            build()
            passed = run_test(test)
        finally:
            open(path, "w").write(original)
            build()
        if passed:
            print(f"WEAK    {title}: test '{test}' still passes without the safeguard")
            ok = False
        else:
            print(f"OK      {title}: test '{test}' fails without it")
    build()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
