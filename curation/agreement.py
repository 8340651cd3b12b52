"""Agreement: between people (Krippendorff's α per feedback kind — on the −3..+3 scale, on thumbs,
on ranks — and per aspect, Fleiss' and Cohen's κ on the collapsed direction), between people and LM judges, and position bias.

"People" are human annotators and imported sources (people's labels from another tool); LM
judges are compared against them, never pooled with them, unless asked.
"""

from collections import Counter, defaultdict
from itertools import combinations

import numpy as np

from annotate.kinds import registry as kind_registry
from annotate.kinds.scale import PREFERENCE_DOMAIN as PREFERENCE_DOMAIN  # re-exported (activity)
from annotate.models import AnnotatorKind, FeedbackKind
from curation.labels import label_rows

RATING_DOMAIN = [1, 2, 3, 4, 5]
DIRECTIONS = [-1, 0, 1]


def krippendorff_alpha(units, level="ordinal", value_domain=None):
    """α over {unit: {coder: value}}; None when fewer than two values share a unit or nobody varies."""
    import krippendorff

    units = {u: v for u, v in units.items() if len(v) >= 2}
    if not units:
        return None
    coders = sorted({c for v in units.values() for c in v}, key=str)
    index = {c: i for i, c in enumerate(coders)}
    data = np.full((len(coders), len(units)), np.nan)
    for j, values in enumerate(units.values()):
        for coder, value in values.items():
            data[index[coder], j] = value
    observed = set(np.unique(data[~np.isnan(data)]).tolist())
    if len(observed) < 2:
        return 1.0  # everyone gave the same value on every shared unit: perfect, if uninformative, agreement
    try:
        alpha = krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=value_domain)
    except ValueError:
        return None
    return None if alpha != alpha else float(alpha)


def fleiss_kappa(counts):
    """Fleiss' κ for items × categories counts, raters per item may vary (items with < 2 raters ignored)."""
    m = np.asarray([row for row in counts if sum(row) >= 2], dtype=float)
    if len(m) == 0:
        return None
    n = m.sum(axis=1)
    p_item = ((m * (m - 1)).sum(axis=1)) / (n * (n - 1))
    p_cat = m.sum(axis=0) / n.sum()
    p_e = float((p_cat**2).sum())
    if p_e >= 1:
        return 1.0
    return float((p_item.mean() - p_e) / (1 - p_e))


def mean_cohen_kappa(by_coder, min_common=5, labels=DIRECTIONS):
    """Mean Cohen's κ over coder pairs sharing at least `min_common` items; by_coder = {coder: {item: label}}."""
    from sklearn.metrics import cohen_kappa_score

    kappas = []
    for a, b in combinations(sorted(by_coder, key=str), 2):
        common = sorted(set(by_coder[a]) & set(by_coder[b]))
        if len(common) < min_common:
            continue
        x = [by_coder[a][i] for i in common]
        y = [by_coder[b][i] for i in common]
        if len(set(x) | set(y)) < 2:
            kappas.append(1.0)
            continue
        k = cohen_kappa_score(x, y, labels=labels)
        if k == k:
            kappas.append(float(k))
    return {"kappa": float(np.mean(kappas)) if kappas else None, "pairs": len(kappas)}


def _ratings(row):
    """Aspect ratings of one label as {(aspect, side): 1..5}."""
    out = {}
    for aspect, value in (row.get("aspect_ratings") or {}).items():
        if isinstance(value, dict):
            for side in ("a", "b"):
                if isinstance(value.get(side), (int, float)):
                    out[(aspect, side)] = value[side]
        elif isinstance(value, (int, float)):
            out[(aspect, "a")] = value
    return out


def kind_units(rows, include_judges=False):
    """{kind: {(item_id, suffix): {annotator_id: value}}}: what each kind's labels give Krippendorff's
    α (`FeedbackKindSpec.agreement_values`): the preference, the thumbs, or one unit per ranked response."""
    units: defaultdict[str, defaultdict[tuple[int, str], dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if not (r["is_person"] or include_judges):  # people, and imported sources declared human
            continue
        for suffix, value in kind_registry.get(r["kind"]).agreement_values(r).items():
            units[r["kind"]][(r["item_id"], suffix)][r["annotator_id"]] = value
    return units


def kind_alpha(kind, units):
    """The α block of one kind: α at its level of measurement, and how many items it rests on."""
    spec = kind_registry.get(kind)
    items = {item for item, _ in units}
    overlapped = {item for (item, _), coders in units.items() if len(coders) >= 2}
    block = {
        f"alpha_{spec.agreement_level}": krippendorff_alpha(units, spec.agreement_level, spec.agreement_domain),
        "items_with_overlap": len(overlapped),
        "items": len(items),
    }
    if spec.agreement_per_unit_suffix:  # e.g. Likert: one α per aspect, the pooled one above
        by_suffix: defaultdict[str, dict[tuple[int, str], dict[int, float]]] = defaultdict(dict)
        for (item, suffix), coders in units.items():
            by_suffix[suffix][(item, suffix)] = coders
        block["by_suffix"] = {
            suffix: {
                f"alpha_{spec.agreement_level}": krippendorff_alpha(sub, spec.agreement_level, spec.agreement_domain),
                "items_with_overlap": sum(1 for coders in sub.values() if len(coders) >= 2),
            }
            for suffix, sub in sorted(by_suffix.items())
        }
    return block


def project_agreement(project, include_judges=False, rows=None):
    """Everything the dashboard shows about agreement, in one pass over the label table."""
    rows = list(rows if rows is not None else label_rows(project))
    units = kind_units(rows, include_judges)
    dir_units: defaultdict[int, dict[int, int]] = defaultdict(dict)
    dir_by_coder: defaultdict[int, dict[int, int]] = defaultdict(dict)
    aspect_units: defaultdict[str, defaultdict[tuple[int, str], dict[int, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for r in rows:
        if not (r["is_person"] or include_judges):
            continue
        if r["kind"] == FeedbackKind.PAIRWISE and r["direction"] is not None:
            dir_by_coder[r["annotator_id"]][r["item_id"]] = r["direction"]
            dir_units[r["item_id"]][r["annotator_id"]] = r["direction"]
        for (aspect, side), value in _ratings(r).items():
            aspect_units[aspect][(r["item_id"], side)][r["annotator_id"]] = value

    thumbs_units = units.get(FeedbackKind.BINARY, {})
    direction_counts = [[Counter(v.values())[d] for d in DIRECTIONS] for v in dir_units.values()]
    thumbs_counts = [[Counter(v.values())[d] for d in (-1, 1)] for v in thumbs_units.values()]
    out = {
        # Every kind with an α (pairwise, binary, ranking, ...), under its key.
        spec.key: kind_alpha(spec.key, units.get(spec.key, {}))
        for spec in kind_registry.all_kinds()
        if spec.agreement_level
    }
    out[FeedbackKind.PAIRWISE].update(
        fleiss_kappa_direction=fleiss_kappa(direction_counts),
        cohen_kappa_direction=mean_cohen_kappa(dir_by_coder),
    )
    out[FeedbackKind.BINARY]["fleiss_kappa"] = fleiss_kappa(thumbs_counts)
    out.update(
        aspects={
            aspect: {
                "alpha_ordinal": krippendorff_alpha(aspect_units_, "ordinal", RATING_DOMAIN),
                "units_with_overlap": sum(1 for v in aspect_units_.values() if len(v) >= 2),
            }
            for aspect, aspect_units_ in sorted(aspect_units.items())
        },
        human_judge=human_judge_agreement(project, rows=rows),
        position_bias=position_bias(project, rows=rows),
    )
    return out


def human_judge_agreement(project, rows=None):
    """Per judge: how often its direction matches the people's majority direction (and Cohen's κ)."""
    from sklearn.metrics import cohen_kappa_score

    rows = rows if rows is not None else label_rows(project, kinds=[FeedbackKind.PAIRWISE, FeedbackKind.BINARY])
    people: defaultdict[int, list[int]] = defaultdict(list)
    judges: defaultdict[int, dict[int, int]] = defaultdict(dict)
    names: dict[int, str] = {}
    for r in rows:
        if r["direction"] is None:
            continue
        if r["is_person"]:
            people[r["item_id"]].append(r["direction"])
        else:  # an LM judge, or an imported source of model labels (e.g. AlpacaEval's GPT-4)
            judges[r["annotator_id"]][r["item_id"]] = r["direction"]
            names[r["annotator_id"]] = r["annotator_name"]
    majority = {}
    for item, dirs in people.items():
        s = sum(dirs)
        majority[item] = (s > 0) - (s < 0)
    out, all_h, all_j = [], [], []
    for judge_id, labels in judges.items():
        common = [i for i in labels if i in majority]
        h = [majority[i] for i in common]
        j = [labels[i] for i in common]
        all_h += h
        all_j += j
        kappa = None
        if len(common) >= 2 and len(set(h) | set(j)) >= 2:
            k = cohen_kappa_score(h, j, labels=DIRECTIONS)
            kappa = float(k) if k == k else None
        out.append(
            {
                "annotator_id": judge_id,
                "name": names[judge_id],
                "items": len(common),
                "agreement": (sum(a == b for a, b in zip(h, j)) / len(common)) if common else None,
                "kappa": kappa,
            }
        )
    overall = (sum(a == b for a, b in zip(all_h, all_j)) / len(all_h)) if all_h else None
    return {"judges": sorted(out, key=lambda r: r["name"]), "agreement": overall, "items": len(all_h)}


def position_bias(project, rows=None):
    """Per annotator: share of decisive pairwise labels where the response shown on the left won.
    0.5 is unbiased; the binomial test's p-value says whether the deviation is more than chance.
    LM judges judged each pair in both orders, so both verdicts count (a judge that always picks
    the first response shows 1.0 even though its combined labels look balanced)."""
    from scipy.stats import binomtest

    rows = rows if rows is not None else label_rows(project, kinds=[FeedbackKind.PAIRWISE])
    wins: Counter[int] = Counter()
    totals: Counter[int] = Counter()
    meta: dict[int, tuple[str, str]] = {}
    for r in rows:
        if r["kind"] != FeedbackKind.PAIRWISE or r["annotator_kind"] == AnnotatorKind.SOURCE:
            continue  # imported labels were never shown in Tandem, so they have no left side
        verdicts = r.get("verdicts")
        if isinstance(verdicts, list) and verdicts:
            # An LM judge saw both orders: each decisive verdict counts, as shown (negative = first shown won).
            shown = [v["preference_shown"] for v in verdicts if isinstance(v, dict) and v.get("preference_shown")]
        elif r["direction"]:
            shown = [r["direction"] if not r["swapped"] else -r["direction"]]  # A is on the left unless swapped
        else:
            shown = []
        for s in shown:
            totals[r["annotator_id"]] += 1
            wins[r["annotator_id"]] += s < 0
        if shown:
            meta[r["annotator_id"]] = (r["annotator_name"], r["annotator_kind"])
    out = []
    for annotator_id, n in totals.items():
        if not n:
            continue
        k = wins[annotator_id]
        out.append(
            {
                "annotator_id": annotator_id,
                "name": meta[annotator_id][0],
                "kind": meta[annotator_id][1],
                "decisive": n,
                "left_wins": k,
                "left_rate": k / n,
                "p_value": float(binomtest(k, n, 0.5).pvalue),
            }
        )
    return sorted(out, key=lambda r: (r["kind"], r["name"]))
