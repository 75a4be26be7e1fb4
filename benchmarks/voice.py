"""Voice benchmark: theme assignment, theme discovery and near-duplicates on 100k generated tickets.

    .venv/bin/python benchmarks/voice.py                 # 100k tickets of ~700 characters
    .venv/bin/python benchmarks/voice.py --rows 20000    # smaller
    .venv/bin/python benchmarks/voice.py --no-peers      # only poanalytics' steps

The tickets come from this script's own generator (seeded): templates with variable slots
(product area, device, version, numbers, people), each ticket a subject, two or three problem
sentences, steps to reproduce, an impact sentence with a tone and some noise (order numbers,
typos, filler words), about 700 characters; 3% are near-copies of an earlier ticket (sent again
through another channel with a few words changed) and 2% re-opened tickets (the earlier text
with a note added). They are written once to data/bench/ as Parquet and reused.

Each step runs in its own process (peak memory = that process's VmHWM, which includes reading
the Parquet file of items) and prints seconds next to the rows and peak MB:

- assignment:       voice.assign (the refresh's SQL in DuckDB) with a 12-theme taxonomy of
  keywords and phrases;
  peer: the naive Python loop (``re.search`` of every theme's terms over every item), the code
  one writes first, with the same terms and the same answer (the number of assignments);
- discovery:        voice.discover (TF-IDF + NMF, k chosen from the data);
  peer: TF-IDF + KMeans (scikit-learn, n_init=1) with the same k on the same TF-IDF settings,
  the textbook clustering that discover.py's docstring argues against;
- near-duplicates:  voice.duplicates.near_duplicates (MinHash LSH, exact check);
  peer: exact all-pairs Jaccard of the same shingles by a sparse matrix product, on a sample
  (--exact-sample, default 20k) and extrapolated to all rows (all pairs grow with the square);
  on the sample both are run, and the share of the exact pairs >= threshold that MinHash finds
  (its recall) is printed;
- sentiment (not in the 60 s goal; the refresh computes it): voice.sentiment.score.

The goal (issue 10): assignment + discovery + near-duplicates under 60 s together on this
machine. Nothing here is a test: the figures are printed and written to benchmarks/RESULTS.md
(``--write``), never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SEED = 0
GOAL_S = 60.0

# -- the generator -----------------------------------------------------------------------------------

AREAS: dict[str, dict[str, list[str]]] = {
    "onboarding": {
        "subject": ["Stuck in onboarding", "Onboarding wizard freezes", "Cannot finish setup"],
        "lines": [
            "The onboarding wizard freezes on the {step} step after I pick a {thing}.",
            "I tried {n} times to finish onboarding but the {step} screen never loads.",
            "After the {step} step the spinner keeps turning and nothing happens.",
        ],
        "terms": ["onboarding", "wizard", "setup"],
    },
    "billing": {
        "subject": ["Charged twice", "Wrong invoice", "Billing question"],
        "lines": [
            "My card was charged twice for the {plan} plan this month.",
            "The invoice {n} shows {m} seats but we only have {k} users.",
            "I was billed for the {plan} plan after I downgraded last week.",
        ],
        "terms": ["invoice", "charged", "billed", "refund"],
    },
    "export": {
        "subject": ["Export broken", "CSV export missing rows", "Excel export fails"],
        "lines": [
            "The export to {format} drops the last {n} rows of the report.",
            "Exporting the {thing} list as {format} times out after {n} seconds.",
            "The {format} file I export has the columns in the wrong order.",
        ],
        "terms": ["export", "csv", "excel"],
    },
    "login": {
        "subject": ["Cannot log in", "Password reset not working", "Logged out constantly"],
        "lines": [
            "I cannot log in on my {device} since the update to {version}.",
            "The password reset mail never arrives, I tried {n} times today.",
            "The app logs me out every {n} minutes on {device}.",
        ],
        "terms": ["log in", "login", "password", "logged out"],
    },
    "sync": {
        "subject": ["Sync problem", "Data not syncing", "Changes lost after sync"],
        "lines": [
            "Changes I make on {device} do not sync to the web app.",
            "The sync stops at {n} percent and my {thing} are missing.",
            "After syncing, {n} of my {thing} disappeared.",
        ],
        "terms": ["sync", "syncing", "synced"],
    },
    "notifications": {
        "subject": ["No notifications", "Too many emails", "Push notifications missing"],
        "lines": [
            "I get no push notifications on {device} since {version}.",
            "You send me {n} emails a day about the same {thing}.",
            "Notifications arrive hours late on my {device}.",
        ],
        "terms": ["notification", "notifications", "emails"],
    },
    "performance": {
        "subject": ["Very slow", "App is slow", "Dashboard takes forever"],
        "lines": [
            "The dashboard takes {n} seconds to load on {device}.",
            "Everything is slow since the update to {version}, even opening a {thing}.",
            "Scrolling the {thing} list lags badly with {n} items.",
        ],
        "terms": ["slow", "lag", "takes forever", "load"],
    },
    "reports": {
        "subject": ["Report numbers wrong", "Weekly report empty", "Report question"],
        "lines": [
            "The weekly report shows {n} users but the dashboard says {m}.",
            "My scheduled report arrived empty this {day}.",
            "The totals in the {thing} report do not add up.",
        ],
        "terms": ["report", "reports", "dashboard"],
    },
    "permissions": {
        "subject": ["Permission denied", "Cannot invite colleague", "Admin rights missing"],
        "lines": [
            "My colleague gets permission denied when opening the {thing}.",
            "I cannot invite {n} new users, the invite button is greyed out.",
            "As an admin I cannot change the role of {person}.",
        ],
        "terms": ["permission", "invite", "admin", "role"],
    },
    "mobile": {
        "subject": ["App crashes", "Crash on start", "Mobile app closes"],
        "lines": [
            "The app crashes on {device} when I open the {thing}.",
            "Since {version} the app closes right after the splash screen.",
            "The app crashed {n} times today while uploading a photo.",
        ],
        "terms": ["crash", "crashes", "crashed"],
    },
    "integrations": {
        "subject": ["Slack integration broken", "Webhook not firing", "API error"],
        "lines": [
            "The Slack integration stopped posting {thing} updates.",
            "Our webhook gets a {code} error for every event since {day}.",
            "The API returns {code} when we send more than {n} records.",
        ],
        "terms": ["integration", "webhook", "api", "slack"],
    },
    "search": {
        "subject": ["Search finds nothing", "Search results wrong", "Search is broken"],
        "lines": [
            "Searching for {thing} finds nothing although I have {n} of them.",
            "The search results do not include anything older than {n} days.",
            "Search ignores the filter for {person}.",
        ],
        "terms": ["search", "results", "filter"],
    },
}
SLOTS = {
    "step": ["profile", "team", "billing", "import", "welcome"],
    "thing": ["projects", "invoices", "contacts", "tasks", "files", "photos", "notes"],
    "plan": ["Starter", "Pro", "Team", "Enterprise"],
    "format": ["CSV", "Excel", "PDF", "JSON"],
    "device": ["iPhone 13", "Pixel 7", "Galaxy S22", "iPad", "Windows laptop", "MacBook"],
    "version": ["4.2", "4.3", "4.3.1", "5.0", "5.0.2"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "code": ["400", "401", "429", "500", "503"],
    "person": ["Ana Souza", "Ben Okafor", "Chen Wei", "Dana Levi", "Eve Martin"],
}
OPENERS = [
    "Hello support,",
    "Hi team,",
    "Good morning,",
    "Hello,",
    "Dear support team,",
    "Hey,",
]
TONES = [
    "This is really frustrating and costs us hours every week.",
    "We love the product otherwise, thanks for the great work.",
    "Honestly this is unacceptable and we are thinking about cancelling.",
    "Not urgent, but it would be nice to have it fixed.",
    "Please help, my boss is angry and I am stuck.",
    "Thanks in advance, you have always been helpful.",
]
STEPS = [
    "Steps to reproduce: open the {thing} page, click {a}, then {b}.",
    "To reproduce: log in on {device}, go to settings, choose {a} and wait.",
    "Steps: 1. open the app 2. tap {a} 3. select {b} 4. nothing happens.",
]
ACTIONS = ["export", "save", "share", "sync now", "refresh", "import", "upload", "filter"]
FILLER = [
    f"{c}{v}{c2}{v2}" for c in "bdfgklmnprst" for v in "aeiou" for c2 in "lmnrst" for v2 in "aeo"
]


def _fill(template: str, rng: np.random.Generator) -> str:
    def slot(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in ("n", "m", "k"):
            return str(int(rng.integers(2, 500)))
        if name in ("a", "b"):
            return ACTIONS[int(rng.integers(len(ACTIONS)))]
        values = SLOTS[name]
        return values[int(rng.integers(len(values)))]

    return re.sub(r"\{(\w+)\}", slot, template)


def _typos(text: str, rng: np.random.Generator, rate: float = 0.01) -> str:
    chars = list(text)
    for i in np.flatnonzero(rng.random(len(chars) - 1) < rate):
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def _edit(text: str, rng: np.random.Generator, words: int) -> str:
    tokens = text.split(" ")
    for i in rng.integers(0, len(tokens), size=words):
        tokens[int(i)] = FILLER[int(rng.integers(len(FILLER)))]
    return " ".join(tokens)


def generate(rows: int, seed: int = SEED) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """``rows`` tickets (source, item_id, text, created_at) and the planted (original, copy) pairs."""
    rng = np.random.default_rng(seed)
    areas = list(AREAS)
    start = pd.Timestamp("2025-01-01", tz="UTC").value // 10**9
    times = np.sort(rng.integers(start, start + 365 * 86400, size=rows))
    texts: list[str] = []
    planted: list[tuple[str, str]] = []
    for i in range(rows):
        roll = rng.random()
        if i > 100 and roll < 0.05:
            j = int(rng.integers(max(0, i - 5000), i))
            if roll < 0.03:  # sent again through another channel, a few words changed
                texts.append(_edit(texts[j], rng, int(rng.integers(1, 4))))
            else:  # re-opened
                texts.append(
                    "Re-opening this: "
                    + texts[j]
                    + _fill(" Still happening after the update to {version}.", rng)
                )
            planted.append((str(100000 + j), str(100000 + i)))
            continue
        area = AREAS[areas[int(rng.integers(len(areas)))]]
        parts = [
            _fill(area["subject"][int(rng.integers(3))], rng) + "\n",
            OPENERS[int(rng.integers(len(OPENERS)))],
        ]
        for k in rng.choice(3, size=int(rng.integers(2, 4)), replace=False):
            parts.append(_fill(area["lines"][int(k)], rng))
        parts.append(_fill(STEPS[int(rng.integers(len(STEPS)))], rng))
        parts.append(TONES[int(rng.integers(len(TONES)))])
        body = " ".join(parts)
        while len(body) < 640:  # noise: order numbers and filler words up to ~700 characters
            noise = " ".join(FILLER[int(x)] for x in rng.integers(0, len(FILLER), size=6))
            body += f" Order {int(rng.integers(10**5, 10**6))}, ref {noise}."
        body += " " + SLOTS["person"][int(rng.integers(5))].split()[0]
        texts.append(_typos(body, rng))
    items = pd.DataFrame(
        {
            "source": "tickets",
            "item_id": [str(100000 + i) for i in range(rows)],
            "text": texts,
            "created_at": pd.to_datetime(times, unit="s", utc=True),
        }
    )
    return items, planted


def taxonomy_toml() -> str:
    """The 12 themes of the generator as conf/themes.toml text (keywords = each area's terms)."""
    out = ["# benchmark taxonomy (benchmarks/voice.py)"]
    for name, area in AREAS.items():
        words = ", ".join(json.dumps(t) for t in area["terms"])
        out.append(f"[themes.{name}]\ndescription = {json.dumps(name)}\nkeywords = [{words}]")
    return "\n".join(out) + "\n"


# -- the steps, each in its own process --------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM, as benchmarks/metrics.py measures it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_CPU = [0.0]  # the CPU seconds of the last timed part (all threads of the process)


def _start() -> float:
    _CPU[0] = time.process_time()
    return time.perf_counter()


def _stop(started: float) -> float:
    _CPU[0] = time.process_time() - _CPU[0]
    return time.perf_counter() - started


def _assignment(items: pd.DataFrame, work: Path) -> tuple[float, dict]:
    """voice.assign: the refresh's SQL (each item's words made once, one scan per theme), on an
    in-memory DuckDB holding the items."""
    from poanalytics.voice import assign, taxonomy

    tax = taxonomy.parse_taxonomy(taxonomy_toml(), work / "themes.toml")
    started = _start()
    out = assign.assign(tax, items)
    seconds = _stop(started)
    return seconds, {"assignments": int(len(out))}


def _assignment_peer(items: pd.DataFrame, work: Path) -> tuple[float, dict]:  # noqa: ARG001
    compiled = {
        name: [re.compile(rf"(?<!\w){re.escape(t)}(?!\w)", re.IGNORECASE) for t in area["terms"]]
        for name, area in AREAS.items()
    }
    started = _start()
    found = 0
    for text in items.text.tolist():
        for patterns in compiled.values():
            if any(p.search(text) for p in patterns):
                found += 1
    return _stop(started), {"assignments": found}


def _discovery(items: pd.DataFrame, work: Path) -> tuple[float, dict]:  # noqa: ARG001
    from poanalytics.voice.discover import discover

    started = _start()
    d = discover(items, seed=SEED)
    seconds = _stop(started)
    return seconds, {
        "themes": int(d.n_themes),
        "assigned": int(len(d.assignments)),
        "unassigned": int(len(d.unassigned)),
    }


def _discovery_peer(items: pd.DataFrame, work: Path, k: int) -> tuple[float, dict]:  # noqa: ARG001
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    started = _start()
    matrix = TfidfVectorizer(
        stop_words="english", sublinear_tf=True, min_df=5, max_df=0.5
    ).fit_transform(items.text.tolist())
    labels = KMeans(n_clusters=k, n_init=1, random_state=SEED).fit_predict(matrix)
    return _stop(started), {"themes": int(k), "sizes": np.bincount(labels).tolist()}


def _duplicates(items: pd.DataFrame, work: Path) -> tuple[float, dict]:  # noqa: ARG001
    from poanalytics.voice.duplicates import near_duplicates

    started = _start()
    out = near_duplicates(items, seed=SEED)
    seconds = _stop(started)
    return seconds, {
        "grouped": int(len(out)),
        "groups": int(out.group_id.nunique()),
        "group_of": dict(zip(out.item_id, out.group_id, strict=True)),
    }


def exact_pairs(items: pd.DataFrame, threshold: float) -> set[tuple[int, int]]:
    """All pairs (row numbers) with exact shingle Jaccard >= threshold, by a sparse product."""
    from scipy.sparse import csr_matrix

    from poanalytics.voice.duplicates import Shingles

    sets = Shingles.of(items.text.tolist())
    _, cols = np.unique(sets.values, return_inverse=True)
    rows = np.repeat(np.arange(len(items)), sets.sizes)
    m = csr_matrix(
        (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(items), cols.max() + 1)
    )
    inter = (m @ m.T).tocoo()
    keep = inter.row < inter.col
    r, c, v = inter.row[keep], inter.col[keep], inter.data[keep]
    union = sets.sizes[r] + sets.sizes[c] - v
    hit = v / union >= threshold
    return set(zip(r[hit].tolist(), c[hit].tolist(), strict=True))


def _duplicates_peer(items: pd.DataFrame, work: Path, sample: int) -> tuple[float, dict]:  # noqa: ARG001
    from poanalytics.voice.duplicates import THRESHOLD, near_duplicates

    part = items.iloc[:sample].reset_index(drop=True)
    started = _start()
    exact = exact_pairs(part, THRESHOLD)
    seconds = _stop(started)
    ours = near_duplicates(part, seed=SEED)
    group = dict(zip(ours.item_id, ours.group_id, strict=True))
    ids = part.item_id.tolist()
    found = sum(1 for a, b in exact if ids[a] in group and group[ids[a]] == group.get(ids[b]))
    return seconds, {
        "sample": int(len(part)),
        "exact_pairs": len(exact),
        "minhash_found": found,
        "extrapolated_s": seconds * (len(items) / len(part)) ** 2,
    }


def _sentiment(items: pd.DataFrame, work: Path) -> tuple[float, dict]:  # noqa: ARG001
    from poanalytics.voice import sentiment

    sentiment.analyzer()  # reading the lexicon is not what is measured
    started = _start()
    s = sentiment.score(items.text)
    return _stop(started), {
        "scored": int(s.notna().sum()),
        "nan": int(s.isna().sum()),
    }


def worker(step: str, data: Path, work: Path, extra: int) -> None:
    items = pd.read_parquet(data)
    import poanalytics  # noqa: F401 - imports are not what is measured

    fn = {
        "assignment": lambda: _assignment(items, work),
        "assignment_peer": lambda: _assignment_peer(items, work),
        "discovery": lambda: _discovery(items, work),
        "discovery_peer": lambda: _discovery_peer(items, work, extra),
        "duplicates": lambda: _duplicates(items, work),
        "duplicates_peer": lambda: _duplicates_peer(items, work, extra),
        "sentiment": lambda: _sentiment(items, work),
    }[step]
    try:
        seconds, answer = fn()
    except ImportError as exc:  # a module not on this branch yet
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return
    out = {"seconds": seconds, "cpu_s": _CPU[0], "peak_mb": peak_rss_mb(), "answer": answer}
    print(json.dumps(out))


def run_step(step: str, data: Path, work: Path, extra: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--worker", step, "--data", str(data), "--work", str(work)]
    cmd += ["--extra", str(extra)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(lines[-1])


def prepare(rows: int, folder: Path) -> tuple[Path, list[tuple[str, str]], float]:
    folder.mkdir(parents=True, exist_ok=True)
    path, meta = folder / f"voice_{rows}_s{SEED}.parquet", folder / f"voice_{rows}_s{SEED}.json"
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        print(f"reusing {path.name}")
        return path, [tuple(p) for p in info["planted"]], info["mean_chars"]
    started = time.perf_counter()
    items, planted = generate(rows)
    items.to_parquet(path, index=False)
    mean_chars = float(items.text.str.len().mean())
    meta.write_text(json.dumps({"planted": planted, "mean_chars": mean_chars}))
    print(f"generated {rows:,} tickets in {time.perf_counter() - started:.1f} s")
    return path, planted, mean_chars


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--exact-sample", type=int, default=20_000)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument(
        "--write", action="store_true", help="append the table to benchmarks/RESULTS.md"
    )
    ap.add_argument("--worker")
    ap.add_argument("--data")
    ap.add_argument("--work")
    ap.add_argument("--extra", type=int, default=0)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, Path(args.data), Path(args.work), args.extra)
        return
    folder = ROOT / "data" / "bench"
    data, planted, mean_chars = prepare(args.rows, folder)
    work = folder / f"voice_work_{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    print(f"{args.rows:,} tickets, {mean_chars:.0f} characters on average; {os.cpu_count()} cores")
    results: dict[str, dict] = {}
    for step in ("assignment", "discovery", "duplicates", "sentiment"):
        results[step] = run_step(step, data, work)
        show(step, args.rows, results[step])
    if not args.no_peers:
        k = results["discovery"].get("answer", {}).get("themes", 12)
        for step, extra in (
            ("assignment_peer", 0),
            ("discovery_peer", k),
            ("duplicates_peer", min(args.exact_sample, args.rows)),
        ):
            results[step] = run_step(step, data, work, extra)
            show(step, args.rows, results[step])
    group_of = results["duplicates"].get("answer", {}).get("group_of")
    if group_of is not None:
        hit = sum(1 for a, b in planted if a in group_of and group_of[a] == group_of.get(b))
        involved = {x for pair in planted for x in pair}
        other = len(set(group_of) - involved)
        print(
            f"planted copies grouped with their original by near_duplicates: {hit} of "
            f"{len(planted)}; grouped items that are no planted copy or original: {other}"
        )
        results["duplicates"]["answer"]["planted_found"] = f"{hit} of {len(planted)}"
        results["duplicates"]["answer"]["grouped_not_planted"] = other
    core = [results[s].get("seconds") for s in ("assignment", "discovery", "duplicates")]
    if all(c is not None for c in core):
        total = sum(core)  # type: ignore[arg-type]
        cpu = sum(results[s].get("cpu_s", 0.0) for s in ("assignment", "discovery", "duplicates"))
        print(
            f"assignment + discovery + near-duplicates: {total:.1f} s wall, {cpu:.1f} s CPU "
            f"(goal < {GOAL_S:.0f} s); load average {os.getloadavg()[0]:.1f}"
        )
    if args.write:
        write_results(args.rows, mean_chars, results)
    for f in work.glob("*"):
        f.unlink()
    work.rmdir()


def show(step: str, rows: int, r: dict) -> None:
    if "error" in r:
        print(f"  {step:16s} {rows:>9,} rows  not run: {r['error']}")
        return
    answer = {k: v for k, v in r["answer"].items() if k != "group_of"}
    print(
        f"  {step:16s} {rows:>9,} rows  {r['seconds']:7.2f} s  CPU {r.get('cpu_s', 0):7.1f} s  "
        f"peak {r['peak_mb']:6.0f} MB  {answer}"
    )


PEERS = {
    "assignment": ("assignment_peer", "naive Python `re` loop, same terms"),
    "discovery": ("discovery_peer", "TF-IDF + KMeans (n_init=1), same k"),
    "duplicates": ("duplicates_peer", "exact all-pairs Jaccard (sparse product)"),
    "sentiment": (None, "-"),
}
SECTION = "# Voice benchmark results"


def _cell(r: dict | None, key: str, fmt: str) -> str:
    if not r or "error" in r:
        return "-"
    return format(r[key], fmt)


def write_results(rows: int, mean_chars: float, results: dict) -> None:
    """Replace (or add) the voice section of benchmarks/RESULTS.md."""
    lines = [
        SECTION,
        "",
        f"Produced by `make bench-voice` (`benchmarks/voice.py --write`) on {time.strftime('%Y-%m-%d')}: "
        f"{rows:,} generated tickets of {mean_chars:.0f} characters on average, {os.cpu_count()} "
        "cores shared with other work, one run each; peak = VmHWM of the step's own process "
        "(reading the items' Parquet file included). Peers are run on the same data in the same run.",
        "",
        "| step | rows | seconds | CPU s | peak MB | peer | peer seconds | peer peak MB | answer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for step, (peer_step, peer_name) in PEERS.items():
        r = results.get(step, {})
        peer = results.get(peer_step) if peer_step else None
        answer = {k: v for k, v in r.get("answer", {}).items() if k != "group_of"}
        peer_s = _cell(peer, "seconds", ".2f")
        if peer and "answer" in peer and "extrapolated_s" in peer["answer"]:
            a = peer["answer"]
            peer_s = (
                f"{a['extrapolated_s']:.0f} (extrapolated from {peer['seconds']:.1f} s on "
                f"{a['sample']:,}; MinHash found {a['minhash_found']} of its {a['exact_pairs']} "
                "pairs there)"
            )
        elif peer and "answer" in peer:
            peer_s += f" ({json.dumps(peer['answer'])})"
        lines.append(
            f"| {step} | {rows:,} | {_cell(r, 'seconds', '.2f')} | {_cell(r, 'cpu_s', '.1f')} | "
            f"{_cell(r, 'peak_mb', '.0f')} | "
            f"{peer_name} | {peer_s} | {_cell(peer, 'peak_mb', '.0f')} | {json.dumps(answer)} |"
        )
    core = [results.get(s, {}).get("seconds") for s in ("assignment", "discovery", "duplicates")]
    if all(c is not None for c in core):
        cpu = sum(results[s].get("cpu_s", 0.0) for s in ("assignment", "discovery", "duplicates"))
        lines += [
            "",
            f"Assignment + discovery + near-duplicates: **{sum(core):.1f} s** wall (goal < "
            f"{GOAL_S:.0f} s), {cpu:.1f} s of CPU. On a shared machine the wall time grows with "
            "the load; CPU time (of the timed part, all of the process's threads) is what the "
            "work costs.",
        ]
    lines += [
        "",
        "Why these peers: for assignment, the loop a first version would be (every theme's terms "
        "searched in every item in Python), with the same answer; for discovery, k-means on the "
        "same TF-IDF, the textbook clustering that voice/discover.py weighs NMF against; for "
        "near-duplicates, the exact answer MinHash approximates (every pair's Jaccard), on a "
        "sample because all pairs of 100k templated tickets do not fit in memory, extrapolated by "
        "the square of the rows. Sentiment is not in the goal (the refresh computes it; VADER in "
        "one Python process, distinct sentences scored once).",
        "",
    ]
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text(encoding="utf-8")
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        nxt = rest.find("\n# ")
        text = head + "\n".join(lines) + (rest[nxt:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
