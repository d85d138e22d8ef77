"""The validation study: AutoWU (through a real autowud) against a tuned schedule and an untuned constant LR,
trained for real on CPU. ``python -m bench.study --help`` (or ``scripts/study``); docs/study.md has the results."""
