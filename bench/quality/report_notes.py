"""What each recorded run of ``bench/quality`` was and why its result came out as it did: hand-written
notes that ``builtin_report.py`` puts beside the generated rows, keyed by result file stem."""

from __future__ import annotations

PARAPHRASE_ENSEMBLE_WHY = {
    "paraphrase-ensemble": (
        "Its stacker's data, the member's hold-out, is two thirds AFQMC, where the cosine carries little, "
        "so it learns to follow the member; on LCQMC the cosine alone with an LCQMC threshold stays "
        "4–5 points above both. A stacker on this hold-out cannot close the paraphrase target."
    ),
    "paraphrase-ensemble-v2": (
        "Its member was the first `paraphrase-zh` weights (run paraphrase-v2, 12,000 pairs, 1 epoch). "
        "The stacker's data, the member's hold-out, is two thirds AFQMC, where the cosine carries little "
        "(a one-off check on the hold-out only, not part of the recorded run: 5-fold cross-validated "
        "accuracy of the cosine alone 65.60, the member alone 72.30, the stacker 71.80, the stacker on "
        "standardized features 71.60), so it learns to follow the member; on LCQMC the cosine alone with "
        "an LCQMC threshold stayed 8–9 points above both."
    ),
}
ENSEMBLE_WHY = {  # what each recorded ensemble's members were, so why it did (not) help
    "ensemble": "Its two members are one recipe on nested data (4k and 19k pairs), so they err alike.",
    "ensemble-unweighted": "The same two members, a stacker without class weights.",
    "ensemble-v3": (
        "Its three members share the recipe and all the data and differ in depth (12 vs 6 layers) and "
        "seed; the 12-layer member is better than the others on every label, so averaging pulls it "
        "down, and 1,000 hold-out pairs are too few for the stacker to learn to trust it. Members of "
        "equal strength that err differently (other heads, losses, bases) are what the ensemble needs."
    ),
    "ensemble-12": (
        "Three members of equal strength (12 layers, seeds 42 / 7 / 13, the same data and hold-out): "
        "averaging gains, but seeds of one recipe err alike, so the gain stays under 1.0; the stacker, "
        "fitted on the 1,000 hold-out pairs, gains less than the mean."
    ),
    "ensemble-12x4": (
        "The three 12-layer seeds plus a 12-layer member trained with another loss (`lsce`: it leans "
        "to the majority label where `balanced-ce` leans away from it), so the members err differently "
        "and the mean gains more than with seeds alone; the class-weighted stacker over-predicts the rare "
        "labels on this member set."
    ),
}
DECISION_WHY = {  # what was done with each decision run's offsets
    "relevance-decision": (
        "Every model gains on the reported split, so `relevance-zh` ships with `runs/relevance-v3`'s "
        "offsets (its card and the built-in table give both decisions)."
    ),
    "relevance-12-decision": (
        "With offsets on every model, the 12-layer ensembles (mean 61.55, stacker 61.71) stay within "
        "0.3 of their best member (seed 13: 61.46): the offsets take most of what averaging gave "
        "(ensemble target +1.0 missed either way). The built-in stays at 6 layers for its reranking cost "
        "(docs/speed.md). Picked on the hold-out (with offsets: seed 42 59.36, seed 7 59.01, seed 13 "
        "58.80), a 12-layer built-in would be seed 42 at 59.12 on test, +1.48 over the 6-layer one; the "
        "three seeds span 59.12–61.46 on test, so one seed's test number is not the recipe's."
    ),
    "relevance-12x4-decision": (
        "With offsets on every model the lsce member (62.09) is above the 4-member mean (61.52): the "
        "offsets correct the lsce member's lean to the majority label, which was the diversity the "
        "mean had drawn on. The ensemble target is met on the models as trained (+1.28), not once each "
        "model has its own tuned decision (−0.57)."
    ),
    "paraphrase-decision": (
        "Not shipped: on the hold-out the offsets gain 0.10 accuracy (one pair in 1,000), and AFQMC dev "
        "accuracy falls, so `paraphrase-zh` keeps the plain argmax."
    ),
}

LAYERS_WHY = {
    "paraphrase-12": (
        "All 12 layers gain on every reported split, and AFQMC dev accuracy (70.81) passes the twin "
        "tower's 69.18 and the majority class's 69.0, but the hold-out that chooses among runs does not "
        "prefer it (74.3 vs 74.4), so `paraphrase-zh` stays the 6-layer run (half the cost per pair); "
        "with 12 layers LCQMC stays 2.16 below the twin tower and AFQMC 3.19 below 74."
    ),
}
